from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "bankcrm.core"
    label = "core"
    verbose_name = _("Kernel")

    def ready(self) -> None:
        # Registers the production-readiness checks (``check --deploy``, ``bankcrm serve``).
        from bankcrm.config import checks  # noqa: F401
        from bankcrm.web.navigation import register_nav

        register_nav("approvals", _("Approvals"), "core:approval_list", order=50, icon="approval")
