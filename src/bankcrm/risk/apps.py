from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RiskConfig(AppConfig):
    name = "bankcrm.risk"
    label = "risk"
    verbose_name = _("Credit risk")

    def ready(self) -> None:
        # The lending scorer, maker-checker actions, event subscribers and navigation.
        from . import navigation, registrations  # noqa: F401
