"""REST API of customers' consents (``/api/v1/customers/{pk}/consents``) and consent texts.

Mounted on the customers router: a customer outside the caller's reach answers 404, invalid
input 422 problem+json naming each field (the service's checks: purpose, status, source,
lawful basis, a contact point of the right kind of this customer), and nothing changes.
Contact points are shown masked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import Field

from bankcrm.core.schemas import InSchema

from . import selectors, selectors_consent, services_consent
from .models import Consent, ConsentText, ContactPoint

router = Router(tags=["consents"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class ConsentIn(InSchema):
    """A customer's choice for one purpose (on a contact point for the channel purposes)."""

    purpose: str = Field(..., max_length=30)
    status: str = Field("granted", max_length=10)
    source: str = Field(..., max_length=20)
    contact_point: uuid.UUID | None = None
    lawful_basis: str = Field("consent", max_length=20)
    text_version: int | None = Field(None, ge=1)
    note: str = Field("", max_length=300)


class ConsentOut(Schema):
    id: int
    party: uuid.UUID
    purpose: str
    contact_point: uuid.UUID | None
    contact_point_kind: str | None
    contact_point_value: str | None  # masked
    status: str
    lawful_basis: str
    source: str
    text_version: int | None
    granted_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    updated_at: dt.datetime


class ConsentTextOut(Schema):
    id: int
    purpose: str
    version: int
    text_en: str
    text_zh: str
    effective_from: dt.datetime
    is_current: bool


class ConsentTextFilter(Schema):
    purpose: str | None = None


def consent_out(consent: Consent) -> dict[str, Any]:
    point = consent.contact_point
    return {
        "id": consent.pk,
        "party": consent.party_id,
        "purpose": consent.purpose,
        "contact_point": consent.contact_point_id,
        "contact_point_kind": point.kind if point is not None else None,
        "contact_point_value": selectors_consent.contact_point_masked(point)
        if point is not None
        else None,
        "status": consent.status,
        "lawful_basis": consent.lawful_basis,
        "source": consent.source,
        "text_version": consent.text.version if consent.text is not None else None,
        "granted_at": consent.granted_at,
        "withdrawn_at": consent.withdrawn_at,
        "updated_at": consent.updated_at,
    }


def _field_error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code="invalid")]})


def _contact_point(actor: Any, pk: uuid.UUID | None) -> ContactPoint | None:
    if pk is None:
        return None
    point = ContactPoint.objects.visible_to(actor).filter(pk=pk).first()
    if point is None:
        raise _field_error("contact_point", _("No such contact point."))
    return point


def _text(purpose: str, version: int | None) -> ConsentText | None:
    if version is None:
        return None
    text = ConsentText.objects.filter(purpose=purpose, version=version).first()
    if text is None:
        raise _field_error("text_version", _("No wording of this version for the purpose."))
    return text


@router.get("/{uuid:pk}/consents", response=list[ConsentOut])
def consent_list(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The customer's consents, by purpose."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    return [consent_out(c) for c in selectors_consent.consent_list(actor=actor, party=party)]


@router.post("/{uuid:pk}/consents", response={201: ConsentOut})
def consent_record(request: HttpRequest, pk: uuid.UUID, payload: ConsentIn) -> Any:
    """Record a grant, withdrawal or refusal (creates or updates the one row; history kept)."""
    actor = _actor(request)
    party = selectors.party_get(actor=actor, pk=pk)
    consent = services_consent.consent_record(
        actor=actor,
        party=party,
        purpose=payload.purpose,
        status=payload.status,
        source=payload.source,
        contact_point=_contact_point(actor, payload.contact_point),
        lawful_basis=payload.lawful_basis,
        text=_text(payload.purpose, payload.text_version),
        note=payload.note,
    )
    return Status(201, consent_out(consent))


@router.get("/consent-texts", response=list[ConsentTextOut])
def consent_text_list(request: HttpRequest, filters: Query[ConsentTextFilter]) -> Any:
    """Every published wording of the consent purposes; ``is_current`` marks the one in
    force."""
    current = {t.pk for t in selectors_consent.consent_texts_current().values()}
    return [
        {
            "id": t.pk,
            "purpose": t.purpose,
            "version": t.version,
            "text_en": t.text_en,
            "text_zh": t.text_zh,
            "effective_from": t.effective_from,
            "is_current": t.pk in current,
        }
        for t in selectors_consent.consent_text_list(purpose=filters.purpose)
    ]
