"""Reading the SLA performance report: how fast the service desk answers and resolves the
cases a viewer may see, and how often it keeps its service levels and the complaints'
statutory deadlines.

For a range of the bank's business days (``date_from`` … ``date_to``, both included) cut
into months or ISO weeks (Monday first), and once more by one dimension of the case (queue,
priority, channel or case type), on the cases the viewer may see
(:func:`bankcrm.support.selectors_cases.case_list`, narrowed by the report's filters):

* **opened**: cases received in the period;
* **closed**: cases resolved, or closed without a resolution, in the period (merged
  duplicates left out); their clock stopped at the resolution, else the closing;
* **first-response time** of the cases first answered in the period, and **resolution time**
  of the cases closed in the period: elapsed (wall-clock) time from receipt, waiting on the
  customer included, as the customer lives it; the **median** and the **90th percentile**,
  interpolated between the two nearest ranks (PostgreSQL's ``percentile_cont``);
* **within SLA**: of those with an SLA target, the share whose clock stopped no later than
  its due and was never flagged breached by the sweep (``bankcrm.support.sla``: the due is
  in business minutes of the case's calendar, paused time added); **breaches**: the clocks
  that missed (first response and resolution each count);
* **open past SLA now**: cases received in the period that are still open with a clock past
  its due (the case list's *SLA breached* filter, to which the figure links);
* **complaints** received in the period (for those who may see complaints): answered on or
  before their statutory deadline, answered late, unanswered past the deadline, unanswered
  within it (the complaints register's rule: the answer date, else the day the case was
  resolved, in the bank's zone).

**At scale.** Every figure is one SQL statement over the cases (no loop per case): counts
are conditional aggregates grouped by the period or the dimension; the percentiles are one
statement per clock and grouping in which ``ROW_NUMBER()`` and ``COUNT(*)`` windows number
each group's durations in order and only the (at most four) rows around the median and the
90th percentile of each group leave the database, so the rows read into Python do not grow
with the cases. Window functions run on SQLite (3.25 and later) and PostgreSQL alike. The
range is at most :data:`MAX_DAYS` days.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Count,
    DateField,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber, Trunc, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.timefmt import bank_today

VIEW_CASES = "support.view_servicecase"
VIEW_COMPLAINTS = "support.view_complaint"
PERIODS = ("month", "week")
GROUPS = ("queue", "priority", "channel", "case_type")
# The longest range the report covers (about three years: 37 months or 157 weeks).
MAX_DAYS = 1100
PERCENTILES = (50, 90)
_US_PER_HOUR = 3_600_000_000
_HUNDREDTH = Decimal("0.01")


# --- Rows ------------------------------------------------------------------------------------


@dataclass
class ServiceLevelRow:
    """The figures of one period or one value of the dimension (see the module docstring).
    Times are hours (two places); ``filters`` are the case list's filters of the row."""

    key: str
    label: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    opened: int = 0
    closed: int = 0
    first_responses: int = 0
    first_response_median: Decimal | None = None
    first_response_p90: Decimal | None = None
    first_response_with_target: int = 0
    first_response_met: int = 0
    resolution_median: Decimal | None = None
    resolution_p90: Decimal | None = None
    resolution_with_target: int = 0
    resolution_met: int = 0
    open_past_sla: int = 0
    filters: dict[str, str] = field(default_factory=dict)

    @property
    def first_response_share(self) -> float | None:
        """Share of the first responses with a target given within it."""
        if not self.first_response_with_target:
            return None
        return self.first_response_met / self.first_response_with_target

    @property
    def resolution_share(self) -> float | None:
        """Share of the closed cases with a target resolved within it."""
        if not self.resolution_with_target:
            return None
        return self.resolution_met / self.resolution_with_target

    @property
    def breaches(self) -> int:
        """Clocks that missed their due (first response and resolution each count)."""
        return (self.first_response_with_target - self.first_response_met) + (
            self.resolution_with_target - self.resolution_met
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "opened": self.opened,
            "closed": self.closed,
            "first_responses": self.first_responses,
            "first_response_median": self.first_response_median,
            "first_response_p90": self.first_response_p90,
            "first_response_with_target": self.first_response_with_target,
            "first_response_met": self.first_response_met,
            "first_response_share": self.first_response_share,
            "resolution_median": self.resolution_median,
            "resolution_p90": self.resolution_p90,
            "resolution_with_target": self.resolution_with_target,
            "resolution_met": self.resolution_met,
            "resolution_share": self.resolution_share,
            "breaches": self.breaches,
            "open_past_sla": self.open_past_sla,
        }


