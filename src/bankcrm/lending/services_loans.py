"""Servicing loans: booking them with their schedule, matching repayments, early repayment,
restructuring and write-off (both maker-checker), and the nightly delinquency run.

Every service takes the actor, runs in one transaction and writes the audit trail. A loan
out of the actor's reach is reported as not found (``Loan.DoesNotExist``, a 404 in the API);
a loan the actor may see but not change answers ``PermissionDenied``. The allocation rules
live in :mod:`bankcrm.lending.servicing`, the delinquency calculation in
:mod:`bankcrm.lending.delinquency`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_perm_scope, actor_unit_paths
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Account, AccountRole
from bankcrm.core.actor import SystemActor, actor_label, is_system
from bankcrm.core.approvals import register_approval_action
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.money import currency_info
from bankcrm.core.services_approvals import approval_request
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party
from bankcrm.events.services import event_record

from . import delinquency, servicing
from .models import Instalment, Loan, LoanApplication, LoanProduct, Method, Repayment
from .pricing import schedule_periods
from .schedule import (
    Schedule,
    ScheduleTerms,
    schedule_after_prepayment,
    schedule_build,
    schedule_reschedule,
)
from .servicing import OPEN_STATUSES, ZERO, money_text

logger = logging.getLogger(__name__)

RESTRUCTURE_ACTION = "lending.restructure"
WRITE_OFF_ACTION = "lending.write_off"

# ScheduleTerms' field names as the caller of loan_book knows them.
_TERM_FIELDS = {"periods": "term_months", "start": "disbursed_on"}
_REFERENCE_ATTEMPTS = 5


# --- Scope ------------------------------------------------------------------------------------


def _require_placement(actor: Any, permission: str, branch: OrgUnit, borrower: Party) -> None:
    """The actor holds ``permission`` for loans of this branch and borrower."""
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        raise PermissionDenied(_("You do not have permission to do this."))
    if scope == Role.DataScope.BANK:
        return
    if scope == Role.DataScope.UNIT and any(
        branch.path.startswith(path) for path in actor_unit_paths(actor)
    ):
        return
    if scope == Role.DataScope.PORTFOLIO and borrower.portfolio_id is not None:
        manager = (
            type(borrower)
            .objects.filter(pk=borrower.pk)
            .values_list("portfolio__manager_id", flat=True)
        )
        if manager.first() == getattr(actor, "pk", None):
            return
    raise PermissionDenied(_("You may not book loans for this branch or customer."))


def _loan_for_change(actor: Any, loan: Loan) -> Loan:
    """The loan, locked, if the actor may change it: not found if out of sight, refused if
    only visible. Call inside a transaction."""
    if not Loan.objects.visible_to(actor).filter(pk=loan.pk).exists():
        raise Loan.DoesNotExist(_("No such loan."))
    locked = (
        Loan.objects.restrict(actor, "change")
        .filter(pk=loan.pk)
        .select_for_update(of=("self",))
        .select_related("product", "borrower", "branch")
        .first()
    )
    if locked is None:
        raise PermissionDenied(_("You may not change this loan."))
    return locked


def _require_open(loan: Loan) -> None:
    if loan.status not in OPEN_STATUSES:
        raise ValidationError(
            {
                "loan": _("The loan is %(status)s: nothing can be done on it.")
                % {"status": loan.get_status_display().lower()}
            },
            code="lending_loan_not_open",
        )


def _today() -> dt.date:
    return bank_today()


def _money(errors: dict[str, Any], name: str, value: Any, currency: str) -> Decimal | None:
    """A positive amount with no more decimals than the currency has; else an error."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        errors[name] = _("Enter an amount.")
        return None
    if not amount.is_finite() or amount <= 0:
        errors[name] = _("Enter an amount greater than zero.")
        return None
    places = currency_info(currency).minor_units
    if amount != amount.quantize(Decimal(1).scaleb(-places)):
        errors[name] = _("Enter at most %(places)s decimals.") % {"places": places}
        return None
    return amount.quantize(Decimal(1).scaleb(-places))


# --- References -------------------------------------------------------------------------------


def _next_number(year: int) -> int:
    prefix = f"LN-{year}-"
    last = (
        Loan.objects.filter(reference__regex=rf"^LN-{year}-[0-9]+$")
        .order_by(Length("reference").desc(), "-reference")
        .values_list("reference", flat=True)
        .first()
    )
    return int(last[len(prefix) :]) + 1 if last else 1


