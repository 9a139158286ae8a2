"""SLA arithmetic of service cases: due times and the state of each clock. Pure computation.

A case has two clocks, **first response** and **resolution**, each with a target in business
minutes copied from its SLA policy when the case opened. Time counts only within the
working hours of the case's business calendar (``ServiceCase.sla_calendar``; without one,
every minute counts). The clock stands still while the case waits on the customer and
after it is resolved; the business minutes it stood still (``sla_paused_minutes``) are added
to the targets, so the dues move later::

    due = received_at + (target + paused minutes) business minutes

While a pause is running (``sla_paused_since`` set) the stored dues are those of a clock
stopped at ``sla_paused_since``; ``services_sla`` folds the pause into
``sla_paused_minutes`` and recomputes the dues when the clock runs again.

Exactness: the business time kernel is :mod:`bankcrm.core.calendar`. For speed (recomputing
100,000 cases, a page of 50 countdowns) this module compiles a calendar into a timeline of
working intervals, in integer microseconds, with the working time accumulated before each
interval; an addition or a difference is then two binary searches. Results are identical,
to the microsecond, to ``business_add`` and ``business_hours_between`` (tests compare them).

Clock states (:class:`SlaClock`): ``none`` (no policy), ``running``, ``warning`` (the
policy's share of the target has elapsed), ``breached`` (past the due; once recorded by the
sweep it stays breached), ``paused``, and once the clock has stopped ``met`` or ``missed``.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from bankcrm.core.calendar import WorkingCalendar, is_working_day, working_calendar
from bankcrm.core.models import BusinessCalendar

if TYPE_CHECKING:
    from .models import ServiceCase

FIRST_RESPONSE = "first_response"
RESOLUTION = "resolution"
CLOCK_KINDS = (FIRST_RESPONSE, RESOLUTION)

# States in which the clock no longer counts: the case is done (reopening resumes it, and
# the time spent resolved counts as paused).
STOP_STATES = frozenset({"resolved", "closed"})

STATE_NONE = "none"
STATE_RUNNING = "running"
STATE_WARNING = "warning"
STATE_BREACHED = "breached"
STATE_MET = "met"
STATE_MISSED = "missed"
STATE_PAUSED = "paused"

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
_ONE_DAY = dt.timedelta(days=1)
US_PER_MINUTE = 60_000_000
_MINUTES_PER_DAY = 1440
# A calendar without any working time for this long cannot serve an SLA (as in the kernel).
_MAX_IDLE_DAYS = 3660
# Days a new timeline covers around the first instant asked for; it grows on demand.
_INITIAL_SPAN_BEFORE = 40
_INITIAL_SPAN_AFTER = 400
_CACHE_SIZE = 32

CalendarArg = BusinessCalendar | WorkingCalendar | None


# --- Compiled timelines ------------------------------------------------------------------


def _to_us(value: dt.datetime) -> int:
    if timezone.is_naive(value):
        raise ValueError("naive datetime: SLA arithmetic needs aware datetimes")
    return (value - _EPOCH) // _ONE_MICROSECOND


def _from_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


def _local_us(calendar: WorkingCalendar, day: dt.date, minute: int) -> int:
    # The same reading of a wall-clock time as bankcrm.core.calendar (fold 0, zoneinfo).
    if minute == _MINUTES_PER_DAY:
        day, minute = day + _ONE_DAY, 0
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=calendar.zone)
    return _to_us(local)


class _Timeline:
    """The working intervals of a calendar over a range of days, with the working time
    accumulated before each interval (microseconds). Immutable once built."""

    __slots__ = (
        "calendar",
        "cum",
        "cum_end",
        "ends",
        "first_day",
        "high",
        "last_day",
        "low",
        "starts",
    )

    def __init__(self, calendar: WorkingCalendar, first_day: dt.date, last_day: dt.date) -> None:
        self.calendar = calendar
        self.first_day = first_day
        self.last_day = last_day
        self.low = _local_us(calendar, first_day, 0)
        self.high = _local_us(calendar, last_day + _ONE_DAY, 0)
        starts: list[int] = []
        ends: list[int] = []
        cum: list[int] = []
        cum_end: list[int] = []
        total = 0
        day = first_day
        while day <= last_day:
            if is_working_day(calendar, day):
                for start, end in calendar.periods:
                    begin, finish = _local_us(calendar, day, start), _local_us(calendar, day, end)
                    if ends and begin < ends[-1]:
                        begin = ends[-1]  # keep the intervals ordered across a clock change
                    if finish > begin:
                        starts.append(begin)
                        ends.append(finish)
                        cum.append(total)
                        total += finish - begin
                        cum_end.append(total)
            day += _ONE_DAY
        self.starts, self.ends, self.cum, self.cum_end = starts, ends, cum, cum_end

    @property
    def total(self) -> int:
        return self.cum_end[-1] if self.cum_end else 0

    def covers(self, instant: int) -> bool:
        return self.low <= instant < self.high

    def position(self, instant: int) -> int:
        """Working microseconds of the timeline before ``instant`` (which it covers)."""
        index = bisect.bisect_right(self.starts, instant) - 1
        if index < 0:
            return 0
        if instant < self.ends[index]:
            return self.cum[index] + instant - self.starts[index]
        return self.cum_end[index]

    def instant(self, position: int) -> int | None:
        """The first instant at which ``position`` (> 0) working microseconds have passed;
        a result at the end of a working period is that end. None beyond the timeline."""
        index = bisect.bisect_left(self.cum_end, position)
        if index >= len(self.cum_end):
            return None
        return self.starts[index] + position - self.cum[index]


_timelines: OrderedDict[int, _Timeline] = OrderedDict()
_timelines_lock = threading.Lock()


def _local_day(calendar: WorkingCalendar, instant: int) -> dt.date:
    return _from_us(instant).astimezone(calendar.zone).date()


def _timeline(calendar: WorkingCalendar, low: int, high: int, extra_days: int = 0) -> _Timeline:
    """A timeline of ``calendar`` covering the instants ``low`` … ``high`` (and ``extra_days``
    more days after ``high``), from the process cache or built (wider) and cached."""
    key = id(calendar)
    with _timelines_lock:
        cached = _timelines.get(key)
    if (
        cached is not None
        and cached.calendar is calendar
        and cached.covers(low)
        and cached.covers(high)
        and (extra_days == 0 or cached.high - high >= extra_days * 86_400_000_000)
    ):
        return cached
    first = _local_day(calendar, low) - dt.timedelta(days=_INITIAL_SPAN_BEFORE)
    last = _local_day(calendar, high) + dt.timedelta(days=_INITIAL_SPAN_AFTER + extra_days)
    if cached is not None and cached.calendar is calendar:
        # Grow to at least twice the old span so that a run over many cases rebuilds rarely.
        span = (cached.last_day - cached.first_day).days
        first = min(first, cached.first_day - dt.timedelta(days=span if low < cached.low else 0))
        last = max(last, cached.last_day + dt.timedelta(days=span if high >= cached.high else 0))
    built = _Timeline(calendar, first, last)
    with _timelines_lock:
        _timelines[key] = built
        _timelines.move_to_end(key)
        while len(_timelines) > _CACHE_SIZE:
            _timelines.popitem(last=False)
    return built


def timeline_cache_clear() -> None:
    """Forget every compiled timeline of this process."""
    with _timelines_lock:
        _timelines.clear()


def compiled_calendar(calendar: CalendarArg) -> WorkingCalendar | None:
    """The compiled calendar (cached per revision by the kernel); None stays None."""
    if calendar is None:
        return None
    return working_calendar(calendar)


def _add_us(calendar: WorkingCalendar | None, start: int, amount: int) -> int:
    """The instant ``amount`` working microseconds after ``start`` (microseconds)."""
    if amount < 0:
        raise ValueError("business time to add cannot be negative")
    if amount == 0:
        return start
    if calendar is None:
        return start + amount
    extra = 0
    while True:
        line = _timeline(calendar, start, start, extra)
        origin = line.position(start)
        result = line.instant(origin + amount)
        if result is not None:
            return result
        ahead = (line.last_day - _local_day(calendar, start)).days
        if line.total == origin and ahead > _MAX_IDLE_DAYS:
            # A calendar without working time for ten years has no due at all.
            raise ValueError(f"calendar {calendar.code} has no working time after {start}")
        extra = 2 * ahead  # not enough working time ahead: look twice as far


def _between_us(calendar: WorkingCalendar | None, start: int, end: int) -> int:
    """Working microseconds from ``start`` to ``end``; negative when ``end`` is earlier."""
    if calendar is None:
        return end - start
    low, high = min(start, end), max(start, end)
    line = _timeline(calendar, low, high)
    return line.position(end) - line.position(start)


# --- Public arithmetic -------------------------------------------------------------------


def business_minutes_add(
    calendar: CalendarArg, start: dt.datetime, minutes: int | Decimal
) -> dt.datetime:
    """The instant ``minutes`` business minutes after ``start`` (as ``business_add``).

    Minutes may be a Decimal; they are counted to the microsecond (half up), as the kernel
    does. Without a calendar every minute counts.
    """
    amount = int((Decimal(minutes) * US_PER_MINUTE).to_integral_value(ROUND_HALF_UP))
    return _from_us(_add_us(compiled_calendar(calendar), _to_us(start), amount))


def business_minutes_between(
    calendar: CalendarArg, start: dt.datetime, end: dt.datetime
) -> Decimal:
    """The business minutes from ``start`` to ``end``, exact; negative when ``end`` is
    earlier (as ``business_hours_between`` × 60)."""
    micro = _between_us(compiled_calendar(calendar), _to_us(start), _to_us(end))
    return Decimal(micro) / Decimal(US_PER_MINUTE)


def paused_minutes_between(calendar: CalendarArg, start: dt.datetime, end: dt.datetime) -> int:
    """Whole business minutes the clock stood still from ``start`` to ``end`` (nearest minute,
    half up; never negative): what a pause adds to the targets."""
    minutes = business_minutes_between(calendar, start, end)
    if minutes <= 0:
        return 0
    return int(minutes.to_integral_value(ROUND_HALF_UP))


def sla_due(
    calendar: CalendarArg, start: dt.datetime, minutes: int, paused_minutes: int
) -> dt.datetime:
    """When a clock started at ``start`` with a target of ``minutes`` business minutes is
    due, after ``paused_minutes`` business minutes of standing still."""
    if minutes < 0 or paused_minutes < 0:
        raise ValueError("SLA minutes cannot be negative")
    return business_minutes_add(calendar, start, minutes + paused_minutes)


def sla_dues(
    calendar: CalendarArg,
    start: dt.datetime,
    first_response_minutes: int | None,
    resolution_minutes: int | None,
    paused_minutes: int,
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Both dues of a case at once (the start is located once): (first response, resolution);
    None for a clock without a target."""
    rules = compiled_calendar(calendar)
    origin = _to_us(start)
    dues: list[dt.datetime | None] = []
    for target in (first_response_minutes, resolution_minutes):
        if target is None:
            dues.append(None)
        else:
            dues.append(_from_us(_add_us(rules, origin, (target + paused_minutes) * US_PER_MINUTE)))
    return dues[0], dues[1]


