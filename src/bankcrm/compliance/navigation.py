"""The compliance section of the navigation: the dashboard, alerts, cases, screening hits,
watch lists, KYC reviews, monitoring scenarios and the ad-hoc screening check.

Alerts, hits and cases are for compliance roles and auditors only (tipping-off): branch and
relationship managers see the KYC reviews of their customers and nothing else here.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Compliance")

for key, label, url_name, permission, order, icon in (
    ("compliance.dashboard", _("Compliance dashboard"), "compliance:dashboard",
     "compliance.view_alert", 60, "shield"),
    ("compliance.alerts", _("Alerts"), "compliance:alert_list",
     "compliance.view_alert", 61, "bell"),
    ("compliance.cases", _("Investigation cases"), "compliance:case_list",
     "compliance.view_case", 62, "briefcase"),
    ("compliance.hits", _("Screening hits"), "compliance:hit_list",
     "compliance.view_screeninghit", 63, "flag"),
    ("compliance.check", _("Screening check"), "compliance:screening_check",
     "compliance.screen_party", 64, "globe"),
    ("compliance.lists", _("Watch lists"), "compliance:watch_lists",
     "compliance.view_sanctionslist", 65, "list"),
    ("compliance.reviews", _("KYC reviews"), "compliance:review_list",
     "compliance.view_kycreview", 66, "file"),
    ("compliance.scenarios", _("Monitoring scenarios"), "compliance:scenario_list",
     "compliance.view_scenario", 67, "settings"),
):  # fmt: skip
    register_nav(
        key, label, url_name, permission=permission, order=order, icon=icon, section=SECTION
    )