def loan_reference(year: int, number: int) -> str:
    """The loan reference of ``number`` in ``year``: ``LN-2025-000042``."""
    return f"LN-{year}-{number:06d}"


# --- Booking ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LoanBooking:
    """The terms of one loan to book (``loan_book``'s arguments, for the bulk path)."""

    product: LoanProduct
    borrower: Party
    account: Account
    branch: OrgUnit
    principal: Decimal
    currency: str
    annual_rate: Decimal
    term_months: int
    method: str
    day_count: str
    frequency: str = "monthly"
    disbursed_on: dt.date
    first_due: dt.date | None = None
    grace_periods: int = 0
    upfront_fee: Decimal = ZERO
    period_fee: Decimal = ZERO
    application: LoanApplication | None = None
    reference: str | None = None
    source_system: str = ""
    source_id: str | None = None
    status: str = Loan.Status.PERFORMING


@dataclass
class _Prepared:
    booking: LoanBooking
    loan: Loan
    schedule: Schedule
    instalments: list[Instalment] = field(default_factory=list)


def _validate_booking(booking: LoanBooking) -> tuple[ScheduleTerms, dict[str, Any]]:
    errors: dict[str, Any] = {}
    if not isinstance(booking.product, LoanProduct):
        errors["product"] = _("Choose a loan product.")
    if not isinstance(booking.borrower, Party):
        errors["borrower"] = _("Choose the borrower.")
    if not isinstance(booking.branch, OrgUnit):
        errors["branch"] = _("Choose the branch.")
    if not isinstance(booking.account, Account):
        errors["account"] = _("Choose the repayment account.")
    elif isinstance(booking.borrower, Party) and booking.account.owner_id != booking.borrower.pk:
        holds = AccountRole.objects.filter(
            account=booking.account,
            party=booking.borrower,
            role__in=[AccountRole.Role.OWNER, AccountRole.Role.JOINT_OWNER],
        ).exists()
        if not holds:
            errors["account"] = _("The repayment account must belong to the borrower.")
    currency = str(booking.currency or "").upper()
    if isinstance(booking.account, Account) and currency != booking.account.currency:
        errors["currency"] = _("The loan must be in the account's currency (%(currency)s).") % {
            "currency": booking.account.currency
        }
    elif isinstance(booking.product, LoanProduct) and currency != booking.product.currency:
        errors["currency"] = _("The product lends in %(currency)s.") % {
            "currency": booking.product.currency
        }
    if booking.status not in Loan.Status.values:
        errors["status"] = _("Unknown loan status.")
    if booking.reference is not None:
        if not booking.reference.strip():
            errors["reference"] = _("Enter a reference or leave it out.")
        elif Loan.objects.filter(reference=booking.reference.strip()).exists():
            errors["reference"] = _("Another loan has this reference.")
    if (
        booking.source_id is not None
        and Loan.objects.filter(
            source_system=booking.source_system, source_id=booking.source_id
        ).exists()
    ):
        errors["source_id"] = _("This loan of %(system)s is already booked.") % {
            "system": booking.source_system or "-"
        }
    if (
        booking.application is not None
        and Loan.objects.filter(application=booking.application).exists()
    ):
        errors["application"] = _("A loan has already been booked for this application.")
    periods = 0
    if not isinstance(booking.term_months, int) or booking.term_months <= 0:
        errors["term_months"] = _("Enter the term in whole months.")
    else:
        try:
            periods = schedule_periods(booking.term_months, booking.frequency)
        except ValidationError as exc:
            errors.update({key: value for key, value in exc.message_dict.items()})
    try:
        terms = ScheduleTerms(
            principal=booking.principal,
            annual_rate=booking.annual_rate,
            periods=periods or 1,
            method=booking.method,
            day_count=booking.day_count,
            frequency=booking.frequency,
            start=booking.disbursed_on,
            first_due=booking.first_due,
            grace_periods=booking.grace_periods,
            upfront_fee=booking.upfront_fee,
            period_fee=booking.period_fee,
            currency=currency or "CNY",
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(_TERM_FIELDS.get(name, name), messages)
        raise ValidationError(errors) from None
    if errors:
        raise ValidationError(errors)
    return terms, errors


def _prepare(booking: LoanBooking) -> _Prepared:
    """Validate a booking and build its unsaved loan, schedule and instalments."""
    terms, _errors = _validate_booking(booking)
    schedule = schedule_build(terms)
    first_unpaid = next((line.due_date for line in schedule.lines if line.instalment > 0), None)
    loan = Loan(
        reference=(booking.reference or "").strip(),
        application=booking.application,
        product=booking.product,
        borrower=booking.borrower,
        account=booking.account,
        branch=booking.branch,
        principal=terms.principal,
        currency=terms.currency,
        annual_rate=terms.annual_rate,
        term_months=booking.term_months,
        method=str(schedule.method),
        day_count=str(schedule.day_count),
        frequency=str(schedule.frequency),
        disbursed_on=booking.disbursed_on,
        maturity_date=schedule.maturity_date,
        status=booking.status,
        outstanding_principal=terms.principal,
        arrears=ZERO,
        oldest_unpaid_due_on=first_unpaid,
        bucket_since=booking.disbursed_on,
        source_system=booking.source_system,
        source_id=booking.source_id,
    )
    prepared = _Prepared(booking=booking, loan=loan, schedule=schedule)
    prepared.instalments = _instalments(loan, schedule.lines, version=1)
    return prepared


def _instalments(
    loan: Loan, lines: Iterable[Any], *, version: int, number_from: int = 1
) -> list[Instalment]:
    return [
        Instalment(
            loan=loan,
            schedule_version=version,
            is_current=True,
            number=number_from + index,
            due_on=line.due_date,
            principal=line.principal,
            interest=line.interest,
            fee=line.fee,
            amount_due=line.instalment,
            closing_balance=line.closing_balance,
        )
        for index, line in enumerate(lines)
    ]


def _disbursed_payload(loan: Loan) -> dict[str, Any]:
    # No personal data: events leave the bank through webhooks.
    return {
        "reference": loan.reference,
        "product": loan.product.code,
        "principal": money_text(loan.principal, loan.currency),
        "currency": loan.currency,
        "disbursed_on": loan.disbursed_on.isoformat(),
    }


def _insert_with_references(prepared: Sequence[_Prepared]) -> None:
    """Insert the loans, numbering those without a reference; retry on a number clash."""
    for attempt in range(_REFERENCE_ATTEMPTS):
        numbers: dict[int, int] = {}
        for item in prepared:
            if item.booking.reference:
                continue
            year = item.loan.disbursed_on.year
            if year not in numbers:
                numbers[year] = _next_number(year)
            item.loan.reference = loan_reference(year, numbers[year])
            numbers[year] += 1
        try:
            with transaction.atomic():
                Loan.objects.bulk_create([item.loan for item in prepared])
            return
        except IntegrityError:
            # Another booking took a number between our read and our insert (or a given
            # reference was taken meanwhile): read the counter again.
            if attempt == _REFERENCE_ATTEMPTS - 1:
                raise ValidationError(
                    {"reference": _("Could not give the loan a unique reference; try again.")},
                    code="lending_reference_clash",
                ) from None
            for item in prepared:
                item.loan._state.adding = True


def loan_book(
    *,
    actor: Any,
    product: LoanProduct,
    borrower: Party,
    account: Account,
    branch: OrgUnit,
    principal: Decimal,
    currency: str,
    annual_rate: Decimal,
    term_months: int,
    method: str,
    day_count: str,
    frequency: str,
    disbursed_on: dt.date,
    first_due: dt.date | None = None,
    grace_periods: int = 0,
    upfront_fee: Decimal = ZERO,
    period_fee: Decimal = ZERO,
    application: LoanApplication | None = None,
    reference: str | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Loan:
    """Book a disbursed loan: the loan, its schedule as instalments, the audit event and the
    ``loan.disbursed`` event. The reference is ``LN-<year of disbursement>-<number>`` unless
    given. Bad terms raise ValidationError naming each field; nothing is written then."""
    booking = LoanBooking(
        product=product,
        borrower=borrower,
        account=account,
        branch=branch,
        principal=principal,
        currency=currency,
        annual_rate=annual_rate,
        term_months=term_months,
        method=method,
        day_count=day_count,
        frequency=frequency,
        disbursed_on=disbursed_on,
        first_due=first_due,
        grace_periods=grace_periods,
        upfront_fee=upfront_fee,
        period_fee=period_fee,
        application=application,
        reference=reference,
        source_system=source_system,
        source_id=source_id,
    )
    if isinstance(branch, OrgUnit) and isinstance(borrower, Party):
        _require_placement(actor, "lending.add_loan", branch, borrower)
    prepared = _prepare(booking)
    with transaction.atomic():
        _insert_with_references([prepared])
        loan = prepared.loan
        Instalment.objects.bulk_create(prepared.instalments, batch_size=1000)
        schedule = prepared.schedule
        audit_record(
            actor=actor,
            action="loan.book",
            target=loan,
            after={
                **audit_snapshot(loan),
                "instalments": len(prepared.instalments),
                "total_interest": schedule.total_interest,
                "total_fees": schedule.total_fees,
                "apr": schedule.apr,
            },
        )
        event_record(type="loan.disbursed", target=loan, payload=_disbursed_payload(loan))
    return loan


@dataclass
class BulkBookingResult:
    """What a bulk booking did: the loans booked and the bookings refused, with why."""

    loans: list[Loan] = field(default_factory=list)
    rejected: list[tuple[LoanBooking, dict[str, Any]]] = field(default_factory=list)


def loans_book_bulk(
    *,
    actor: Any,
    bookings: Sequence[LoanBooking],
    record_events: bool = True,
    batch_size: int = 1000,
) -> BulkBookingResult:
    """Book many loans at once (an import): each batch is one transaction with bulk inserts
    and ONE audit event naming the loans it booked, instead of an event per loan.

    Only the system (a command or job) may use it. A booking whose terms are invalid is
    returned in ``rejected`` with its errors and the others are booked.
    ``record_events=False`` books historical loans without a ``loan.disbursed`` event each.
    """
    if not is_system(actor):
        raise PermissionDenied(_("Only a system job may book loans in bulk."))
    result = BulkBookingResult()
    for start in range(0, len(bookings), batch_size):
        prepared: list[_Prepared] = []
        for booking in bookings[start : start + batch_size]:
            try:
                prepared.append(_prepare(booking))
            except ValidationError as exc:
                result.rejected.append((booking, exc.message_dict))
        if not prepared:
            continue
        with transaction.atomic():
            _insert_with_references(prepared)
            Instalment.objects.bulk_create(
                [line for item in prepared for line in item.instalments], batch_size=2000
            )
            audit_record(
                actor=actor,
                action="loan.book_bulk",
                object_type="lending.loan",
                object_repr=f"{len(prepared)} loans booked",
                after={
                    "count": len(prepared),
                    "loans": [item.loan.reference for item in prepared],
                    "source_system": sorted({item.loan.source_system for item in prepared}),
                    "principal": sum((item.loan.principal for item in prepared), ZERO),
                },
            )
            if record_events:
                delinquency.events_record_bulk(
                    "loan.disbursed",
                    [(item.loan.pk, _disbursed_payload(item.loan)) for item in prepared],
                )
        result.loans.extend(item.loan for item in prepared)
    return result


# --- Repayments -------------------------------------------------------------------------------


def loan_repayments_match(
    *,
    actor: Any,
    loan: Loan | None = None,
    since: dt.date | None = None,
    as_of: dt.date | None = None,
) -> int:
    """Match the unmatched loan-repayment debits of repayment accounts to their loans and
    apply any credit to instalments now due; return how many transactions were matched.

    ``loan``: one loan (else every open loan the actor may change); ``since``: only bookings
    from that day on; ``as_of``: the day instalments count as due (default today; bookings
    after it wait). Safe to run again: a transaction is matched once.
    """
    as_of = as_of or _today()
    if loan is not None:
        with transaction.atomic():
            _loan_for_change(actor, loan)
        loans = Loan.objects.filter(pk=loan.pk)
    else:
        if actor_perm_scope(actor, "lending.change_loan") is None:
            raise PermissionDenied(_("You do not have permission to do this."))
        loans = Loan.objects.restrict(actor, "change")
    return servicing.repayments_match(actor=actor, loans=loans, as_of=as_of, since=since).matched


def repayment_record(
    *, actor: Any, loan: Loan, amount: Decimal, received_on: dt.date, reason: str
) -> Repayment:
    """Record money received against a loan outside the repayment account (cash at the
    counter, a transfer from another bank), with the reason; it is allocated like a matched
    repayment."""
    errors: dict[str, Any] = {}
    value = _money(errors, "amount", amount, loan.currency)
    today = _today()
    if not isinstance(received_on, dt.date):
        errors["received_on"] = _("Enter the day the money was received.")
    elif received_on > today:
        errors["received_on"] = _("The money cannot be received in the future.")
    elif received_on < loan.disbursed_on:
        errors["received_on"] = _("The money cannot be received before the disbursement.")
    if not (reason or "").strip():
        errors["reason"] = _("Say why the repayment is recorded by hand.")
    with transaction.atomic():
        locked = _loan_for_change(actor, loan)
        if errors:
            raise ValidationError(errors)
        _require_open(locked)
        if value is None:  # a bad amount is already among the errors
            raise ValidationError(errors)
        ledger = servicing.ledgers_load([locked])[locked.pk]
        ledger.apply_credits(today)
        repayment = ledger.receive(
            Repayment(loan=locked, received_on=received_on, amount=value), today
        )
        servicing.ledgers_save([ledger], today)
        audit_record(
            actor=actor,
            action="loan.repayment_record",
            target=locked,
            after={
                **{
                    name: money_text(getattr(repayment, name), locked.currency)
                    for name in ("amount", "principal", "interest", "fee", "unallocated")
                },
                "received_on": received_on,
                "outstanding_principal": money_text(locked.outstanding_principal, locked.currency),
                "status": locked.status,
            },
            reason=reason.strip(),
        )
    loan.refresh_from_db()
    return repayment


# --- Early repayment --------------------------------------------------------------------------


def _was_restructured(loan: Loan) -> bool:
    return PendingApproval.objects.filter(
        action=RESTRUCTURE_ACTION,
        object_type="lending.loan",
        object_pk=str(loan.pk),
        status=PendingApproval.Status.APPROVED,
    ).exists()


def _contract_terms(
    loan: Loan, periods: int | None = None, principal: Decimal | None = None
) -> ScheduleTerms:
    """The terms of the loan's first schedule (its due-date grid), rebuilt from its lines."""
    first_lines = list(Instalment.objects.filter(loan=loan, schedule_version=1).order_by("number"))
    grace = 0
    capitalised = False
    if loan.method in (Method.ANNUITY, Method.EQUAL_PRINCIPAL):
        for line in first_lines[:-1]:
            if line.principal > 0:
                break
            grace += 1
            capitalised = capitalised or line.principal < 0
    values: dict[str, Any] = {
        "principal": loan.principal if principal is None else principal,
        "annual_rate": loan.annual_rate,
        "periods": periods or len(first_lines),
        "method": loan.method,
        "day_count": loan.day_count,
        "frequency": loan.frequency,
        "start": loan.disbursed_on,
        "grace_periods": grace,
        "capitalise_grace_interest": capitalised,
        "period_fee": first_lines[0].fee if first_lines else ZERO,
        "currency": loan.currency,
    }
    natural = ScheduleTerms(**{**values, "periods": 1, "grace_periods": 0}).due_dates[0]
    # An explicit first due date would anchor later dates on its day (a clamped 28 Feb
    # would move every later date to the 28th): pass it only when it was explicit.
    if first_lines and first_lines[0].due_on != natural:
        values["first_due"] = first_lines[0].due_on
    return ScheduleTerms(**values)


def loan_prepay(
    *, actor: Any, loan: Loan, amount: Decimal, on: dt.date, mode: str = "reduce_term"
) -> Loan:
    """Repay ``amount`` of principal early on ``on`` (with the interest accrued since the
    last instalment), then shorten the loan (``reduce_term``: the contractual instalment
    stays) or lower the instalment (``reduce_instalment``: the maturity stays).

    The unpaid lines are superseded (kept, ``is_current`` false); the new lines, starting
    with the early repayment itself (paid), form the next schedule version. Every
    instalment due on or before ``on`` must be paid first. Repaying the whole outstanding
    principal closes the loan.
    """
    errors: dict[str, Any] = {}
    value = _money(errors, "amount", amount, loan.currency)
    today = _today()
    if not isinstance(on, dt.date):
        errors["on"] = _("Enter the day of the early repayment.")
    elif on > today:
        errors["on"] = _("An early repayment cannot be dated in the future.")
    if mode not in ("reduce_term", "reduce_instalment"):
        errors["mode"] = _("Choose reduce_term or reduce_instalment.")
    with transaction.atomic():
        locked = _loan_for_change(actor, loan)
        if errors:
            raise ValidationError(errors)
        _require_open(locked)
        if value is None:  # a bad amount is already among the errors
            raise ValidationError(errors)
        if _was_restructured(locked):
            raise ValidationError(
                {"loan": _("A restructured loan is repaid early by restructuring it again.")},
                code="lending_prepay_restructured",
            )
        lines = list(
            Instalment.objects.filter(loan=locked, is_current=True).order_by("due_on", "number")
        )
        due = [line for line in lines if line.due_on <= on]
        later = [line for line in lines if line.due_on > on]
        overdue = sum((line.amount_due - line.amount_paid for line in due), ZERO)
        if overdue > 0:
            raise ValidationError(
                {
                    "on": _(
                        "%(amount)s %(currency)s due on or before this day is unpaid: "
                        "settle it first."
                    )
                    % {"amount": money_text(overdue, locked.currency), "currency": locked.currency}
                },
                code="lending_prepay_arrears",
            )
        if not later or any(line.amount_paid > 0 for line in later):
            raise ValidationError(
                {"on": _("Instalments after this day are already paid in part.")}
                if later
                else {"on": _("No instalment falls due after this day.")},
                code="lending_prepay_date",
            )
        outstanding = sum((line.principal for line in later), ZERO)
        paid_lines = [line for line in due if line.interest > 0 or locked.method != Method.BULLET]
        interest_paid_to = paid_lines[-1].due_on if paid_lines else locked.disbursed_on
        if mode == "reduce_term":
            terms = _contract_terms(locked)
        else:
            grid = _contract_terms(locked).due_dates
            maturity = later[-1].due_on
            periods = grid.index(maturity) + 1 if maturity in grid else len(grid)
            terms = _contract_terms(locked, periods=periods, principal=outstanding)
        try:
            schedule = schedule_after_prepayment(
                terms,
                on=on,
                amount=value,
                mode=mode,
                outstanding=outstanding,
                interest_paid_to=interest_paid_to,
            )
        except ValidationError as exc:
            raise ValidationError(
                {name if name in ("amount", "on", "mode") else "amount": messages
                 for name, messages in exc.message_dict.items()}
            ) from None  # fmt: skip
        before = audit_snapshot(locked)
        version = (
            Instalment.objects.filter(loan=locked).aggregate(v=Max("schedule_version"))["v"] or 1
        ) + 1
        Instalment.objects.filter(pk__in=[line.pk for line in later]).update(is_current=False)
        number_from = (due[-1].number + 1) if due else 1
        new_lines = _instalments(locked, schedule.lines, version=version, number_from=number_from)
        prepayment = new_lines[0]
        prepayment.amount_paid = prepayment.amount_due
        prepayment.paid_on = on
        Instalment.objects.bulk_create(new_lines)
        Repayment.objects.create(
            loan=locked,
            received_on=on,
            amount=prepayment.amount_due,
            principal=prepayment.principal,
            interest=prepayment.interest,
            fee=ZERO,
        )
        ledger = servicing.ledgers_load([locked])[locked.pk]
        ledger.last_received_on = on
        locked.maturity_date = schedule.lines[-1].due_date
        ledger.loan = locked
        ledger.apply_credits(today)
        servicing.ledgers_save([ledger], today)
        locked.save(update_fields=["maturity_date", "updated_at"])
        audit_record(
            actor=actor,
            action="loan.prepay",
            target=locked,
            before=before,
            after={
                **audit_snapshot(locked),
                "prepaid": value,
                "interest": prepayment.interest,
                "mode": mode,
                "on": on,
                "schedule_version": version,
            },
        )
    loan.refresh_from_db()
    return loan


# --- Restructuring and write-off (maker-checker) ----------------------------------------------


def _restructure_check(payload: dict[str, Any]) -> None:
    errors: dict[str, Any] = {}
    try:
        rate = Decimal(str(payload.get("annual_rate")))
        if not rate.is_finite() or rate < 0 or rate > 100:
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors["annual_rate"] = _("Enter a percentage from 0 to 100.")
    term = payload.get("term_months")
    if not isinstance(term, int) or isinstance(term, bool) or term <= 0:
        errors["term_months"] = _("Enter the new term in whole months.")
    if payload.get("method") not in Method.values:
        errors["method"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(Method.values)}
    if errors:
        raise ValidationError(errors)


def _restructured_schedule(
    loan: Loan, payload: dict[str, Any], from_date: dt.date
) -> tuple[Schedule, Decimal, list[Instalment]]:
    """The new schedule: the outstanding principal plus the overdue interest and fees
    (capitalised), over the new term from ``from_date``; and the lines it replaces."""
    lines = list(Instalment.objects.filter(loan=loan, is_current=True).order_by("due_on", "number"))
    unpaid = [line for line in lines if line.amount_paid < line.amount_due]
    outstanding = sum((line.principal - servicing.paid_parts(line)[2] for line in unpaid), ZERO)
    capitalised = ZERO
    for line in unpaid:
        if line.due_on <= from_date:
            fee_paid, interest_paid, _principal_paid = servicing.paid_parts(line)
            capitalised += max(line.fee, ZERO) - fee_paid + max(line.interest, ZERO) - interest_paid
    periods = schedule_periods(int(payload["term_months"]), loan.frequency)
    schedule = schedule_reschedule(
        outstanding + capitalised,
        from_date,
        annual_rate=Decimal(str(payload["annual_rate"])),
        periods=periods,
        method=str(payload["method"]),
        day_count=loan.day_count,
        frequency=loan.frequency,
        period_fee=unpaid[0].fee if unpaid else ZERO,
        currency=loan.currency,
    )
    return schedule, capitalised, unpaid


def loan_restructure_request(
    *,
    actor: Any,
    loan: Loan,
    annual_rate: Decimal,
    term_months: int,
    method: str,
    reason: str,
) -> PendingApproval:
    """Propose to re-schedule the loan's outstanding principal at a new rate, term and method
    from the day it is approved; a second person holding ``lending.restructure_loan``
    approves it (never the maker)."""
    payload = {
        "loan": str(loan.pk),
        "reference": loan.reference,
        "annual_rate": str(annual_rate),
        "term_months": term_months,
        "method": method,
    }
    with transaction.atomic():
        locked = _loan_for_change(actor, loan)
        _require_open(locked)
        _restructure_check(payload)
        try:
            _restructured_schedule(locked, payload, _today())
        except ValidationError as exc:
            raise ValidationError(
                {_TERM_FIELDS.get(k, k) if k != "outstanding" else "loan": v
                 for k, v in exc.message_dict.items()}
            ) from None  # fmt: skip
        return approval_request(
            actor=actor, action=RESTRUCTURE_ACTION, payload=payload, reason=reason, target=locked
        )


def _checker_loan(actor: Any, payload: dict[str, Any]) -> Loan:
    """The request's loan, locked, if the checker may change it (a refusal marks the
    request failed; it is never a server error)."""
    try:
        return _loan_for_change(actor, Loan(pk=payload["loan"]))
    except Loan.DoesNotExist:
        raise PermissionDenied(_("This loan is outside your reach.")) from None


def loan_restructure_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Loan:
    """The approved restructuring (run by the checker): supersede the unpaid lines and
    write the new schedule from the day of the approval."""
    locked = _checker_loan(actor, payload)
    _require_open(locked)
    from_date = timezone.localdate(approval.decided_at) if approval.decided_at else _today()
    schedule, capitalised, unpaid = _restructured_schedule(locked, payload, from_date)
    before = audit_snapshot(locked)
    version = (
        Instalment.objects.filter(loan=locked).aggregate(v=Max("schedule_version"))["v"] or 1
    ) + 1
    last_number = (
        Instalment.objects.filter(loan=locked, is_current=True)
        .exclude(pk__in=[line.pk for line in unpaid])
        .aggregate(n=Max("number"))["n"]
        or 0
    )
    Instalment.objects.filter(pk__in=[line.pk for line in unpaid]).update(is_current=False)
    Instalment.objects.bulk_create(
        _instalments(locked, schedule.lines, version=version, number_from=last_number + 1)
    )
    locked.annual_rate = Decimal(str(payload["annual_rate"]))
    locked.term_months = int(payload["term_months"])
    locked.method = str(payload["method"])
    locked.maturity_date = schedule.maturity_date
    locked.status = Loan.Status.RESTRUCTURED
    locked.outstanding_principal = schedule.total_principal
    locked.arrears = ZERO
    locked.oldest_unpaid_due_on = next(
        (line.due_date for line in schedule.lines if line.instalment > 0), None
    )
    locked.save()
    audit_record(
        actor=actor,
        action="loan.restructure",
        target=locked,
        before=before,
        after={
            **audit_snapshot(locked),
            "from_date": from_date,
            "capitalised": capitalised,
            "schedule_version": version,
            "approval": approval.pk,
        },
        reason=approval.maker_reason,
    )
    return locked


def loan_write_off_request(*, actor: Any, loan: Loan, reason: str) -> PendingApproval:
    """Propose to write the loan off; a second person holding ``lending.writeoff_loan``
    approves it (never the maker)."""
    with transaction.atomic():
        locked = _loan_for_change(actor, loan)
        _require_open(locked)
        return approval_request(
            actor=actor,
            action=WRITE_OFF_ACTION,
            payload={"loan": str(locked.pk), "reference": locked.reference},
            reason=reason,
            target=locked,
        )


def loan_write_off_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Loan:
    """The approved write-off (run by the checker): the loan is written off and leaves the
    book today (``closed_on``, which the portfolio report reads); its outstanding principal
    and arrears stay for reporting."""
    locked = _checker_loan(actor, payload)
    _require_open(locked)
    before = audit_snapshot(locked)
    locked.status = Loan.Status.WRITTEN_OFF
    locked.closed_on = bank_today()
    locked.save(update_fields=["status", "closed_on", "updated_at"])
    audit_record(
        actor=actor,
        action="loan.write_off",
        target=locked,
        before=before,
        after={**audit_snapshot(locked), "approval": approval.pk},
        reason=approval.maker_reason,
    )
    return locked


def approval_actions_register() -> None:
    """Declare the maker-checker actions of loan servicing (called at start-up)."""
    register_approval_action(
        RESTRUCTURE_ACTION,
        handler=loan_restructure_apply,
        permission="lending.restructure_loan",
        description=gettext_lazy("Restructure a loan"),
        validator=_restructure_check,
    )
    register_approval_action(
        WRITE_OFF_ACTION,
        handler=loan_write_off_apply,
        permission="lending.writeoff_loan",
        description=gettext_lazy("Write a loan off"),
    )


# --- Delinquency ------------------------------------------------------------------------------


def _require_delinquency_right(actor: Any) -> None:
    if is_system(actor):
        return
    if actor_perm_scope(actor, "lending.change_loan") != Role.DataScope.BANK:
        raise PermissionDenied(
            _("Only a bank-wide role or a system job may recalculate delinquency.")
        )


def delinquency_recalculate(
    *, actor: Any, as_of: dt.date, pk_range: tuple[Any, Any] | None = None
) -> dict[str, Any]:
    """Recalculate days past due, bucket and arrears of the open loans (those with a key in
    ``pk_range`` = (from, to), from inclusive, to exclusive, None open-ended) as of
    ``as_of``, in SQL. Each bucket change is recorded once per loan and day, with its
    ``loan.delinquency_changed`` event; returns the figures."""
    _require_delinquency_right(actor)
    with transaction.atomic():
        figures = delinquency.recalculate(as_of=as_of, pk_range=pk_range)
        audit_record(
            actor=actor,
            action="loan.delinquency_recalculate",
            object_type="lending.loan",
            object_repr=f"Delinquency as of {as_of.isoformat()}",
            after={
                **figures,
                "as_of": as_of,
                "from": str(pk_range[0]) if pk_range and pk_range[0] else None,
                "to": str(pk_range[1]) if pk_range and pk_range[1] else None,
            },
        )
    return figures


def delinquency_run(*, actor: Any, as_of: dt.date, chunk_size: int = 50000) -> dict[str, Any]:
    """The nightly run: split the loans into key ranges of ``chunk_size`` and recalculate
    each as a Celery task (a group, on as many workers as there are). Without a broker the
    chunks run here, one after the other, and the figures are added up."""
    _require_delinquency_right(actor)
    if chunk_size < 1:
        raise ValidationError({"chunk_size": _("Enter a chunk size of at least 1.")})
    from .tasks import delinquency_chunks_run

    loans = delinquency.open_loans().count()
    ranges = delinquency.chunk_ranges(chunk_size)
    name = actor.name if isinstance(actor, SystemActor) else f"delinquency:{actor_label(actor)}"
    figures = {
        "loans": loans,
        **delinquency_chunks_run(as_of=as_of, ranges=ranges, actor_name=name),
    }
    audit_record(
        actor=actor,
        action="loan.delinquency_run",
        object_type="lending.loan",
        object_repr=f"Delinquency run as of {as_of.isoformat()}",
        after={**figures, "as_of": as_of, "chunks": len(ranges), "chunk_size": chunk_size},
    )
    return {**figures, "chunks": len(ranges)}
