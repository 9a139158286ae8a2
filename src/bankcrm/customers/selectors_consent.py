"""Reading customers' consents: the SQL building blocks campaigns and sends filter on, the
fresh send-time check, and the consent overview of one customer (360 panel, consent page,
preference page).

A channel purpose (marketing by e-mail, SMS, phone call) is consented per contact point of
its kind; profiling and third-party sharing per customer (the row without a contact point).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.crypto import preload_keys
from bankcrm.core.masking import mask

from .models import (
    CONSENT_PURPOSE_CONTACT_KIND,
    Consent,
    ConsentEvent,
    ConsentPurpose,
    ConsentText,
    ContactPoint,
    Party,
)

VIEW_CONSENT = "customers.view_consent"


def purpose_contact_kind(purpose: str) -> str | None:
    """The contact-point kind a channel purpose is given on; None for a per-customer one."""
    return CONSENT_PURPOSE_CONTACT_KIND.get(purpose)  # type: ignore[call-overload, no-any-return]


def _granted(purpose: str) -> QuerySet[Consent]:
    return Consent.objects.filter(purpose=purpose, status=Consent.Status.GRANTED)


def _on_any_point(queryset: QuerySet[Consent], purpose: str) -> QuerySet[Consent]:
    if purpose_contact_kind(purpose) is None:
        return queryset.filter(contact_point__isnull=True)
    return queryset.filter(contact_point__isnull=False)


def consent_granted_exists(
    purpose: str, *, party_ref: str = "pk", contact_point_ref: str | None = None
) -> Exists:
    """``Exists`` over granted consents of ``purpose`` for the outer row's party
    (``OuterRef(party_ref)``), usable in ``.filter()`` / ``.annotate()`` of any queryset.

    With ``contact_point_ref`` the consent must be on that contact point; without it, on any
    contact point of the party (channel purposes) or the customer-level row (profiling,
    third-party sharing).
    """
    queryset = _granted(purpose).filter(party_id=OuterRef(party_ref))
    if contact_point_ref is not None:
        queryset = queryset.filter(contact_point_id=OuterRef(contact_point_ref))
    else:
        queryset = _on_any_point(queryset, purpose)
    return Exists(queryset)


def consent_is_granted(*, party_id: Any, purpose: str, contact_point_id: Any = None) -> bool:
    """Whether the consent is granted now (read fresh: the send-time check)."""
    queryset = _granted(purpose).filter(party_id=party_id)
    if contact_point_id is not None:
        queryset = queryset.filter(contact_point_id=contact_point_id)
    else:
        queryset = _on_any_point(queryset, purpose)
    return queryset.exists()


def reachable_contact_point(*, party_id: Any, purpose: str) -> ContactPoint | None:
    """The party's contact point of the purpose's kind with a granted consent, primary first
    (None for a per-customer purpose or when none is granted)."""
    kind = purpose_contact_kind(purpose)
    if kind is None:
        return None
    return (
        ContactPoint.objects.filter(party_id=party_id, kind=kind)
        .filter(consent_granted_exists(purpose, party_ref="party_id", contact_point_ref="pk"))
        .order_by("-is_primary", "created_at", "pk")
        .first()
    )


def _require_view(actor: Any) -> None:
    if not actor_has_perm(actor, VIEW_CONSENT):
        raise PermissionDenied(_("You do not have permission to do this."))


def consent_list(*, actor: Any, party: Party) -> list[Consent]:
    """The customer's consents the actor may see (by purpose, then contact point)."""
    _require_view(actor)
    return list(
        Consent.objects.visible_to(actor)
        .filter(party=party)
        .select_related("contact_point", "text", "recorded_by")
        .order_by("purpose", "created_at", "pk")
    )


def consent_get(*, actor: Any, pk: int) -> Consent:
    _require_view(actor)
    return Consent.objects.visible_to(actor).select_related("contact_point", "text").get(pk=pk)


def consent_event_list(*, actor: Any, party: Party, limit: int = 200) -> list[ConsentEvent]:
    """The customer's consent history, newest first."""
    _require_view(actor)
    return list(
        ConsentEvent.objects.visible_to(actor)
        .filter(party=party)
        .select_related("consent__contact_point", "text")
        .order_by("-occurred_at", "-id")[:limit]
    )


def consent_text_current(purpose: str) -> ConsentText | None:
    """The wording of ``purpose`` in force now: the highest version already effective."""
    return (
        ConsentText.objects.filter(purpose=purpose, effective_from__lte=timezone.now())
        .order_by("-version")
        .first()
    )


def consent_texts_current() -> dict[str, ConsentText]:
    """The wording in force now of every purpose that has one (one query)."""
    current: dict[str, ConsentText] = {}
    texts = ConsentText.objects.filter(effective_from__lte=timezone.now()).order_by(
        "purpose", "-version"
    )
    for text in texts:
        current.setdefault(text.purpose, text)
    return current


def consent_text_list(*, purpose: str | None = None) -> list[ConsentText]:
    """Every published wording (reference data), by purpose and newest version first."""
    queryset = ConsentText.objects.all()
    if purpose:
        queryset = queryset.filter(purpose=purpose)
    return list(queryset.order_by("purpose", "-version"))


