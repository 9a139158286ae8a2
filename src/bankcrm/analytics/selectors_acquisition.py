"""Reading the customer acquisition and attrition report: per calendar month of a window and
per owning unit (branch) and segment, the customers at the start of the month, those who
joined, those who left, the net growth and the attrition rate; and the churn model's view of
the customers who are still with the bank.

Who counts as a customer: every party the viewer may see (``Party.objects.visible_to``)
whose status is active, dormant or closed (prospects have never been customers).

* **Joined** on ``customer_since``, else on the day the earliest account of which the
  customer is the primary holder was opened; with neither, the customer is taken to have joined
  before the window (and is counted among ``joined_without_date``).
* **Left** (status closed) on the day of the audit event that closed them (the latest
  ``customer.update`` of the party whose ``after`` holds ``status: closed``, in the bank's
  zone), else on the latest closing day of their closed accounts (as primary holder); a
  closed customer with
  neither is left out of every figure and counted among ``closed_without_date``. A closing day
  before the joining day counts as the joining day.

All the figures come from one SQL statement over the customers (a fenced derived table of
each customer's unit, segment, joining and closing days, classified into month indices, then
grouped); Python only adds up the few grouped rows. The customer lists
behind each figure read the same classification, so a list always holds what its figure
counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Case,
    CharField,
    Count,
    DateField,
    Func,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Lower, Replace, TruncDate
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_perm_scope, actor_unit_paths
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party
from bankcrm.risk.models import ModelVersion, Score

from .services_churn import churn_model_for_scoring

DEFAULT_MONTHS = 12
MAX_MONTHS = 60
# The customers listed on a page (the exports hold every one).
LIST_LIMIT = 500
# A current customer whose latest churn score gives at least this probability of leaving is
# in a high churn band; the bands above it are shown one by one.
HIGH_CHURN_PROBABILITY = Decimal("0.5")
CHURN_BAND_WIDTH = Decimal("0.1")
# The statuses of a customer (a prospect is not one yet).
CUSTOMER_STATUSES = (Party.Status.ACTIVE, Party.Status.DORMANT, Party.Status.CLOSED)
CURRENT_STATUSES = (Party.Status.ACTIVE, Party.Status.DORMANT)
# The lists behind the figures.
KINDS = ("start", "new", "lost", "end", "churn")
KIND_TITLES = {
    "start": gettext_lazy("Customers at the start of the month"),
    "new": gettext_lazy("New customers"),
    "lost": gettext_lazy("Lost customers"),
    "end": gettext_lazy("Customers at the end of the month"),
    "churn": gettext_lazy("Current customers in the high churn bands"),
}
# Where a lost customer's closing day comes from.
CLOSED_FROM_AUDIT = "audit"
CLOSED_FROM_ACCOUNTS = "accounts"

# Month indices of the classification: before the window, after the as-of day, and a closed
# customer without any closing day.
_BEFORE = -1
_AFTER = 99
_UNDATED = -2


class UUIDText(Func):
    """A UUID column as Python's text of it (``str(uuid)``: lower case, with dashes), the
    form the audit trail's ``object_pk`` and the scores' ``subject_id`` hold: PostgreSQL
    casts its ``uuid``; SQLite stores 32 hex digits, into which the dashes are put back."""

    arity = 1
    template = "CAST(%(expressions)s AS text)"
    output_field = CharField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = compiler.compile(self.source_expressions[0])
        parts = [(1, 8), (9, 4), (13, 4), (17, 4), (21, 12)]
        pieces = " || '-' || ".join(f"substr({sql}, {start}, {size})" for start, size in parts)
        return f"lower({pieces})", list(params) * len(parts)


def _hex_key(expression: Any) -> Any:
    """A key as 32 lower-case hex digits, on SQLite and PostgreSQL alike."""
    return Lower(Replace(expression, Value("-"), Value("")))


# --------------------------------------------------------------------------- results


@dataclass
class Movement:
    """Customers at the start, joined, left and at the end of a period; the net growth and
    the attrition rate (left ÷ at the start; None when none were there at the start)."""

    start: int = 0
    new: int = 0
    lost: int = 0

    @property
    def end(self) -> int:
        return self.start + self.new - self.lost

    @property
    def net(self) -> int:
        return self.new - self.lost

    @property
    def attrition(self) -> float | None:
        return round(self.lost / self.start, 4) if self.start else None

    @property
    def attrition_percent(self) -> str:
        return "—" if self.attrition is None else f"{self.attrition * 100:.1f}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "new": self.new,
            "lost": self.lost,
            "net": self.net,
            "end": self.end,
            "attrition": self.attrition,
        }


@dataclass
class MonthMovement(Movement):
    """One calendar month of the window (the last one ends on the as-of day)."""

    month: dt.date = dt.date.min
    last_day: dt.date = dt.date.min

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")


@dataclass
class GroupMovement(Movement):
    """The window's movement of one unit or one segment."""

    key: str = ""
    label: str = ""


