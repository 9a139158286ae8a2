"""Business time: adding and counting working hours on a business calendar.

The functions here are pure: they take a :class:`WorkingCalendar` (a compiled, immutable
copy of a :class:`~bankcrm.core.models.BusinessCalendar` and its days) or the model row
itself, and aware datetimes; they return aware UTC datetimes and exact ``Decimal`` hours.

- :func:`business_add` — the moment ``hours`` working hours after ``start`` (an SLA's due);
- :func:`business_hours_between` — the working hours between two moments;
- :func:`is_working_day` — whether a date of the calendar's zone is worked.

Working hours are read in the calendar's own time zone (a Shanghai office opens at 09:00
Shanghai time whatever the server's zone), while every datetime in and out is an instant,
stored in UTC. A day is worked when the calendar lists it as an adjusted working day, or
when it is a working weekday not listed as a holiday; every worked day has the calendar's
working periods.

Loading: a row's compiled copy is cached in the process, keyed by the row's primary key
and its ``revision``, which changes with every change of the calendar or of one of its
days (in any transaction, committed or not: a rolled-back revision never comes back). A
process therefore reads a calendar's days with one query, once per revision, and sees a
change as soon as it reads the calendar row again.
"""

from __future__ import annotations

import datetime as dt
import threading
import zoneinfo
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType

from django.utils import timezone

from .models.calendar import BusinessCalendar, BusinessCalendarDay, parse_clock

HOLIDAY = BusinessCalendarDay.Kind.HOLIDAY.value
WORKING_DAY = BusinessCalendarDay.Kind.WORKING_DAY.value

_MICROSECONDS_PER_HOUR = 3_600_000_000
_ONE_MICROSECOND = dt.timedelta(microseconds=1)
_ONE_DAY = dt.timedelta(days=1)
_MINUTES_PER_DAY = 1440
# A calendar without any working day for this long cannot serve an SLA: stop searching.
_MAX_IDLE_DAYS = 3660
_CACHE_SIZE = 64


@dataclass(frozen=True, eq=False)
class WorkingCalendar:
    """A business calendar compiled for computing: zone, weekly pattern, dated exceptions."""

    code: str
    zone: zoneinfo.ZoneInfo
    weekdays: frozenset[int]
    # Working periods of a worked day, minutes after midnight; 1440 ends the day.
    periods: tuple[tuple[int, int], ...]
    days: Mapping[dt.date, str] = field(default_factory=lambda: MappingProxyType({}))
    name: str = ""

    @classmethod
    def build(
        cls,
        *,
        code: str,
        timezone_name: str,
        working_weekdays: Iterable[int],
        working_hours: Iterable[Iterable[str]],
        days: Mapping[dt.date, str] | None = None,
        name: str = "",
    ) -> WorkingCalendar:
        """Compile a calendar from its stored values (see ``BusinessCalendar``)."""
        periods = []
        for start, end in working_hours:
            periods.append((parse_clock(start), parse_clock(end)))
        return cls(
            code=code,
            zone=zoneinfo.ZoneInfo(timezone_name),
            weekdays=frozenset(int(day) for day in working_weekdays),
            periods=tuple(sorted(periods)),
            days=MappingProxyType(dict(days or {})),
            name=name,
        )

    @property
    def hours_per_day(self) -> Decimal:
        """Working hours of one worked day."""
        minutes = sum(end - start for start, end in self.periods)
        return Decimal(minutes) / Decimal(60)


CalendarLike = WorkingCalendar | BusinessCalendar

_cache: OrderedDict[tuple[int, str], WorkingCalendar] = OrderedDict()
_cache_lock = threading.Lock()


def working_calendar(calendar: CalendarLike) -> WorkingCalendar:
    """The compiled copy of a calendar row (one query for its days, then cached per revision).

    Read the row itself fresh (or through ``select_related``) to see the latest revision.
    """
    if isinstance(calendar, WorkingCalendar):
        return calendar
    key = (calendar.pk, str(calendar.revision))
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    days = dict(
        BusinessCalendarDay.objects.filter(calendar_id=calendar.pk).values_list("date", "kind")
    )
    compiled = WorkingCalendar.build(
        code=calendar.code,
        timezone_name=calendar.timezone,
        working_weekdays=calendar.working_weekdays,
        working_hours=calendar.working_hours,
        days=days,
        name=calendar.name,
    )
    with _cache_lock:
        _cache[key] = compiled
        _cache.move_to_end(key)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def working_calendar_for_code(code: str) -> WorkingCalendar:
    """The compiled calendar with this code; raises ``BusinessCalendar.DoesNotExist``."""
    return working_calendar(BusinessCalendar.objects.get(code=code))


