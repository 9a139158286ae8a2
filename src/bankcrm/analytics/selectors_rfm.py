"""Reading the RFM segmentation (:mod:`bankcrm.analytics.rfm`), scoped to the viewer.

Each read is ONE SQL statement: the customers' figures are summed from the daily activity
table (the ORM compiles that part, with the viewer's scope and the currency conversion),
then scored by window functions and named by the segment table inside the same statement.
Nothing loops over customers in Python.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import (
    Case,
    DecimalField,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_scope_key
from bankcrm.banking.models import FxRate, PartyDailyActivity
from bankcrm.banking.selectors import base_currency
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .rfm import (
    BANK_BOOKED_KINDS,
    DEFAULT_MONTHS,
    MAX_MONTHS,
    RFM_SEGMENTS,
    RfmSegment,
    window_start,
)

AMOUNT = DecimalField(max_digits=24, decimal_places=4)
CENT = Decimal("0.01")
DEFAULT_LIST_LIMIT = 500


@dataclass
class RfmSegmentSummary:
    """One segment's customers: how many and their average figures and scores."""

    code: str
    name: str
    customers: int
    share: float
    avg_recency_days: float | None
    avg_frequency: float | None
    avg_monetary: Decimal | None
    total_monetary: Decimal
    avg_recency_score: float | None
    avg_frequency_score: float | None
    avg_monetary_score: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "customers": self.customers,
            "share": self.share,
            "avg_recency_days": self.avg_recency_days,
            "avg_frequency": self.avg_frequency,
            "avg_monetary": None if self.avg_monetary is None else str(self.avg_monetary),
            "total_monetary": str(self.total_monetary),
            "avg_recency_score": self.avg_recency_score,
            "avg_frequency_score": self.avg_frequency_score,
            "avg_monetary_score": self.avg_monetary_score,
        }


@dataclass
class RfmReport:
    """The RFM segmentation of the customers a viewer may see, with its definitions."""

    as_of: dt.date
    months: int
    window_from: dt.date
    currency: str
    customers: int
    segments: list[RfmSegmentSummary]
    definitions: list[dict[str, Any]]
    currencies_without_rate: list[str] = field(default_factory=list)
    # When the nightly run read was made (None: scored when asked).
    computed_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "months": self.months,
            "window": {"from": self.window_from.isoformat(), "to": self.as_of.isoformat()},
            "currency": self.currency,
            "customers": self.customers,
            "monetary": "debits in the window, sign removed, in the base currency",
            "scoring": "quintile of the middle rank, worst first; ties share a score",
            "left_out": list(BANK_BOOKED_KINDS),
            "segments": [segment.as_dict() for segment in self.segments],
            "definitions": self.definitions,
            "currencies_without_rate": self.currencies_without_rate,
        }


@dataclass
class RfmCustomer:
    """One customer's RFM figures, scores and segment."""

    party_pk: Any
    display_name: str
    last_booking: dt.date
    recency_days: int
    frequency: int
    monetary: Decimal
    recency_score: int
    frequency_score: int
    monetary_score: int
    segment: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "party": str(self.party_pk),
            "name": self.display_name,
            "last_booking": self.last_booking.isoformat(),
            "recency_days": self.recency_days,
            "frequency": self.frequency,
            "monetary": str(self.monetary),
            "scores": [self.recency_score, self.frequency_score, self.monetary_score],
            "segment": self.segment,
        }


def _check_window(as_of: dt.date | None, months: int) -> tuple[dt.date, int]:
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
    return day, months


def _rate_to_base(as_of: dt.date) -> Any:
    """The activity row's currency in the base currency: its latest rate on or before
    ``as_of``, else the earliest rate known; 1 for the base currency itself."""
    rates = FxRate.objects.filter(currency=OuterRef("currency")).order_by()
    before = rates.filter(as_of__lte=as_of).order_by("-as_of").values("rate_to_base")[:1]
    after = rates.order_by("as_of").values("rate_to_base")[:1]
    return Case(
        When(currency=base_currency(), then=Value(Decimal(1))),
        default=Coalesce(Subquery(before), Subquery(after)),
        output_field=AMOUNT,
    )