@dataclass
class ComplaintRow:
    """Complaints received in one period or of one regulatory category, by how their
    statutory deadline went."""

    key: str
    label: str
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    received: int = 0
    met: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0

    @property
    def decided(self) -> int:
        """Complaints whose deadline is settled: answered, or unanswered past it."""
        return self.met + self.late + self.overdue

    @property
    def share(self) -> float | None:
        """Share of the settled complaints answered on or before the deadline."""
        return self.met / self.decided if self.decided else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "received": self.received,
            "met": self.met,
            "late": self.late,
            "overdue": self.overdue,
            "pending": self.pending,
            "share": self.share,
        }


@dataclass
class ServiceLevelReport:
    """The SLA performance report of a viewer (see the module docstring)."""

    date_from: dt.date
    date_to: dt.date
    period: str
    group: str
    filters: dict[str, str]
    periods: list[ServiceLevelRow]
    groups: list[ServiceLevelRow]
    total: ServiceLevelRow
    open_past_sla_now: int
    complaints_shown: bool = False
    complaint_periods: list[ComplaintRow] = field(default_factory=list)
    complaint_categories: list[ComplaintRow] = field(default_factory=list)
    complaint_total: ComplaintRow | None = None


# --- Periods ---------------------------------------------------------------------------------


def bank_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=bank_zone())


def period_start(day: dt.date, period: str) -> dt.date:
    """The first day of the month or ISO week (Monday) holding ``day``."""
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(start: dt.date, period: str) -> dt.date:
    if period == "week":
        return start + dt.timedelta(days=7)
    return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_label(start: dt.date, period: str) -> str:
    """``2026-03`` for a month, ``2026-W10`` for an ISO week."""
    if period == "week":
        year, week, _day = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.strftime("%Y-%m")


def periods_between(date_from: dt.date, date_to: dt.date, period: str) -> list[dt.date]:
    """The starts of the periods overlapping ``date_from`` … ``date_to``, oldest first."""
    starts = []
    start = period_start(date_from, period)
    while start <= date_to:
        starts.append(start)
        start = _next_period(start, period)
    return starts


def default_range(period: str, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """Twelve months (or twelve weeks) up to today, the current one included."""
    today = today or bank_today()
    start = period_start(today, period)
    for _step in range(11):
        start = period_start(start - dt.timedelta(days=1), period)
    return start, today


def check_range(date_from: dt.date, date_to: dt.date, period: str, group: str) -> None:
    """ValidationError naming each bad filter."""
    errors: dict[str, list[str]] = {}
    if date_from > date_to:
        errors["date_to"] = [_("The period ends before it starts.")]
    elif (date_to - date_from).days >= MAX_DAYS:
        errors["date_from"] = [
            _("Choose at most %(days)s days; narrow the dates.") % {"days": MAX_DAYS}
        ]
    if period not in PERIODS:
        errors["period"] = [_("Choose months or weeks.")]
    if group not in GROUPS:
        errors["group"] = [_("Choose queue, priority, channel or case type.")]
    if errors:
        raise ValidationError(errors)


# --- Percentiles -----------------------------------------------------------------------------

# The number of ordered durations of a group and those at the ranks read: (size, {rank: µs}).
Ranks = tuple[int, dict[int, int]]


def _hours(microseconds: Fraction | int) -> Decimal:
    value = Decimal(Fraction(microseconds).numerator) / Decimal(Fraction(microseconds).denominator)
    return (value / _US_PER_HOUR).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP)


def _low_rank(size: Any, percent: int) -> Any:
    """The 1-based rank just below the ``percent`` percentile of ``size`` ordered values:
    floor((size − 1) × percent / 100) + 1 (integer division in SQL on both databases)."""
    return (size - 1) * percent / 100 + 1