def sla_dues_microseconds(
    calendar: WorkingCalendar | None,
    start: int,
    first_response_minutes: int | None,
    resolution_minutes: int | None,
    paused_minutes: int,
) -> tuple[int | None, int | None]:
    """:func:`sla_dues` on instants given as microseconds since 1970-01-01 UTC (bulk
    recomputation reads and writes them so, without building datetimes)."""
    first = resolution = None
    if first_response_minutes is not None:
        first = _add_us(calendar, start, (first_response_minutes + paused_minutes) * US_PER_MINUTE)
    if resolution_minutes is not None:
        resolution = _add_us(calendar, start, (resolution_minutes + paused_minutes) * US_PER_MINUTE)
    return first, resolution


def warning_bound(
    calendar: CalendarArg, now: dt.datetime, target: int, warning_percent: int
) -> dt.datetime:
    """The latest due of a clock that has used at least ``warning_percent`` % of its
    ``target`` at ``now``.

    Between the warning moment and the due lie exactly (100 − percent) % of the target in
    business minutes, so a clock is in warning when its due comes no later than that many
    business minutes after ``now``. The sweep filters on this bound in SQL.
    """
    left = Decimal((100 - warning_percent) * target) / Decimal(100)
    return business_minutes_add(calendar, now, left)


# --- Clock states ------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaClock:
    """Where one clock of a case stands at a moment.

    Minutes are business minutes: ``remaining_minutes`` rounded down (negative: late by that
    many), ``elapsed_minutes`` = target − remaining, ``percent`` the whole per cent of the
    target elapsed. While paused ``due_at`` is None (it moves later as long as the pause
    lasts) and the minutes are those at the start of the pause.
    """

    kind: str
    target_minutes: int | None
    elapsed_minutes: int | None
    remaining_minutes: int | None
    due_at: dt.datetime | None
    percent: int | None
    state: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SlaStatus:
    """Both clocks of a case."""

    first_response: SlaClock
    resolution: SlaClock

    def as_dict(self) -> dict[str, Any]:
        """The clocks as plain dicts (datetimes left as datetimes for the API schema)."""
        return {
            FIRST_RESPONSE: self.first_response.as_dict(),
            RESOLUTION: self.resolution.as_dict(),
        }


