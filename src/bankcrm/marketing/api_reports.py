"""REST API of campaign results (under ``/api/v1/marketing/``).

* ``GET /campaigns/{id}/report`` the campaign's effectiveness report: groups, message funnel
  per channel, conversion in treatment and control, uplift with its 95 per cent interval
  overall, per variant and per customer segment, costs, CPA, cost per incremental
  acquisition, value and ROI (see :mod:`bankcrm.marketing.reports_campaigns`).

Needs ``marketing.view_campaign`` (403); a campaign outside the caller's reach is 404. Money
is a decimal string in the campaign's currency; rates are fractions of 1.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError

from . import reports_campaigns
from .models import Campaign

router = Router(tags=["marketing"])


class UpliftOut(Schema):
    conversions_treatment: int
    size_treatment: int
    conversions_control: int
    size_control: int
    confidence: float
    rate_treatment: float | None = None
    rate_control: float | None = None
    difference: float | None = None
    standard_error: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    relative: float | None = None
    z: float | None = None
    p_value: float | None = None
    measurable: bool
    significant: bool
    small_sample: bool


class EffectOut(Schema):
    key: str
    label: str
    size_treatment: int
    conversions_treatment: int
    size_control: int
    conversions_control: int
    uplift: UpliftOut
    messages_sent: int
    cost: Decimal
    cpa: Decimal | None = None
    incremental_conversions: float | None = None
    cost_per_incremental: Decimal | None = None
    value: Decimal | None = None
    roi: Decimal | None = None


class ChannelFunnelOut(Schema):
    channel: str
    label: str
    total: int
    by_status: dict[str, int]
    sent: int
    delivered: int
    opened: int
    clicked: int
    delivered_rate: float | None = None
    opened_rate: float | None = None
    clicked_rate: float | None = None
    cost_per_message: Decimal
    cost: Decimal


class ReportCampaignOut(Schema):
    id: int
    name: str
    status: str
    success_event: str
    conversion_days: int
    launched_at: dt.datetime | None = None
    completed_at: dt.datetime | None = None


class CampaignReportOut(Schema):
    campaign: ReportCampaignOut
    currency: str
    confidence: float
    window_from: dt.date | None = None
    window_to: dt.date | None = None
    groups: dict[str, int]
    suppressed_by_reason: dict[str, int]
    funnel: list[ChannelFunnelOut]
    fixed_cost: Decimal
    messages_cost: Decimal
    value_per_conversion: Decimal | None = None
    overall: EffectOut
    variants: list[EffectOut]
    segments: list[EffectOut]


@router.get("/campaigns/{int:pk}/report", response=CampaignReportOut)
def campaign_report_get(request: HttpRequest, pk: int) -> Any:
    """The effectiveness report of a campaign."""
    actor = request.auth  # type: ignore[attr-defined]
    try:
        campaign = reports_campaigns.report_campaign_get(actor=actor, pk=pk)
        report = reports_campaigns.campaign_report(actor=actor, campaign=campaign)
    except Campaign.DoesNotExist:
        raise ProblemError.of(error_codes.NOT_FOUND) from None
    return report.as_dict()
