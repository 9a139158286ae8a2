"""Reading the portfolio quality of the loan book, scoped to the viewer: the NPL ratio and
portfolio at risk, bucket roll rates month by month, and vintage curves.

Every figure is read from the loans the viewer may see (``Loan.objects.visible_to``) in SQL:
two grouped queries for the NPL ratio and portfolio at risk (the loans; the repayments after
the day), one statement for the roll rates of all the months, five grouped queries for the
vintages; Python only folds the grouped rows (a few per branch, product, currency, bucket or
path), never the loans. Amounts are never added across currencies: every figure holding
money is per currency.

**A loan's bucket on a day** is the bucket of the delinquency run's history
(``lending.DelinquencyChange``): the bucket the loan is in now when it moved there on or
before that day (``bucket_since``), else the ``to`` bucket of its last change on or before
the day, else the ``from`` bucket of its first change after it, else *current*. A loan whose
bucket was set without a recorded change (an import of historical loans) is taken to have
been in it since ``bucket_since``.

**A loan's outstanding principal on a day** is its principal outstanding now plus the
principal repaid after that day (the repayments' principal part), as the dashboards rebuild a
past balance from today's less the later bookings. A restructuring after that day that
capitalised arrears is not undone.

**On the book on a day**: disbursed on or before it and neither repaid and closed nor written
off by then (``closed_on``; a closed or written-off loan without that day is off the book on
every day).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_perm_scope
from bankcrm.core.timefmt import bank_today
from bankcrm.lending.models import (
    BUCKET_RANK,
    Bucket,
    DelinquencyChange,
    Loan,
    LoanProduct,
    Repayment,
)

LOAN_PERMISSION = "lending.view_loan"
DEFAULT_MONTHS = 6
MAX_MONTHS = 36
ZERO = Decimal("0")
PERCENT = Decimal("0.01")
AMOUNT = DecimalField(max_digits=24, decimal_places=4)
DEFAULT_LIST_LIMIT = 500

# Buckets of more than 30 and more than 90 days past due (portfolio at risk, NPL).
BUCKETS_OVER_30 = tuple(code for code, rank in BUCKET_RANK.items() if rank >= BUCKET_RANK["31-60"])
BUCKETS_OVER_90 = (Bucket.DPD_90_PLUS.value,)
# Loans off the book once closed: repaid, or written off.
OFF_BOOK_STATUSES = (Loan.Status.CLOSED.value, Loan.Status.WRITTEN_OFF.value)
# States a loan can be in at the end of a month (columns of a roll-rate matrix).
END_STATES = (*Bucket.values, Loan.Status.CLOSED.value, Loan.Status.WRITTEN_OFF.value)
# What a quality figure counts (the loan list behind it).
MEASURES = ("book", "npl", "par30", "par90", "written_off")
THRESHOLDS: dict[int, tuple[str, ...]] = {30: BUCKETS_OVER_30, 90: BUCKETS_OVER_90}


def percent(part: Decimal | int, whole: Decimal | int) -> Decimal | None:
    """``part`` as a percentage of ``whole``, to two decimals (None when ``whole`` is 0)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(PERCENT, rounding=ROUND_HALF_UP)


