"""Regulated complaints: classification, the statutory deadline, its one extension, the
outcome, redress under four eyes, and the escalation of overdue complaints.

* The deadline is counted from the day the complaint was received by the case's
  :class:`~bankcrm.support.models.ComplaintDeadlineRule`: N calendar days, or N working days
  of a business calendar. **Day 1 is the day after receipt** (the NFRA rule reads
  收到投诉之日起15日内, and a period in days starts the next day): received on 28 September
  2026 with 15 calendar days, the answer is due on 13 October 2026.
* An extension is taken once, with a reason, before the deadline passes and only if the
  rule allows one; the deadline is then counted with the rule's extended days (30 in all
  for the default rule).
* Redress up to ``SUPPORT_REDRESS_APPROVAL_THRESHOLD`` (in the base currency; other
  currencies converted at the latest exchange rate) is approved at once by the person who
  sets it; above it the maker-checker action ``support.complaint_redress`` waits for a
  second person holding ``support.approve_redress`` who may change the complaint.
* Complaints unanswered after their deadline are escalated once to the branch managers of
  the case's unit and to the compliance officers (see :func:`complaints_overdue_escalate`).
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import zoneinfo
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import Role, User
from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import SystemActor, is_system
from bankcrm.core.calendar import is_working_day
from bankcrm.core.currencies import CURRENCIES
from bankcrm.core.models import BusinessCalendar
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.timefmt import bank_today
from bankcrm.events.services import event_record

from .models import Complaint, ComplaintCode, ComplaintDeadlineRule, ServiceCase
from .selectors_complaints import case_visible_to, complaint_visible

logger = logging.getLogger(__name__)

REDRESS_ACTION = "support.complaint_redress"
APPROVE_REDRESS = "support.approve_redress"
ADD_COMPLAINT = "support.add_complaint"
CHANGE_COMPLAINT = "support.change_complaint"
ESCALATION_ACTOR = SystemActor("support.complaints_overdue")
# A business-day rule on a calendar without a working day for this long is broken.
_MAX_IDLE_DAYS = 3660
_MAX_REDRESS = Decimal("1000000000000")  # the column holds 12 digits before the point
UPDATABLE_FIELDS = ("category", "product", "root_cause", "outcome", "answered_on")
_AUDITED = (
    "category",
    "product",
    "root_cause",
    "received_on",
    "deadline_rule",
    "deadline",
    "extended_at",
    "extended_by",
    "outcome",
    "answered_on",
    "redress_amount",
    "redress_currency",
    "redress_status",
    "redress_approval",
    "redress_approved_by",
    "escalated_at",
)


# --- Helpers ---------------------------------------------------------------------------------


def _invalid(problems: dict[str, Any], code: str) -> ValidationError:
    """A refusal naming each bad field, each message carrying the stable ``code``."""
    return ValidationError(
        {name: ValidationError(str(message), code=code) for name, message in problems.items()}
    )


def _require_perm(actor: Any, permission: str, message: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(message)


def _snapshot(complaint: Complaint) -> dict[str, Any]:
    return audit_snapshot(complaint, _AUDITED)


def _bank_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)


def _bank_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(_bank_zone()).date()


def _as_date(value: Any, field: str, problems: dict[str, str]) -> dt.date | None:
    """A date given as a date, a datetime (its bank-zone day) or ISO text."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            problems[field] = _("Give the date without a time, or a time with its zone.")
            return None
        return _bank_date(value)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        problems[field] = _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value}
        return None


def _code(kind: str, value: Any, field: str, problems: dict[str, str]) -> ComplaintCode | None:
    """The active code of ``kind`` named by ``value`` (a code or a ComplaintCode)."""
    if isinstance(value, ComplaintCode):
        value = value.code
    text = str(value or "").strip()
    if not text:
        problems[field] = _("Choose the %(field)s.") % {"field": _field_label(field)}
        return None
    code = ComplaintCode.objects.filter(kind=kind, code=text, is_active=True).first()
    if code is None:
        problems[field] = _("“%(code)s” is not an active %(field)s code.") % {
            "code": text,
            "field": _field_label(field),
        }
    return code


def _field_label(field: str) -> str:
    labels = {
        "category": _("regulatory category"),
        "product": _("product"),
        "root_cause": _("root cause"),
    }
    return str(labels.get(field, field))


