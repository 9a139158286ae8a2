from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SupportConfig(AppConfig):
    name = "bankcrm.support"
    label = "support"
    verbose_name = _("Customer service")

    def ready(self) -> None:
        # Navigation, maker-checker actions, workflow guards and event subscribers.
        from . import registrations  # noqa: F401
