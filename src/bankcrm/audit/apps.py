from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "bankcrm.audit"
    label = "audit"
    verbose_name = _("Audit trail")

    def ready(self) -> None:
        from bankcrm.web.navigation import register_nav

        register_nav(
            "audit",
            _("Audit trail"),
            "audit:event_list",
            permission="audit.view_auditevent",
            order=900,
            icon="shield",
        )