def _rule(code: str | None, problems: dict[str, str]) -> ComplaintDeadlineRule | None:
    if code:
        rule = ComplaintDeadlineRule.objects.filter(code=code).first()
        if rule is None:
            problems["rule"] = _("“%(code)s” is not a complaint deadline rule.") % {"code": code}
        return rule
    rule = ComplaintDeadlineRule.objects.filter(is_default=True).first()
    if rule is None:
        problems["rule"] = _("No default complaint deadline rule is set up; choose a rule.")
    return rule


def _locked(actor: Any, complaint: Complaint) -> Complaint:
    """The complaint locked for a change, if the actor may change it (else DoesNotExist)."""
    locked = (
        complaint_visible(actor=actor, action="change")
        .select_for_update(of=("self",))
        .select_related("case", "deadline_rule", "category", "product", "root_cause")
        .filter(pk=complaint.pk)
        .first()
    )
    if locked is None:
        raise Complaint.DoesNotExist(_("No such complaint."))
    return locked


def _event_payload(complaint: Complaint, **extra: Any) -> dict[str, Any]:
    case = complaint.case
    return {
        "complaint": complaint.pk,
        "case": str(case.pk),
        "reference": case.reference,
        "deadline": complaint.deadline.isoformat(),
        **extra,
    }


# --- Deadline --------------------------------------------------------------------------------


def complaint_deadline(
    *, rule: ComplaintDeadlineRule, received_on: dt.date, extended: bool = False
) -> dt.date:
    """The last day to answer a complaint received on ``received_on`` under ``rule``.

    Day 1 is the day after receipt. Calendar days: ``received_on`` + N days. Working days:
    the N-th day after receipt that the rule's calendar (else ``SUPPORT_DEFAULT_CALENDAR``)
    works, holidays skipped and adjusted working days (a Saturday worked instead) counted.
    ``extended``: counted with the rule's extended days (ValueError if it allows none).
    """
    days = rule.extended_days if extended else rule.days
    if extended and not rule.extended_days:
        raise ValueError(f"the deadline rule {rule.code} allows no extension")
    if rule.day_kind == ComplaintDeadlineRule.DayKind.CALENDAR:
        return received_on + dt.timedelta(days=days)
    calendar = rule.calendar
    if calendar is None:
        calendar = BusinessCalendar.objects.filter(code=settings.SUPPORT_DEFAULT_CALENDAR).first()
        if calendar is None:
            raise ImproperlyConfigured(
                f"The complaint deadline rule {rule.code} counts working days but names no "
                f"calendar, and SUPPORT_DEFAULT_CALENDAR {settings.SUPPORT_DEFAULT_CALENDAR!r} "
                "does not exist."
            )
    day, counted, idle = received_on, 0, 0
    while counted < days:
        day += dt.timedelta(days=1)
        if is_working_day(calendar, day):
            counted, idle = counted + 1, 0
        else:
            idle += 1
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"the calendar {calendar.code} has no working day ahead")
    return day


# --- Opening and updating --------------------------------------------------------------------


def complaint_open(
    *,
    actor: Any,
    case: ServiceCase,
    category: str,
    product: str,
    received_on: dt.date | None = None,
    root_cause: str | None = None,
    rule: str | None = None,
) -> Complaint:
    """Record the regulated facts of a complaint case and compute its statutory deadline.

    ``category``, ``product`` and ``root_cause`` are ComplaintCode codes; ``received_on``
    defaults to the day (in the bank's zone) the case was received; ``rule`` is a deadline
    rule code (default: the default rule). Called by ``case_create`` in its transaction.
    """
    _require_perm(actor, ADD_COMPLAINT, _("You may not record complaints."))
    problems: dict[str, str] = {}
    if not case.case_type.is_complaint:
        problems["case"] = _("This case is not a complaint; change its type first.")
    elif Complaint.objects.filter(case_id=case.pk).exists():
        problems["case"] = _("This case already has its complaint details.")
    category_code = _code("category", category, "category", problems)
    product_code = _code("product", product, "product", problems)
    root_cause_code = (
        _code("root_cause", root_cause, "root_cause", problems) if root_cause else None
    )
    received = _as_date(received_on, "received_on", problems)
    if received is None and "received_on" not in problems:
        received = _bank_date(case.received_at)
    if received is not None and received > bank_today():
        problems["received_on"] = _("A complaint cannot be received in the future.")
    deadline_rule = _rule(rule, problems)
    if problems:
        raise _invalid(problems, "complaint_invalid")
    if not case_visible_to(actor, "view").filter(pk=case.pk).exists():
        raise ServiceCase.DoesNotExist(_("No such case."))
    # The checks above passed: every value is set.
    if category_code is None or product_code is None or deadline_rule is None or not received:
        raise ValidationError(_("The complaint is incomplete."), code="complaint_invalid")
    with transaction.atomic():
        complaint = Complaint.objects.create(
            case=case,
            category=category_code,
            product=product_code,
            root_cause=root_cause_code,
            received_on=received,
            deadline_rule=deadline_rule,
            deadline=complaint_deadline(rule=deadline_rule, received_on=received),
        )
        audit_record(
            actor=actor, action="complaint.open", target=complaint, after=_snapshot(complaint)
        )
        event_record(
            type="complaint.opened",
            target=complaint,
            payload=_event_payload(
                complaint,
                category=category_code.code,
                product=product_code.code,
                received_on=received.isoformat(),
            ),
        )
    return complaint