# --- Days and months -------------------------------------------------------------------------


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` after (before, when negative) ``day``'s."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def month_end(day: dt.date) -> dt.date:
    return add_months(day, 1) - dt.timedelta(days=1)


def months_between(first: dt.date, second: dt.date) -> int:
    """Calendar months from ``first``'s month to ``second``'s (0: the same month)."""
    return (second.year - first.year) * 12 + second.month - first.month


def last_month_end(day: dt.date) -> dt.date:
    """``day`` when it is the last of its month, else the last day of the month before."""
    return day if month_end(day) == day else month_start(day) - dt.timedelta(days=1)


# --- Filters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortfolioFilters:
    """What the report covers: the as-of day, the months of roll rates and vintages, and an
    optional product, branch and currency (keys as given by the filter form)."""

    as_of: dt.date
    months: int = DEFAULT_MONTHS
    product: int | None = None
    branch: int | None = None
    currency: str | None = None

    def clean(self) -> PortfolioFilters:
        errors: dict[str, list[str]] = {}
        if not isinstance(self.as_of, dt.date) or isinstance(self.as_of, dt.datetime):
            errors["as_of"] = [_("Enter a date.")]
        elif self.as_of > bank_today():
            errors["as_of"] = [_("The as-of day cannot be in the future.")]
        months = self.months
        if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
            errors["months"] = [
                _("Enter a whole number of months from 1 to %(max)s.") % {"max": MAX_MONTHS}
            ]
        if errors:
            raise ValidationError(errors, code="invalid")
        return self

    @property
    def last_month_end(self) -> dt.date:
        return last_month_end(self.as_of)

    def month_pairs(self) -> list[tuple[dt.date, dt.date]]:
        """(start, end) month ends of the roll-rate months, oldest first."""
        last = self.last_month_end
        pairs = []
        for back in range(self.months - 1, -1, -1):
            end = month_end(add_months(last, -back))
            start = month_start(end) - dt.timedelta(days=1)
            pairs.append((start, end))
        return pairs

    def cohort_months(self) -> list[dt.date]:
        """First days of the vintage cohorts' disbursement months, oldest first: the
        ``months`` months before the last complete month's."""
        last = month_start(self.last_month_end)
        return [add_months(last, -back) for back in range(self.months, 0, -1)]


def scoped_loans(*, actor: Any, filters: PortfolioFilters) -> QuerySet[Loan]:
    """The loans the actor may see, narrowed by the product, branch and currency filters."""
    return Loan.objects.visible_to(actor).order_by().filter(_narrowed(filters))


def _narrowed(filters: PortfolioFilters, prefix: str = "") -> Q:
    condition = Q()
    if filters.product:
        condition &= Q(**{f"{prefix}product_id": filters.product})
    if filters.branch:
        condition &= Q(**{f"{prefix}branch_id": filters.branch})
    if filters.currency:
        condition &= Q(**{f"{prefix}currency": filters.currency})
    return condition


@contextmanager
def grouped_by_hash() -> Iterator[None]:
    """Group the loans with a hash table on PostgreSQL. Its planner cannot tell how many
    values a CASE over the bucket history takes, expects a group per loan and sorts every
    loan (on disk) to group them, where there are a few dozen groups; with sorting disabled
    for the statement it hashes them in memory (measured: a quarter less time at 500,000
    loans). Elsewhere nothing changes. SET is undone by RESET, or with the transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET enable_sort = off")
    try:
        yield
    finally:
        # An aborted transaction refuses RESET; its rollback undoes the SET.
        with suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute("RESET enable_sort")


# --- A loan on a day (SQL expressions) ------------------------------------------------------


def bucket_on(day: dt.date, prefix: str = "") -> Case:
    """The loan's delinquency bucket on ``day``, from its bucket history (module docs).
    ``prefix`` reaches the loan from another model (``"loan__"`` from a repayment)."""
    changes = DelinquencyChange.objects.filter(loan_id=OuterRef(f"{prefix}pk")).order_by()
    # Ordered by the loan first, so that the (loan, as-of) index serves both look-ups.
    last = changes.filter(as_of__lte=day).order_by("loan_id", "-as_of").values("to_bucket")[:1]
    following = changes.filter(as_of__gt=day).order_by("loan_id", "as_of").values("from_bucket")[:1]
    since = f"{prefix}bucket_since"
    return Case(
        # The bucket it is in now, when it moved there by then: no history to read.
        When(
            Q(**{f"{since}__isnull": True}) | Q(**{f"{since}__lte": day}),
            then=F(f"{prefix}bucket"),
        ),
        default=Coalesce(
            Subquery(last),
            Subquery(following),
            Value(Bucket.CURRENT.value),
            output_field=CharField(),
        ),
        output_field=CharField(),
    )


def outstanding_on(day: dt.date) -> Any:
    """The loan's principal outstanding at the end of ``day``: now plus what was repaid
    after it (one loan at a time: for the lists; the report's sums use
    :func:`repaid_after`)."""
    if day >= bank_today():
        return F("outstanding_principal")
    later = (
        Repayment.objects.filter(loan_id=OuterRef("pk"), received_on__gt=day)
        .order_by()
        .values("loan_id")
        .annotate(total=Sum("principal"))
        .values("total")
    )
    return F("outstanding_principal") + Coalesce(Subquery(later), Value(ZERO), output_field=AMOUNT)


def repaid_after(
    *, actor: Any, filters: PortfolioFilters, day: dt.date, loans: Q
) -> QuerySet[Repayment] | None:
    """The repayments received after ``day`` of the loans the actor may see that meet the
    filters and ``loans`` (a condition on the loan, through ``loan__``): the principal the
    loans still owed on that day. None when ``day`` is today or later (nothing is received
    after it). Summed by the same groups as the loans in one pass over the repayments, rather
    than one look-up per loan; the loans' scope is the one under which the actor sees loans."""
    if day >= bank_today():
        return None
    scope = actor_perm_scope(actor, LOAN_PERMISSION)
    if scope is None:
        return Repayment.objects.none()
    return (
        Repayment.objects.within_scope(actor, scope)
        .filter(received_on__gt=day)
        .filter(_narrowed(filters, "loan__"), loans)
        .order_by()
    )


def off_book_by(day: dt.date, prefix: str = "") -> Q:
    """Repaid and closed or written off on or before ``day`` (or on an unrecorded day)."""
    return Q(**{f"{prefix}status__in": OFF_BOOK_STATUSES}) & (
        Q(**{f"{prefix}closed_on__isnull": True}) | Q(**{f"{prefix}closed_on__lte": day})
    )


def on_book(day: dt.date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}disbursed_on__lte": day}) & ~off_book_by(day, prefix)


def written_off_by(day: dt.date, prefix: str = "") -> Q:
    return Q(
        **{f"{prefix}status": Loan.Status.WRITTEN_OFF, f"{prefix}disbursed_on__lte": day}
    ) & off_book_by(day, prefix)


def end_state_on(day: dt.date, prefix: str = "") -> Case:
    """Where the loan is at the end of ``day``: written off, repaid and closed, or its bucket."""
    return Case(
        When(written_off_by(day, prefix), then=Value(Loan.Status.WRITTEN_OFF.value)),
        When(off_book_by(day, prefix), then=Value(Loan.Status.CLOSED.value)),
        default=bucket_on(day, prefix),
        output_field=CharField(),
    )


def quality_kind(day: dt.date, prefix: str = "") -> Case:
    """Written off by ``day`` (outside the ratios), defaulted, or an open loan."""
    return Case(
        When(written_off_by(day, prefix), then=Value("written_off")),
        When(**{f"{prefix}status": Loan.Status.DEFAULTED}, then=Value("defaulted")),
        default=Value("open"),
        output_field=CharField(),
    )


def first_reached(buckets: Iterable[str]) -> Coalesce:
    """The first day the loan moved into one of ``buckets`` (a recorded change), else the day
    it entered the one it is in now when that is one of them (a bucket set on import)."""
    codes = list(buckets)
    first = (
        DelinquencyChange.objects.filter(loan_id=OuterRef("pk"), to_bucket__in=codes)
        .order_by("loan_id", "as_of")
        .values("as_of")[:1]
    )
    return Coalesce(
        Subquery(first),
        Case(When(bucket__in=codes, then=F("bucket_since")), output_field=DateField()),
        output_field=DateField(),
    )


# --- 1. NPL ratio and portfolio at risk ------------------------------------------------------


@dataclass
class QualityFigures:
    """The loans of one group in one currency on the as-of day: on the book, non-performing
    (more than 90 days past due or defaulted), at risk (more than 30 / 90 days past due),
    and written off (outside the ratios)."""

    currency: str
    loans: int = 0
    outstanding: Decimal = ZERO
    npl_loans: int = 0
    npl_outstanding: Decimal = ZERO
    par30_loans: int = 0
    par30_outstanding: Decimal = ZERO
    par90_loans: int = 0
    par90_outstanding: Decimal = ZERO
    written_off_loans: int = 0
    written_off_outstanding: Decimal = ZERO

    @property
    def npl_ratio(self) -> Decimal | None:
        return percent(self.npl_outstanding, self.outstanding)

    @property
    def par30(self) -> Decimal | None:
        return percent(self.par30_outstanding, self.outstanding)

    @property
    def par90(self) -> Decimal | None:
        return percent(self.par90_outstanding, self.outstanding)

    def add(self, *, kind: str, bucket: str, loans: int, amount: Decimal) -> None:
        if kind == "written_off":
            self.written_off_loans += loans
            self.written_off_outstanding += amount
            return
        self.loans += loans
        self.outstanding += amount
        if kind == "defaulted" or bucket in BUCKETS_OVER_90:
            self.npl_loans += loans
            self.npl_outstanding += amount
        if bucket in BUCKETS_OVER_30:
            self.par30_loans += loans
            self.par30_outstanding += amount
        if bucket in BUCKETS_OVER_90:
            self.par90_loans += loans
            self.par90_outstanding += amount


@dataclass
class QualityGroup:
    """A product or a branch and its figures per currency."""

    pk: int
    code: str
    name: str
    name_zh: str = ""
    figures: list[QualityFigures] = field(default_factory=list)

    def name_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.name_zh:
            return self.name_zh
        return self.name


@dataclass
class PortfolioQuality:
    """NPL ratio and portfolio at risk on a day: in total, by product and by branch."""

    as_of: dt.date
    totals: list[QualityFigures]
    by_product: list[QualityGroup]
    by_branch: list[QualityGroup]


def portfolio_quality(*, actor: Any, filters: PortfolioFilters) -> PortfolioQuality:
    """NPL ratio, PAR30 and PAR90 of the loans the actor may see on ``filters.as_of``, per
    currency, in total, by product and by branch; one GROUP BY query.

    NPL: loans on the book more than 90 days past due that day (the 90+ bucket) or defaulted.
    PAR30 / PAR90 (Fineract's portfolio at risk): the outstanding principal of loans whose
    oldest unpaid instalment is more than 30 / 90 days overdue, over all outstanding. Written
    off loans are off the book: counted apart, in neither part of a ratio."""
    filters.clean()
    day = filters.as_of
    population = scoped_loans(actor=actor, filters=filters).filter(
        on_book(day) | written_off_by(day)
    )
    rows = (
        population.annotate(day_bucket=bucket_on(day), kind=quality_kind(day))
        # Keys only: the names are read once per product and branch below (grouping by
        # them too made the sort several times longer).
        .values("branch_id", "product_id", "currency", "day_bucket", "kind")
        .annotate(loans=Count("pk"), amount=Sum("outstanding_principal"))
        .order_by()
    )
    # What the loans repaid after the day, by the same groups (one pass over the repayments).
    later: dict[tuple[Any, ...], Decimal] = {}
    repayments = repaid_after(
        actor=actor,
        filters=filters,
        day=day,
        loans=on_book(day, "loan__") | written_off_by(day, "loan__"),
    )
    if repayments is not None:
        keys = ("loan__branch_id", "loan__product_id", "loan__currency", "day_bucket", "kind")
        for row in (
            repayments.annotate(
                day_bucket=bucket_on(day, "loan__"), kind=quality_kind(day, "loan__")
            )
            .values(*keys)
            .annotate(amount=Sum("principal"))
        ):
            later[tuple(row[key] for key in keys)] = _amount(row["amount"])
    totals: dict[str, QualityFigures] = {}
    products: dict[int, QualityGroup] = {}
    branches: dict[int, QualityGroup] = {}
    product_figures: dict[tuple[int, str], QualityFigures] = {}
    branch_figures: dict[tuple[int, str], QualityFigures] = {}
    with grouped_by_hash():
        grouped = list(rows)
    for item in LoanProduct.objects.filter(pk__in={row["product_id"] for row in grouped}):
        products[item.pk] = QualityGroup(item.pk, item.code, item.name, item.name_zh or "")
    for unit in OrgUnit.objects.filter(pk__in={row["branch_id"] for row in grouped}):
        branches[unit.pk] = QualityGroup(unit.pk, unit.code, unit.name)
    for row in grouped:
        currency = row["currency"]
        product = products[row["product_id"]]
        branch = branches[row["branch_id"]]
        targets = (
            totals.setdefault(currency, QualityFigures(currency)),
            _figures_of(product, product_figures, currency),
            _figures_of(branch, branch_figures, currency),
        )
        key = (row["branch_id"], row["product_id"], currency, row["day_bucket"], row["kind"])
        amount = _amount(row["amount"]) + later.get(key, ZERO)
        for target in targets:
            target.add(
                kind=row["kind"], bucket=row["day_bucket"], loans=row["loans"], amount=amount
            )
    for group in (*products.values(), *branches.values()):
        group.figures.sort(key=lambda item: item.currency)
    return PortfolioQuality(
        as_of=day,
        totals=[totals[currency] for currency in sorted(totals)],
        by_product=sorted(products.values(), key=lambda group: (group.code, group.pk)),
        by_branch=sorted(branches.values(), key=lambda group: (group.name, group.pk)),
    )


def _figures_of(
    group: QualityGroup, index: dict[tuple[int, str], QualityFigures], currency: str
) -> QualityFigures:
    key = (group.pk, currency)
    if key not in index:
        index[key] = QualityFigures(currency)
        group.figures.append(index[key])
    return index[key]


def _amount(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(PERCENT)


# --- 2. Roll rates ---------------------------------------------------------------------------


@dataclass
class RollCell:
    """Loans of a start bucket found in one state at the month's end."""

    state: str
    loans: int = 0
    outstanding: Decimal = ZERO
    loan_share: Decimal | None = None
    outstanding_share: Decimal | None = None


@dataclass
class RollRow:
    """The loans in one bucket at the start of a month (their outstanding principal then),
    and where they were at its end."""

    bucket: str
    loans: int
    outstanding: Decimal
    cells: list[RollCell]


@dataclass
class RollMatrix:
    """One month's bucket transition matrix in one currency."""

    start: dt.date
    end: dt.date
    currency: str
    rows: list[RollRow]

    @property
    def month(self) -> str:
        return self.end.strftime("%Y-%m")

    @property
    def loans(self) -> int:
        return sum(row.loans for row in self.rows)


@dataclass
class RollRates:
    """The roll-rate matrices of the months, oldest first, each month per currency."""

    months: list[tuple[dt.date, dt.date]]
    matrices: list[RollMatrix]


# {month index: {currency: {(bucket at start, state at end): (loans, outstanding at start)}}}
RollCells = dict[int, dict[str, dict[tuple[str, str], tuple[int, Decimal]]]]


ON_BOOK = "on_book"


def _path(days: list[dt.date]) -> dict[str, Case]:
    """For each day k: ``state_k``, where the loan is at its end (on the book, repaid and
    closed, written off; NULL before it was lent), and ``bucket_k``, its bucket then when on
    the book. A month's start and end are two consecutive days, so each bucket is read once."""
    keys: dict[str, Case] = {}
    for index, day in enumerate(days):
        keys[f"state_{index}"] = Case(
            When(disbursed_on__gt=day, then=None),
            When(written_off_by(day), then=Value(Loan.Status.WRITTEN_OFF.value)),
            When(off_book_by(day), then=Value(Loan.Status.CLOSED.value)),
            default=Value(ON_BOOK),
            output_field=CharField(),
        )
        keys[f"bucket_{index}"] = Case(
            When(on_book(day), then=bucket_on(day)), default=None, output_field=CharField()
        )
    return keys


def roll_cells(*, actor: Any, filters: PortfolioFilters) -> RollCells:
    """The roll-rate cells of every month at once, in ONE statement whatever the number of
    months: the loans on the book at one of the months' starts, grouped by their path through
    the months (state and bucket at each month end: few distinct paths), each path with
    its loans and, per month, their principal outstanding at the start (now, plus what was
    repaid after it: the repayments since the first start are summed per loan and period in
    one pass, then joined to the loans).

    The loans' part (scope, filters, paths) is compiled by the ORM; the statement around it
    is portable SQL (PostgreSQL and SQLite)."""
    pairs = filters.month_pairs()
    first, last = pairs[0][0], pairs[-1][0]
    days = [*(start for start, _end in pairs), pairs[-1][1]]
    keys = _path(days)
    names = list(keys)
    # On the book at one of the starts at least (the paths say at which).
    loans = (
        scoped_loans(actor=actor, filters=filters)
        .filter(Q(disbursed_on__lte=last) & ~off_book_by(first))
        .annotate(**keys)
        .values(
            *names,
            loan_key=F("pk"),
            loan_currency=F("currency"),
            balance=F("outstanding_principal"),
        )
    )
    loans_sql, loans_params = loans.query.sql_with_params()
    quote = connection.ops.quote_name
    meta = Repayment._meta
    table = quote(meta.db_table)
    loan_column = quote(str(meta.get_field("loan").column))
    received = quote(str(meta.get_field("received_on").column))
    principal = quote(str(meta.get_field("principal").column))
    paid = ", ".join(
        f"SUM(CASE WHEN {received} > %s THEN {principal} ELSE 0 END) AS paid_{index}"
        for index in range(len(pairs))
    )
    paths = ", ".join(f"l.{quote(name)}" for name in names)
    amounts = ", ".join(
        f"SUM(l.balance + COALESCE(later.paid_{index}, 0)) AS amount_{index}"
        for index in range(len(pairs))
    )
    # Identifiers come from the models' metadata and the ORM's compiler, values are bound.
    sql = (
        f"WITH later AS (SELECT {loan_column} AS loan_key, {paid} FROM {table} "  # noqa: S608  # nosec B608
        f"WHERE {received} > %s GROUP BY {loan_column}) "
        f"SELECT l.loan_currency, {paths}, COUNT(*), {amounts} "
        f"FROM ({loans_sql}) AS l LEFT JOIN later ON later.loan_key = l.loan_key "
        f"GROUP BY l.loan_currency, {paths}"
    )
    params = [*(start for start, _end in pairs), first, *loans_params]
    cells: RollCells = {index: defaultdict(dict) for index in range(len(pairs))}
    with grouped_by_hash(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    width = len(names)
    for row in rows:
        currency, count = row[0], row[1 + width]
        path = dict(zip(names, row[1 : 1 + width], strict=True))
        amounts_by_month = row[2 + width :]
        for index in range(len(pairs)):
            if path[f"state_{index}"] != ON_BOOK:
                continue
            following = path[f"state_{index + 1}"]
            end_state = following if following != ON_BOOK else path[f"bucket_{index + 1}"]
            key = (path[f"bucket_{index}"], end_state)
            loans_before, amount_before = cells[index][currency].get(key, (0, ZERO))
            cells[index][currency][key] = (
                loans_before + count,
                amount_before + _amount(amounts_by_month[index]),
            )
    return cells


def portfolio_roll_rates(*, actor: Any, filters: PortfolioFilters) -> RollRates:
    """For each of the last ``filters.months`` complete months (ending on or before the as-of
    day): of the loans on the book at the start (the month before's last day) in each
    bucket, the share by number and by outstanding principal at the start found in each
    bucket, repaid and closed, or written off at the month's end (:func:`roll_cells`: one
    statement for all the months)."""
    filters.clean()
    pairs = filters.month_pairs()
    cells = roll_cells(actor=actor, filters=filters)
    matrices: list[RollMatrix] = []
    for index, (start, end) in enumerate(pairs):
        month = cells[index]
        for currency in sorted(month):
            matrices.append(_matrix(start, end, currency, month[currency]))
    return RollRates(months=pairs, matrices=matrices)


def _matrix(
    start: dt.date, end: dt.date, currency: str, cells: dict[tuple[str, str], tuple[int, Decimal]]
) -> RollMatrix:
    rows = []
    for bucket in Bucket.values:
        loans = sum(count for (low, _state), (count, _amount) in cells.items() if low == bucket)
        amount = sum(
            (value for (low, _state), (_count, value) in cells.items() if low == bucket), ZERO
        )
        row_cells = []
        for state in END_STATES:
            count, value = cells.get((bucket, state), (0, ZERO))
            row_cells.append(
                RollCell(state, count, value, percent(count, loans), percent(value, amount))
            )
        rows.append(RollRow(bucket, loans, amount, row_cells))
    return RollMatrix(start=start, end=end, currency=currency, rows=rows)


# --- 3. Vintage curves -----------------------------------------------------------------------


@dataclass
class VintageCell:
    """A cohort by the end of its k-th month after disbursement: how many of its loans (and
    how much of its disbursed principal) had been more than 30 and more than 90 days past
    due. ``observed`` is False for months not over by the report's last month end."""

    mob: int
    observed: bool
    loans_30: int = 0
    amount_30: Decimal = ZERO
    loans_90: int = 0
    amount_90: Decimal = ZERO
    share_30: Decimal | None = None
    amount_share_30: Decimal | None = None
    share_90: Decimal | None = None
    amount_share_90: Decimal | None = None


@dataclass
class VintageCohort:
    """The loans disbursed in one month in one currency."""

    month: dt.date
    currency: str
    loans: int
    disbursed: Decimal
    cells: list[VintageCell]

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")


@dataclass
class Vintages:
    """Cohorts (oldest first, then by currency) × months on book 1…N."""

    last_month_end: dt.date
    mobs: list[int]
    cohorts: list[VintageCohort]


def portfolio_vintages(*, actor: Any, filters: PortfolioFilters) -> Vintages:
    """Vintage curves: the loans the actor may see, by disbursement month (the ``months``
    months before the last complete one) and currency; for each month on book k = 1…N the
    cumulative share of the cohort's loans, and of its disbursed principal, that had moved
    into a bucket of more than 30 (more than 90) days past due by the end of the k-th
    calendar month after the disbursement month. Loans of every status count, repaid and
    written off included.

    Five GROUP BY queries, none of them a look-up per loan: the cohorts' sizes; per threshold,
    the loans' first recorded moves past it (read from the bucket changes), and the loans in
    such a bucket without a recorded move into it (set on import: since ``bucket_since``)."""
    filters.clean()
    cohorts = filters.cohort_months()
    last = filters.last_month_end
    mobs = list(range(1, filters.months + 1))
    loans = scoped_loans(actor=actor, filters=filters).filter(
        disbursed_on__gte=cohorts[0], disbursed_on__lt=add_months(cohorts[-1], 1)
    )
    found: dict[tuple[dt.date, str], VintageCohort] = {}
    for row in (
        loans.annotate(cohort=TruncMonth("disbursed_on", output_field=DateField()))
        .values("cohort", "currency")
        .annotate(loans=Count("pk"), amount=Sum("principal"))
        .order_by()
    ):
        cohort = _as_date(row["cohort"])
        found[(cohort, row["currency"])] = VintageCohort(
            cohort, row["currency"], row["loans"], _amount(row["amount"]), []
        )
    reached = {
        threshold: _first_moves(loans, codes, last) for threshold, codes in THRESHOLDS.items()
    }
    result = []
    for key in sorted(found):
        entry = found[key]
        for mob in mobs:
            cell = VintageCell(mob, add_months(entry.month, mob) <= month_start(last))
            if cell.observed:
                cell.loans_30, cell.amount_30 = _reached_by(reached[30].get(key, []), mob)
                cell.loans_90, cell.amount_90 = _reached_by(reached[90].get(key, []), mob)
                cell.share_30 = percent(cell.loans_30, entry.loans)
                cell.amount_share_30 = percent(cell.amount_30, entry.disbursed)
                cell.share_90 = percent(cell.loans_90, entry.loans)
                cell.amount_share_90 = percent(cell.amount_90, entry.disbursed)
            entry.cells.append(cell)
        result.append(entry)
    return Vintages(last_month_end=last, mobs=mobs, cohorts=result)


Moves = dict[tuple[dt.date, str], list[tuple[int, int, Decimal]]]


def _first_moves(loans: QuerySet[Loan], codes: tuple[str, ...], last: dt.date) -> Moves:
    """{(cohort, currency): [(month on book, loans, principal lent)]}: the loans of ``loans``
    by the month they first moved into one of ``codes`` (on or before ``last``)."""
    moves: Moves = defaultdict(list)
    earlier = DelinquencyChange.objects.filter(
        loan_id=OuterRef("loan_id"), to_bucket__in=codes, as_of__lt=OuterRef("as_of")
    )
    recorded = (
        DelinquencyChange.objects.filter(
            to_bucket__in=codes, as_of__lte=last, loan__in=loans.values("pk")
        )
        .exclude(Exists(earlier))
        .annotate(
            cohort=TruncMonth("loan__disbursed_on", output_field=DateField()),
            month=TruncMonth("as_of", output_field=DateField()),
            currency=F("loan__currency"),
        )
        .values("cohort", "currency", "month")
        .annotate(loans=Count("loan_id"), amount=Sum("loan__principal"))
        .order_by()
    )
    any_move = DelinquencyChange.objects.filter(loan_id=OuterRef("pk"), to_bucket__in=codes)
    imported = (
        loans.filter(bucket__in=codes, bucket_since__lte=last)
        .exclude(Exists(any_move))
        .annotate(
            cohort=TruncMonth("disbursed_on", output_field=DateField()),
            month=TruncMonth("bucket_since", output_field=DateField()),
        )
        .values("cohort", "currency", "month")
        .annotate(loans=Count("pk"), amount=Sum("principal"))
        .order_by()
    )
    for rows in (recorded, imported):
        for row in rows:
            cohort = _as_date(row["cohort"])
            mob = months_between(cohort, _as_date(row["month"]))
            moves[(cohort, row["currency"])].append((mob, row["loans"], _amount(row["amount"])))
    return moves


def _reached_by(moves: list[tuple[int, int, Decimal]], mob: int) -> tuple[int, Decimal]:
    loans = sum(count for month, count, _amount in moves if month <= mob)
    amount = sum((value for month, _count, value in moves if month <= mob), ZERO)
    return loans, amount


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


# --- The whole report ------------------------------------------------------------------------


@dataclass
class PortfolioReport:
    """The three sections of the portfolio quality report."""

    filters: PortfolioFilters
    quality: PortfolioQuality
    roll_rates: RollRates
    vintages: Vintages


def portfolio_report(*, actor: Any, filters: PortfolioFilters) -> PortfolioReport:
    """The portfolio quality report of the loans the actor may see (module docs)."""
    filters.clean()
    return PortfolioReport(
        filters=filters,
        quality=portfolio_quality(actor=actor, filters=filters),
        roll_rates=portfolio_roll_rates(actor=actor, filters=filters),
        vintages=portfolio_vintages(actor=actor, filters=filters),
    )


# --- The loans behind a figure ---------------------------------------------------------------


@dataclass(frozen=True)
class LoanDrill:
    """Which loans a figure counts: a quality ``measure`` on the as-of day; or the loans in
    ``from_bucket`` at the start of the month ending ``month_end`` (and in ``to_state`` at
    its end); or a vintage ``cohort`` (and those of it more than ``threshold`` days past due
    by month on book ``mob``)."""

    measure: str | None = None
    month_end: dt.date | None = None
    from_bucket: str | None = None
    to_state: str | None = None
    cohort: dt.date | None = None
    mob: int | None = None
    threshold: int | None = None

    @property
    def kind(self) -> str:
        if self.month_end is not None:
            return "roll"
        if self.cohort is not None:
            return "vintage"
        return "quality"


def portfolio_loan_list(
    *, actor: Any, filters: PortfolioFilters, drill: LoanDrill
) -> QuerySet[Loan]:
    """The loans behind one figure of the report, newest disbursement first, annotated with
    ``day`` figures: ``day_bucket`` and ``day_outstanding`` (on the as-of day; at the start
    of the month for a roll rate; at the last month end for a vintage), ``end_state`` (roll
    rates) and ``reached_30_on`` / ``reached_90_on`` (vintages)."""
    filters.clean()
    queryset = scoped_loans(actor=actor, filters=filters).select_related(
        "product", "branch", "borrower"
    )
    if drill.month_end is not None:
        end = drill.month_end
        start = month_start(end) - dt.timedelta(days=1)
        queryset = queryset.filter(on_book(start)).annotate(
            day_bucket=bucket_on(start),
            day_outstanding=outstanding_on(start),
            end_state=end_state_on(end),
        )
        if drill.from_bucket:
            queryset = queryset.filter(day_bucket=drill.from_bucket)
        if drill.to_state:
            queryset = queryset.filter(end_state=drill.to_state)
    elif drill.cohort is not None:
        last = filters.last_month_end
        queryset = queryset.filter(
            disbursed_on__gte=drill.cohort, disbursed_on__lt=add_months(drill.cohort, 1)
        ).annotate(
            day_bucket=bucket_on(last),
            day_outstanding=outstanding_on(last),
            reached_30_on=first_reached(BUCKETS_OVER_30),
            reached_90_on=first_reached(BUCKETS_OVER_90),
        )
        if drill.threshold and drill.mob:
            # Reached by the end of the mob-th month after the disbursement month.
            by = month_end(add_months(drill.cohort, drill.mob))
            field_name = "reached_30_on" if drill.threshold == 30 else "reached_90_on"
            queryset = queryset.filter(**{f"{field_name}__lte": by})
    else:
        day = filters.as_of
        measure = drill.measure or "book"
        if measure == "written_off":
            queryset = queryset.filter(written_off_by(day))
        else:
            queryset = queryset.filter(on_book(day))
        queryset = queryset.annotate(day_bucket=bucket_on(day), day_outstanding=outstanding_on(day))
        if measure == "npl":
            queryset = queryset.filter(
                Q(day_bucket__in=BUCKETS_OVER_90) | Q(status=Loan.Status.DEFAULTED)
            )
        elif measure == "par30":
            queryset = queryset.filter(day_bucket__in=BUCKETS_OVER_30)
        elif measure == "par90":
            queryset = queryset.filter(day_bucket__in=BUCKETS_OVER_90)
    return queryset.order_by("-disbursed_on", "reference")
