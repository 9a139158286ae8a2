"""Servicing mechanics: applying money to a loan's instalments and keeping its figures.

The services in :mod:`bankcrm.lending.services_loans` decide who may do what and write the
audit trail; this module holds the rules they share:

Allocation
    Money received against a loan pays the instalments of its current schedule that have
    fallen due (due on or before the day the matching runs), oldest first; within one
    instalment the fee is paid first, then the interest, then the principal. Whatever is
    left after every instalment due has been paid stays on the repayment as *unallocated*
    credit; each later matching run applies that credit, oldest credit first, to the
    instalments that have fallen due since. An instalment is fully paid on the day the
    money that completed it was received.

    Because every instalment is always paid fee → interest → principal, the split of what
    was paid on it follows from ``amount_paid`` alone (:func:`paid_parts`).

Figures
    ``outstanding_principal`` is the principal of the current schedule not yet repaid;
    ``arrears`` the amount due on or before the matching day and not paid;
    ``oldest_unpaid_due_on`` the due date of the oldest instalment not fully paid (NULL once
    nothing is left to pay). A loan whose current instalments are all paid is repaid: it is
    closed on the day the last money arrived.

Matching
    :func:`repayments_match` finds the loan-repayment debits (``Transaction.Kind.
    LOAN_REPAYMENT``) on the repayment accounts of open loans that are not yet matched to a
    repayment, booked on or after the loan's disbursement and in the loan's currency. It
    reads them, the instalments and the open credits of a batch of loans with one query
    each, and writes the batch back in bulk. A transaction on an account that repays several
    loans goes to the earliest disbursed loan still owing money. Running it again matches
    nothing new (a transaction is matched once: ``Repayment.transaction`` is one-to-one).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.core.money import currency_info
from bankcrm.core.workflow import WorkflowError, workflow_transition

from .models import Instalment, Loan, LoanApplication, Repayment

logger = logging.getLogger(__name__)

ZERO = Decimal("0")

# Loans that are still being repaid: matched, counted past due, restructured.
OPEN_STATUSES: tuple[str, ...] = (
    Loan.Status.PERFORMING,
    Loan.Status.RESTRUCTURED,
    Loan.Status.DEFAULTED,
)

# Who closes an application when its loan is repaid (the workflow's "system" role).
SERVICING_ACTOR = SystemActor("lending.servicing")

# Loans written back together in one transaction by the matching run.
MATCH_BATCH = 500


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as text with the currency's decimals (``2132.38``)."""
    places = currency_info(currency).minor_units
    return format(amount.quantize(Decimal(1).scaleb(-places)), "f")


def paid_parts(instalment: Instalment) -> tuple[Decimal, Decimal, Decimal]:
    """(fee, interest, principal) already paid on ``instalment``, from ``amount_paid``."""
    paid = instalment.amount_paid
    fee = min(max(instalment.fee, ZERO), paid)
    interest = min(max(instalment.interest, ZERO), paid - fee)
    return fee, interest, paid - fee - interest


def is_paid(instalment: Instalment) -> bool:
    return instalment.amount_paid >= instalment.amount_due