def complaint_update(*, actor: Any, complaint: Complaint, changes: dict[str, Any]) -> Complaint:
    """Change the classification, root cause, outcome or the day the customer was answered.

    ``changes`` maps field names of :data:`UPDATABLE_FIELDS` to codes (``root_cause``:
    ``""``/None clears it), an outcome value (``""``: not decided) or a date.
    """
    _require_perm(actor, CHANGE_COMPLAINT, _("You may not change complaints."))
    problems: dict[str, str] = {}
    for name in changes:
        if name not in UPDATABLE_FIELDS:
            problems[name] = _("This field cannot be changed here.")
    values: dict[str, Any] = {}
    for name in ("category", "product"):
        if name in changes:
            values[name] = _code(name, changes[name], name, problems)
    if "root_cause" in changes:
        raw = changes["root_cause"]
        values["root_cause"] = _code("root_cause", raw, "root_cause", problems) if raw else None
    if "outcome" in changes:
        outcome = str(changes["outcome"] or "")
        if outcome not in Complaint.Outcome.values:
            problems["outcome"] = _("Choose one of the outcomes.")
        values["outcome"] = outcome
    if "answered_on" in changes:
        answered = _as_date(changes["answered_on"], "answered_on", problems)
        if answered is not None:
            if answered < complaint.received_on:
                problems["answered_on"] = _(
                    "The answer cannot come before the complaint was received (%(date)s)."
                ) % {"date": complaint.received_on.isoformat()}
            elif answered > bank_today():
                problems["answered_on"] = _("The answer date cannot be in the future.")
        values["answered_on"] = answered
    if problems:
        raise _invalid(problems, "complaint_invalid")
    with transaction.atomic():
        locked = _locked(actor, complaint)
        before = _snapshot(locked)
        changed = []
        for name, value in values.items():
            if getattr(locked, name) != value:
                setattr(locked, name, value)
                changed.append(name)
        if changed:
            locked.save(update_fields=[*changed, "updated_at"])
            audit_record(
                actor=actor,
                action="complaint.update",
                target=locked,
                before=before,
                after=_snapshot(locked),
            )
            event_record(
                type="complaint.updated",
                target=locked,
                payload=_event_payload(locked, fields=sorted(changed)),
            )
    return locked


def complaint_extension_refusal(complaint: Complaint, today: dt.date | None = None) -> str | None:
    """Why the complaint's deadline cannot be extended now, or None if it can."""
    today = today or bank_today()
    if complaint.extended_at is not None:
        return _("The deadline has already been extended once.")
    if not complaint.deadline_rule.extended_days:
        return _("The deadline rule of this complaint allows no extension.")
    if complaint.answered_on is not None:
        return _("The customer has been answered already.")
    if today > complaint.deadline:
        return _("The deadline has passed; it can no longer be extended.")
    return None