def _visible_parties(actor: Any) -> QuerySet:
    return Party.objects.visible_to(actor).order_by().values("pk")


def scope_parties(party_scope: str) -> QuerySet:
    """The customers of a stored run's scope: all ("") or those of a unit's subtree."""
    parties = Party.objects.order_by()
    if party_scope:
        parties = parties.filter(owning_unit__path__startswith=party_scope)
    return parties.values("pk")


def party_scope_key(actor: Any) -> str | None:
    """The stored runs' customer scope that equals whom ``actor`` sees: "" for every
    customer, their unit's path for their unit's; None when no run fits (a portfolio)."""
    return actor_scope_key(actor, "customers.view_party")


def _figures(parties: QuerySet, as_of: dt.date, since: dt.date) -> QuerySet:
    """Per customer of ``parties`` who booked on or before ``as_of``: the last booking day,
    and the window's booking count and debits in the base currency."""
    in_window = Q(day__gt=since)
    debit = in_window & Q(direction="debit")
    return (
        PartyDailyActivity.objects.filter(party__in=parties, day__lte=as_of)
        .exclude(kind__in=BANK_BOOKED_KINDS)
        .order_by()
        .values("party_id")
        .annotate(
            last_day=Max("day"),
            frequency=Coalesce(
                Sum(
                    Case(When(in_window, then=F("transaction_count")), output_field=IntegerField())
                ),
                Value(0),
            ),
            monetary=Coalesce(
                Sum(
                    Case(
                        When(debit, then=-F("amount_total") * _rate_to_base(as_of)),
                        output_field=AMOUNT,
                    ),
                    output_field=AMOUNT,
                ),
                Value(Decimal(0)),
                output_field=AMOUNT,
            ),
        )
        .values("party_id", "last_day", "frequency", "monetary")
    )


def _recency_sql() -> str:
    """Days from ``last_day`` to the as-of day (the statement's first parameter)."""
    if connection.vendor == "postgresql":
        return "(CAST(%s AS date) - f.last_day)"
    return "CAST(julianday(%s) - julianday(f.last_day) AS INTEGER)"


def _quintile(column: str) -> str:
    """The 1–5 score of ``column`` by the middle of the ranks its value spans (worst value
    first): ``1 + 5 * (first + last - 2) / (2 * n)`` in integer arithmetic, where ``last`` is
    ``first + ties - 1``."""
    return (
        f"1 + (5 * (2 * RANK() OVER (ORDER BY {column}) "
        f"+ COUNT(*) OVER (PARTITION BY {column}) - 3)) / (2 * COUNT(*) OVER ())"
    )


def _segment_case(segments: Sequence[RfmSegment]) -> tuple[str, list[Any]]:
    """``CASE WHEN <ranges> THEN code … END`` over the scored rows, first row first."""
    whens: list[str] = []
    params: list[Any] = []
    for segment in segments:
        whens.append(
            "WHEN r_score BETWEEN %s AND %s AND f_score BETWEEN %s AND %s "
            "AND m_score BETWEEN %s AND %s THEN %s"
        )
        params += [*segment.recency, *segment.frequency, *segment.monetary, segment.code]
    return f"CASE {' '.join(whens)} END", params


# The columns of a scored customer, in the order the run stores them.
SCORED_COLUMNS = (
    "party_id",
    "last_day",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
)


