from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "bankcrm.web"
    label = "web"
    verbose_name = _("Web interface")

    def ready(self) -> None:
        from .navigation import register_nav

        # The shell's own pages, open to every signed-in person: first and last in the list.
        register_nav("home", _("My work"), "web:home", order=0, icon="home")
        register_nav("help", _("Help"), "web:help", order=10_000, icon="help")
