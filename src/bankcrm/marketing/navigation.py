"""The marketing section of the navigation: segments, campaigns, product offers and the next
best offer report.

Marketing managers see all four; relationship managers and branch managers (who hold
``marketing.view_*``) see the campaigns and offers their customers receive and the report of
their own offer decisions.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from bankcrm.web.navigation import register_nav

SECTION = _("Marketing")

for key, label, url_name, permission, order, icon in (
    ("marketing.segments", _("Segments"), "marketing:segment_list",
     "marketing.view_segment", 80, "people"),
    ("marketing.campaigns", _("Campaigns"), "marketing:campaign_list",
     "marketing.view_campaign", 81, "megaphone"),
    ("marketing.offers", _("Product offers"), "marketing:offer_list",
     "marketing.view_productoffer", 82, "briefcase"),
    ("marketing.offer_report", _("Next best offer report"), "marketing:offer_report",
     "marketing.view_offerdecision", 83, "chart"),
):  # fmt: skip
    register_nav(
        key, label, url_name, permission=permission, order=order, icon=icon, section=SECTION
    )