def scored_statement(parties: QuerySet, as_of: dt.date, months: int) -> tuple[str, list[Any]]:
    """The statement (CTEs, the last named ``scored``) of the figures and R, F, M scores of
    the customers of ``parties``, ranked among themselves, with its parameters."""
    figures_sql, figures_params = _figures(
        parties, as_of, window_start(as_of, months)
    ).query.sql_with_params()
    sql = (
        f"WITH figures AS ({figures_sql}), "  # noqa: S608  # nosec B608
        "measured AS (SELECT f.party_id AS party_id, f.last_day AS last_day, "
        f"{_recency_sql()} AS recency_days, "
        "f.frequency AS frequency, ROUND(f.monetary, 2) AS monetary FROM figures f), "
        "scored AS (SELECT m.*, "
        f"{_quintile('m.last_day')} AS r_score, "
        f"{_quintile('m.frequency')} AS f_score, "
        f"{_quintile('m.monetary')} AS m_score "
        "FROM measured m) "
    )
    return sql, [*figures_params, as_of]


def _stored_run(actor: Any, as_of: dt.date, months: int) -> Any:
    """The latest finished run for ``actor``'s customer scope, day and window, or None."""
    from .models_rfm import RfmRun

    key = party_scope_key(actor)
    if key is None:
        return None
    return (
        RfmRun.objects.filter(
            party_scope=key, as_of=as_of, months=months, finished_at__isnull=False
        )
        .order_by("-finished_at", "-id")
        .first()
    )


def _classified(
    actor: Any, as_of: dt.date, months: int, segments: Sequence[RfmSegment]
) -> tuple[str, list[Any], Any]:
    """The statement (as a CTE named ``classified``) of the figures, scores and segment of
    every customer ``actor`` sees, with its parameters, and the stored run it reads (None:
    scored now). A run of the actor's scope, day and window is read when there is one."""
    case_sql, case_params = _segment_case(segments)
    run = _stored_run(actor, as_of, months)
    if run is None:
        scored_sql, params = scored_statement(_visible_parties(actor), as_of, months)
        sql = f"{scored_sql}, classified AS (SELECT s.*, {case_sql} AS segment FROM scored s) "  # noqa: S608  # nosec B608
        return sql, [*params, *case_params], None
    from .models_rfm import StoredRfmScore

    table = connection.ops.quote_name(StoredRfmScore._meta.db_table)
    visible_sql, visible_params = _visible_parties(actor).query.sql_with_params()
    columns = ", ".join(f"s.{name} AS {name}" for name in SCORED_COLUMNS)
    sql = (
        f"WITH classified AS (SELECT {columns}, {case_sql} AS segment "  # noqa: S608  # nosec B608
        f"FROM {table} s WHERE s.run_id = %s AND s.party_id IN ({visible_sql})) "
    )
    return sql, [*case_params, run.pk, *visible_params], run


def currencies_without_rate(parties: QuerySet, as_of: dt.date, months: int) -> list[str]:
    """Currencies of the window's debits that no exchange rate converts (left out)."""
    since = window_start(as_of, months)
    rated = FxRate.objects.values("currency")
    rows = (
        PartyDailyActivity.objects.filter(
            party__in=parties, day__gt=since, day__lte=as_of, direction="debit"
        )
        .exclude(kind__in=BANK_BOOKED_KINDS)
        .exclude(currency=base_currency())
        .exclude(currency__in=rated)
        .order_by("currency")
        .values_list("currency", flat=True)
        .distinct()
    )
    return list(rows)


def _float(value: Any, digits: int = 2) -> float | None:
    return None if value is None else round(float(value), digits)


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT)


