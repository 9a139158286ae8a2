"""Marketing pages for staff, under /marketing/."""

from __future__ import annotations

from . import urls_campaigns, urls_offers, urls_reports, urls_segments

app_name = "marketing"
urlpatterns = [
    *urls_segments.urlpatterns,
    *urls_campaigns.urlpatterns,
    *urls_offers.urlpatterns,
    *urls_reports.urlpatterns,
]
