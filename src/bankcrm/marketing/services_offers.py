"""Writes of product offers: the catalogue, staff's decisions on next best offers, and what
staff did with an in-branch campaign banner on the customer 360 page.

* :func:`offer_create` / :func:`offer_update` keep the catalogue (``marketing.add_`` /
  ``change_productoffer``); the eligibility rules are checked by the segment rules engine
  (``validate_definition``) and stored in its normalised form.
* :func:`offer_decide` records an accepted or dismissed next best offer. Accepting gives the
  deciding member of staff a task "Offer <offer> to <customer>" (also for loan products:
  a loan application needs a lending product, an amount and a term the offer does not
  carry, so the task is where the application starts); dismissing needs a reason.
* :func:`campaign_banners_seen` marks each live banner of the customer opened the first time
  staff see it; :func:`campaign_banner_offered` records that they made the offer (clicked).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_slug
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Product
from bankcrm.core.actor import is_system
from bankcrm.core.money import parse_amount, validate_currency_code
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party
from bankcrm.events.services import event_record

from . import selectors_offers
from .models import CampaignMessage, OfferDecision, ProductOffer

OFFER_FIELDS = (
    "code",
    "product",
    "name",
    "name_zh",
    "terms_en",
    "terms_zh",
    "valid_from",
    "valid_until",
    "value",
    "currency",
    "eligibility",
    "is_next_best_offer",
    "is_active",
)
TEXT_LIMITS = {"name": 200, "name_zh": 200, "terms_en": 20000, "terms_zh": 20000}
MAX_VALUE = Decimal("9999999999999999")  # 16 digits before the point (20 digits, 4 after)
VALUE_PLACES = Decimal("0.0001")
NOTE_LIMIT = 500
ACCEPT_TASK_DAYS = 7


def _add(errors: dict[str, list[ValidationError]], name: str, message: str, code: str) -> None:
    errors.setdefault(name, []).append(ValidationError(message, code=code))


def _require_perm(actor: Any, permission: str, message: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(message)


def _as_date(value: Any, name: str, errors: dict[str, list[ValidationError]]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        _add(
            errors, name, _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value}, "invalid"
        )
        return None


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _product(value: Any, errors: dict[str, list[ValidationError]]) -> Product | None:
    if isinstance(value, Product):
        return value
    text = str(value or "").strip()
    if not text:
        _add(errors, "product", _("Choose the product."), "required")
        return None
    product = Product.objects.filter(code=text).first()
    if product is None and text.isdigit():
        product = Product.objects.filter(pk=int(text)).first()
    if product is None:
        _add(
            errors,
            "product",
            _("No product has the code “%(code)s”.") % {"code": text},
            "not_found",
        )
    return product


def _eligibility(value: Any, errors: dict[str, list[ValidationError]]) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        _add(errors, "eligibility", _("The eligibility rules must be a JSON object."), "invalid")
        return {}
    if not value:
        return {}
    from bankcrm.marketing.segments.compiler import validate_definition

    try:
        return dict(validate_definition(value))
    except ValidationError as exc:
        messages = exc.message_dict.get("definition") if hasattr(exc, "error_dict") else None
        for message in messages or exc.messages:
            _add(errors, "eligibility", message, "invalid")
        return {}


def _apply(
    offer: ProductOffer, data: dict[str, Any], errors: dict[str, list[ValidationError]]
) -> None:
    for name in sorted(set(data) - set(OFFER_FIELDS)):
        _add(errors, name, _("This field is not allowed here."), "unknown_field")
    if "code" in data:
        code = str(data["code"] or "").strip()
        if not code:
            _add(errors, "code", _("Enter the offer's code."), "required")
        else:
            try:
                validate_slug(code)
            except ValidationError:
                _add(
                    errors,
                    "code",
                    _("Use letters, digits, hyphens and underscores only."),
                    "invalid",
                )
            else:
                if len(code) > 64:
                    _add(errors, "code", _("At most 64 characters."), "too_long")
                elif ProductOffer.objects.filter(code=code).exclude(pk=offer.pk).exists():
                    _add(errors, "code", _("Another offer has this code."), "duplicate")
            offer.code = code
    if "product" in data:
        product = _product(data["product"], errors)
        if product is not None:
            offer.product = product
    for name, limit in TEXT_LIMITS.items():
        if name in data:
            text = str(data[name] or "").strip()
            if len(text) > limit:
                _add(
                    errors,
                    name,
                    _("At most %(limit)s characters.") % {"limit": limit},
                    "too_long",
                )
            setattr(offer, name, text)
    if "name" in data and not offer.name:
        _add(errors, "name", _("Enter the offer's name."), "required")
    for name in ("valid_from", "valid_until"):
        if name in data:
            setattr(offer, name, _as_date(data[name], name, errors))
    if (
        offer.valid_from
        and offer.valid_until
        and offer.valid_until < offer.valid_from
        and "valid_until" not in errors
    ):
        _add(errors, "valid_until", _("The offer cannot end before it starts."), "invalid")
    if "value" in data:
        raw = data["value"]
        try:
            value = (
                raw
                if isinstance(raw, Decimal)
                else parse_amount(str(raw if raw is not None else ""))
            )
        except (TypeError, ValueError, InvalidOperation):
            _add(errors, "value", _("“%(value)s” is not an amount.") % {"value": raw}, "invalid")
        else:
            if value < 0:
                _add(errors, "value", _("The value cannot be negative."), "out_of_range")
            elif value > MAX_VALUE:
                _add(errors, "value", _("The value is too large."), "out_of_range")
            else:
                # As the column keeps it, so the saved offer reads as it is stored.
                offer.value = value.quantize(VALUE_PLACES)
    if "currency" in data:
        currency = str(data["currency"] or "").strip().upper()
        try:
            validate_currency_code(currency)
        except ValidationError:
            _add(
                errors,
                "currency",
                _("“%(code)s” is not a currency code.") % {"code": currency},
                "invalid",
            )
        else:
            offer.currency = currency
    if "eligibility" in data:
        offer.eligibility = _eligibility(data["eligibility"], errors)
    for name in ("is_next_best_offer", "is_active"):
        if name in data:
            setattr(offer, name, _as_bool(data[name]))


def _event_payload(offer: ProductOffer) -> dict[str, Any]:
    return {
        "offer": offer.pk,
        "code": offer.code,
        "product": offer.product.code,
        "is_active": offer.is_active,
        "is_next_best_offer": offer.is_next_best_offer,
    }


def offer_create(*, actor: Any, **fields: Any) -> ProductOffer:
    """Add an offer to the catalogue. ``fields``: code, product (an instance or its code),
    name, name_zh, terms_en, terms_zh, valid_from, valid_until, value, currency,
    eligibility (a rule tree, ``{}`` = everyone), is_next_best_offer, is_active."""
    _require_perm(actor, selectors_offers.ADD_OFFER, _("You may not add offers."))
    errors: dict[str, list[ValidationError]] = {}
    offer = ProductOffer()
    data = {"code": "", "product": None, "name": "", **fields}
    _apply(offer, data, errors)
    if errors:
        raise ValidationError(errors)
    offer.created_by = None if is_system(actor) else actor
    with transaction.atomic():
        offer.save()
        audit_record(
            actor=actor, action="product_offer.create", target=offer, after=audit_snapshot(offer)
        )
        event_record(type="marketing.offer_created", target=offer, payload=_event_payload(offer))
    return offer


def offer_update(*, actor: Any, offer: ProductOffer, **changes: Any) -> ProductOffer:
    """Change an offer (only the fields given); the same rules as :func:`offer_create`."""
    _require_perm(actor, selectors_offers.CHANGE_OFFER, _("You may not change offers."))
    with transaction.atomic():
        locked = ProductOffer.objects.select_for_update().select_related("product").get(pk=offer.pk)
        before = audit_snapshot(locked)
        errors: dict[str, list[ValidationError]] = {}
        _apply(locked, dict(changes), errors)
        if errors:
            raise ValidationError(errors)
        locked.save()
        audit_record(
            actor=actor,
            action="product_offer.update",
            target=locked,
            before=before,
            after=audit_snapshot(locked),
        )
        event_record(type="marketing.offer_updated", target=locked, payload=_event_payload(locked))
    return locked


def _customer_in_reach(actor: Any, party: Party) -> Party:
    found = (
        Party.objects.visible_to(actor).filter(pk=party.pk).select_related("owning_unit").first()
    )
    if found is None:
        raise Party.DoesNotExist(_("No such customer."))
    return found


def offer_decide(
    *,
    actor: Any,
    party: Party,
    offer: ProductOffer,
    decision: str,
    reason: str = "",
    note: str = "",
) -> OfferDecision:
    """Record that staff accepted or dismissed ``offer`` for ``party``.

    Accepted: the actor gets a task "Offer <offer> to <customer>" due in a week, linked on
    the decision. Dismissed: ``reason`` (an OfferDecision.Reason) is required. The
    propensity and expected value shown are kept with the decision. DoesNotExist for a
    customer out of reach."""
    _require_perm(actor, selectors_offers.DECIDE_OFFER, _("You may not act on offers."))
    if is_system(actor):
        raise PermissionDenied(_("Offers are decided by a member of staff."))
    party = _customer_in_reach(actor, party)
    errors: dict[str, list[ValidationError]] = {}
    decision = str(decision or "").strip()
    reason = str(reason or "").strip()
    note = str(note or "").strip()
    if decision not in OfferDecision.Decision.values:
        _add(errors, "decision", _("Choose accept or dismiss."), "invalid_choice")
    if decision == OfferDecision.Decision.DISMISSED and not reason:
        _add(errors, "reason", _("Give the reason for dismissing the offer."), "required")
    elif reason and reason not in OfferDecision.Reason.values:
        _add(
            errors,
            "reason",
            _("“%(reason)s” is not a reason.") % {"reason": reason},
            "invalid_choice",
        )
    if decision == OfferDecision.Decision.ACCEPTED:
        reason = ""
    if len(note) > NOTE_LIMIT:
        _add(errors, "note", _("At most %(limit)s characters.") % {"limit": NOTE_LIMIT}, "too_long")
    if not offer.is_active:
        _add(errors, "offer", _("This offer is no longer active."), "inactive")
    if errors:
        raise ValidationError(errors)
    probability = selectors_offers.offer_scores(party, {offer.product_id}).get(offer.product_id)
    with transaction.atomic():
        task = None
        if decision == OfferDecision.Decision.ACCEPTED:
            from bankcrm.customers.services import task_create

            name = offer.name_for(None)
            task = task_create(
                actor=actor,
                title=_("Offer %(offer)s to %(customer)s")
                % {"offer": name, "customer": party.display_name},
                party=party,
                due_on=bank_today() + dt.timedelta(days=ACCEPT_TASK_DAYS),
                description="\n\n".join(
                    part for part in (offer.terms_en, offer.terms_zh, note) if part
                ),
            )
        record = OfferDecision.objects.create(
            party=party,
            offer=offer,
            decision=decision,
            reason=reason,
            note=note,
            propensity=probability,
            expected_value=selectors_offers.expected_value(probability, offer.value),
            task=task,
            decided_by=actor,
        )
        audit_record(
            actor=actor,
            action=f"offer_decision.{decision}",
            target=record,
            after=audit_snapshot(record),
            reason=reason,
        )
        event_record(
            type="marketing.offer_decided",
            target=record,
            payload={
                "decision": record.pk,
                "party": str(party.pk),
                "offer": offer.code,
                "product": offer.product.code,
                "outcome": decision,
                "reason": reason,
                "task": task.pk if task else None,
            },
        )
    return record


def campaign_banners_seen(*, actor: Any, party: Party, messages: list[CampaignMessage]) -> int:
    """Mark the customer's live banners opened the first time staff see them (once; later
    views change nothing). Returns how many were marked."""
    pending = [
        message.pk
        for message in messages
        if message.party_id == party.pk and message.opened_at is None
    ]
    if not pending:
        return 0
    now = timezone.now()
    marked = 0
    with transaction.atomic():
        for message in CampaignMessage.objects.select_for_update().filter(
            pk__in=pending, opened_at__isnull=True
        ):
            before = audit_snapshot(message, ("status", "opened_at"))
            message.opened_at = now
            if message.status in (CampaignMessage.Status.SENT, CampaignMessage.Status.DELIVERED):
                message.status = CampaignMessage.Status.OPENED
            message.save(update_fields=["opened_at", "status"])
            audit_record(
                actor=actor,
                action="campaign_message.banner_seen",
                target=message,
                before=before,
                after=audit_snapshot(message, ("status", "opened_at")),
            )
            marked += 1
    for message in messages:
        if message.pk in pending:
            message.opened_at = message.opened_at or now
    return marked


def campaign_banner_offered(
    *, actor: Any, party: Party, message: CampaignMessage
) -> CampaignMessage:
    """Record that staff made a banner's offer to the customer (the message is clicked;
    the first time counts)."""
    _require_perm(actor, selectors_offers.DECIDE_OFFER, _("You may not act on offers."))
    party = _customer_in_reach(actor, party)
    with transaction.atomic():
        locked = CampaignMessage.objects.select_for_update().get(pk=message.pk, party=party)
        if locked.clicked_at is not None:
            return locked
        before = audit_snapshot(locked, ("status", "opened_at", "clicked_at"))
        now = timezone.now()
        locked.opened_at = locked.opened_at or now
        locked.clicked_at = now
        locked.status = CampaignMessage.Status.CLICKED
        locked.save(update_fields=["opened_at", "clicked_at", "status"])
        audit_record(
            actor=actor,
            action="campaign_message.banner_offered",
            target=locked,
            before=before,
            after=audit_snapshot(locked, ("status", "opened_at", "clicked_at")),
        )
        event_record(
            type="marketing.banner_offered",
            target=locked,
            payload={
                "message": locked.pk,
                "campaign": locked.campaign_id,
                "party": str(party.pk),
            },
        )
    return locked