def percentile(values_by_rank: dict[int, int], size: int, percent: int) -> Fraction | None:
    """The ``percent`` percentile of ``size`` ordered values, interpolated between the two
    nearest ranks (``percentile_cont``), from the values at those ranks (1-based)."""
    if size <= 0:
        return None
    position = Fraction((size - 1) * percent, 100)
    low = int(position)
    below = values_by_rank.get(low + 1)
    if below is None:
        return None
    fraction = position - low
    if not fraction:
        return Fraction(below)
    above = values_by_rank.get(low + 2, below)
    return below + fraction * (above - below)


def _ranked_durations(
    queryset: QuerySet[Any], stop: Any, key: Any, *, overall: bool
) -> tuple[dict[Any, Ranks], Ranks]:
    """The durations (microseconds) at the ranks around each percentile, per group of
    ``key`` (and, with ``overall``, over all groups): {group: (size, {rank: duration})},
    (size, {rank: duration}).

    One statement: the durations are numbered within their group (and overall) by window
    functions, and only the rows at the wanted ranks are read. Each numbering is a sort of
    the durations in the database; the overall one is asked for once per clock."""
    duration = ExpressionWrapper(stop - F("received_at"), output_field=DurationField())
    windows: dict[str, Any] = {
        "position": Window(RowNumber(), partition_by=[F("bucket")], order_by=F("duration").asc()),
        "size": Window(Count("pk"), partition_by=[F("bucket")]),
    }
    if overall:
        windows["position_all"] = Window(RowNumber(), order_by=F("duration").asc())
        windows["size_all"] = Window(Count("pk"))
    ranked = queryset.annotate(bucket=key, duration=duration).annotate(**windows)
    wanted = Q()
    for percent in PERCENTILES:
        low = _low_rank(F("size"), percent)
        wanted |= Q(position=low) | Q(position=low + 1)
        if overall:
            low_all = _low_rank(F("size_all"), percent)
            wanted |= Q(position_all=low_all) | Q(position_all=low_all + 1)
    groups: dict[Any, Ranks] = {}
    total_size, total_values = 0, {}
    one = dt.timedelta(microseconds=1)
    for found in ranked.filter(wanted).order_by().values("duration", *windows, "bucket"):
        value = found["duration"]
        micro = value // one if isinstance(value, dt.timedelta) else int(value)
        _size, ranks = groups.setdefault(found["bucket"], (found["size"], {}))
        ranks[found["position"]] = micro
        if overall:
            total_size = found["size_all"]
            total_values[found["position_all"]] = micro
    return groups, (total_size, total_values)


def _percentiles_of(size: int, values: dict[int, int]) -> tuple[Decimal | None, Decimal | None]:
    result = []
    for percent in PERCENTILES:
        value = percentile(values, size, percent)
        result.append(_hours(value) if value is not None else None)
    return result[0], result[1]


# --- The report ------------------------------------------------------------------------------


def _group_fields(group: str) -> tuple[str, tuple[str, ...]]:
    """The case column a dimension groups by, and the columns naming its values."""
    return {
        "queue": ("queue_id", ("queue__code", "queue__name", "queue__name_zh")),
        "priority": ("priority", ()),
        "channel": ("channel", ()),
        "case_type": ("case_type__code", ("case_type__name", "case_type__name_zh")),
    }[group]


def _is_chinese() -> bool:
    from django.utils import translation

    return (translation.get_language() or "").lower().startswith("zh")


def _group_label(group: str, key: Any, names: dict[str, Any]) -> str:
    if group == "priority":
        from bankcrm.support.models.setup import Priority

        return str(dict(Priority.choices).get(key, key))
    if group == "channel":
        from bankcrm.support.models.setup import Channel

        return str(dict(Channel.choices).get(key, key))
    zh_field = f"{group}__name_zh"
    if _is_chinese() and names.get(zh_field):
        return str(names[zh_field])
    return str(names.get(f"{group}__name") or key)


def _group_list_filter(group: str, key: Any) -> dict[str, str]:
    """The case list's filter selecting one value of the dimension (a queue by its key, a
    case type by its code, a priority or channel by its value)."""
    return {group: str(key)}


def _case_filters(queue: Any, priority: Any, channel: Any, case_type: Any) -> dict[str, Any]:
    values = {"queue": queue, "priority": priority, "channel": channel, "case_type": case_type}
    return {name: value for name, value in values.items() if value not in (None, "")}


