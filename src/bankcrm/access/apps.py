from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "bankcrm.access"
    label = "access"
    verbose_name = _("Access control")

    def ready(self) -> None:
        from bankcrm.core.approvals import register_approval_action
        from bankcrm.web.navigation import register_nav

        from . import services

        register_approval_action(
            services.ROLES_SET_ACTION,
            handler=services.roles_set_approved,
            permission=services.ROLES_GRANT_PERMISSION,
            description=_("Change a user's roles"),
            validator=services.roles_set_payload_validate,
        )

        register_nav(
            "access.users",
            _("Users"),
            "access:user_list",
            permission="access.view_user",
            order=900,
            icon="people",
            section=_("Administration"),
        )
        register_nav(
            "access.org_units",
            _("Organisation units"),
            "access:org_unit_list",
            permission="access.view_orgunit",
            order=910,
            icon="bank",
            section=_("Administration"),
        )