# --- The overview of one customer -----------------------------------------------------------


def contact_point_masked(point: ContactPoint | None) -> str:
    """A contact point's value masked for display ("" for none)."""
    if point is None:
        return ""
    if point.kind == ContactPoint.Kind.ADDRESS:
        return "****"
    return mask(point.value, "phone" if point.kind == ContactPoint.Kind.PHONE else "email")


@dataclass
class ConsentRow:
    """One purpose on one contact point (channel purposes) or for the customer (others)."""

    purpose: str
    purpose_label: str
    contact_point: ContactPoint | None
    masked_value: str
    consent: Consent | None
    current_text: ConsentText | None

    @property
    def key(self) -> str:
        """The choice's name on the preference page: "<purpose>" or "<purpose>:<point>"."""
        if self.contact_point is None:
            return self.purpose
        return f"{self.purpose}:{self.contact_point.pk}"

    @property
    def status(self) -> str:
        return self.consent.status if self.consent is not None else ""

    @property
    def is_granted(self) -> bool:
        return self.consent is not None and self.consent.is_granted

    @property
    def since(self) -> Any:
        consent = self.consent
        if consent is None:
            return None
        if consent.status == Consent.Status.GRANTED:
            return consent.granted_at
        if consent.status == Consent.Status.WITHDRAWN:
            return consent.withdrawn_at
        return consent.updated_at

    @property
    def text_version(self) -> int | None:
        consent = self.consent
        if consent is None or consent.text is None:
            return None
        return consent.text.version


def consent_rows(
    *, party: Party, contact_points: list[ContactPoint], consents: list[Consent]
) -> list[ConsentRow]:
    """Every purpose × contact point of its kind (channel purposes) and every per-customer
    purpose, each with its consent if one is on record."""
    texts = consent_texts_current()
    by_key: dict[tuple[str, Any], Consent] = {
        (c.purpose, c.contact_point_id): c for c in consents if c.party_id == party.pk
    }
    rows: list[ConsentRow] = []
    for purpose in ConsentPurpose:
        kind = purpose_contact_kind(purpose)
        points: list[ContactPoint | None]
        if kind is None:
            points = [None]
        else:
            points = [p for p in contact_points if p.kind == kind and p.party_id == party.pk]
        for point in points:
            rows.append(
                ConsentRow(
                    purpose=purpose.value,
                    purpose_label=str(purpose.label),
                    contact_point=point,
                    masked_value=contact_point_masked(point),
                    consent=by_key.get((purpose.value, point.pk if point else None)),
                    current_text=texts.get(purpose.value),
                )
            )
    return rows


def consent_overview(*, actor: Any, party: Party) -> list[ConsentRow]:
    """The rows of the 360 panel and the consent page, within the actor's reach."""
    _require_view(actor)
    points = list(
        ContactPoint.objects.visible_to(actor)
        .filter(party=party, kind__in=[ContactPoint.Kind.EMAIL, ContactPoint.Kind.PHONE])
        .order_by("kind", "-is_primary", "created_at", "pk")
    )
    preload_keys(points)
    return consent_rows(
        party=party, contact_points=points, consents=consent_list(actor=actor, party=party)
    )


def _primary_first(consent: Consent | None) -> tuple[bool, Any]:
    point = consent.contact_point if consent is not None else None
    return (not point.is_primary, point.created_at) if point is not None else (True, None)


def consent_panel_rows(*, actor: Any, party: Party) -> list[ConsentRow]:
    """The 360 panel's rows in one query: the consents on record (with their contact point)
    and every per-customer purpose. Contact points with no consent at all are left to the
    page, which lists them already; the consent page shows the full matrix."""
    _require_view(actor)
    consents = list(
        Consent.objects.visible_to(actor)
        .filter(party=party)
        .select_related("contact_point", "text")
        .order_by("purpose", "created_at", "pk")
    )
    preload_keys([c.contact_point for c in consents if c.contact_point is not None])
    rows: list[ConsentRow] = []
    for purpose in ConsentPurpose:
        found: list[Consent | None] = [c for c in consents if c.purpose == purpose.value]
        if purpose_contact_kind(purpose) is None:
            found = found[:1] or [None]
        else:
            found.sort(key=_primary_first)
        for consent in found:
            point = consent.contact_point if consent is not None else None
            rows.append(
                ConsentRow(
                    purpose=purpose.value,
                    purpose_label=str(purpose.label),
                    contact_point=point,
                    masked_value=contact_point_masked(point),
                    consent=consent,
                    current_text=None,
                )
            )
    return rows


def party_consent_rows(*, party: Party) -> list[ConsentRow]:
    """The same rows without an actor: the customer's own preference page (the signed link
    is the authority)."""
    points = list(
        ContactPoint.objects.filter(
            party=party, kind__in=[ContactPoint.Kind.EMAIL, ContactPoint.Kind.PHONE]
        ).order_by("kind", "-is_primary", "created_at", "pk")
    )
    preload_keys(points)
    consents = list(
        Consent.objects.filter(party=party)
        .select_related("text")
        .filter(Q(contact_point__isnull=True) | Q(contact_point__in=points))
    )
    return consent_rows(party=party, contact_points=points, consents=consents)
