"""Writing customers' consents, their do-not-contact and deceased flags, and the signed link
to the customer's own preference page.

Every change keeps one current row per party × purpose (× contact point for the channel
purposes), appends a :class:`~bankcrm.customers.models.ConsentEvent` (the proof of what was
agreed, when, where and on which wording), is audited and records the domain event
``consent.changed`` (identifiers and codes only: events leave the bank through webhooks).

Staff may change the consents of the customers they may change (``customers.change_consent``
within their data scope). The preference page acts as ``SystemActor("customer.preference_page")``:
the signed, expiring link is its authority.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Final

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import SystemActor, is_system
from bankcrm.events.services import event_record

from .models import (
    Consent,
    ConsentEvent,
    ConsentPurpose,
    ConsentSource,
    ConsentText,
    ContactPoint,
    LawfulBasis,
    Party,
)
from .selectors_consent import consent_text_current, party_consent_rows, purpose_contact_kind
from .services import _require_party_in_scope

CHANGE_CONSENT: Final = "customers.change_consent"
PREFERENCE_SALT: Final = "customers.preferences"
PREFERENCE_ACTOR: Final = SystemActor("customer.preference_page")
LANGUAGES: Final = ("en", "zh-hans")
# Changes the customers make themselves are recorded as theirs, whoever relays them.
_CUSTOMER_SOURCES = frozenset({ConsentSource.PREFERENCE_PAGE, ConsentSource.UNSUBSCRIBE_LINK})
_NOTE_MAX = 300


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final[Any] = _Unset()


def _error(field: str, message: str, code: str) -> dict[str, list[ValidationError]]:
    return {field: [ValidationError(message, code=code)]}


def _recorded_by_label(actor: Any, source: str) -> str:
    if source in _CUSTOMER_SOURCES:
        return "customer"
    if is_system(actor):
        return str(actor.name)[:150]
    name = actor.get_full_name() if hasattr(actor, "get_full_name") else ""
    return str(name or getattr(actor, "username", "") or "staff")[:150]


def _check_contact_point(
    errors: dict[str, Any], *, party: Party, purpose: str, contact_point: ContactPoint | None
) -> None:
    """A channel purpose needs a contact point of its kind of this customer; the others are
    given per customer and take none."""
    kind = purpose_contact_kind(purpose)
    if kind is None:
        if contact_point is not None:
            errors.update(
                _error(
                    "contact_point",
                    _("This purpose is agreed per customer, not per contact point: give none."),
                    "not_allowed",
                )
            )
        return
    if contact_point is None:
        errors.update(
            _error(
                "contact_point",
                _("Choose the contact point this consent is for."),
                "required",
            )
        )
    elif contact_point.party_id != party.pk:
        errors.update(
            _error(
                "contact_point",
                _("This contact point belongs to another customer."),
                "other_party",
            )
        )
    elif contact_point.kind != kind:
        errors.update(
            _error(
                "contact_point",
                _("%(purpose)s needs a contact point of the kind %(kind)s.")
                % {
                    "purpose": ConsentPurpose(purpose).label,
                    "kind": ContactPoint.Kind(kind).label,
                },
                "wrong_kind",
            )
        )


def _check_choice(errors: dict[str, Any], field: str, value: str, choices: Any) -> None:
    if value not in choices.values:
        errors.update(_error(field, _("Choose one of the values offered."), "invalid_choice"))


def _consent_event_payload(consent: Consent, previous_status: str) -> dict[str, Any]:
    return {
        "consent": consent.pk,
        "party": str(consent.party_id),
        "purpose": consent.purpose,
        "contact_point": str(consent.contact_point_id) if consent.contact_point_id else None,
        "status": consent.status,
        "previous_status": previous_status,
        "source": consent.source,
        "lawful_basis": consent.lawful_basis,
        "text_version": consent.text.version if consent.text is not None else None,
    }


def _find(party: Party, purpose: str, contact_point: ContactPoint | None) -> Consent | None:
    return (
        Consent.objects.select_for_update()
        .filter(party=party, purpose=purpose, contact_point=contact_point)
        .first()
    )


def _write(
    *,
    actor: Any,
    party: Party,
    purpose: str,
    status: str,
    source: str,
    contact_point: ContactPoint | None,
    lawful_basis: str,
    text: ConsentText | None,
    note: str,
    consent: Consent | None,
    action: str,
) -> Consent:
    """Create or update the one row, append its event, audit and record the domain event
    (inside the caller's transaction)."""
    now = timezone.now()
    before = audit_snapshot(consent) if consent is not None else None
    previous_status = consent.status if consent is not None else ""
    if consent is None:
        consent = Consent(party=party, purpose=purpose, contact_point=contact_point)
    consent.status = status
    consent.source = source
    consent.lawful_basis = lawful_basis
    consent.text = text
    if status == Consent.Status.GRANTED:
        if previous_status != Consent.Status.GRANTED:
            consent.granted_at = now
        consent.withdrawn_at = None
    elif status == Consent.Status.WITHDRAWN and previous_status != Consent.Status.WITHDRAWN:
        consent.withdrawn_at = now
    consent.recorded_by = None if is_system(actor) else actor
    consent.save()
    ConsentEvent.objects.create(
        consent=consent,
        party=party,
        status=status,
        lawful_basis=lawful_basis,
        source=source,
        text=text,
        occurred_at=now,
        recorded_by_label=_recorded_by_label(actor, source),
        note=note,
    )
    audit_record(
        actor=actor,
        action=action,
        target=consent,
        before=before,
        after=audit_snapshot(consent),
        reason=note,
    )
    event_record(
        type="consent.changed",
        target=consent,
        payload=_consent_event_payload(consent, previous_status),
    )
    return consent


def consent_record(
    *,
    actor: Any,
    party: Party,
    purpose: str,
    status: str,
    source: str,
    contact_point: ContactPoint | None = None,
    lawful_basis: str = LawfulBasis.CONSENT,
    text: ConsentText | None = None,
    note: str = "",
) -> Consent:
    """Record a customer's choice (granted, withdrawn or refused) for one purpose.

    Creates or updates the one row of party × purpose (× contact point for e-mail, SMS and
    phone marketing, which need a contact point of the right kind of this customer; the
    other purposes take none). ``text`` defaults to the wording in force for the purpose.
    ``granted_at`` is set when the consent becomes granted, ``withdrawn_at`` when it is
    withdrawn. Errors name the field and change nothing.
    """
    _require_party_in_scope(actor, party, CHANGE_CONSENT)
    note = (note or "").strip()
    errors: dict[str, Any] = {}
    _check_choice(errors, "purpose", purpose, ConsentPurpose)
    _check_choice(errors, "status", status, Consent.Status)
    _check_choice(errors, "source", source, ConsentSource)
    _check_choice(errors, "lawful_basis", lawful_basis, LawfulBasis)
    if "purpose" not in errors:
        _check_contact_point(errors, party=party, purpose=purpose, contact_point=contact_point)
        if text is None:
            text = consent_text_current(purpose)
        elif text.purpose != purpose:
            errors.update(
                _error("text", _("This wording is for another purpose."), "other_purpose")
            )
    if len(note) > _NOTE_MAX:
        errors.update(
            _error(
                "note",
                _("Keep the note to %(max)s characters.") % {"max": _NOTE_MAX},
                "too_long",
            )
        )
    if errors:
        raise ValidationError(errors)
    arguments = {
        "actor": actor,
        "party": party,
        "purpose": purpose,
        "status": status,
        "source": source,
        "contact_point": contact_point,
        "lawful_basis": lawful_basis,
        "text": text,
        "note": note,
        "action": "consent.record",
    }
    with transaction.atomic():
        consent = _find(party, purpose, contact_point)
        if consent is None:
            try:
                with transaction.atomic():
                    return _write(**arguments, consent=None)
            except IntegrityError:
                # Recorded at the same moment by another request: update that row instead.
                consent = _find(party, purpose, contact_point)
        return _write(**arguments, consent=consent)


def consent_withdraw(
    *,
    actor: Any,
    party: Party,
    purpose: str,
    source: str,
    contact_point: ContactPoint | None = None,
    note: str = "",
) -> Consent:
    """Withdraw a consent on record. Withdrawing one that is not granted (already withdrawn
    or refused) changes nothing and returns it; a purpose with no consent on record is an
    error naming the field."""
    _require_party_in_scope(actor, party, CHANGE_CONSENT)
    note = (note or "").strip()
    errors: dict[str, Any] = {}
    _check_choice(errors, "purpose", purpose, ConsentPurpose)
    _check_choice(errors, "source", source, ConsentSource)
    if "purpose" not in errors:
        _check_contact_point(errors, party=party, purpose=purpose, contact_point=contact_point)
    if len(note) > _NOTE_MAX:
        errors.update(
            _error(
                "note",
                _("Keep the note to %(max)s characters.") % {"max": _NOTE_MAX},
                "too_long",
            )
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        consent = _find(party, purpose, contact_point)
        if consent is None:
            field = "contact_point" if contact_point is not None else "purpose"
            raise ValidationError(
                _error(field, _("No consent for this purpose is on record."), "not_on_record")
            )
        if consent.status != Consent.Status.GRANTED:
            return consent
        return _write(
            actor=actor,
            party=party,
            purpose=purpose,
            status=Consent.Status.WITHDRAWN,
            source=source,
            contact_point=contact_point,
            lawful_basis=consent.lawful_basis,
            text=consent.text,
            note=note,
            consent=consent,
            action="consent.withdraw",
        )


def party_contact_flags_set(
    *,
    actor: Any,
    party: Party,
    do_not_contact: bool | None = None,
    deceased_on: Any = UNSET,
    reason: str,
) -> Party:
    """Set a customer's do-not-contact flag and/or date of death (None clears it; leave a
    flag out to keep it). A reason is required; a date of death cannot lie in the future nor
    be given for an organisation."""
    _require_party_in_scope(actor, party, CHANGE_CONSENT)
    reason = (reason or "").strip()
    errors: dict[str, Any] = {}
    if not reason:
        errors.update(_error("reason", _("Give a reason."), "required"))
    if deceased_on is not UNSET and deceased_on is not None:
        if not isinstance(deceased_on, dt.date) or isinstance(deceased_on, dt.datetime):
            errors.update(_error("deceased_on", _("Give a date."), "invalid"))
        elif not party.is_person:
            errors.update(
                _error(
                    "deceased_on",
                    _("Only a person can be recorded as deceased."),
                    "not_a_person",
                )
            )
        elif deceased_on > timezone.localdate():
            errors.update(_error("deceased_on", _("The date cannot lie in the future."), "future"))
    if errors:
        raise ValidationError(errors)
    fields = ("do_not_contact", "deceased_on")
    with transaction.atomic():
        locked = Party.objects.select_for_update().get(pk=party.pk)
        before = audit_snapshot(locked, fields)
        if do_not_contact is not None:
            locked.do_not_contact = bool(do_not_contact)
        if deceased_on is not UNSET:
            locked.deceased_on = deceased_on
        after = audit_snapshot(locked, fields)
        if after != before:
            locked.save(update_fields=[*fields, "updated_at"])
            audit_record(
                actor=actor,
                action="customer.contact_flags",
                target=locked,
                before=before,
                after=after,
                reason=reason,
            )
            event_record(
                type="customer.contact_flags_changed",
                target=locked,
                payload={
                    "party": str(locked.pk),
                    "do_not_contact": locked.do_not_contact,
                    "deceased": locked.deceased_on is not None,
                },
            )
    party.do_not_contact = locked.do_not_contact
    party.deceased_on = locked.deceased_on
    return party


# --- The preference page ------------------------------------------------------------------


class PreferenceLinkError(ValidationError):
    """The preference link cannot be used; ``status`` is the HTTP status of the page."""

    status = 400


class PreferenceLinkInvalid(PreferenceLinkError):
    """Not a token the bank signed (cut, mistyped or tampered with), or its customer is gone."""

    status = 400


class PreferenceLinkExpired(PreferenceLinkError):
    """A genuine token older than ``MARKETING_PREFERENCE_LINK_DAYS`` days."""

    status = 410


def preference_link_days() -> int:
    return max(1, int(getattr(settings, "MARKETING_PREFERENCE_LINK_DAYS", 30) or 30))


def _language_or_none(language: str | None) -> str | None:
    if not language:
        return None
    language = language.lower()
    return language if language in LANGUAGES else None


def preference_token(*, party: Party, language: str | None = None) -> str:
    """The signed token of a customer's preference page."""
    payload: dict[str, str] = {"p": str(party.pk)}
    chosen = _language_or_none(language)
    if chosen:
        payload["l"] = chosen
    return signing.dumps(payload, salt=PREFERENCE_SALT, compress=True)


def preference_link(*, party: Party, language: str | None = None) -> str:
    """The address the customer opens: ``PUBLIC_BASE_URL`` + ``/preferences/<token>/``,
    signed (salt "customers.preferences") and valid ``MARKETING_PREFERENCE_LINK_DAYS`` days.
    ``language`` ("en" or "zh-hans") is the page's first language."""
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    token = preference_token(party=party, language=language)
    return base + reverse("preferences:page", args=[token])


def preference_link_issue(*, actor: Any, party: Party, language: str | None = None) -> str:
    """A preference link made by staff to give or send to the customer (audited)."""
    _require_party_in_scope(actor, party, CHANGE_CONSENT)
    link = preference_link(party=party, language=language)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="consent.preference_link",
            target=party,
            after={
                "language": _language_or_none(language) or "",
                "valid_days": preference_link_days(),
            },
        )
    return link


def preference_token_read(token: str) -> tuple[Party, str | None]:
    """The customer and first language a token names; raises PreferenceLinkExpired (410) or
    PreferenceLinkInvalid (400)."""
    try:
        payload = signing.loads(
            token, salt=PREFERENCE_SALT, max_age=dt.timedelta(days=preference_link_days())
        )
    except signing.SignatureExpired as exc:
        raise PreferenceLinkExpired(_("This link has expired."), code="expired") from exc
    except signing.BadSignature as exc:
        raise PreferenceLinkInvalid(_("This link is not valid."), code="invalid") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("p"), str):
        raise PreferenceLinkInvalid(_("This link is not valid."), code="invalid")
    party = Party.objects.select_related("person").filter(pk=payload["p"]).first()
    if party is None:
        raise PreferenceLinkInvalid(_("This link is not valid."), code="invalid")
    return party, _language_or_none(payload.get("l"))