def complaint_extend(*, actor: Any, complaint: Complaint, reason: str) -> Complaint:
    """Extend the deadline once, for a recorded reason (the rule's extended days apply)."""
    _require_perm(actor, CHANGE_COMPLAINT, _("You may not change complaints."))
    reason = (reason or "").strip()
    if not reason:
        raise _invalid({"reason": _("Say why the complaint needs more time.")}, "complaint_invalid")
    with transaction.atomic():
        locked = _locked(actor, complaint)
        refusal = complaint_extension_refusal(locked)
        if refusal:
            raise _invalid({"reason": refusal}, "complaint_not_extendable")
        before = _snapshot(locked)
        original = locked.deadline
        locked.deadline = complaint_deadline(
            rule=locked.deadline_rule, received_on=locked.received_on, extended=True
        )
        locked.extended_at = timezone.now()
        locked.extended_by = None if is_system(actor) else actor
        locked.extension_reason = reason
        locked.save(
            update_fields=[
                "deadline",
                "extended_at",
                "extended_by",
                "extension_reason",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="complaint.extend",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(
            type="complaint.extended",
            target=locked,
            payload=_event_payload(locked, previous_deadline=original.isoformat()),
        )
    return locked


# --- Redress ---------------------------------------------------------------------------------


def redress_threshold() -> Decimal:
    """``SUPPORT_REDRESS_APPROVAL_THRESHOLD`` as a Decimal in the base currency."""
    try:
        value = Decimal(str(settings.SUPPORT_REDRESS_APPROVAL_THRESHOLD).strip())
    except decimal.InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise ImproperlyConfigured(
            "SUPPORT_REDRESS_APPROVAL_THRESHOLD must be a non-negative decimal amount."
        )
    return value


def _redress_values(
    amount: Any, currency: Any, reason: str
) -> tuple[Decimal, str, str, dict[str, str]]:
    problems: dict[str, str] = {}
    code = str(currency or "").strip().upper()
    if not code:
        problems["currency"] = _("Choose the currency.")
    elif code not in CURRENCIES:
        problems["currency"] = _("“%(code)s” is not a known currency code (ISO 4217).") % {
            "code": currency
        }
    value = Decimal(0)
    if amount is None or amount == "" or isinstance(amount, bool | float):
        problems["amount"] = _("Enter the amount as a decimal number, such as 1200.50.")
    else:
        try:
            value = Decimal(str(amount).strip())
        except decimal.InvalidOperation:
            problems["amount"] = _("“%(value)s” is not an amount.") % {"value": amount}
        else:
            places = min(2, CURRENCIES[code].minor_units) if code in CURRENCIES else 2
            if not value.is_finite():
                problems["amount"] = _("“%(value)s” is not an amount.") % {"value": amount}
            elif value < 0:
                problems["amount"] = _("The redress cannot be negative.")
            elif value != value.quantize(Decimal(1).scaleb(-places)):
                problems["amount"] = _(
                    "%(currency)s amounts have at most %(places)s decimal places."
                ) % {"currency": code or "—", "places": places}
            elif value >= _MAX_REDRESS:
                problems["amount"] = _("The amount is too large.")
    reason = (reason or "").strip()
    if not reason:
        problems["reason"] = _("Say why the customer is compensated.")
    if not problems:
        value = value.quantize(Decimal("0.01"))
    return value, code, reason, problems


def _in_base_currency(amount: Decimal, currency: str) -> Decimal | None:
    from bankcrm.banking.selectors import base_currency, fx_rates_latest, to_base

    if currency == base_currency():
        return amount
    rates = fx_rates_latest([currency], on=bank_today())
    return to_base(amount, currency, rates)


def complaint_redress_set(
    *, actor: Any, complaint: Complaint, amount: Decimal, currency: str, reason: str
) -> Complaint:
    """Set the redress the bank offers the customer.

    At or below the threshold (base currency) it is approved at once by ``actor``; above it
    a maker-checker request waits for a second person (status ``pending_approval``). A
    redress awaiting approval or already paid cannot be changed.
    """
    _require_perm(actor, CHANGE_COMPLAINT, _("You may not change complaints."))
    value, code, reason, problems = _redress_values(amount, currency, reason)
    base_value: Decimal | None = None
    if not problems:
        base_value = _in_base_currency(value, code)
        if base_value is None:
            from bankcrm.banking.selectors import base_currency

            problems["currency"] = _(
                "There is no exchange rate for %(currency)s; enter the redress in %(base)s."
            ) % {"currency": code, "base": base_currency()}
    if problems:
        raise _invalid(problems, "complaint_redress_invalid")
    with transaction.atomic():
        locked = _locked(actor, complaint)
        if locked.redress_status == Complaint.RedressStatus.PENDING_APPROVAL:
            raise _invalid(
                {"amount": _("A redress is awaiting approval; it must be decided first.")},
                "complaint_redress_pending",
            )
        if locked.redress_status == Complaint.RedressStatus.PAID:
            raise _invalid(
                {"amount": _("The redress has been paid; it cannot be changed.")},
                "complaint_redress_paid",
            )
        before = _snapshot(locked)
        locked.redress_amount = value
        locked.redress_currency = code
        locked.redress_approval = None
        needs_approval = base_value is None or base_value > redress_threshold()
        if needs_approval:
            approval = _redress_request(actor, locked, value, code, base_value, reason)
            locked.redress_status = Complaint.RedressStatus.PENDING_APPROVAL
            locked.redress_approval = approval
            locked.redress_approved_by = None
        else:
            locked.redress_status = Complaint.RedressStatus.APPROVED
            locked.redress_approved_by = None if is_system(actor) else actor
        locked.save(
            update_fields=[
                "redress_amount",
                "redress_currency",
                "redress_status",
                "redress_approval",
                "redress_approved_by",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="complaint.redress_set",
            target=locked,
            before=before,
            after={**_snapshot(locked), "amount_base": str(base_value)},
            reason=reason,
        )
        event_record(
            type="complaint.redress_proposed" if needs_approval else "complaint.redress_approved",
            target=locked,
            payload=_event_payload(
                locked, amount=str(value), currency=code, status=locked.redress_status
            ),
        )
    return locked


def _redress_request(
    actor: Any,
    complaint: Complaint,
    amount: Decimal,
    currency: str,
    base_value: Decimal | None,
    reason: str,
) -> PendingApproval:
    from bankcrm.banking.selectors import base_currency
    from bankcrm.core.services_approvals import approval_request

    return approval_request(
        actor=actor,
        action=REDRESS_ACTION,
        payload={
            "complaint": complaint.pk,
            "case": str(complaint.case_id),
            "reference": complaint.case.reference,
            "amount": str(amount),
            "currency": currency,
            "amount_base": str(base_value),
            "base_currency": base_currency(),
        },
        reason=reason,
        target=complaint,
    )


def redress_payload_check(payload: dict[str, Any]) -> None:
    """The maker-checker request names a complaint and a valid amount."""
    problems: dict[str, str] = {}
    if not Complaint.objects.filter(pk=payload.get("complaint")).exists():
        problems["complaint"] = _("The complaint does not exist.")
    amount_problems = _redress_values(payload.get("amount"), payload.get("currency"), "-")[3]
    problems.update(amount_problems)
    if problems:
        raise _invalid(problems, "complaint_redress_invalid")


def _payload_amount(payload: dict[str, Any]) -> Decimal | None:
    try:
        return Decimal(str(payload.get("amount")))
    except decimal.InvalidOperation:
        return None


def complaint_redress_approve_apply(
    *, actor: Any, payload: dict[str, Any], approval: PendingApproval
) -> Complaint:
    """The approval handler, run as the checker (never the maker: the kernel sees to it).

    A checker who may not change the complaint (another branch) is answered "not found"
    and the request stays pending for a checker in reach; a redress changed since the
    request makes the request fail.
    """
    if approval.maker_id == getattr(actor, "pk", None):
        raise PermissionDenied(_("You cannot approve your own redress: a second person must."))
    try:
        locked = _locked(actor, Complaint(pk=payload.get("complaint")))
    except Complaint.DoesNotExist:
        # Http404 is not one of the refusals that fail the request: the whole approval
        # rolls back, so a checker out of reach cannot void a request someone else may decide.
        raise Http404(_("No such complaint.")) from None
    if (
        locked.redress_status != Complaint.RedressStatus.PENDING_APPROVAL
        or locked.redress_approval_id != approval.pk
        or locked.redress_amount != _payload_amount(payload)
        or locked.redress_currency != payload.get("currency")
    ):
        raise _invalid(
            {"amount": _("The redress has changed since this request; it no longer applies.")},
            "complaint_redress_changed",
        )
    before = _snapshot(locked)
    locked.redress_status = Complaint.RedressStatus.APPROVED
    locked.redress_approved_by = actor
    locked.save(update_fields=["redress_status", "redress_approved_by", "updated_at"])
    audit_record(
        actor=actor,
        action="complaint.redress_approve",
        target=locked,
        before=before,
        after={**_snapshot(locked), "approval": approval.pk},
        reason=approval.maker_reason,
    )
    event_record(
        type="complaint.redress_approved",
        target=locked,
        payload=_event_payload(
            locked,
            amount=str(locked.redress_amount),
            currency=locked.redress_currency,
            status=locked.redress_status,
            approval=approval.pk,
        ),
    )
    return locked


def complaint_redress_closed(*, approval_pk: Any, actor: Any = None) -> int:
    """After a redress request was rejected, withdrawn or could not be applied: a rejected
    redress is marked rejected, a withdrawn or failed one goes back to "proposed" (it may
    be set again). Idempotent; returns the number of complaints changed."""
    actor = actor or SystemActor("support.redress_decision")
    approval = PendingApproval.objects.filter(pk=approval_pk, action=REDRESS_ACTION).first()
    if approval is None or approval.status in (
        PendingApproval.Status.PENDING,
        PendingApproval.Status.APPROVED,
    ):
        return 0
    status = (
        Complaint.RedressStatus.REJECTED
        if approval.status == PendingApproval.Status.REJECTED
        else Complaint.RedressStatus.PROPOSED
    )
    changed = 0
    with transaction.atomic():
        rows = Complaint.objects.select_for_update().filter(
            redress_approval_id=approval.pk,
            redress_status=Complaint.RedressStatus.PENDING_APPROVAL,
        )
        for complaint in rows:
            before = _snapshot(complaint)
            complaint.redress_status = status
            complaint.save(update_fields=["redress_status", "updated_at"])
            audit_record(
                actor=actor,
                action="complaint.redress_close",
                target=complaint,
                before=before,
                after={**_snapshot(complaint), "approval_status": approval.status},
                reason=approval.decision_comment or approval.failure_reason,
            )
            if status == Complaint.RedressStatus.REJECTED:
                event_record(
                    type="complaint.redress_rejected",
                    target=complaint,
                    payload={
                        "complaint": complaint.pk,
                        "case": str(complaint.case_id),
                        "approval": approval.pk,
                    },
                )
            changed += 1
    return changed


def complaint_redress_decide(
    *, actor: Any, complaint: Complaint, approve: bool, comment: str = ""
) -> Complaint:
    """Approve or reject the complaint's pending redress as the second person.

    The checker must be able to change the complaint (else DoesNotExist: out of reach) and
    hold ``support.approve_redress``; the maker never decides their own request. Rejecting
    needs a reason (``comment``).
    """
    from bankcrm.core.services_approvals import approval_approve, approval_reject

    current = complaint_visible(actor=actor, action="change").filter(pk=complaint.pk).first()
    if current is None:
        raise Complaint.DoesNotExist(_("No such complaint."))
    if (
        current.redress_status != Complaint.RedressStatus.PENDING_APPROVAL
        or current.redress_approval_id is None
    ):
        raise _invalid(
            {"comment": _("No redress of this complaint awaits approval.")},
            "complaint_redress_not_pending",
        )
    _require_perm(actor, APPROVE_REDRESS, _("You may not approve complaint redress."))
    approval_pk = current.redress_approval_id
    with transaction.atomic():
        if approve:
            approval = approval_approve(actor=actor, approval_pk=approval_pk, comment=comment)
        else:
            approval = approval_reject(actor=actor, approval_pk=approval_pk, reason=comment)
        # The subscriber does the same after the commit; doing it here shows it at once.
        complaint_redress_closed(approval_pk=approval_pk)
    if approval.status == PendingApproval.Status.FAILED:
        raise _invalid({"comment": approval.failure_reason}, "approval_failed")
    return Complaint.objects.select_related("case", "redress_approval").get(pk=current.pk)


def complaint_redress_paid(*, actor: Any, complaint: Complaint, reason: str = "") -> Complaint:
    """Record that the approved redress has been paid to the customer."""
    _require_perm(actor, CHANGE_COMPLAINT, _("You may not change complaints."))
    with transaction.atomic():
        locked = _locked(actor, complaint)
        if locked.redress_status != Complaint.RedressStatus.APPROVED:
            raise _invalid(
                {"reason": _("Only an approved redress can be paid.")},
                "complaint_redress_not_approved",
            )
        before = _snapshot(locked)
        locked.redress_status = Complaint.RedressStatus.PAID
        locked.save(update_fields=["redress_status", "updated_at"])
        audit_record(
            actor=actor,
            action="complaint.redress_paid",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=(reason or "").strip(),
        )
        event_record(
            type="complaint.redress_paid",
            target=locked,
            payload=_event_payload(
                locked, amount=str(locked.redress_amount), currency=locked.redress_currency
            ),
        )
    return locked


# --- Overdue escalation ----------------------------------------------------------------------


def _nearest_holders(role_code: str, unit: Any) -> list[User]:
    """Active holders of the role in ``unit`` or, if none, in the nearest unit above that
    has one; everyone of that one unit, ordered by key."""
    unit_ids = [int(part) for part in (unit.path or "").strip("/").split("/") if part]
    if not unit_ids:
        unit_ids = [unit.pk]
    holders = list(
        User.objects.filter(
            is_active=True,
            org_unit_id__in=unit_ids,
            roles__code=role_code,
            roles__is_active=True,
        )
        .distinct()
        .order_by("pk")
    )
    depth = {unit_id: index for index, unit_id in enumerate(unit_ids)}
    if not holders:
        return []
    deepest = max(depth[user.org_unit_id] for user in holders)
    return [user for user in holders if depth[user.org_unit_id] == deepest]


def complaint_escalation_recipients(case: ServiceCase) -> list[User]:
    """Who is told about an overdue complaint: the branch managers of the case's org unit
    (or of the nearest unit above it having an active one), then every active compliance
    officer of the nearest unit upwards having one (head office's, unless a branch has its
    own); each person once."""
    people: dict[int, User] = {}
    for role in (Role.Code.BRANCH_MANAGER, Role.Code.COMPLIANCE_OFFICER):
        for user in _nearest_holders(role, case.org_unit):
            people.setdefault(user.pk, user)
    return list(people.values())


def complaints_overdue_escalate(*, today: dt.date | None = None) -> int:
    """Escalate, once each, the complaints still unanswered after their deadline.

    Overdue on ``today`` (default: the bank's today): no answer date, the case still open,
    the deadline before ``today``, not escalated before. Each is stamped ``escalated_at``
    by a conditional update (two runs at once never both escalate it), its recipients
    (:func:`complaint_escalation_recipients`) get an urgent staff task, and the event
    ``complaint.overdue`` and an audit event are recorded. Returns how many were escalated.
    """
    from bankcrm.customers.services import task_create

    today = today or bank_today()
    actor = ESCALATION_ACTOR
    overdue = (
        Complaint.objects.filter(
            escalated_at__isnull=True,
            answered_on__isnull=True,
            case__is_open=True,
            deadline__lt=today,
        )
        .select_related("case", "case__org_unit", "case__party", "category", "product")
        .order_by("deadline", "pk")
    )
    count = 0
    for complaint in overdue.iterator(chunk_size=500):
        case = complaint.case
        with transaction.atomic():
            now = timezone.now()
            if not Complaint.objects.filter(pk=complaint.pk, escalated_at__isnull=True).update(
                escalated_at=now, updated_at=now
            ):
                continue  # escalated by a run at the same time
            recipients = complaint_escalation_recipients(case)
            days_late = (today - complaint.deadline).days
            for owner in recipients:
                task_create(
                    actor=actor,
                    owner=owner,
                    party=case.party,
                    title=(
                        _("Overdue complaint %(reference)s: the answer was due on %(deadline)s")
                        % {"reference": case.reference, "deadline": complaint.deadline.isoformat()}
                    )[:200],
                    description=_(
                        "Complaint %(reference)s (%(category)s, %(product)s), received on "
                        "%(received)s, has not been answered; the statutory deadline was "
                        "%(deadline)s (%(days)s days ago). See that the customer is answered "
                        "and record the answer date."
                    )
                    % {
                        "reference": case.reference,
                        "category": complaint.category.name,
                        "product": complaint.product.name,
                        "received": complaint.received_on.isoformat(),
                        "deadline": complaint.deadline.isoformat(),
                        "days": days_late,
                    },
                    due_on=today,
                    priority="urgent",
                )
            if not recipients:
                logger.warning("Overdue complaint %s has nobody to escalate to", case.reference)
            audit_record(
                actor=actor,
                action="complaint.overdue_escalate",
                target=complaint,
                before={"escalated_at": None},
                after={
                    "escalated_at": now.isoformat(),
                    "deadline": complaint.deadline.isoformat(),
                    "escalated_to": [user.pk for user in recipients],
                },
            )
            event_record(
                type="complaint.overdue",
                target=complaint,
                payload=_event_payload(
                    complaint,
                    received_on=complaint.received_on.isoformat(),
                    days_late=days_late,
                    org_unit=case.org_unit_id,
                    escalated_to=[user.pk for user in recipients],
                ),
            )
        count += 1
    return count
