"""Business calendars: working days and hours, holidays, adjusted working days, services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from bankcrm.audit.models import AuditEvent
from bankcrm.core.calendar import (
    WorkingCalendar,
    business_add,
    business_hours_between,
    calendar_cache_clear,
    is_working_day,
    working_calendar,
    working_calendar_for_code,
)
from bankcrm.core.models import BusinessCalendar, BusinessCalendarDay
from bankcrm.core.services_calendar import (
    business_calendar_update,
    business_holiday_remove,
    business_holiday_set,
)
from tests.factories import RoleFactory, UserFactory

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


def sh(year, month, day, hour=0, minute=0, second=0):
    """A Shanghai wall-clock time, as the aware instant it is."""
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


# The seeded "CN" pattern, with a few of the 2026 days, built in memory (no database).
CN_LIKE = WorkingCalendar.build(
    code="CN-TEST",
    timezone_name="Asia/Shanghai",
    working_weekdays=[1, 2, 3, 4, 5],
    working_hours=[["09:00", "12:00"], ["13:00", "17:30"]],
    days={
        **{dt.date(2026, 10, day): "holiday" for day in range(1, 8)},
        dt.date(2026, 9, 20): "working_day",
        dt.date(2026, 10, 10): "working_day",
    },
)


# --- Pure functions --------------------------------------------------------------------------


def test_is_working_day_follows_weekdays_holidays_and_adjusted_days():
    assert is_working_day(CN_LIKE, dt.date(2026, 3, 6)) is True  # Friday
    assert is_working_day(CN_LIKE, dt.date(2026, 3, 7)) is False  # Saturday
    assert is_working_day(CN_LIKE, dt.date(2026, 3, 8)) is False  # Sunday
    assert is_working_day(CN_LIKE, dt.date(2026, 10, 1)) is False  # National Day, Thursday
    assert is_working_day(CN_LIKE, dt.date(2026, 10, 10)) is True  # adjusted Saturday
    assert is_working_day(CN_LIKE, dt.date(2026, 9, 20)) is True  # adjusted Sunday
    assert CN_LIKE.hours_per_day == Decimal("7.5")


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (sh(2026, 3, 9, 9), 2, sh(2026, 3, 9, 11)),  # inside the morning
        (sh(2026, 3, 9, 11), 2, sh(2026, 3, 9, 14)),  # across the lunch break
        (sh(2026, 3, 9, 9), 3, sh(2026, 3, 9, 12)),  # ends at a period's end, not after lunch
        (sh(2026, 3, 9, 7), 1, sh(2026, 3, 9, 10)),  # before opening
        (sh(2026, 3, 9, 12, 30), 1, sh(2026, 3, 9, 14)),  # during lunch
        (sh(2026, 3, 9, 20), 1, sh(2026, 3, 10, 10)),  # after closing
        (sh(2026, 3, 7, 10), 1, sh(2026, 3, 9, 10)),  # on a Saturday
        (sh(2026, 3, 6, 16, 30), 2, sh(2026, 3, 9, 10)),  # Friday afternoon over the weekend
        (sh(2026, 3, 9, 9), Decimal("1.25"), sh(2026, 3, 9, 10, 15)),
        (sh(2026, 3, 9, 9), Decimal("7.5"), sh(2026, 3, 9, 17, 30)),
        (sh(2026, 3, 9, 9), Decimal("7.75"), sh(2026, 3, 10, 9, 15)),
        (sh(2026, 3, 7, 10), 0, sh(2026, 3, 7, 10)),  # nothing to add
    ],
)
def test_business_add(start, hours, due):
    result = business_add(CN_LIKE, start, hours)
    assert result == due
    assert result.tzinfo is UTC


def test_holidays_are_skipped():
    # Wednesday 30 September 16:00: 1.5 h that day, 1–7 October off, 6.5 h on 8 October.
    assert business_add(CN_LIKE, sh(2026, 9, 30, 16), 8) == sh(2026, 10, 8, 16, 30)
    assert business_hours_between(CN_LIKE, sh(2026, 9, 30, 9), sh(2026, 10, 9, 9)) == Decimal("15")


def test_an_adjusted_working_saturday_counts():
    # Friday 9 October 17:00: half an hour that day, then Saturday 10 October is worked.
    assert business_add(CN_LIKE, sh(2026, 10, 9, 17), 2) == sh(2026, 10, 10, 10, 30)
    assert business_hours_between(CN_LIKE, sh(2026, 10, 9, 17), sh(2026, 10, 12, 9)) == Decimal("8")
    # An ordinary Saturday does not count.
    assert business_hours_between(CN_LIKE, sh(2026, 10, 16, 17), sh(2026, 10, 19, 9)) == Decimal(
        "0.5"
    )


def test_business_hours_between_across_a_weekend():
    friday, monday = sh(2026, 3, 6, 15), sh(2026, 3, 9, 10)
    assert business_hours_between(CN_LIKE, friday, monday) == Decimal("3.5")
    assert business_hours_between(CN_LIKE, monday, friday) == Decimal("-3.5")
    assert business_hours_between(CN_LIKE, friday, friday) == Decimal("0")
    assert business_hours_between(CN_LIKE, sh(2026, 3, 7, 9), sh(2026, 3, 8, 18)) == Decimal("0")
    assert str(business_hours_between(CN_LIKE, sh(2026, 3, 8, 18), sh(2026, 3, 7, 9))) == "0"
    assert business_hours_between(CN_LIKE, sh(2026, 3, 9, 9), sh(2026, 3, 9, 9, 20)) == (
        Decimal(1) / Decimal(3)
    )


def test_working_hours_are_read_in_the_calendars_zone_whatever_the_input_zone():
    # 07:00 UTC is 15:00 in Shanghai: a Friday afternoon there.
    start_utc = dt.datetime(2026, 3, 6, 7, 0, tzinfo=UTC)
    due = business_add(CN_LIKE, start_utc, 16)
    assert due == dt.datetime(2026, 3, 10, 8, 0, tzinfo=UTC)  # Tuesday 16:00 in Shanghai
    assert due.astimezone(SHANGHAI) == sh(2026, 3, 10, 16)
    london = start_utc.astimezone(ZoneInfo("Europe/London"))
    assert business_add(CN_LIKE, london, 16) == due
    # 02:00 UTC on a Saturday is 10:00 Saturday in Shanghai: nothing is worked before Monday.
    assert business_hours_between(
        CN_LIKE,
        dt.datetime(2026, 3, 7, 2, 0, tzinfo=UTC),
        dt.datetime(2026, 3, 9, 2, 0, tzinfo=UTC),  # Monday 10:00 Shanghai
    ) == Decimal("1")


def test_daylight_saving_days_have_their_true_length():
    always_open = WorkingCalendar.build(
        code="LON",
        timezone_name="Europe/London",
        working_weekdays=[1, 2, 3, 4, 5, 6, 7],
        working_hours=[["00:00", "24:00"]],
    )
    london = ZoneInfo("Europe/London")
    # The clocks go forward on Sunday 29 March 2026: that day has 23 hours.
    assert business_hours_between(
        always_open,
        dt.datetime(2026, 3, 29, tzinfo=london),
        dt.datetime(2026, 3, 30, tzinfo=london),
    ) == Decimal("23")
    start = dt.datetime(2026, 3, 27, 12, tzinfo=UTC)
    assert business_add(always_open, start, 100) == start + dt.timedelta(hours=100)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="naive datetime"):
        business_add(CN_LIKE, dt.datetime(2026, 3, 9, 9), 1)
    with pytest.raises(ValueError, match="naive datetime"):
        business_hours_between(CN_LIKE, sh(2026, 3, 9, 9), dt.datetime(2026, 3, 9, 10))
    with pytest.raises(ValueError, match="cannot be negative"):
        business_add(CN_LIKE, sh(2026, 3, 9, 9), -1)
    with pytest.raises(TypeError):
        business_add(CN_LIKE, sh(2026, 3, 9, 9), 1.5)
    never_open = WorkingCalendar.build(
        code="NONE",
        timezone_name="UTC",
        working_weekdays=[],
        working_hours=[["09:00", "17:00"]],
    )
    with pytest.raises(ValueError, match="calendar NONE has no working time"):
        business_add(never_open, sh(2026, 3, 9, 9), 1)


WORKING_DAYS_2026 = [
    day
    for day in (dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(365))
    if is_working_day(CN_LIKE, day)
]


@st.composite
def moments_in_working_hours(draw):
    day = draw(st.sampled_from(WORKING_DAYS_2026))
    start, end = draw(st.sampled_from(CN_LIKE.periods))
    minute = draw(st.integers(min_value=start, max_value=end - 1))
    second = draw(st.integers(min_value=0, max_value=59))
    local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60, second), tzinfo=SHANGHAI)
    return local.astimezone(UTC)


@settings(max_examples=200, deadline=None)
@given(
    start=moments_in_working_hours(),
    hours=st.decimals(min_value=0, max_value=400, places=2, allow_nan=False),
)
def test_adding_then_counting_gives_the_hours_back(start, hours):
    due = business_add(CN_LIKE, start, hours)
    assert due >= start
    assert business_hours_between(CN_LIKE, start, due) == hours
    if hours:
        # The due time is inside working time: a moment earlier, some hours were still left.
        assert business_hours_between(CN_LIKE, start, due - dt.timedelta(seconds=1)) < hours


# --- The seeded calendar and its loading --------------------------------------------------------


@pytest.fixture
def cn(db):
    return BusinessCalendar.objects.get(code="CN")


def test_the_cn_calendar_is_seeded_with_the_2026_holiday_notice(cn):
    assert (cn.name, cn.timezone, cn.working_weekdays, cn.working_hours) == (
        "China mainland (working days)",
        "Asia/Shanghai",
        [1, 2, 3, 4, 5],
        [["09:00", "12:00"], ["13:00", "17:30"]],
    )
    worked = list(
        cn.days.filter(kind="working_day").order_by("date").values_list("date", flat=True)
    )
    assert worked == [
        dt.date(2026, 1, 4),
        dt.date(2026, 2, 14),
        dt.date(2026, 2, 28),
        dt.date(2026, 5, 9),
        dt.date(2026, 9, 20),
        dt.date(2026, 10, 10),
    ]
    holidays = list(cn.days.filter(kind="holiday").order_by("date").values_list("date", flat=True))
    assert len(holidays) == 33
    assert holidays[:3] == [dt.date(2026, 1, d) for d in (1, 2, 3)]
    assert [d for d in holidays if d.month == 2] == [dt.date(2026, 2, d) for d in range(15, 24)]
    assert [d for d in holidays if d.month == 4] == [dt.date(2026, 4, d) for d in (4, 5, 6)]
    assert [d for d in holidays if d.month == 5] == [dt.date(2026, 5, d) for d in range(1, 6)]
    assert [d for d in holidays if d.month == 6] == [dt.date(2026, 6, d) for d in (19, 20, 21)]
    assert [d for d in holidays if d.month == 9] == [dt.date(2026, 9, d) for d in (25, 26, 27)]
    assert [d for d in holidays if d.month == 10] == [dt.date(2026, 10, d) for d in range(1, 8)]
    assert cn.days.get(date=dt.date(2026, 2, 16)).name == "春节 Spring Festival"
    assert is_working_day(cn, dt.date(2026, 1, 4)) is True  # a Sunday worked
    assert is_working_day(cn, dt.date(2026, 1, 2)) is False  # a Friday off
    assert is_working_day(cn, dt.date(2026, 1, 5)) is True


def test_a_calendar_loads_with_one_query_and_is_cached_per_revision(cn, django_assert_num_queries):
    calendar_cache_clear()
    with django_assert_num_queries(1):
        first = working_calendar(cn)
    with django_assert_num_queries(0):
        assert working_calendar(cn) is first
        assert working_calendar(BusinessCalendar(pk=cn.pk, revision=cn.revision)) is first
    assert len(first.days) == 39
    assert working_calendar_for_code("CN") is first
    with pytest.raises(BusinessCalendar.DoesNotExist):
        working_calendar_for_code("XX")


def test_any_change_of_a_day_gives_a_new_revision(cn):
    old = working_calendar(cn)
    BusinessCalendarDay.objects.create(
        calendar=cn, date=dt.date(2026, 3, 9), kind="holiday", name="Bank holiday"
    )
    fresh = BusinessCalendar.objects.get(pk=cn.pk)
    assert fresh.revision != cn.revision
    assert is_working_day(fresh, dt.date(2026, 3, 9)) is False
    assert is_working_day(old, dt.date(2026, 3, 9)) is True
    BusinessCalendarDay.objects.filter(calendar=cn, date=dt.date(2026, 3, 9)).delete()
    again = BusinessCalendar.objects.get(pk=cn.pk)
    assert again.revision not in {cn.revision, fresh.revision}
    assert is_working_day(again, dt.date(2026, 3, 9)) is True


def test_a_rolled_back_change_is_never_served_from_the_cache(cn):
    class Undo(Exception):
        pass

    with pytest.raises(Undo), transaction.atomic():
        BusinessCalendarDay.objects.create(calendar=cn, date=dt.date(2026, 3, 9), kind="holiday")
        inside = BusinessCalendar.objects.get(pk=cn.pk)
        assert is_working_day(inside, dt.date(2026, 3, 9)) is False
        raise Undo
    after = BusinessCalendar.objects.get(pk=cn.pk)
    assert after.revision == cn.revision
    assert is_working_day(after, dt.date(2026, 3, 9)) is True


# --- Services -------------------------------------------------------------------------------------


@pytest.fixture
def administrator(db):
    return UserFactory(
        username="calendar_admin",
        roles=[RoleFactory(code="calendar_keeper", permissions=["core.change_businesscalendar"])],
    )


@pytest.fixture
def outsider(db):
    return UserFactory(
        username="calendar_outsider",
        roles=[RoleFactory(code="calendar_reader", permissions=["core.view_businesscalendar"])],
    )


def _state(calendar):
    calendar = BusinessCalendar.objects.get(pk=calendar.pk)
    return (
        calendar.name,
        calendar.timezone,
        calendar.working_weekdays,
        calendar.working_hours,
        calendar.revision,
        sorted(calendar.days.values_list("date", "kind", "name")),
    )


def test_setting_changing_and_removing_a_holiday_is_audited(cn, administrator):
    day = business_holiday_set(
        actor=administrator,
        calendar=cn,
        date=dt.date(2026, 12, 24),
        kind="holiday",
        name="Bank anniversary",
        reason="Board decision",
    )
    assert (day.date, day.kind, day.name) == (dt.date(2026, 12, 24), "holiday", "Bank anniversary")
    # The caller's calendar object carries the new revision: the change is seen at once.
    assert is_working_day(cn, dt.date(2026, 12, 24)) is False

    business_holiday_set(
        actor=administrator,
        calendar=cn,
        date=dt.date(2026, 12, 24),
        kind="working_day",
        name="Bank anniversary",
    )
    assert cn.days.get(date=dt.date(2026, 12, 24)).kind == "working_day"
    # The same values again change nothing and record nothing.
    business_holiday_set(
        actor=administrator,
        calendar=cn,
        date=dt.date(2026, 12, 24),
        kind="working_day",
        name="Bank anniversary",
    )
    business_holiday_remove(actor=administrator, calendar=cn, date=dt.date(2026, 12, 24))
    assert not cn.days.filter(date=dt.date(2026, 12, 24)).exists()
    assert is_working_day(cn, dt.date(2026, 12, 24)) is True

    events = list(
        AuditEvent.objects.order_by("pk").values_list(
            "action", "actor", "object_type", "object_repr", "before", "after", "reason"
        )
    )
    assert events == [
        (
            "business_calendar.day_set",
            "calendar_admin",
            "core.businesscalendarday",
            "2026-12-24 holiday Bank anniversary",
            None,
            {
                "calendar": "CN",
                "date": "2026-12-24",
                "kind": "holiday",
                "name": "Bank anniversary",
            },
            "Board decision",
        ),
        (
            "business_calendar.day_set",
            "calendar_admin",
            "core.businesscalendarday",
            "2026-12-24 working day Bank anniversary",
            {"kind": "holiday"},
            {"kind": "working_day"},
            "",
        ),
        (
            "business_calendar.day_remove",
            "calendar_admin",
            "core.businesscalendarday",
            "2026-12-24 working day Bank anniversary",
            {
                "calendar": "CN",
                "date": "2026-12-24",
                "kind": "working_day",
                "name": "Bank anniversary",
            },
            None,
            "",
        ),
    ]


def test_updating_the_working_pattern_is_audited(cn, administrator):
    before = working_calendar(cn)
    business_calendar_update(
        actor=administrator,
        calendar=cn,
        changes={"working_hours": [["09:00", "17:30"]], "name": " China mainland "},
        reason="No lunch break",
    )
    stored = BusinessCalendar.objects.get(pk=cn.pk)
    assert (stored.name, stored.working_hours) == ("China mainland", [["09:00", "17:30"]])
    assert working_calendar(cn) is not before
    assert business_add(cn, sh(2026, 3, 9, 9), Decimal("8.5")) == sh(2026, 3, 9, 17, 30)
    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.reason) == (
        "business_calendar.update",
        "core.businesscalendar",
        "No lunch break",
    )
    assert event.before == {
        "name": "China mainland (working days)",
        "working_hours": [["09:00", "12:00"], ["13:00", "17:30"]],
    }
    assert event.after == {"name": "China mainland", "working_hours": [["09:00", "17:30"]]}


def test_bad_calendar_changes_name_each_field_and_change_nothing(cn, administrator):
    before = _state(cn)
    with pytest.raises(ValidationError) as caught:
        business_calendar_update(
            actor=administrator,
            calendar=cn,
            changes={
                "code": "XX",
                "name": "",
                "timezone": "Mars/Olympus",
                "working_weekdays": [1, 8],
                "working_hours": [["13:00", "17:30"], ["09:00", "12:00"]],
            },
        )
    assert caught.value.message_dict == {
        "code": ["“code” cannot be changed here."],
        "name": ["Give the calendar a name of at most 200 characters."],
        "timezone": ["“Mars/Olympus” is not a known time zone."],
        "working_weekdays": [
            "Give the working weekdays as a list of different numbers from 1 (Monday) to 7 "
            "(Sunday)."
        ],
        "working_hours": [
            "Give the working hours as a list of periods such as [“09:00”, “12:00”], in order "
            "and not overlapping."
        ],
    }
    with pytest.raises(ValidationError) as caught:
        business_holiday_set(
            actor=administrator,
            calendar=cn,
            date=dt.datetime(2026, 12, 24, 9, tzinfo=UTC),
            kind="day_off",
            name="x",
        )
    assert caught.value.message_dict == {
        "date": ["Give a date, without a time."],
        "kind": ["The kind must be “holiday” or “working_day”."],
    }
    with pytest.raises(ValidationError) as caught:
        business_holiday_remove(actor=administrator, calendar=cn, date=dt.date(2026, 3, 9))
    assert caught.value.message_dict == {
        "date": ["2026-03-09 is neither a holiday nor an adjusted working day of this calendar."]
    }
    assert _state(cn) == before
    assert AuditEvent.objects.count() == 0


def test_calendar_services_need_the_change_permission(cn, outsider):
    before = _state(cn)
    with pytest.raises(PermissionDenied, match=r"You may not change business calendars\."):
        business_calendar_update(actor=outsider, calendar=cn, changes={"name": "Mine"})
    with pytest.raises(PermissionDenied):
        business_holiday_set(
            actor=outsider, calendar=cn, date=dt.date(2026, 3, 9), kind="holiday", name="x"
        )
    with pytest.raises(PermissionDenied):
        business_holiday_remove(actor=outsider, calendar=cn, date=dt.date(2026, 10, 1))
    assert _state(cn) == before
    assert AuditEvent.objects.count() == 0