def _period_rows(
    date_from: dt.date, date_to: dt.date, period: str, base_filters: dict[str, str]
) -> dict[dt.date, ServiceLevelRow]:
    rows = {}
    for start in periods_between(date_from, date_to, period):
        end = _next_period(start, period) - dt.timedelta(days=1)
        low, high = max(start, date_from), min(end, date_to)
        rows[start] = ServiceLevelRow(
            key=start.isoformat(),
            label=period_label(start, period),
            date_from=low,
            date_to=high,
            filters={
                **base_filters,
                "received_from": low.isoformat(),
                "received_to": high.isoformat(),
            },
        )
    return rows


def _as_day(value: Any) -> dt.date:
    """A truncated period start as a date (drivers return a date or a datetime)."""
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(bank_zone())
        return value.date()
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10])
    return value


@dataclass(frozen=True)
class _CaseSets:
    """The cases each figure counts, as querysets on the viewer's cases (see the module
    docstring), and the conditions of a clock met."""

    received: QuerySet[Any]
    breached: QuerySet[Any]
    answered: QuerySet[Any]
    closed: QuerySet[Any]

    FIRST_TARGET = Q(
        first_response_target_minutes__isnull=False, first_response_due_at__isnull=False
    )
    FIRST_MET = FIRST_TARGET & Q(
        first_response_breached_at__isnull=True,
        first_responded_at__lte=F("first_response_due_at"),
    )
    RESOLUTION_TARGET = Q(resolution_target_minutes__isnull=False, resolution_due_at__isnull=False)
    RESOLUTION_MET = RESOLUTION_TARGET & Q(
        resolution_breached_at__isnull=True, done_at__lte=F("resolution_due_at")
    )


def _fill(
    sets: _CaseSets, key_of: Any, row_of: Any, names: tuple[str, ...] = (), *, overall: bool
) -> tuple[Ranks, Ranks]:
    """Add the figures of ``sets`` to the rows, grouped by ``key_of(column)`` (the group of
    a case by the moment in ``column``); ``row_of(values)`` gives the row of a grouped
    result (None: outside the report). With ``overall``, returns the ranked durations over
    all groups (first response, resolution), from which the total's percentiles come."""

    def grouped(queryset: QuerySet[Any], column: str, **figures: Any) -> Iterable[Any]:
        return (
            queryset.annotate(bucket=key_of(column))
            .values("bucket", *names)
            .annotate(**figures)
            .order_by()
        )

    for values in grouped(sets.received, "received_at", n=Count("pk")):
        row = row_of(values)
        if row is not None:
            row.opened += values["n"]
    for values in grouped(sets.breached, "received_at", n=Count("pk")):
        row = row_of(values)
        if row is not None:
            row.open_past_sla += values["n"]
    for values in grouped(
        sets.answered,
        "first_responded_at",
        n=Count("pk"),
        with_target=Count("pk", filter=_CaseSets.FIRST_TARGET),
        met=Count("pk", filter=_CaseSets.FIRST_MET),
    ):
        row = row_of(values)
        if row is not None:
            row.first_responses += values["n"]
            row.first_response_with_target += values["with_target"]
            row.first_response_met += values["met"]
    for values in grouped(
        sets.closed,
        "done_at",
        n=Count("pk"),
        with_target=Count("pk", filter=_CaseSets.RESOLUTION_TARGET),
        met=Count("pk", filter=_CaseSets.RESOLUTION_MET),
    ):
        row = row_of(values)
        if row is not None:
            row.closed += values["n"]
            row.resolution_with_target += values["with_target"]
            row.resolution_met += values["met"]
    first, first_all = _ranked_durations(
        sets.answered, F("first_responded_at"), key_of("first_responded_at"), overall=overall
    )
    for bucket, (size, ranked) in first.items():
        row = row_of({"bucket": bucket})
        if row is not None:
            row.first_response_median, row.first_response_p90 = _percentiles_of(size, ranked)
    closing, closing_all = _ranked_durations(
        sets.closed, F("done_at"), key_of("done_at"), overall=overall
    )
    for bucket, (size, ranked) in closing.items():
        row = row_of({"bucket": bucket})
        if row is not None:
            row.resolution_median, row.resolution_p90 = _percentiles_of(size, ranked)
    return first_all, closing_all


_ADDED = (
    "opened",
    "closed",
    "first_responses",
    "first_response_with_target",
    "first_response_met",
    "resolution_with_target",
    "resolution_met",
    "open_past_sla",
)