@dataclass
class LoanLedger:
    """A loan with its current instalments (in due order) and its open credits, in memory.

    The matching run, a manual repayment and an early repayment change a ledger and then
    write back what changed.
    """

    loan: Loan
    lines: list[Instalment]
    credits: list[Repayment] = field(default_factory=list)
    changed_lines: dict[int, Instalment] = field(default_factory=dict)
    changed_credits: dict[int, Repayment] = field(default_factory=dict)
    new_repayments: list[Repayment] = field(default_factory=list)
    last_received_on: dt.date | None = None

    @property
    def is_repaid(self) -> bool:
        return bool(self.lines) and all(is_paid(line) for line in self.lines)

    def owes_money(self) -> bool:
        return not self.is_repaid

    def _apply(self, repayment: Repayment, amount: Decimal, as_of: dt.date) -> Decimal:
        """Pay instalments due by ``as_of`` from ``amount`` on behalf of ``repayment``;
        return what is left."""
        for line in self.lines:
            if amount <= 0:
                break
            if line.due_on > as_of:
                break
            remaining = line.amount_due - line.amount_paid
            if remaining <= 0:
                continue
            take = min(remaining, amount)
            fee_paid, interest_paid, _principal_paid = paid_parts(line)
            to_fee = min(take, max(max(line.fee, ZERO) - fee_paid, ZERO))
            to_interest = min(take - to_fee, max(max(line.interest, ZERO) - interest_paid, ZERO))
            to_principal = take - to_fee - to_interest
            repayment.fee += to_fee
            repayment.interest += to_interest
            repayment.principal += to_principal
            line.amount_paid += take
            if is_paid(line):
                line.paid_on = repayment.received_on
            self.changed_lines[line.pk] = line
            amount -= take
            self.last_received_on = max(
                self.last_received_on or repayment.received_on, repayment.received_on
            )
        return amount

    def apply_credits(self, as_of: dt.date) -> None:
        """Apply the unallocated credit of earlier repayments to instalments now due."""
        for credit in self.credits:
            if credit.unallocated <= 0:
                continue
            left = self._apply(credit, credit.unallocated, as_of)
            if left != credit.unallocated:
                credit.unallocated = left
                if credit.pk is not None:
                    self.changed_credits[credit.pk] = credit

    def receive(self, repayment: Repayment, as_of: dt.date) -> Repayment:
        """Apply a new repayment (its ``amount``); the rest stays on it as credit."""
        repayment.principal = repayment.interest = repayment.fee = ZERO
        repayment.unallocated = self._apply(repayment, repayment.amount, as_of)
        self.new_repayments.append(repayment)
        if repayment.unallocated > 0:
            self.credits.append(repayment)
        return repayment

    def figures(self, as_of: dt.date) -> dict[str, Any]:
        """outstanding_principal, arrears and oldest_unpaid_due_on of the current schedule."""
        outstanding = ZERO
        arrears = ZERO
        oldest: dt.date | None = None
        for line in self.lines:
            outstanding += line.principal - paid_parts(line)[2]
            if is_paid(line):
                continue
            if oldest is None or line.due_on < oldest:
                oldest = line.due_on
            if line.due_on <= as_of:
                arrears += line.amount_due - line.amount_paid
        return {
            "outstanding_principal": max(outstanding, ZERO),
            "arrears": arrears,
            "oldest_unpaid_due_on": oldest,
        }

    def settle_figures(self, as_of: dt.date) -> list[str]:
        """Set the loan's figures (and close it when repaid); the names of changed fields."""
        loan = self.loan
        changed: list[str] = []
        for name, value in self.figures(as_of).items():
            if getattr(loan, name) != value:
                setattr(loan, name, value)
                changed.append(name)
        if self.is_repaid and loan.status in OPEN_STATUSES:
            loan.status = Loan.Status.CLOSED
            loan.closed_on = self.last_received_on or as_of
            changed += ["status", "closed_on"]
        return changed


def ledgers_load(loans: Sequence[Loan]) -> dict[Any, LoanLedger]:
    """Ledgers of ``loans``: their current instalments and open credits, two queries."""
    ledgers = {loan.pk: LoanLedger(loan=loan, lines=[]) for loan in loans}
    if not ledgers:
        return ledgers
    for line in Instalment.objects.filter(loan_id__in=ledgers, is_current=True).order_by(
        "loan_id", "due_on", "number"
    ):
        ledgers[line.loan_id].lines.append(line)
    for credit in Repayment.objects.filter(loan_id__in=ledgers, unallocated__gt=0).order_by(
        "received_on", "id"
    ):
        ledgers[credit.loan_id].credits.append(credit)
    return ledgers


def ledgers_save(ledgers: Iterable[LoanLedger], as_of: dt.date) -> list[Loan]:
    """Write back what changed in ``ledgers``; return the loans closed by it."""
    new: list[Repayment] = []
    lines: list[Instalment] = []
    credits: list[Repayment] = []
    loans: list[Loan] = []
    closed: list[Loan] = []
    now = timezone.now()
    for ledger in ledgers:
        new.extend(ledger.new_repayments)
        lines.extend(ledger.changed_lines.values())
        credits.extend(ledger.changed_credits.values())
        was_open = ledger.loan.status in OPEN_STATUSES
        if ledger.settle_figures(as_of):
            ledger.loan.updated_at = now
            loans.append(ledger.loan)
        if was_open and ledger.loan.status == Loan.Status.CLOSED:
            closed.append(ledger.loan)
    Repayment.objects.bulk_create(new, batch_size=1000)
    Instalment.objects.bulk_update(lines, ["amount_paid", "paid_on"], batch_size=1000)
    Repayment.objects.bulk_update(
        credits, ["principal", "interest", "fee", "unallocated"], batch_size=1000
    )
    Loan.objects.bulk_update(
        loans,
        [
            "outstanding_principal",
            "arrears",
            "oldest_unpaid_due_on",
            "status",
            "closed_on",
            "updated_at",
        ],
        batch_size=1000,
    )
    for loan in closed:
        application_close(loan)
    return closed


def application_close(loan: Loan) -> None:
    """Take the loan's application to "closed" as the system, now that the loan is repaid.

    An application still in "disbursed" is handed over to servicing first. A workflow an
    administrator changed so that the steps no longer apply is logged, never allowed to undo
    the repayment that closed the loan.
    """
    if loan.application_id is None:
        return
    application = LoanApplication.objects.filter(pk=loan.application_id).first()
    if application is None:
        return
    steps = {"disbursed": ["start_servicing", "close"], "servicing": ["close"]}
    for step in steps.get(application.state, []):
        try:
            with transaction.atomic():
                workflow_transition(
                    actor=SERVICING_ACTOR, subject=application, transition=step, reason=""
                )
        except (WorkflowError, PermissionDenied) as exc:
            logger.warning(
                "Loan %s is repaid but its application %s could not take the step %s: %s",
                loan.reference,
                application.reference,
                step,
                exc,
            )
            return


