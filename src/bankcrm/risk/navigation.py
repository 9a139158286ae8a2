"""The credit risk section of the navigation: the model registry and its monitoring."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Credit risk")

register_nav(
    "risk.models",
    _("Models"),
    "risk:model_list",
    permission="risk.view_modelversion",
    order=47,
    icon="chart",
    section=SECTION,
)
register_nav(
    "risk.monitoring",
    _("Monitoring"),
    "risk:monitoring",
    permission="risk.view_modelversion",
    order=48,
    icon="flag",
    section=SECTION,
)