def service_level_report(
    *,
    actor: Any,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    period: str = "month",
    group: str = "queue",
    queue: Any = None,
    priority: Any = None,
    channel: str | None = None,
    case_type: str | None = None,
) -> ServiceLevelReport:
    """The SLA performance of the cases ``actor`` may see (module docstring), received or
    closed from ``date_from`` to ``date_to`` (bank days, both included; default the twelve
    months or weeks up to today), per ``period`` and per ``group``; ``queue`` (key),
    ``priority``, ``channel`` and ``case_type`` (code) narrow the cases. A fixed number of
    statements whatever the cases. PermissionDenied without ``support.view_servicecase``;
    ValidationError naming each bad filter."""
    from bankcrm.support.selectors_cases import case_list

    if not actor_has_perm(actor, VIEW_CASES):
        raise PermissionDenied(_("You may not see service cases."))
    if date_from is None or date_to is None:
        default_from, default_to = default_range(period if period in PERIODS else "month")
        date_from, date_to = date_from or default_from, date_to or default_to
    check_range(date_from, date_to, period, group)
    start, end = _midnight(date_from), _midnight(date_to + dt.timedelta(days=1))
    filters = _case_filters(queue, priority, channel, case_type)
    # The case list's filters validate the values and apply the viewer's scope; its "SLA
    # breached" filter says which open cases are past a clock now.
    base = case_list(actor=actor, filters=filters).select_related(None).order_by()
    breached_now = (
        case_list(actor=actor, filters={**filters, "breached": True})
        .select_related(None)
        .order_by()
    )
    done = Coalesce("resolved_at", "closed_at", output_field=DateTimeField())
    sets = _CaseSets(
        received=base.filter(received_at__gte=start, received_at__lt=end),
        breached=breached_now.filter(received_at__gte=start, received_at__lt=end),
        answered=base.filter(first_responded_at__gte=start, first_responded_at__lt=end),
        closed=base.annotate(done_at=done).filter(
            done_at__gte=start, done_at__lt=end, merged_into__isnull=True
        ),
    )
    shown_filters = {name: str(value) for name, value in filters.items()}
    in_range = {"received_from": date_from.isoformat(), "received_to": date_to.isoformat()}

    # Per period: each figure in the period of its own moment (received, answered, closed).
    zone = bank_zone()
    periods = _period_rows(date_from, date_to, period, shown_filters)

    def period_of(column: str) -> Any:
        return Trunc(column, period, output_field=DateTimeField(), tzinfo=zone)

    def period_row(values: dict[str, Any]) -> ServiceLevelRow | None:
        return periods.get(period_start(_as_day(values["bucket"]), period))

    _fill(sets, period_of, period_row, overall=False)

    # Per value of the dimension, over the whole range; the total adds them up.
    group_field, name_fields = _group_fields(group)
    groups: dict[Any, ServiceLevelRow] = {}

    def group_row(values: dict[str, Any]) -> ServiceLevelRow:
        key = values["bucket"]
        row = groups.get(key)
        if row is None:
            row = groups[key] = ServiceLevelRow(
                key=str(key),
                label=_group_label(group, key, values),
                date_from=date_from,
                date_to=date_to,
                filters={**shown_filters, **_group_list_filter(group, key), **in_range},
            )
        return row

    first_all, closing_all = _fill(
        sets, lambda _column: F(group_field), group_row, name_fields, overall=True
    )
    total = ServiceLevelRow(
        key="total",
        label=_("Total"),
        date_from=date_from,
        date_to=date_to,
        filters={**shown_filters, **in_range},
    )
    for row in groups.values():
        for name in _ADDED:
            setattr(total, name, getattr(total, name) + getattr(row, name))
    total.first_response_median, total.first_response_p90 = _percentiles_of(*first_all)
    total.resolution_median, total.resolution_p90 = _percentiles_of(*closing_all)

    report = ServiceLevelReport(
        date_from=date_from,
        date_to=date_to,
        period=period,
        group=group,
        filters=shown_filters,
        periods=list(periods.values()),
        groups=_ordered_groups(group, groups),
        total=total,
        open_past_sla_now=breached_now.count(),
    )
    if actor_has_perm(actor, VIEW_COMPLAINTS):
        _complaints(report, actor=actor, filters=filters, today=bank_today())
    return report


