"""Navigation entries of the report builder: the saved reports one may open (their page
links to the builder for those who may define reports) and one's report schedules."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Analytics")

register_nav(
    "analytics.my_reports",
    _("My reports"),
    "analytics:saved_list",
    permission="analytics.view_report",
    order=97,
    icon="list",
    section=SECTION,
)
# Those who read reports: each sees and sends only their own schedules, in the recipients'
# scope.
register_nav(
    "analytics.schedules",
    _("Report schedules"),
    "analytics:schedule_list",
    permission="analytics.view_report",
    order=98,
    icon="bell",
    section=SECTION,
)
