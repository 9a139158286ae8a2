from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "bankcrm.compliance"
    label = "compliance"
    verbose_name = _("Compliance")

    def ready(self) -> None:
        # Navigation, maker-checker actions, workflow guards and event subscribers.
        from . import registrations  # noqa: F401
