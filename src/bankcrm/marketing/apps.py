from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MarketingConfig(AppConfig):
    name = "bankcrm.marketing"
    label = "marketing"
    verbose_name = _("Marketing")

    def ready(self) -> None:
        # Navigation, the campaign launch approval and event subscribers.
        from . import registrations  # noqa: F401
