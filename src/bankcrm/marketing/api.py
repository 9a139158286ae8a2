"""REST API of marketing (``/api/v1/marketing/``): segments, offers and next best offers,
campaigns and their reports, providers' delivery reports; each part in its own api_*.py."""

from __future__ import annotations

from ninja import Router

from . import api_campaigns, api_offers, api_reports, api_segments, api_tracking

router = Router(tags=["marketing"])
router.add_router("", api_segments.router)
router.add_router("", api_campaigns.router)
router.add_router("", api_offers.router)
router.add_router("", api_tracking.router)
router.add_router("", api_reports.router)
