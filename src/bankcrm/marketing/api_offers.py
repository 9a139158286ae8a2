"""REST API of marketing: offers and next best offers (under ``/api/v1/marketing/``).

* ``GET /offers`` (``active`` narrows), ``POST /offers``, ``GET /offers/{id}``,
  ``PATCH /offers/{id}`` — the catalogue (``marketing.view_`` / ``add_`` /
  ``change_productoffer``);
* ``GET /customers/{pk}/next-best-offers`` — the customer's ranked next best offers, or why
  none may be made (``blocked``: deceased, do_not_contact, no_profiling_consent …);
* ``POST /customers/{pk}/offer-decisions`` — accept (a task follows) or dismiss (with a
  reason) an offer for the customer (``marketing.add_offerdecision``).

Errors are RFC 9457 problems; a customer or offer out of reach is 404.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_error
from bankcrm.core.schemas import InSchema

from . import selectors_offers, services_offers
from .models import ProductOffer

router = Router(tags=["marketing"])


class OfferFilter(Schema):
    active: bool | None = None


class OfferIn(InSchema):
    code: str = Field(..., max_length=64)
    product: str = Field(..., max_length=32, description="The product's code.")
    name: str = Field(..., max_length=200)
    name_zh: str = Field("", max_length=200)
    terms_en: str = ""
    terms_zh: str = ""
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    value: Decimal = Decimal(0)
    currency: str = Field("CNY", max_length=3)
    eligibility: dict[str, Any] = Field(default_factory=dict)
    is_next_best_offer: bool = True
    is_active: bool = True


class OfferPatch(InSchema):
    code: str | None = Field(None, max_length=64)
    product: str | None = Field(None, max_length=32)
    name: str | None = Field(None, max_length=200)
    name_zh: str | None = Field(None, max_length=200)
    terms_en: str | None = None
    terms_zh: str | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    value: Decimal | None = None
    currency: str | None = Field(None, max_length=3)
    eligibility: dict[str, Any] | None = None
    is_next_best_offer: bool | None = None
    is_active: bool | None = None


class OfferOut(Schema):
    id: int
    code: str
    product: str
    name: str
    name_zh: str
    terms_en: str
    terms_zh: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    value: Decimal
    currency: str
    eligibility: dict[str, Any]
    is_next_best_offer: bool
    is_active: bool


class NextBestOfferOut(Schema):
    offer: str
    name: str
    product: str
    propensity: float | None
    band: str
    value: Decimal
    currency: str
    expected_value: Decimal | None
    is_scored: bool
    why: list[str]


class NextBestOffersOut(Schema):
    customer: uuid.UUID
    blocked: str
    message: str
    offers: list[NextBestOfferOut]


class DecisionIn(InSchema):
    offer: str = Field(..., max_length=64, description="The offer's code.")
    decision: str = Field(..., max_length=10, description="accepted or dismissed")
    reason: str = Field("", max_length=20)
    note: str = Field("", max_length=500)


class DecisionOut(Schema):
    id: int
    customer: uuid.UUID
    offer: str
    decision: str
    reason: str
    note: str
    propensity: float | None
    expected_value: Decimal | None
    task: int | None
    decided_at: dt.datetime


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _not_found() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND)


def offer_out(offer: ProductOffer) -> dict[str, Any]:
    return {
        "id": offer.pk,
        "code": offer.code,
        "product": offer.product.code,
        "name": offer.name,
        "name_zh": offer.name_zh,
        "terms_en": offer.terms_en,
        "terms_zh": offer.terms_zh,
        "valid_from": offer.valid_from,
        "valid_until": offer.valid_until,
        "value": offer.value,
        "currency": offer.currency,
        "eligibility": offer.eligibility or {},
        "is_next_best_offer": offer.is_next_best_offer,
        "is_active": offer.is_active,
    }


def _offer(actor: Any, pk: int) -> ProductOffer:
    try:
        return selectors_offers.offer_get(actor=actor, pk=pk)
    except ProductOffer.DoesNotExist as exc:
        raise _not_found() from exc


def _party(actor: Any, pk: uuid.UUID) -> Any:
    try:
        return selectors_offers.party_for(actor=actor, pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        raise _not_found() from exc


@router.get("/offers", response=list[OfferOut])
def offer_list(request: HttpRequest, filters: Query[OfferFilter]) -> Any:
    """The offer catalogue, by code."""
    actor = _actor(request)
    _require(actor, selectors_offers.VIEW_OFFER)
    offers = selectors_offers.offer_list(actor=actor)
    if filters.active is not None:
        offers = offers.filter(is_active=filters.active)
    return [offer_out(offer) for offer in offers]


@router.post("/offers", response={201: OfferOut})
def offer_create(request: HttpRequest, payload: OfferIn) -> Any:
    """Add an offer (eligibility rules checked by the segment rules engine)."""
    offer = services_offers.offer_create(actor=_actor(request), **payload.model_dump())
    return Status(201, offer_out(offer))


@router.get("/offers/{pk}", response=OfferOut)
def offer_get(request: HttpRequest, pk: int) -> Any:
    """One offer."""
    actor = _actor(request)
    _require(actor, selectors_offers.VIEW_OFFER)
    return offer_out(_offer(actor, pk))


@router.patch("/offers/{pk}", response=OfferOut)
def offer_update(request: HttpRequest, pk: int, payload: OfferPatch) -> Any:
    """Change the fields given of an offer."""
    actor = _actor(request)
    _require(actor, selectors_offers.CHANGE_OFFER)
    offer = _offer(actor, pk)
    changes = payload.model_dump(exclude_unset=True)
    offer = services_offers.offer_update(actor=actor, offer=offer, **changes)
    return offer_out(offer)


@router.get("/customers/{pk}/next-best-offers", response=NextBestOffersOut)
def next_best_offers(request: HttpRequest, pk: uuid.UUID, limit: int = 3) -> Any:
    """The customer's next best offers, best expected value first."""
    actor = _actor(request)
    _require(actor, selectors_offers.VIEW_OFFER)
    party = _party(actor, pk)
    panel = selectors_offers.next_best_offer_panel(
        actor=actor, party=party, limit=max(1, min(limit, 20))
    )
    return {
        "customer": party.pk,
        "blocked": panel.blocked,
        "message": panel.blocked_message,
        "offers": [
            {
                "offer": item.offer.code,
                "name": item.offer.name,
                "product": item.product.code,
                "propensity": item.propensity,
                "band": item.band,
                "value": item.value,
                "currency": item.currency,
                "expected_value": item.expected_value,
                "is_scored": item.is_scored,
                "why": item.why,
            }
            for item in panel.items
        ],
    }


@router.post("/customers/{pk}/offer-decisions", response={201: DecisionOut})
def offer_decide(request: HttpRequest, pk: uuid.UUID, payload: DecisionIn) -> Any:
    """Accept or dismiss an offer for the customer."""
    actor = _actor(request)
    _require(actor, selectors_offers.DECIDE_OFFER)
    party = _party(actor, pk)
    offer = selectors_offers.offer_list(actor=actor).filter(code=payload.offer).first()
    if offer is None:
        raise ProblemError.of(
            error_codes.VALIDATION_ERROR,
            detail=f"offer: {_('No offer has this code.')}",
            errors=[
                field_error(
                    "body.offer", _("No offer has this code."), error_codes.FIELD_INVALID_CHOICE
                )
            ],
        )
    record = services_offers.offer_decide(
        actor=actor,
        party=party,
        offer=offer,
        decision=payload.decision,
        reason=payload.reason,
        note=payload.note,
    )
    return Status(
        201,
        {
            "id": record.pk,
            "customer": party.pk,
            "offer": offer.code,
            "decision": record.decision,
            "reason": record.reason,
            "note": record.note,
            "propensity": record.propensity,
            "expected_value": record.expected_value,
            "task": record.task_id,
            "decided_at": record.created_at,
        },
    )
