from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LendingConfig(AppConfig):
    name = "bankcrm.lending"
    label = "lending"
    verbose_name = _("Lending")

    def ready(self) -> None:
        # Workflow conditions, maker-checker actions and event subscribers register here.
        from . import registrations  # noqa: F401
