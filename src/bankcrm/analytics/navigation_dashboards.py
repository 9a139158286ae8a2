"""Navigation entries of the dashboards: one entry opening the dashboard of the person's
main role (the others they may open are its tabs).
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Analytics")

register_nav(
    "analytics.dashboards",
    _("Dashboards"),
    "analytics:dashboards",
    permission="analytics.view_dashboard",
    order=20,
    icon="chart",
    section=SECTION,
)