def _ordered_groups(group: str, groups: dict[Any, ServiceLevelRow]) -> list[ServiceLevelRow]:
    if group == "priority":
        # The most urgent first.
        return [groups[key] for key in sorted(groups, key=lambda k: -int(k))]
    if group == "channel":
        from bankcrm.support.models.setup import Channel

        order = {value: index for index, value in enumerate(Channel.values)}
        return [groups[key] for key in sorted(groups, key=lambda k: (order.get(k, 99), k))]
    return sorted(groups.values(), key=lambda row: row.label)


# --- Complaints ------------------------------------------------------------------------------


def _complaints(
    report: ServiceLevelReport, *, actor: Any, filters: dict[str, Any], today: dt.date
) -> None:
    """Complaints received in the report's range by how their statutory deadline went, per
    period and per regulatory category (two grouped statements)."""
    from bankcrm.support.selectors_complaints import complaint_visible

    queryset = complaint_visible(actor=actor).filter(
        received_on__gte=report.date_from, received_on__lte=report.date_to
    )
    case_fields = {
        "queue": "case__queue_id",
        "priority": "case__priority",
        "channel": "case__channel",
        "case_type": "case__case_type__code",
    }
    for name, value in filters.items():
        queryset = queryset.filter(**{case_fields[name]: value})
    answered_on = Coalesce(
        "answered_on",
        TruncDate("case__resolved_at", tzinfo=bank_zone()),
        output_field=DateField(),
    )
    queryset = queryset.annotate(answered=answered_on).order_by()
    figures = {
        "received": Count("pk"),
        "met": Count("pk", filter=Q(answered__isnull=False, answered__lte=F("deadline"))),
        "late": Count("pk", filter=Q(answered__isnull=False, answered__gt=F("deadline"))),
        "overdue": Count("pk", filter=Q(answered__isnull=True, deadline__lt=today)),
        "pending": Count("pk", filter=Q(answered__isnull=True, deadline__gte=today)),
    }
    period = report.period
    periods: dict[dt.date, ComplaintRow] = {}
    for start in periods_between(report.date_from, report.date_to, period):
        end = _next_period(start, period) - dt.timedelta(days=1)
        periods[start] = ComplaintRow(
            key=start.isoformat(),
            label=period_label(start, period),
            date_from=max(start, report.date_from),
            date_to=min(end, report.date_to),
        )
    by_period = (
        queryset.annotate(bucket=Trunc("received_on", period, output_field=DateField()))
        .values("bucket")
        .annotate(**figures)
    )
    for grouped in by_period:
        found = periods.get(period_start(_as_day(grouped["bucket"]), period))
        if found is not None:
            _add_complaints(found, grouped)
    categories: dict[str, ComplaintRow] = {}
    order: dict[str, tuple[int, str]] = {}
    chinese = _is_chinese()
    for values in queryset.values(
        "category__code", "category__name", "category__name_zh", "category__sort_order"
    ).annotate(**figures):
        code = values["category__code"]
        label = (values["category__name_zh"] if chinese else "") or values["category__name"]
        category = categories.setdefault(
            code,
            ComplaintRow(
                key=code,
                label=str(label or code),
                date_from=report.date_from,
                date_to=report.date_to,
            ),
        )
        _add_complaints(category, values)
        order[code] = (values["category__sort_order"], code)
    total = ComplaintRow(
        key="total", label=_("Total"), date_from=report.date_from, date_to=report.date_to
    )
    for row in periods.values():
        for name in _COMPLAINT_FIGURES:
            setattr(total, name, getattr(total, name) + getattr(row, name))
    report.complaints_shown = True
    report.complaint_periods = list(periods.values())
    report.complaint_categories = [
        categories[code] for code in sorted(order, key=lambda code: order[code])
    ]
    report.complaint_total = total


_COMPLAINT_FIGURES = ("received", "met", "late", "overdue", "pending")


def _add_complaints(target: ComplaintRow, values: Any) -> None:
    for name in _COMPLAINT_FIGURES:
        setattr(target, name, getattr(target, name) + values[name])


__all__ = [
    "GROUPS",
    "MAX_DAYS",
    "PERIODS",
    "ComplaintRow",
    "ServiceLevelReport",
    "ServiceLevelRow",
    "default_range",
    "percentile",
    "period_label",
    "periods_between",
    "service_level_report",
]