@dataclass
class UnitMonthMovement(Movement):
    """One unit in one month."""

    unit_pk: int = 0
    unit: str = ""
    month: dt.date = dt.date.min

    @property
    def label(self) -> str:
        return self.month.strftime("%Y-%m")


@dataclass
class ChurnBandCount:
    """Current customers whose latest churn probability lies in [low, high)."""

    low: Decimal
    high: Decimal
    customers: int


@dataclass
class ChurnView:
    """The churn model's view of the current customers: how many carry a score, how many
    of them are in the high bands (probability of leaving at least ``threshold``)."""

    model_label: str | None
    scored: int = 0
    high: int = 0
    threshold: Decimal = HIGH_CHURN_PROBABILITY
    bands: list[ChurnBandCount] = field(default_factory=list)

    @property
    def has_model(self) -> bool:
        return self.model_label is not None

    @property
    def high_share(self) -> float | None:
        return round(self.high / self.scored, 4) if self.scored else None

    @property
    def high_share_percent(self) -> str:
        share = self.high_share
        return "—" if share is None else f"{share * 100:.1f}"


@dataclass
class AcquisitionReport:
    """The report: the window, the filters, the movement per month, per unit, per segment
    and per unit and month, the data-quality counts, and the churn view."""

    as_of: dt.date
    months: int
    window_from: dt.date
    unit: OrgUnit | None
    segment: str | None
    total: Movement
    by_month: list[MonthMovement]
    by_unit: list[GroupMovement]
    by_segment: list[GroupMovement]
    by_unit_month: list[UnitMonthMovement]
    joined_without_date: int
    closed_without_date: int
    lost_dated_by_audit: int
    lost_dated_by_accounts: int
    churn: ChurnView

    def parameters(self) -> dict[str, str]:
        """The filters in force, as the page's query string holds them."""
        values = {
            "as_of": self.as_of.isoformat(),
            "months": str(self.months),
            "unit": str(self.unit.pk) if self.unit else "",
            "segment": self.segment or "",
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class AcquisitionCustomer:
    """A customer behind a figure."""

    party_pk: str
    display_name: str
    unit: str
    segment: str
    status: str
    joined_on: dt.date | None
    closed_on: dt.date | None
    closed_from: str
    churn_probability: Decimal | None = None


# --------------------------------------------------------------------------- the window


def month_starts(as_of: dt.date, months: int) -> list[dt.date]:
    """The first days of the ``months`` calendar months ending with ``as_of``'s month."""
    first = as_of.year * 12 + as_of.month - 1 - (months - 1)
    return [dt.date((first + n) // 12, (first + n) % 12 + 1, 1) for n in range(months)]


def _month_last_days(starts: list[dt.date], as_of: dt.date) -> list[dt.date]:
    ends = [start - dt.timedelta(days=1) for start in starts[1:]]
    return [*ends, as_of]


def _check(as_of: dt.date | None, months: int, segment: str | None) -> dt.date:
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValidationError(
            {
                "months": [
                    _("Enter a whole number of months from 1 to %(max)s.") % {"max": MAX_MONTHS}
                ]
            },
            code="invalid",
        )
    day = as_of or bank_today()
    if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
        raise ValidationError({"as_of": [_("Enter a date.")]}, code="invalid")
    if segment and segment not in Party.Segment.values:
        raise ValidationError(
            {"segment": [_("Choose one of %(choices)s.") % {"choices": ", ".join(Party.Segment)}]},
            code="invalid_choice",
        )
    return day


def acquisition_unit(*, actor: Any, pk: Any) -> OrgUnit:
    """The unit a viewer narrows the report to: one within their reach (their unit or a unit
    below it; any unit for a bank-wide viewer). ValidationError naming ``unit`` otherwise."""
    error = ValidationError(
        {"unit": [_("Choose a unit within your reach.")]}, code="invalid_choice"
    )
    try:
        unit = OrgUnit.objects.get(pk=int(pk))
    except (OrgUnit.DoesNotExist, TypeError, ValueError) as exc:
        raise error from exc
    scope = actor_perm_scope(actor, "customers.view_party")
    if scope == Role.DataScope.BANK:
        return unit
    for path in actor_unit_paths(actor):
        if unit.path.startswith(path):
            return unit
    raise error


def acquisition_units(*, actor: Any) -> list[OrgUnit]:
    """The units a viewer may narrow the report to (see :func:`acquisition_unit`), in the
    order of the organisation chart."""
    units = OrgUnit.objects.filter(is_active=True).order_by("path")
    if actor_perm_scope(actor, "customers.view_party") == Role.DataScope.BANK:
        return list(units)
    paths = actor_unit_paths(actor)
    if not paths:
        return []
    reach = Q(pk__in=[])
    for path in paths:
        reach |= Q(path__startswith=path)
    return list(units.filter(reach))


# --------------------------------------------------------------------------- the statement


def _customers(actor: Any, unit: OrgUnit | None, segment: str | None) -> QuerySet[Party]:
    parties = Party.objects.visible_to(actor).order_by()
    if unit is not None:
        parties = parties.filter(owning_unit__path__startswith=unit.path)
    if segment:
        parties = parties.filter(segment=segment)
    return parties


def _lifecycle(parties: QuerySet[Party], *, names: bool = False) -> QuerySet:
    """Per customer: key, unit, segment, status, the joining day and both closing days
    (from the audit trail, from the accounts; read for closed customers only)."""
    # The accounts the customer holds as primary holder, through the (owner, status) index:
    # for the closing day only the closed ones are read.
    accounts = Account.objects.filter(owner=OuterRef("pk")).order_by()
    first_opened = accounts.order_by("opened_on").values("opened_on")[:1]
    last_closed = (
        accounts.filter(status=Account.Status.CLOSED, closed_on__isnull=False)
        .order_by("-closed_on")
        .values("closed_on")[:1]
    )
    closing_events = (
        AuditEvent.objects.filter(
            object_type="customers.party",
            object_pk=UUIDText(OuterRef("pk")),
            action="customer.update",
            after__status=Party.Status.CLOSED,
        )
        .order_by("-id")
        .annotate(day=TruncDate("occurred_at", tzinfo=zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)))
        .values("day")[:1]
    )
    closed = Q(status=Party.Status.CLOSED)
    return (
        parties.filter(status__in=CUSTOMER_STATUSES)
        .annotate(
            joined_on=Coalesce("customer_since", Subquery(first_opened), output_field=DateField()),
            closed_audit=Case(
                When(closed, then=Subquery(closing_events)), default=None, output_field=DateField()
            ),
            closed_accounts=Case(
                When(closed, then=Subquery(last_closed)), default=None, output_field=DateField()
            ),
        )
        .values(
            "pk",
            "owning_unit_id",
            "segment",
            "status",
            "joined_on",
            "closed_audit",
            "closed_accounts",
            *(("display_name", "owning_unit__name") if names else ()),
        )
    )


def _settled(window_from: dt.date) -> Q:
    """Customers who joined before the window (on a known ``customer_since``) and are still
    customers: at the start of every month, never new nor lost. Most customers of a bank,
    they are counted per unit and segment without being classified month by month."""
    return Q(status__in=CURRENT_STATUSES, customer_since__lt=window_from)


def _fence() -> str:
    """A clause that keeps the planner from merging a derived table into the query around
    it (``OFFSET 0``: PostgreSQL does not pull such a subquery up, SQLite does not flatten a
    subquery with an OFFSET): merged, the customers' days and their sub-selects would be
    computed again in every month's ``CASE``; fenced, once per customer and streamed."""
    return " LIMIT -1 OFFSET 0" if connection.vendor == "sqlite" else " OFFSET 0"


def _month_case(column: str, starts: list[dt.date], as_of: dt.date) -> tuple[str, list[Any]]:
    """``CASE`` giving the month index of ``column``: -1 before the window, 0 … n-1 in it,
    99 after the as-of day (NULL stays NULL)."""
    whens = [f"WHEN {column} < %s THEN {_BEFORE}"]
    params: list[Any] = [starts[0]]
    for index, start in enumerate(starts[1:]):
        whens.append(f"WHEN {column} < %s THEN {index}")
        params.append(start)
    whens.append(f"WHEN {column} <= %s THEN {len(starts) - 1}")
    params.append(as_of)
    return f"CASE WHEN {column} IS NULL THEN NULL {' '.join(whens)} ELSE {_AFTER} END", params


def _scored(
    actor: Any,
    as_of: dt.date,
    months: int,
    unit: OrgUnit | None,
    segment: str | None,
    *,
    names: bool = False,
    unsettled_only: bool = False,
) -> tuple[str, list[Any]]:
    """A derived table (to be aliased) of every customer's key, unit, segment, status,
    days, where their closing day comes from, ``jm`` (month index of joining: -1 before the
    window or unknown, 0 … n-1 in it), ``cm`` (of closing: NULL while a customer, -2 closed
    on no known day, -1 before the window, 99 after the as-of day) and ``cme`` (``cm`` moved
    to ``jm`` when earlier); with their name and unit's name when ``names``. Customers who
    joined after the as-of day are left out; the settled ones (:func:`_settled`) too when
    ``unsettled_only``."""
    starts = month_starts(as_of, months)
    parties = _customers(actor, unit, segment)
    if unsettled_only:
        parties = parties.exclude(_settled(starts[0]))
    inner_sql, inner_params = _lifecycle(parties, names=names).query.sql_with_params()
    joined_case, joined_params = _month_case("d.joined_on", starts, as_of)
    closed_case, closed_params = _month_case("d.closed_on", starts, as_of)
    dated = (
        "SELECT l.pk, l.owning_unit_id, l.segment, l.status, l.joined_on, "  # noqa: S608  # nosec B608
        f"{'l.display_name, l.owning_unit__name, ' if names else ''}"
        "COALESCE(l.closed_audit, l.closed_accounts) AS closed_on, "
        f"CASE WHEN l.closed_audit IS NOT NULL THEN '{CLOSED_FROM_AUDIT}' "
        f"WHEN l.closed_accounts IS NOT NULL THEN '{CLOSED_FROM_ACCOUNTS}' "
        f"ELSE '' END AS closed_from FROM ({inner_sql}{_fence()}) l"
    )
    indexed = (
        "SELECT d.*, "  # noqa: S608  # nosec B608
        f"COALESCE({joined_case}, {_BEFORE}) AS jm, "
        f"CASE WHEN d.status <> %s THEN NULL WHEN d.closed_on IS NULL THEN {_UNDATED} "
        f"ELSE {closed_case} END AS cm FROM ({dated}) d"
    )
    sql = (
        "(SELECT i.*, CASE WHEN i.cm IS NULL OR i.cm = "  # noqa: S608  # nosec B608
        f"{_AFTER} THEN i.cm WHEN i.cm < i.jm THEN i.jm ELSE i.cm END AS cme "
        f"FROM ({indexed}) i WHERE i.jm <> {_AFTER})"
    )
    # In the order of their placeholders: the outer CASEs first, the customers last.
    return sql, [*joined_params, Party.Status.CLOSED.value, *closed_params, *inner_params]


# --------------------------------------------------------------------------- the report


def _add(movement: Movement, jm: int, cme: int | None, index: int, count: int) -> None:
    """Count ``count`` customers (joined in month ``jm``, closed in ``cme``) in month
    ``index``'s movement."""
    if jm < index and (cme is None or cme >= index):
        movement.start += count
    if jm == index:
        movement.new += count
    if cme == index:
        movement.lost += count


def acquisition_report(
    *,
    actor: Any,
    as_of: dt.date | None = None,
    months: int = DEFAULT_MONTHS,
    unit: OrgUnit | None = None,
    segment: str | None = None,
) -> AcquisitionReport:
    """Customers gained and lost per month of the ``months`` calendar months ending on
    ``as_of`` (default today), per unit and segment, among the customers ``actor`` may see
    (of ``unit`` and below it, of ``segment``, when given); with the churn view of the
    current customers. ValidationError naming ``months``, ``as_of`` or ``segment``."""
    day = _check(as_of, months, segment)
    starts = month_starts(day, months)
    last_days = _month_last_days(starts, day)
    scored, params = _scored(actor, day, months, unit, segment, unsettled_only=True)
    # One integer per combination of (jm, cme, closing source, unknown joining day, no
    # closing day): decoded below.
    code = (
        f"((s.jm + 1) * 1000 + COALESCE(s.cme, -3) + 3) * 100 "
        f"+ CASE s.closed_from WHEN '{CLOSED_FROM_AUDIT}' THEN 10 "
        f"WHEN '{CLOSED_FROM_ACCOUNTS}' THEN 20 ELSE 0 END "
        "+ CASE WHEN s.joined_on IS NULL THEN 2 ELSE 0 END "
        f"+ CASE WHEN s.cm = {_UNDATED} THEN 1 ELSE 0 END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.owning_unit_id, s.segment, {code}, COUNT(*) FROM {scored} s "  # noqa: S608  # nosec B608
            f"GROUP BY s.owning_unit_id, s.segment, {code}",
            params,
        )
        grouped = list(cursor.fetchall())
    # The settled customers: joined before the window (jm -1), still customers (cme NULL).
    settled_code = (_BEFORE + 1) * 1000 * 100
    grouped += [
        (row["owning_unit_id"], row["segment"], settled_code, row["n"])
        for row in _customers(actor, unit, segment)
        .filter(_settled(starts[0]))
        .values("owning_unit_id", "segment")
        .annotate(n=Count("pk"))
    ]
    by_month = [
        MonthMovement(month=start, last_day=last)
        for start, last in zip(starts, last_days, strict=True)
    ]
    total = Movement()
    units: dict[int, GroupMovement] = {}
    segments: dict[str, GroupMovement] = {}
    unit_months: dict[tuple[int, int], UnitMonthMovement] = {}
    joined_without_date = closed_without_date = lost_by_audit = lost_by_accounts = 0
    sources = {1: CLOSED_FROM_AUDIT, 2: CLOSED_FROM_ACCOUNTS}
    for unit_pk, segment_code, combination, count in grouped:
        months_code, flags = divmod(int(combination), 100)
        jm, cme_code = divmod(months_code, 1000)
        jm, cme, count = jm - 1, (cme_code - 3 if cme_code else None), int(count)
        closed_from = sources.get(flags // 10, "")
        unknown, is_undated = flags % 10 >= 2, flags % 2 == 1
        if is_undated:
            closed_without_date += count
            continue
        if cme == _BEFORE:
            continue  # left before the window: in no figure
        is_lost = cme is not None and 0 <= cme < _AFTER
        unit_line = units.setdefault(unit_pk, GroupMovement(key=str(unit_pk)))
        segment_line = segments.setdefault(segment_code, GroupMovement(key=segment_code))
        for line in (total, unit_line, segment_line):
            if jm < 0:
                line.start += count  # there when the window opened (and not gone before)
            else:
                line.new += count
            if is_lost:
                line.lost += count
        for index, month in enumerate(by_month):
            _add(month, jm, cme, index, count)
            cell = unit_months.get((unit_pk, index))
            if cell is None:
                cell = unit_months[(unit_pk, index)] = UnitMonthMovement(
                    unit_pk=unit_pk, month=starts[index]
                )
            _add(cell, jm, cme, index, count)
        if unknown:
            joined_without_date += count
        if is_lost and closed_from == CLOSED_FROM_AUDIT:
            lost_by_audit += count
        elif is_lost and closed_from == CLOSED_FROM_ACCOUNTS:
            lost_by_accounts += count
    names = dict(OrgUnit.objects.filter(pk__in=list(units)).values_list("pk", "name"))
    segment_names = dict(Party.Segment.choices)
    for unit_pk, line in units.items():
        line.label = names.get(unit_pk, str(unit_pk))
    for code, line in segments.items():
        line.label = str(segment_names.get(code, code))
    for cell in unit_months.values():
        cell.unit = names.get(cell.unit_pk, str(cell.unit_pk))
    segment_order = list(Party.Segment.values)
    return AcquisitionReport(
        as_of=day,
        months=months,
        window_from=starts[0],
        unit=unit,
        segment=segment or None,
        total=total,
        by_month=by_month,
        by_unit=sorted(units.values(), key=lambda line: (line.label, line.key)),
        by_segment=sorted(
            segments.values(),
            key=lambda line: segment_order.index(line.key) if line.key in segment_order else 99,
        ),
        by_unit_month=sorted(
            unit_months.values(), key=lambda cell: (cell.unit, cell.unit_pk, cell.month)
        ),
        joined_without_date=joined_without_date,
        closed_without_date=closed_without_date,
        lost_dated_by_audit=lost_by_audit,
        lost_dated_by_accounts=lost_by_accounts,
        churn=acquisition_churn_view(actor=actor, unit=unit, segment=segment),
    )


# --------------------------------------------------------------------------- churn


def _churn_model() -> ModelVersion | None:
    try:
        return churn_model_for_scoring()
    except ValidationError:
        return None


def _latest_churn_scores(model: ModelVersion, parties: QuerySet[Party]) -> QuerySet[Score]:
    """The latest score of ``model`` of each of ``parties``."""
    keys = parties.annotate(key=_hex_key(Cast("pk", output_field=CharField()))).values("key")
    latest = (
        Score.objects.filter(model_version=model, subject_kind=Score.Subject.PARTY, shadow=False)
        .annotate(key=_hex_key("subject_id"))
        .filter(key__in=keys)
        .order_by()
        .values("subject_id")
        .annotate(last=Max("id"))
    )
    return Score.objects.filter(pk__in=latest.values("last"))


def acquisition_churn_view(
    *, actor: Any, unit: OrgUnit | None = None, segment: str | None = None
) -> ChurnView:
    """How many of the current customers ``actor`` may see (active or dormant; of ``unit``
    and ``segment`` when given) carry a churn score of the scoring churn model, and how many
    of them are in the high bands (latest probability of leaving at least
    :data:`HIGH_CHURN_PROBABILITY`), band by band. One aggregate statement."""
    model = _churn_model()
    if model is None:
        return ChurnView(model_label=None)
    parties = _customers(actor, unit, segment).filter(status__in=CURRENT_STATUSES)
    bounds: list[tuple[Decimal, Decimal]] = []
    low = HIGH_CHURN_PROBABILITY
    while low < 1:
        bounds.append((low, min(low + CHURN_BAND_WIDTH, Decimal(1))))
        low += CHURN_BAND_WIDTH
    counts: dict[str, Any] = {}
    for index, (low, high) in enumerate(bounds):
        band = Q(probability_of_default__gte=low)
        if index < len(bounds) - 1:
            band &= Q(probability_of_default__lt=high)
        counts[f"band_{index}"] = Count("id", filter=band)
    figures = _latest_churn_scores(model, parties).aggregate(
        scored=Count("id"),
        high=Count("id", filter=Q(probability_of_default__gte=HIGH_CHURN_PROBABILITY)),
        **counts,
    )
    return ChurnView(
        model_label=model.label,
        scored=int(figures["scored"] or 0),
        high=int(figures["high"] or 0),
        bands=[
            ChurnBandCount(low=low, high=high, customers=int(figures[f"band_{index}"] or 0))
            for index, (low, high) in enumerate(bounds)
        ],
    )


# --------------------------------------------------------------------------- the lists


def _party_key(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _month_index(month: dt.date | None, starts: list[dt.date]) -> int | None:
    if month is None:
        return None
    first = month.replace(day=1)
    if first not in starts:
        raise ValidationError(
            {
                "month": [
                    _("Choose a month from %(first)s to %(last)s.")
                    % {"first": starts[0].strftime("%Y-%m"), "last": starts[-1].strftime("%Y-%m")}
                ]
            },
            code="invalid",
        )
    return starts.index(first)


def _kind_condition(kind: str, index: int | None, months: int) -> tuple[str, list[Any]]:
    """The WHERE condition (over :func:`_scored`'s table) of the customers behind a figure: in month
    ``index``, or over the whole window when None."""
    if kind == "new":
        if index is None:
            return "c.jm >= 0", []
        return "c.jm = %s", [index]
    if kind == "lost":
        if index is None:
            return f"c.cme >= 0 AND c.cme < {_AFTER}", []
        return "c.cme = %s", [index]
    if kind == "start":
        at = 0 if index is None else index
        return "c.jm < %s AND (c.cme IS NULL OR c.cme >= %s)", [at, at]
    # end of month index (of the window when None): joined by then, not closed by then
    at = months - 1 if index is None else index
    return "c.jm <= %s AND (c.cme IS NULL OR c.cme > %s)", [at, at]


def acquisition_customer_list(
    *,
    actor: Any,
    kind: str,
    month: dt.date | None = None,
    as_of: dt.date | None = None,
    months: int = DEFAULT_MONTHS,
    unit: OrgUnit | None = None,
    segment: str | None = None,
    limit: int | None = LIST_LIMIT,
) -> list[AcquisitionCustomer]:
    """The customers behind one figure of the report, by name: ``kind`` is ``start``,
    ``new``, ``lost`` or ``end`` of ``month`` (a month of the window; the whole window when
    None), or ``churn`` (the current customers in the high churn bands, the likeliest to
    leave first). At most ``limit`` (None: all). ValidationError naming ``kind``, ``month``,
    ``months``, ``as_of`` or ``segment``."""
    if kind not in KINDS:
        raise ValidationError(
            {"kind": [_("Choose one of %(choices)s.") % {"choices": ", ".join(KINDS)}]},
            code="invalid_choice",
        )
    day = _check(as_of, months, segment)
    if kind == "churn":
        return _churn_customers(actor, unit, segment, limit)
    starts = month_starts(day, months)
    index = _month_index(month, starts)
    scored, params = _scored(actor, day, months, unit, segment, names=True)
    condition, condition_params = _kind_condition(kind, index, months)
    sql = (
        "SELECT c.pk, c.display_name, c.owning_unit__name, c.segment, c.status, c.joined_on, "  # noqa: S608  # nosec B608
        "CASE WHEN c.cm IS NULL THEN NULL ELSE c.closed_on END, "
        "CASE WHEN c.cm IS NULL THEN '' ELSE c.closed_from END "
        f"FROM {scored} c WHERE (c.cm IS NULL OR c.cm <> {_UNDATED}) AND {condition} "
        "ORDER BY c.display_name, c.pk"
    )
    params = [*params, *condition_params]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    segment_names = dict(Party.Segment.choices)
    status_names = dict(Party.Status.choices)
    return [
        AcquisitionCustomer(
            party_pk=_party_key(row[0]),
            display_name=str(row[1]),
            unit=str(row[2]),
            segment=str(segment_names.get(row[3], row[3])),
            status=str(status_names.get(row[4], row[4])),
            joined_on=_as_date(row[5]),
            closed_on=_as_date(row[6]),
            closed_from=str(row[7] or ""),
        )
        for row in rows
    ]


def _churn_customers(
    actor: Any, unit: OrgUnit | None, segment: str | None, limit: int | None
) -> list[AcquisitionCustomer]:
    model = _churn_model()
    if model is None:
        return []
    parties = _customers(actor, unit, segment).filter(status__in=CURRENT_STATUSES)
    # The customer's latest score of the model (the scores' subject index, one probe each).
    latest = (
        Score.objects.filter(
            model_version=model,
            subject_kind=Score.Subject.PARTY,
            shadow=False,
            subject_id=UUIDText(OuterRef("pk")),
        )
        .order_by("-id")
        .values("probability_of_default")[:1]
    )
    rows = (
        parties.annotate(probability=Subquery(latest))
        .filter(probability__gte=HIGH_CHURN_PROBABILITY)
        .select_related("owning_unit")
        .order_by("-probability", "display_name", "pk")
    )
    if limit is not None:
        rows = rows[:limit]
    segment_names = dict(Party.Segment.choices)
    status_names = dict(Party.Status.choices)
    return [
        AcquisitionCustomer(
            party_pk=str(party.pk),
            display_name=party.display_name,
            unit=party.owning_unit.name,
            segment=str(segment_names.get(party.segment, party.segment)),
            status=str(status_names.get(party.status, party.status)),
            joined_on=party.customer_since,
            closed_on=None,
            closed_from="",
            churn_probability=party.probability,
        )
        for party in rows
    ]


__all__ = [
    "CLOSED_FROM_ACCOUNTS",
    "CLOSED_FROM_AUDIT",
    "DEFAULT_MONTHS",
    "HIGH_CHURN_PROBABILITY",
    "KINDS",
    "KIND_TITLES",
    "LIST_LIMIT",
    "MAX_MONTHS",
    "AcquisitionCustomer",
    "AcquisitionReport",
    "ChurnView",
    "GroupMovement",
    "MonthMovement",
    "Movement",
    "UnitMonthMovement",
    "acquisition_churn_view",
    "acquisition_customer_list",
    "acquisition_report",
    "acquisition_unit",
    "acquisition_units",
    "month_starts",
]
