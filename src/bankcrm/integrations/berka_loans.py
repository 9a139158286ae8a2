"""The Berka PKDD'99 loans (``loan.asc``) as serviced loans of the lending module.

Each of the 682 loans becomes a :class:`~bankcrm.lending.models.Loan` of the product
``BERKA`` with its repayment schedule, repaid from the current account it was granted on
(``Account.source_id`` = the Berka ``account_id``) and borrowed by that account's owner.
Run it after the Berka accounts and transactions are imported (``bankcrm import berka``
calls it last). Keyed by the Berka ``loan_id`` (``source_system="berka"``): running it again
adds nothing.

The file gives the amount, the duration in months and the monthly payment, not the rate.
The rate is solved from them: the annual nominal rate (monthly compounding) at which the
annuity instalment of the amount over the duration equals the payment, found by bisection
and rounded to 4 decimals. In this data set every loan's payments add up exactly to its
amount (payment × months = amount for all 682), so the solved rate is 0.0000 % for each:
the ``amount`` column already includes any interest. The schedule is an annuity at that
rate, monthly, due on the day of the month the loan was granted.

Servicing, as of the last day of the data set (1998-12-31):

1. the loan-repayment debits of the repayment account (Berka ``k_symbol`` UVER, imported as
   ``Transaction.Kind.LOAN_REPAYMENT``) are matched to the instalments as any repayment is;
2. the file's outcome fills what the bookings do not show (the transactions file shipped
   here is a sample that ends in March 1994): status A (contract finished, no problems) has
   every instalment paid, on its due date, and the loan is closed on its maturity date;
   C (running, no problems so far) has every instalment due by 1998-12-31 paid on its due
   date and stays performing; B (finished, not paid) and D (running, in debt) are
   defaulted, with only what the bookings show as paid;
3. days past due, bucket and arrears are set as of 1998-12-31, without early-warning events
   (these are history, not tonight's news).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.banking.models import Account
from bankcrm.core.actor import is_system
from bankcrm.lending import delinquency, servicing
from bankcrm.lending.models import Instalment, Loan, LoanProduct
from bankcrm.lending.services_loans import LoanBooking, loans_book_bulk

from . import berka
from .services import BERKA_END, TableResult

SOURCE = berka.SOURCE_SYSTEM
PRODUCT_CODE = "BERKA"

# Berka outcome → the loan's status once serviced to the end of the data set.
STATUSES = {
    "A": Loan.Status.CLOSED,
    "B": Loan.Status.DEFAULTED,
    "C": Loan.Status.PERFORMING,
    "D": Loan.Status.DEFAULTED,
}

_RATE_QUANTUM = Decimal("0.0001")
_CONTEXT = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_EVEN)


def _annuity(amount: Decimal, periods: int, monthly_rate: Decimal) -> Decimal:
    with decimal.localcontext(_CONTEXT):
        if monthly_rate == 0:
            return amount / periods
        return amount * monthly_rate / (1 - (1 + monthly_rate) ** -periods)


def annuity_rate(amount: Decimal, periods: int, payment: Decimal) -> Decimal:
    """The annual nominal rate in percent (4 decimals) at which a monthly annuity of
    ``periods`` instalments of ``payment`` repays ``amount``; bisection on the monthly rate.

    Raises ValueError when the payments add up to less than the amount (no rate of zero or
    more repays it).
    """
    if amount <= 0 or periods <= 0 or payment <= 0:
        raise ValueError("amount, periods and payment must be positive")
    if payment * periods < amount:
        raise ValueError("the payments add up to less than the amount")
    if payment * periods == amount:
        return Decimal("0.0000")
    low, high = Decimal(0), Decimal(1)
    while _annuity(amount, periods, high) < payment:
        high *= 2
    with decimal.localcontext(_CONTEXT):
        # 120 halvings bring the bracket far below the 4th decimal of the annual percent.
        for _step in range(120):
            middle = (low + high) / 2
            if _annuity(amount, periods, middle) < payment:
                low = middle
            else:
                high = middle
        annual = (low + high) / 2 * 12 * 100
    return annual.quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP)


def _product(actor: Any, records: list[berka.Loan]) -> LoanProduct:
    product = LoanProduct.objects.filter(code=PRODUCT_CODE).first()
    if product is not None:
        return product
    product = LoanProduct.objects.create(
        code=PRODUCT_CODE,
        name="Berka consumer loan (CZK)",
        name_zh="Berka 个人贷款（捷克克朗）",
        type=LoanProduct.Type.PERSONAL,
        currency=berka.CURRENCY,
        # The limits of the loans in the file.
        min_amount=min(record.amount for record in records),
        max_amount=max(record.amount for record in records),
        min_term_months=min(record.duration_months for record in records),
        max_term_months=max(record.duration_months for record in records),
        method="annuity",
        day_count="30360",
        frequency="monthly",
        is_active=False,  # historical loans: not offered to new applicants
    )
    audit_record(
        actor=actor,
        action="lending.loan_product_create",
        target=product,
        after=audit_snapshot(product),
    )
    return product


def _settle_by_outcome(outcomes: Iterable[tuple[Any, str]], as_of: Any) -> dict[str, int]:
    """Fill in, from the file's outcome (loan key, A–D), the instalments the bookings do not
    show paid; close the loans of outcome A."""
    by_code: dict[str, list[Any]] = {code: [] for code in STATUSES}
    for pk, code in outcomes:
        by_code[code].append(pk)
    unpaid = Instalment.objects.filter(is_current=True, amount_paid__lt=F("amount_due"))
    settled = unpaid.filter(loan_id__in=by_code["A"]).update(
        amount_paid=F("amount_due"), paid_on=F("due_on")
    )
    settled += unpaid.filter(loan_id__in=by_code["C"], due_on__lte=as_of).update(
        amount_paid=F("amount_due"), paid_on=F("due_on")
    )
    Loan.objects.filter(pk__in=by_code["A"]).update(
        status=Loan.Status.CLOSED,
        closed_on=F("maturity_date"),
        outstanding_principal=Decimal(0),
        arrears=Decimal(0),
        oldest_unpaid_due_on=None,
    )
    running = list(Loan.objects.filter(pk__in=by_code["C"]))
    ledgers = servicing.ledgers_load(running)
    changed: list[Loan] = []
    for ledger in ledgers.values():
        if ledger.settle_figures(as_of):
            changed.append(ledger.loan)
    Loan.objects.bulk_update(
        changed, ["outstanding_principal", "arrears", "oldest_unpaid_due_on"], batch_size=1000
    )
    return {code: len(pks) for code, pks in by_code.items()} | {"instalments_settled": settled}


def berka_loans_import(
    *, actor: Any, directory: Path, as_of: Any = BERKA_END, batch_size: int = 1000
) -> TableResult:
    """Book the Berka loans of ``directory`` with their schedules, match their repayments and
    service them to ``as_of``; idempotent (loans already booked are skipped)."""
    if not is_system(actor):
        raise PermissionDenied(_("Only a system job may import the Berka data set."))
    path = berka.table_path(directory, "loan")
    records = list(berka.read_table(directory, "loan"))
    existing = set(Loan.objects.filter(source_system=SOURCE).values_list("source_id", flat=True))
    new = [record for record in records if str(record.loan_id) not in existing]
    if new:
        accounts = {
            int(account.source_id): account
            for account in Account.objects.filter(
                source_system=SOURCE,
                product__category="current",
                source_id__in=[str(record.account_id) for record in new],
            ).select_related("owner", "branch")
        }
        with transaction.atomic():
            product = _product(actor, records)
            bookings = [
                LoanBooking(
                    product=product,
                    borrower=accounts[record.account_id].owner,
                    account=accounts[record.account_id],
                    branch=accounts[record.account_id].branch,
                    principal=record.amount,
                    currency=berka.CURRENCY,
                    annual_rate=annuity_rate(
                        record.amount, record.duration_months, record.monthly_payment
                    ),
                    term_months=record.duration_months,
                    method="annuity",
                    day_count="30360",
                    frequency="monthly",
                    disbursed_on=record.granted_on,
                    source_system=SOURCE,
                    source_id=str(record.loan_id),
                    # Open while the bookings are matched; A is closed afterwards.
                    status=Loan.Status.PERFORMING
                    if record.status_code == "A"
                    else STATUSES[record.status_code],
                )
                for record in new
                if record.account_id in accounts
            ]
            booked = loans_book_bulk(
                actor=actor, bookings=bookings, record_events=False, batch_size=batch_size
            )
            if booked.rejected:
                raise ValueError(
                    "Berka loans refused: "
                    + "; ".join(f"{b.source_id}: {errors}" for b, errors in booked.rejected)
                )
            outcome = {str(record.loan_id): record.status_code for record in new}
            imported = Loan.objects.filter(pk__in=[loan.pk for loan in booked.loans])
            servicing.repayments_match(actor=actor, loans=imported, as_of=as_of)
            counts = _settle_by_outcome(
                (
                    (pk, outcome[source_id])
                    for pk, source_id in imported.values_list("pk", "source_id")
                ),
                as_of,
            )
            delinquency.recalculate(as_of=as_of, record_changes=False, among=imported)
            audit_record(
                actor=actor,
                action="lending.berka_loans_import",
                object_type="lending.loan",
                object_repr=f"Berka loans ({path.name})",
                after={
                    "file": path.name,
                    "rows_in_file": len(records),
                    "added": len(booked.loans),
                    "as_of": as_of,
                    "outcomes": counts,
                },
            )
    in_database = Loan.objects.filter(source_system=SOURCE).count()
    return TableResult("loans", path.name, len(records), in_database - len(existing), in_database)