def calendar_cache_clear() -> None:
    """Forget every compiled calendar of this process (they are reloaded on next use)."""
    with _cache_lock:
        _cache.clear()


def _utc(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        raise ValueError("naive datetime: business time needs aware datetimes")
    return value.astimezone(dt.UTC)


def _local_moment(calendar: WorkingCalendar, day: dt.date, minute: int) -> dt.datetime:
    if minute == _MINUTES_PER_DAY:
        day, minute = day + _ONE_DAY, 0
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60), tzinfo=calendar.zone)
    return local.astimezone(dt.UTC)


def is_working_day(calendar: CalendarLike, date: dt.date) -> bool:
    """Whether ``date`` (a day of the calendar's zone) is worked."""
    rules = working_calendar(calendar)
    kind = rules.days.get(date)
    if kind == HOLIDAY:
        return False
    if kind == WORKING_DAY:
        return True
    return date.isoweekday() in rules.weekdays


def _periods_on(calendar: WorkingCalendar, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
    """The working periods of ``day`` as UTC instants (none on a day off)."""
    if not is_working_day(calendar, day):
        return []
    periods = []
    for start, end in calendar.periods:
        begin, finish = _local_moment(calendar, day, start), _local_moment(calendar, day, end)
        if finish > begin:  # a period lost in a daylight-saving jump has no length
            periods.append((begin, finish))
    return periods


def _to_microseconds(hours: int | Decimal) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int | Decimal):
        raise TypeError("business hours are an int or a Decimal")
    if isinstance(hours, Decimal) and not hours.is_finite():
        raise ValueError("business hours must be finite")
    if hours < 0:
        raise ValueError("business hours cannot be negative")
    return int((Decimal(hours) * _MICROSECONDS_PER_HOUR).to_integral_value(ROUND_HALF_UP))


def business_add(calendar: CalendarLike, start: dt.datetime, hours: int | Decimal) -> dt.datetime:
    """The instant (UTC) at which ``hours`` working hours have passed since ``start``.

    Time outside the working periods does not count: 2 working hours from Friday 16:30 on
    a 09:00–17:30 calendar end on Monday 10:00. A result falling exactly at the end of a
    period is that end (17:30), not the next opening. Zero hours give ``start`` itself.
    """
    rules = working_calendar(calendar)
    moment = _utc(start)
    remaining = _to_microseconds(hours)
    if remaining == 0:
        return moment
    day = moment.astimezone(rules.zone).date()
    idle_days = 0
    while True:
        periods = _periods_on(rules, day)
        if periods:
            idle_days = 0
        else:
            idle_days += 1
            if idle_days > _MAX_IDLE_DAYS:
                raise ValueError(f"calendar {rules.code} has no working time after {day}")
        for begin, finish in periods:
            begin = max(begin, moment)
            if begin >= finish:
                continue
            available = (finish - begin) // _ONE_MICROSECOND
            if remaining <= available:
                return begin + dt.timedelta(microseconds=remaining)
            remaining -= available
        day += _ONE_DAY


def business_hours_between(calendar: CalendarLike, start: dt.datetime, end: dt.datetime) -> Decimal:
    """The working hours between two instants, exact; negative when ``end`` is before
    ``start`` (so "hours left until the due time" turns negative once it has passed)."""
    rules = working_calendar(calendar)
    start, end = _utc(start), _utc(end)
    if end < start:
        backwards = business_hours_between(rules, end, start)
        return -backwards if backwards else Decimal(0)
    total = 0
    day = start.astimezone(rules.zone).date()
    last = end.astimezone(rules.zone).date()
    while day <= last:
        for begin, finish in _periods_on(rules, day):
            low, high = max(begin, start), min(finish, end)
            if high > low:
                total += (high - low) // _ONE_MICROSECOND
        day += _ONE_DAY
    return Decimal(total) / Decimal(_MICROSECONDS_PER_HOUR)
