"""REST API of marketing: campaigns (under ``/api/v1/marketing/``).

* ``GET /campaigns`` (``status``), ``POST /campaigns``, ``GET|PATCH /campaigns/{id}``;
* ``GET /campaigns/{id}/variants``, ``PUT|DELETE /campaigns/{id}/variants/{code}``;
* ``POST /campaigns/{id}/submit|cancel|pause|resume``;
* ``GET /campaigns/{id}/audience`` (groups, suppression reasons, variants, queued messages,
  messages by status).

Reads go through ``selectors_campaigns``, each change through one service. A campaign out of
reach is 404; a refused change is a problem naming each bad field (``body.holdout_percent``
…) and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_errors_from_django
from bankcrm.core.schemas import InSchema

from . import selectors_campaigns, services_campaigns
from .models import Campaign, CampaignVariant

router = Router(tags=["marketing"])

MAX_TEXT = 20000


# --- Schemas ---------------------------------------------------------------------------------


class CampaignOut(Schema):
    id: int
    name: str
    objective: str
    description: str
    offer: int | None = None
    segment: int
    channels: list[str]
    owning_unit: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    holdout_percent: Decimal
    holdout_seed: int
    throttle_per_minute: int
    success_event: str
    conversion_days: int
    currency: str
    cost_fixed: Decimal
    cost_per_message: dict[str, str]
    value_per_conversion: Decimal | None = None
    landing_url: str
    approval: int | None = None
    approved_by: int | None = None
    approved_at: dt.datetime | None = None
    launched_at: dt.datetime | None = None
    stats: dict[str, Any]


class CampaignFilter(Schema):
    status: str | None = Field(None, max_length=20)
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class CampaignIn(InSchema):
    name: str = Field(..., max_length=200)
    objective: str = Field("cross_sell", max_length=20)
    description: str = Field("", max_length=MAX_TEXT)
    offer: int | None = None
    segment: int
    channels: list[str] = Field(default_factory=lambda: ["email"], max_length=4)
    owning_unit: int | None = None
    starts_at: dt.datetime
    ends_at: dt.datetime | None = None
    holdout_percent: Decimal = Decimal(10)
    holdout_seed: int | None = Field(None, ge=0, lt=2**63)
    throttle_per_minute: int = Field(600, ge=0)
    success_event: str = Field("product_opened", max_length=20)
    conversion_days: int = Field(30, ge=0)
    currency: str = Field("CNY", max_length=3)
    cost_fixed: Decimal = Decimal(0)
    cost_per_message: dict[str, Decimal] = Field(default_factory=dict)
    value_per_conversion: Decimal | None = None
    landing_url: str = Field("", max_length=200)


class CampaignPatchIn(InSchema):
    name: str | None = Field(None, max_length=200)
    objective: str | None = Field(None, max_length=20)
    description: str | None = Field(None, max_length=MAX_TEXT)
    offer: int | None = None
    segment: int | None = None
    channels: list[str] | None = Field(None, max_length=4)
    owning_unit: int | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    holdout_percent: Decimal | None = None
    throttle_per_minute: int | None = Field(None, ge=0)
    success_event: str | None = Field(None, max_length=20)
    conversion_days: int | None = Field(None, ge=0)
    currency: str | None = Field(None, max_length=3)
    cost_fixed: Decimal | None = None
    cost_per_message: dict[str, Decimal] | None = None
    value_per_conversion: Decimal | None = None
    landing_url: str | None = Field(None, max_length=200)


class VariantIn(InSchema):
    weight: int = Field(1, ge=1, le=1000)
    subject_en: str = Field("", max_length=200)
    subject_zh: str = Field("", max_length=200)
    html_en: str = Field("", max_length=MAX_TEXT)
    html_zh: str = Field("", max_length=MAX_TEXT)
    text_en: str = Field("", max_length=MAX_TEXT)
    text_zh: str = Field("", max_length=MAX_TEXT)
    sms_en: str = Field("", max_length=480)
    sms_zh: str = Field("", max_length=480)
    call_script: str = Field("", max_length=MAX_TEXT)
    banner_en: str = Field("", max_length=300)
    banner_zh: str = Field("", max_length=300)


class VariantOut(Schema):
    code: str
    weight: int
    subject_en: str
    subject_zh: str
    html_en: str
    html_zh: str
    text_en: str
    text_zh: str
    sms_en: str
    sms_zh: str
    call_script: str
    banner_en: str
    banner_zh: str


class ActionIn(InSchema):
    comment: str = Field("", max_length=2000)


class SubmitOut(Schema):
    campaign: CampaignOut
    approval: int


class AudienceOut(Schema):
    audience: int
    treatment: int
    control: int
    suppressed: int
    suppression: dict[str, int]
    variants: dict[str, int]
    queued: dict[str, int]
    messages: int
    message_status: dict[str, int]


# --- Helpers ---------------------------------------------------------------------------------


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _not_found() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND)


def _invalid(exc: ValidationError) -> ProblemError:
    errors = field_errors_from_django(exc, prefix="body")
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


def campaign_out(campaign: Campaign) -> dict[str, Any]:
    """The API representation of a campaign."""
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "objective": campaign.objective,
        "description": campaign.description,
        "offer": campaign.offer_id,
        "segment": campaign.segment_id,
        "channels": list(campaign.channels),
        "owning_unit": campaign.owning_unit_id,
        "status": campaign.status,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "holdout_percent": campaign.holdout_percent,
        "holdout_seed": campaign.holdout_seed,
        "throttle_per_minute": campaign.throttle_per_minute,
        "success_event": campaign.success_event,
        "conversion_days": campaign.conversion_days,
        "currency": campaign.currency,
        "cost_fixed": campaign.cost_fixed,
        "cost_per_message": {k: str(v) for k, v in (campaign.cost_per_message or {}).items()},
        "value_per_conversion": campaign.value_per_conversion,
        "landing_url": campaign.landing_url,
        "approval": campaign.approval_id,
        "approved_by": campaign.approved_by_id,
        "approved_at": campaign.approved_at,
        "launched_at": campaign.launched_at,
        "stats": campaign.stats or {},
    }


def variant_out(variant: CampaignVariant) -> dict[str, Any]:
    return {name: getattr(variant, name) for name in VariantOut.model_fields}


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    try:
        return selectors_campaigns.campaign_get(actor=_actor(request), pk=pk)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise _not_found() from exc


def _run(request: HttpRequest, pk: int, change: Any) -> Any:
    """Apply one service to the campaign; its answer."""
    campaign = _campaign(request, pk)
    try:
        return change(campaign)
    except ValidationError as exc:
        raise _invalid(exc) from None
    except ObjectDoesNotExist as exc:
        raise _not_found() from exc


def _fresh(request: HttpRequest, pk: int) -> dict[str, Any]:
    return campaign_out(_campaign(request, pk))


# --- Endpoints -------------------------------------------------------------------------------


@router.get("/campaigns", response=list[CampaignOut])
def campaign_list_get(request: HttpRequest, filters: Query[CampaignFilter]) -> Any:
    """Campaigns the caller may see, newest start first."""
    rows = selectors_campaigns.campaign_list(actor=_actor(request), status=filters.status)
    return [campaign_out(c) for c in rows[filters.offset : filters.offset + filters.limit]]


@router.post("/campaigns", response={201: CampaignOut})
def campaign_post(request: HttpRequest, body: CampaignIn) -> Any:
    """Draft a campaign."""
    values = body.model_dump()
    if values.get("owning_unit") is None:
        values.pop("owning_unit")
    try:
        campaign = services_campaigns.campaign_create(actor=_actor(request), **values)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, campaign_out(campaign))


@router.get("/campaigns/{int:pk}", response=CampaignOut)
def campaign_detail_get(request: HttpRequest, pk: int) -> Any:
    """One campaign."""
    return _fresh(request, pk)


@router.patch("/campaigns/{int:pk}", response=CampaignOut)
def campaign_patch(request: HttpRequest, pk: int, body: CampaignPatchIn) -> Any:
    """Change a draft campaign (only the fields given)."""
    changes = body.model_dump(exclude_unset=True)
    _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_update(actor=_actor(request), campaign=c, **changes),
    )
    return _fresh(request, pk)


@router.get("/campaigns/{int:pk}/variants", response=list[VariantOut])
def campaign_variants_get(request: HttpRequest, pk: int) -> Any:
    """The campaign's variants in code order."""
    campaign = _campaign(request, pk)
    return [variant_out(v) for v in campaign.variants.order_by("code")]