def candidate_transactions(
    loans: QuerySet[Loan], *, as_of: dt.date, since: dt.date | None
) -> QuerySet[Transaction]:
    """Unmatched loan-repayment debits that some loan of ``loans`` may receive."""
    eligible = loans.filter(
        account_id=OuterRef("account_id"),
        currency=OuterRef("currency"),
        disbursed_on__lte=OuterRef("booking_date"),
    )
    queryset = Transaction.objects.filter(
        kind=Transaction.Kind.LOAN_REPAYMENT,
        direction=Transaction.Direction.DEBIT,
        booking_date__lte=as_of,
        loan_repayment__isnull=True,
    ).filter(Exists(eligible))
    if since is not None:
        queryset = queryset.filter(booking_date__gte=since)
    return queryset


@dataclass
class MatchResult:
    """What one matching run did."""

    matched: int = 0
    amount: Decimal = ZERO
    loans: int = 0
    closed: list[str] = field(default_factory=list)


def repayments_match(
    *,
    actor: Any,
    loans: QuerySet[Loan],
    as_of: dt.date,
    since: dt.date | None = None,
    batch_size: int = MATCH_BATCH,
) -> MatchResult:
    """Match unmatched repayment debits to ``loans`` (open loans in the actor's reach) and
    apply open credits to instalments fallen due; one transaction and one audit event per
    batch of loans."""
    loans = loans.filter(status__in=OPEN_STATUSES)
    accounts = set(
        candidate_transactions(loans, as_of=as_of, since=since)
        .values_list("account_id", flat=True)
        .distinct()
    )
    work: set[Any] = set()
    for chunk in _chunks(sorted(accounts, key=str), 900):
        work.update(loans.filter(account_id__in=chunk).values_list("pk", flat=True))
    work.update(
        Repayment.objects.filter(unallocated__gt=0, loan__in=loans)
        .values_list("loan_id", flat=True)
        .distinct()
    )
    result = MatchResult()
    for batch in _chunks(sorted(work, key=str), batch_size):
        _match_batch(actor, loans, batch, as_of, since, result)
    return result


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _match_batch(
    actor: Any,
    loans: QuerySet[Loan],
    pks: Sequence[Any],
    as_of: dt.date,
    since: dt.date | None,
    result: MatchResult,
) -> None:
    with transaction.atomic():
        # Locked first, read after: a concurrent run waits here and then sees our matches.
        batch = list(loans.filter(pk__in=pks).select_for_update().order_by("pk"))
        if not batch:
            return
        ledgers = ledgers_load(batch)
        by_account: dict[Any, list[LoanLedger]] = defaultdict(list)
        for ledger in ledgers.values():
            by_account[ledger.loan.account_id].append(ledger)
        for owners in by_account.values():
            owners.sort(key=lambda item: (item.loan.disbursed_on, item.loan.reference))
        for ledger in ledgers.values():
            ledger.apply_credits(as_of)
        bookings = (
            candidate_transactions(loans.filter(pk__in=pks), as_of=as_of, since=since)
            .order_by("account_id", "booking_date", "id")
            .values_list("pk", "account_id", "booking_date", "amount", "currency")
        )
        matched: list[dict[str, Any]] = []
        for pk, account_id, booked_on, amount, currency in bookings:
            receiver = next(
                (
                    item
                    for item in by_account.get(account_id, [])
                    if item.loan.disbursed_on <= booked_on
                    and item.loan.currency == currency
                    and item.owes_money()
                ),
                None,
            )
            if receiver is None:
                continue  # every eligible loan of the account is repaid: left unmatched
            repayment = receiver.receive(
                Repayment(
                    loan=receiver.loan, transaction_id=pk, received_on=booked_on, amount=-amount
                ),
                as_of,
            )
            matched.append(
                {
                    "loan": receiver.loan.reference,
                    "transaction": pk,
                    "received_on": booked_on,
                    "amount": money_text(repayment.amount, receiver.loan.currency),
                    "unallocated": money_text(repayment.unallocated, receiver.loan.currency),
                }
            )
            result.amount += repayment.amount
        closed = ledgers_save(ledgers.values(), as_of)
        touched = [
            ledger for ledger in ledgers.values() if ledger.changed_lines or ledger.new_repayments
        ]
        if matched or touched:
            audit_record(
                actor=actor,
                action="loan.repayments_match",
                object_type="lending.repayment",
                object_repr=f"{len(matched)} repayments matched",
                after={
                    "as_of": as_of,
                    "repayments": matched,
                    "credits_applied": sorted(
                        ledger.loan.reference
                        for ledger in ledgers.values()
                        if ledger.changed_credits
                    ),
                    "closed": sorted(loan.reference for loan in closed),
                },
            )
        result.matched += len(matched)
        result.loans += len(touched)
        result.closed.extend(loan.reference for loan in closed)