def rfm_report(
    *,
    actor: Any,
    as_of: dt.date | None = None,
    months: int = DEFAULT_MONTHS,
    segments: Sequence[RfmSegment] = RFM_SEGMENTS,
) -> RfmReport:
    """The RFM segmentation of the customers ``actor`` may see as of ``as_of`` (default
    today) over ``months`` months: per segment of ``segments`` (every segment listed, empty
    ones with 0) the customers and their averages, with the segment definitions.
    ValidationError naming ``months`` or ``as_of`` when they are not valid."""
    day, months = _check_window(as_of, months)
    cte, params, run = _classified(actor, day, months, segments)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{cte}SELECT segment, COUNT(*), AVG(recency_days), AVG(frequency), "  # noqa: S608  # nosec B608
            "AVG(monetary), SUM(monetary), AVG(r_score), AVG(f_score), AVG(m_score) "
            "FROM classified GROUP BY segment",
            params,
        )
        rows = {row[0]: row[1:] for row in cursor.fetchall()}
    total = sum(int(row[0]) for row in rows.values())
    summaries = []
    for segment in segments:
        row = rows.get(segment.code)
        count = int(row[0]) if row else 0
        summaries.append(
            RfmSegmentSummary(
                code=segment.code,
                name=str(segment.name),
                customers=count,
                share=round(count / total, 4) if total else 0.0,
                avg_recency_days=_float(row[1]) if row else None,
                avg_frequency=_float(row[2]) if row else None,
                avg_monetary=_money(row[3]) if row else None,
                total_monetary=_money(row[4]) if row else Decimal("0.00"),
                avg_recency_score=_float(row[5]) if row else None,
                avg_frequency_score=_float(row[6]) if row else None,
                avg_monetary_score=_float(row[7]) if row else None,
            )
        )
    return RfmReport(
        as_of=day,
        months=months,
        window_from=window_start(day, months) + dt.timedelta(days=1),
        currency=base_currency(),
        customers=total,
        segments=summaries,
        definitions=[segment.as_dict() for segment in segments],
        currencies_without_rate=(
            currencies_without_rate(_visible_parties(actor), day, months)
            if run is None
            else list(run.currencies_without_rate)
        ),
        computed_at=run.finished_at if run is not None else None,
    )


def _party_key(value: Any) -> str:
    """A party key from the database as Python's UUID text (SQLite keeps 32 hex digits)."""
    import uuid

    return str(uuid.UUID(str(value)))


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def rfm_customer_list(
    *,
    actor: Any,
    as_of: dt.date | None = None,
    months: int = DEFAULT_MONTHS,
    segment: str | None = None,
    segments: Sequence[RfmSegment] = RFM_SEGMENTS,
    limit: int | None = DEFAULT_LIST_LIMIT,
) -> list[RfmCustomer]:
    """The customers behind the report (those of ``segment`` when given), the largest
    monetary first: their figures, scores and segment. At most ``limit`` (None: all).
    ValidationError naming ``segment`` when the table has no such segment."""
    day, months = _check_window(as_of, months)
    codes = [item.code for item in segments]
    if segment is not None and segment not in codes:
        raise ValidationError(
            {
                "segment": [
                    _("Choose one of %(choices)s.") % {"choices": ", ".join(codes)},
                ]
            },
            code="invalid_choice",
        )
    cte, params, _run = _classified(actor, day, months, segments)
    party_table = connection.ops.quote_name(Party._meta.db_table)
    sql = (
        f"{cte}SELECT c.party_id, p.display_name, c.last_day, c.recency_days, "  # noqa: S608  # nosec B608
        "c.frequency, c.monetary, c.r_score, c.f_score, c.m_score, c.segment "
        f"FROM classified c JOIN {party_table} p ON p.id = c.party_id"
    )
    if segment is not None:
        sql += " WHERE c.segment = %s"
        params.append(segment)
    sql += " ORDER BY c.monetary DESC, c.frequency DESC, c.party_id"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        RfmCustomer(
            party_pk=_party_key(row[0]),
            display_name=str(row[1]),
            last_booking=_as_date(row[2]),
            recency_days=int(row[3]),
            frequency=int(row[4]),
            monetary=_money(row[5]),
            recency_score=int(row[6]),
            frequency_score=int(row[7]),
            monetary_score=int(row[8]),
            segment=str(row[9]),
        )
        for row in rows
    ]


def rfm_segment_codes(segments: Iterable[RfmSegment] = RFM_SEGMENTS) -> list[str]:
    """The codes of a segment table, in its order."""
    return [segment.code for segment in segments]