def preferences_apply(
    *,
    token: str,
    choices: Mapping[str, bool],
    language: str,
    do_not_contact: bool | None = None,
) -> list[Consent]:
    """Apply the customer's choices from the preference page (no sign-in; the token is the
    authority). ``choices`` maps a row's key ("<purpose>" or "<purpose>:<contact point>")
    to granted or not; rows left out stay as they are. A choice that grants records the
    wording in force; one that turns a granted consent off withdraws it (source
    preference page). ``do_not_contact`` (None: left as it is) sets or clears the customer's
    objection to all marketing through :func:`party_contact_flags_set` (audited
    ``customer.contact_flags``, reason "preference_page"). All or nothing; returns the
    consents that changed."""
    party, _token_language = preference_token_read(token)
    rows = {row.key: row for row in party_consent_rows(party=party)}
    unknown = sorted(set(choices) - set(rows))
    if unknown:
        raise ValidationError(
            {
                key: [ValidationError(_("This choice is not offered."), code="unknown")]
                for key in unknown
            }
        )
    note = f"language={_language_or_none(language) or 'en'}"
    changed: list[Consent] = []
    with transaction.atomic():
        for key, wanted in choices.items():
            row = rows[key]
            if bool(wanted) and not row.is_granted:
                changed.append(
                    consent_record(
                        actor=PREFERENCE_ACTOR,
                        party=party,
                        purpose=row.purpose,
                        status=Consent.Status.GRANTED,
                        source=ConsentSource.PREFERENCE_PAGE,
                        contact_point=row.contact_point,
                        note=note,
                    )
                )
            elif not wanted and row.is_granted:
                changed.append(
                    consent_withdraw(
                        actor=PREFERENCE_ACTOR,
                        party=party,
                        purpose=row.purpose,
                        source=ConsentSource.PREFERENCE_PAGE,
                        contact_point=row.contact_point,
                        note=note,
                    )
                )
        if do_not_contact is not None and bool(do_not_contact) != party.do_not_contact:
            party_contact_flags_set(
                actor=PREFERENCE_ACTOR,
                party=party,
                do_not_contact=bool(do_not_contact),
                reason=f"{ConsentSource.PREFERENCE_PAGE.value}, {note}",
            )
    return changed