@router.put("/campaigns/{int:pk}/variants/{code}", response=VariantOut)
def campaign_variant_put(request: HttpRequest, pk: int, code: str, body: VariantIn) -> Any:
    """Create or replace a draft's variant."""
    variant = _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_variant_save(
            actor=_actor(request), campaign=c, code=code, **body.model_dump()
        ),
    )
    return variant_out(variant)


@router.delete("/campaigns/{int:pk}/variants/{code}", response={204: None})
def campaign_variant_remove(request: HttpRequest, pk: int, code: str) -> Any:
    """Remove a draft's variant."""
    _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_variant_delete(
            actor=_actor(request), campaign=c, code=code
        ),
    )
    return Status(204, None)


@router.post("/campaigns/{int:pk}/submit", response=SubmitOut)
def campaign_submit_post(request: HttpRequest, pk: int, body: ActionIn) -> Any:
    """Ask a second person to approve the launch."""
    approval = _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_submit(
            actor=_actor(request), campaign=c, comment=body.comment
        ),
    )
    return {"campaign": _fresh(request, pk), "approval": approval.pk}


@router.post("/campaigns/{int:pk}/cancel", response=CampaignOut)
def campaign_cancel_post(request: HttpRequest, pk: int, body: ActionIn) -> Any:
    """Cancel the campaign for good."""
    _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_cancel(
            actor=_actor(request), campaign=c, reason=body.comment
        ),
    )
    return _fresh(request, pk)


@router.post("/campaigns/{int:pk}/pause", response=CampaignOut)
def campaign_pause_post(request: HttpRequest, pk: int, body: ActionIn) -> Any:
    """Hold a scheduled or running campaign."""
    _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_pause(
            actor=_actor(request), campaign=c, reason=body.comment
        ),
    )
    return _fresh(request, pk)


@router.post("/campaigns/{int:pk}/resume", response=CampaignOut)
def campaign_resume_post(request: HttpRequest, pk: int, body: ActionIn) -> Any:
    """Resume a paused campaign."""
    _run(
        request,
        pk,
        lambda c: services_campaigns.campaign_resume(
            actor=_actor(request), campaign=c, reason=body.comment
        ),
    )
    return _fresh(request, pk)


@router.get("/campaigns/{int:pk}/audience", response=AudienceOut)
def campaign_audience_get(request: HttpRequest, pk: int) -> Any:
    """The drawn audience and the messages by status."""
    campaign = _campaign(request, pk)
    summary = selectors_campaigns.campaign_audience_summary(campaign=campaign)
    return {
        **summary,
        "message_status": selectors_campaigns.campaign_message_counts(campaign=campaign),
    }