def case_calendar(case: ServiceCase) -> WorkingCalendar | None:
    """The case's compiled SLA calendar; no query once ``sla_calendar`` is loaded (pages
    ``select_related("sla_calendar")``) and the calendar compiled in this process."""
    calendar = case.sla_calendar if case.sla_calendar_id is not None else None  # type: ignore[attr-defined]
    return working_calendar(calendar) if calendar is not None else None


def _stop_moment(case: ServiceCase, kind: str, now: dt.datetime) -> dt.datetime | None:
    """When the clock stopped, or None while it runs (or is paused)."""
    if kind == FIRST_RESPONSE and case.first_responded_at is not None:
        return case.first_responded_at
    if case.is_open:
        return None
    return case.resolved_at or case.closed_at or case.sla_paused_since or now


def _clock(
    *,
    kind: str,
    target: int | None,
    due: dt.datetime | None,
    breached_at: dt.datetime | None,
    stop: dt.datetime | None,
    paused_since: dt.datetime | None,
    warning_percent: int,
    calendar: WorkingCalendar | None,
    now: dt.datetime,
) -> SlaClock:
    if target is None or due is None:
        return SlaClock(kind, target, None, None, None, None, STATE_NONE)
    reference = stop or paused_since or now
    exact = business_minutes_between(calendar, reference, due)
    remaining = int(exact.to_integral_value(ROUND_FLOOR))
    elapsed = max(target - remaining, 0)
    percent = elapsed * 100 // target if target else 100
    shown_due: dt.datetime | None = due
    if stop is not None:
        state = STATE_MISSED if breached_at is not None or stop > due else STATE_MET
    elif breached_at is not None or reference > due:
        state = STATE_BREACHED
    elif paused_since is not None:
        state, shown_due = STATE_PAUSED, None
    elif exact * 100 <= Decimal((100 - warning_percent) * target):
        state = STATE_WARNING
    else:
        state = STATE_RUNNING
    return SlaClock(kind, target, elapsed, remaining, shown_due, percent, state)


def sla_status(case: ServiceCase, now: dt.datetime | None = None) -> SlaStatus:
    """Both clocks of ``case`` at ``now`` (default: this moment), from the case's fields only.

    No query when ``sla_calendar`` is loaded with the case (``select_related``) and its
    calendar already compiled in this process: a page of 50 cases costs no extra query.
    """
    now = now or timezone.now()
    calendar = case_calendar(case)
    paused_since, percent = case.sla_paused_since, case.sla_warning_percent
    return SlaStatus(
        first_response=_clock(
            kind=FIRST_RESPONSE,
            target=case.first_response_target_minutes,
            due=case.first_response_due_at,
            breached_at=case.first_response_breached_at,
            stop=_stop_moment(case, FIRST_RESPONSE, now),
            paused_since=paused_since,
            warning_percent=percent,
            calendar=calendar,
            now=now,
        ),
        resolution=_clock(
            kind=RESOLUTION,
            target=case.resolution_target_minutes,
            due=case.resolution_due_at,
            breached_at=case.resolution_breached_at,
            stop=_stop_moment(case, RESOLUTION, now),
            paused_since=paused_since,
            warning_percent=percent,
            calendar=calendar,
            now=now,
        ),
    )
