"""SLA arithmetic, exact to the minute, on the seeded "CN" calendar.

The CN calendar works Monday to Friday, 09:00–12:00 and 13:00–17:30 Asia/Shanghai: 450
business minutes a day. 2026 dates used below: Friday 13 March, Monday 16 March; National
Day holidays Thursday 1 to Wednesday 7 October, with Saturday 10 October worked (调休).
Every expected value is worked out by hand in the comment above it.
"""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bankcrm.core.calendar import WorkingCalendar, business_add, business_hours_between
from bankcrm.support import sla
from bankcrm.support.services_sla import (
    sla_apply_policy,
    sla_on_state_change,
    sla_policy_for,
    sla_record_first_response,
)
from bankcrm.support.sla import sla_due, sla_status
from tests.support.conftest import shanghai
from tests.support.conftest_sla import make_case, reload


def _cn_rules() -> WorkingCalendar:
    """The CN calendar compiled from the seed migration's own data (no database needed)."""
    seed = importlib.import_module("bankcrm.core.migrations.0005_business_calendar_cn_2026")
    return WorkingCalendar.build(
        code="CN",
        timezone_name=seed.CALENDAR["timezone"],
        working_weekdays=seed.CALENDAR["working_weekdays"],
        working_hours=seed.CALENDAR["working_hours"],
        days={date: kind for date, kind, _name in seed._days()},
    )


CN = _cn_rules()
_instants = st.datetimes(
    min_value=dt.datetime(2025, 12, 1), max_value=dt.datetime(2027, 1, 31)
).map(lambda value: value.replace(tzinfo=dt.UTC))


@settings(max_examples=400, deadline=None)
@given(start=_instants, minutes=st.integers(min_value=0, max_value=30_000))
def test_due_equals_the_kernels_business_add_to_the_microsecond(start, minutes):
    assert sla.business_minutes_add(CN, start, minutes) == business_add(
        CN, start, Decimal(minutes) / 60
    )


@settings(max_examples=400, deadline=None)
@given(start=_instants, end=_instants)
def test_minutes_between_equal_the_kernels_hours_between(start, end):
    ours = sla.business_minutes_between(CN, start, end)
    kernel = business_hours_between(CN, start, end) * 60
    # The kernel's Decimal hours carry 28 digits; ours are exact microseconds / 60,000,000.
    assert abs(ours - kernel) < Decimal("1e-18")


def test_sla_due_counts_working_minutes_and_pauses():
    # Friday 13 March 16:00: 90 minutes left that day (to 17:30); 450 + 0 minutes end
    # Monday 16 March at 16:00 (180 in the morning, 180 from 13:00).
    assert sla_due(CN, shanghai(2026, 3, 13, 16, 0), 450, 0) == shanghai(2026, 3, 16, 16, 0)
    # The same with 30 paused minutes: Monday 16:30.
    assert sla_due(CN, shanghai(2026, 3, 13, 16, 0), 450, 30) == shanghai(2026, 3, 16, 16, 30)
    # Started in the lunch break: counting begins at 13:00; 60 minutes end at 14:00.
    assert sla_due(CN, shanghai(2026, 3, 16, 12, 20), 60, 0) == shanghai(2026, 3, 16, 14, 0)
    # A due at the end of a period is that end, not the next opening: 180 minutes from
    # 09:00 end at 12:00.
    assert sla_due(CN, shanghai(2026, 3, 16, 9, 0), 180, 0) == shanghai(2026, 3, 16, 12, 0)
    # Without a calendar every minute counts.
    assert sla_due(None, shanghai(2026, 3, 13, 16, 0), 450, 30) == shanghai(2026, 3, 14, 0, 0)


def test_night_and_weekend(service_bank):
    # Inquiry, normal priority: 450 minutes to the first response, 1350 to the resolution.
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))
    assert (case.first_response_target_minutes, case.resolution_target_minutes) == (450, 1350)
    assert case.sla_calendar == service_bank.calendar  # the queue's calendar
    # First response: Fri 16:00–17:30 = 90, Mon 09:00–12:00 = 180 (270), 13:00 + 180 = 16:00.
    assert case.first_response_due_at == shanghai(2026, 3, 16, 16, 0)
    # Resolution: Fri 90, Mon 450 (540), Tue 450 (990), Wed 180 (1170) + 180 → Wed 16:00.
    assert case.resolution_due_at == shanghai(2026, 3, 18, 16, 0)


def test_national_day_holiday_and_the_adjusted_saturday(service_bank):
    # Complaint, normal priority: 240 minutes to the first response, 3150 to the resolution,
    # received Wednesday 30 September 15:00, the eve of the National Day week.
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 9, 30, 15, 0),
        case_type="complaint",
        priority=2,
    )
    assert (case.first_response_target_minutes, case.resolution_target_minutes) == (240, 3150)
    # First response: Sep 30 15:00–17:30 = 150; 1–7 October are holidays; Thu 8 October
    # 09:00 + 90 = 10:30.
    assert case.first_response_due_at == shanghai(2026, 10, 8, 10, 30)
    # Resolution: Sep 30 150 (3000 left), Oct 8 450 (2550), Oct 9 450 (2100), Saturday
    # Oct 10 is worked: 450 (1650), Sunday off, Oct 12 (1200), 13 (750), 14 (300),
    # Thu 15: 180 in the morning (120 left), 13:00 + 120 = 15:00.
    assert case.resolution_due_at == shanghai(2026, 10, 15, 15, 0)


def test_a_pause_moves_the_dues_later(service_bank):
    # Inquiry, normal: received Monday 16 March 10:00.
    received = shanghai(2026, 3, 16, 10, 0)
    case = make_case(queue=service_bank.contact_centre, received_at=received, state="new")
    # Without a pause: first response Mon 10–12 (120) + 13–17:30 (270) = 390, +60 → Tue
    # 10:00; resolution 390 + Tue 450 + Wed 450 = 1290, +60 → Thu 19 March 10:00.
    assert case.first_response_due_at == shanghai(2026, 3, 17, 10, 0)
    assert case.resolution_due_at == shanghai(2026, 3, 19, 10, 0)

    assert (
        sla_on_state_change(
            case=case, old_state="new", new_state="in_progress", now=shanghai(2026, 3, 16, 10, 30)
        )
        == []
    )
    changed = sla_on_state_change(
        case=case,
        old_state="in_progress",
        new_state="waiting_on_customer",
        now=shanghai(2026, 3, 16, 11, 0),
    )
    assert changed == ["sla_paused_since"]
    case.state = "waiting_on_customer"
    case.save()

    # While paused the clock stands still at Mon 11:00: 60 minutes used of each target.
    status = sla_status(reload(case), now=shanghai(2026, 3, 18, 9, 0))
    assert status.resolution == sla.SlaClock("resolution", 1350, 60, 1290, None, 4, "paused")
    assert status.first_response == sla.SlaClock("first_response", 450, 60, 390, None, 13, "paused")

    changed = sla_on_state_change(
        case=case,
        old_state="waiting_on_customer",
        new_state="in_progress",
        now=shanghai(2026, 3, 18, 14, 0),
    )
    assert changed == [
        "sla_paused_since",
        "sla_paused_minutes",
        "first_response_due_at",
        "resolution_due_at",
    ]
    # Paused Mon 11:00–12:00 (60) + 13:00–17:30 (270), Tue 450, Wed 09:00–12:00 (180) and
    # 13:00–14:00 (60): 1020 business minutes.
    assert case.sla_paused_minutes == 1020
    assert case.sla_paused_since is None
    # First response: 390 minutes left from Wed 14:00: Wed 14:00–17:30 (210), Thu 09:00 +
    # 180 → Thu 12:00.
    assert case.first_response_due_at == shanghai(2026, 3, 19, 12, 0)
    # Resolution: the old due Thu 10:00 plus 1020: Thu 10–12 (120), 13–17:30 (270), Fri
    # 450 (840), Mon 23 March 09:00 + 180 → 12:00.
    assert case.resolution_due_at == shanghai(2026, 3, 23, 12, 0)


def test_pause_across_the_national_day_holiday(service_bank):
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 9, 30, 15, 0),
        case_type="complaint",
        state="in_progress",
    )
    sla_on_state_change(
        case=case,
        old_state="in_progress",
        new_state="waiting_on_customer",
        now=shanghai(2026, 9, 30, 16, 0),
    )
    sla_on_state_change(
        case=case,
        old_state="waiting_on_customer",
        new_state="in_progress",
        now=shanghai(2026, 10, 9, 10, 0),
    )
    # Paused Sep 30 16:00–17:30 (90), holidays 1–7 October count nothing, Oct 8 (450),
    # Oct 9 09:00–10:00 (60): 600 minutes.
    assert case.sla_paused_minutes == 600
    # First response: 240 − 60 used = 180 left from Fri Oct 9 10:00: 10–12 (120), 13:00 +
    # 60 → 14:00.
    assert case.first_response_due_at == shanghai(2026, 10, 9, 14, 0)
    # Resolution: 3150 + 600 = 3750 from Sep 30 15:00: Sep 30 150, Oct 8, 9, 10 (Saturday
    # worked), 12, 13, 14, 15 and 16 at 450 each = 3750 → Fri Oct 16 17:30.
    assert case.resolution_due_at == shanghai(2026, 10, 16, 17, 30)


def test_clock_states_at_the_warning_and_breach_boundaries(service_bank):
    case = reload(
        make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))
    )
    first = {
        # Saturday noon: only Friday's 90 minutes have passed (20 % of 450).
        shanghai(2026, 3, 14, 12, 0): (90, 360, 20, "running"),
        # Monday lunch break: 90 + 180 = 270 (60 %).
        shanghai(2026, 3, 16, 12, 30): (270, 180, 60, "running"),
        # Monday 14:29: 90 + 180 + 89 = 359, one minute short of 80 % (360).
        shanghai(2026, 3, 16, 14, 29): (359, 91, 79, "running"),
        # Monday 14:30: exactly 360 = 80 %: warning.
        shanghai(2026, 3, 16, 14, 30): (360, 90, 80, "warning"),
        # Monday 16:00, the due itself: nothing left, not yet late.
        shanghai(2026, 3, 16, 16, 0): (450, 0, 100, "warning"),
        # One minute later: breached, late by one minute.
        shanghai(2026, 3, 16, 16, 1): (451, -1, 100, "breached"),
    }
    for now, (elapsed, remaining, percent, state) in first.items():
        clock = sla_status(case, now=now).first_response
        assert (clock.elapsed_minutes, clock.remaining_minutes, clock.percent, clock.state) == (
            elapsed,
            remaining,
            percent,
            state,
        ), now
        assert clock.due_at == shanghai(2026, 3, 16, 16, 0)
    # Half a minute before the due the countdown shows 0 whole minutes left.
    clock = sla_status(case, now=shanghai(2026, 3, 16, 15, 59) + dt.timedelta(seconds=30))
    assert (clock.first_response.remaining_minutes, clock.first_response.state) == (0, "warning")
    # The resolution clock at Monday 16:01: 90 + 180 + 181 = 451 of 1350 (33 %).
    assert sla_status(case, now=shanghai(2026, 3, 16, 16, 1)).resolution == sla.SlaClock(
        "resolution", 1350, 451, 899, shanghai(2026, 3, 18, 16, 0), 33, "running"
    )


def test_first_response_met_and_missed(service_bank):
    on_time = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16))
    # Answered Monday 15:00: 90 + 180 + 120 = 390 of 450 used, 60 to spare.
    assert sla_record_first_response(case=on_time, now=shanghai(2026, 3, 16, 15, 0)) == [
        "first_responded_at"
    ]
    assert sla_record_first_response(case=on_time, now=shanghai(2026, 3, 16, 15, 30)) == []
    assert on_time.first_responded_at == shanghai(2026, 3, 16, 15, 0)
    clock = sla_status(on_time, now=shanghai(2026, 3, 20, 9, 0)).first_response
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.state) == (390, 60, "met")

    late = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16))
    # Answered Tuesday 09:30: due Monday 16:00, late by Mon 16:00–17:30 (90) + 30 = 120.
    sla_record_first_response(case=late, now=shanghai(2026, 3, 17, 9, 30))
    clock = sla_status(late, now=shanghai(2026, 3, 20, 9, 0)).first_response
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.state) == (570, -120, "missed")


def test_a_response_given_while_paused_counts_at_the_start_of_the_pause(service_bank):
    # Received Monday 16 March 09:00: first response due Mon 17:30 (450), resolution Wed
    # 17:30 (1350 = three full days).
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 3, 16, 9, 0),
        state="in_progress",
    )
    assert case.first_response_due_at == shanghai(2026, 3, 16, 17, 30)
    # Waiting on the customer from Mon 10:00 (60 minutes used).
    sla_on_state_change(
        case=case,
        old_state="in_progress",
        new_state="waiting_on_customer",
        now=shanghai(2026, 3, 16, 10, 0),
    )
    # A reply recorded at Mon 16:00, during the pause: the pause so far (10–12 = 120,
    # 13–16 = 180: 300) is folded in, the first-response due becomes 450 + 300 = 750 from
    # Mon 09:00: Mon 450, Tue 09–12 (180) + 120 → Tue 15:00, and the pause goes on.
    changed = sla_record_first_response(case=case, now=shanghai(2026, 3, 16, 16, 0))
    assert set(changed) == {
        "sla_paused_since",
        "sla_paused_minutes",
        "first_response_due_at",
        "resolution_due_at",
        "first_responded_at",
    }
    assert case.sla_paused_minutes == 300
    assert case.sla_paused_since == shanghai(2026, 3, 16, 16, 0)
    assert case.first_response_due_at == shanghai(2026, 3, 17, 15, 0)
    clock = sla_status(case, now=shanghai(2026, 3, 18, 9, 0)).first_response
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.percent, clock.state) == (
        60,
        390,
        13,
        "met",
    )
    # The customer answers Tue 10:00: Mon 16:00–17:30 (90) + Tue 09–10 (60) more paused
    # (450 in all); the answered clock's due stays, the resolution moves to 1350 + 450 =
    # 1800 from Mon 09:00, four full days: Thu 19 March 17:30.
    sla_on_state_change(
        case=case,
        old_state="waiting_on_customer",
        new_state="in_progress",
        now=shanghai(2026, 3, 17, 10, 0),
    )
    assert case.sla_paused_minutes == 450
    assert case.first_response_due_at == shanghai(2026, 3, 17, 15, 0)
    assert case.resolution_due_at == shanghai(2026, 3, 19, 17, 30)


def test_resolved_then_reopened_counts_the_resolved_time_as_paused(service_bank):
    # Received Monday 16 March 09:00; resolution due Wed 17:30 (1350).
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 3, 16, 9, 0),
        state="in_progress",
    )
    resolved = shanghai(2026, 3, 17, 10, 0)
    changed = sla_on_state_change(
        case=case, old_state="in_progress", new_state="resolved", now=resolved
    )
    # Never answered: the resolution is the first response; the clock stands still.
    assert changed == ["sla_paused_since", "first_responded_at"]
    case.state, case.is_open, case.resolved_at = "resolved", False, resolved
    # Resolved Tue 10:00: Mon 450 + Tue 60 = 510 used of 1350, 840 to spare.
    clock = sla_status(case, now=shanghai(2026, 3, 30, 9, 0)).resolution
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.state) == (510, 840, "met")
    # Closing changes nothing.
    assert (
        sla_on_state_change(
            case=case, old_state="resolved", new_state="closed", now=shanghai(2026, 3, 18, 9)
        )
        == []
    )

    reopened = shanghai(2026, 3, 19, 15, 0)
    changed = sla_on_state_change(
        case=case, old_state="closed", new_state="in_progress", now=reopened
    )
    assert changed == ["sla_paused_since", "sla_paused_minutes", "resolution_due_at"]
    case.state, case.is_open, case.resolved_at = "in_progress", True, None
    # Resolved from Tue 10:00 to Thu 15:00: Tue 120 + 270, Wed 450, Thu 180 + 120 = 1140.
    assert case.sla_paused_minutes == 1140
    # 840 left from Thu 15:00: Thu 150, Fri 450 (600), Mon 23 March 09–12 (780) + 60 →
    # 14:00.
    assert case.resolution_due_at == shanghai(2026, 3, 23, 14, 0)
    clock = sla_status(case, now=reopened).resolution
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.state) == (510, 840, "running")


def test_resolving_while_waiting_on_the_customer_stops_the_clock_at_the_pause(service_bank):
    case = make_case(
        queue=service_bank.contact_centre,
        received_at=shanghai(2026, 3, 16, 9, 0),
        state="in_progress",
    )
    sla_record_first_response(case=case, now=shanghai(2026, 3, 16, 9, 30))
    sla_on_state_change(
        case=case,
        old_state="in_progress",
        new_state="waiting_on_customer",
        now=shanghai(2026, 3, 16, 10, 0),
    )
    resolved = shanghai(2026, 3, 18, 10, 0)
    sla_on_state_change(
        case=case, old_state="waiting_on_customer", new_state="resolved", now=resolved
    )
    case.state, case.is_open, case.resolved_at = "resolved", False, resolved
    # Waiting Mon 10:00 → Wed 10:00 (Mon 390, Tue 450, Wed 60: 900) does not count: the
    # resolution used only Mon 09:00–10:00.
    assert case.sla_paused_minutes == 900
    assert case.sla_paused_since == resolved
    clock = sla_status(case, now=shanghai(2026, 3, 30, 9, 0)).resolution
    assert (clock.elapsed_minutes, clock.remaining_minutes, clock.state) == (60, 1290, "met")


def test_policy_choice_private_segment_and_no_policy(service_bank):
    customer = service_bank.customer_a
    customer.segment = "private"
    customer.save(update_fields=["segment"])
    case = make_case(
        queue=service_bank.queue_a,
        received_at=shanghai(2026, 3, 16, 9, 0),
        party=customer,
        case_type="complaint",
        priority=4,
    )
    # Complaint, urgent, private banking: 60 / 480 (every segment: 120 / 960).
    assert case.sla_policy.segment == "private"
    assert (case.first_response_target_minutes, case.resolution_target_minutes) == (60, 480)
    assert case.first_response_due_at == shanghai(2026, 3, 16, 10, 0)
    # 480: Mon 450, Tue 09:00 + 30.
    assert case.resolution_due_at == shanghai(2026, 3, 17, 9, 30)
    general = sla_policy_for(case_type=case.case_type, priority=4, segment="mass")
    assert (general.segment, general.first_response_minutes, general.resolution_minutes) == (
        "",
        120,
        960,
    )

    case.sla_policy.is_active = False
    case.sla_policy.save()
    general.is_active = False
    general.save()
    sla_apply_policy(case=case, now=shanghai(2026, 3, 16, 9, 0))
    assert case.sla_policy is None
    assert (case.resolution_target_minutes, case.resolution_due_at) == (None, None)
    assert sla_status(case).resolution.state == "none"


def test_status_of_a_page_of_cases_needs_no_query(service_bank, django_assert_num_queries):
    for day in range(16, 21):
        make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, day, 10, 0))
    from bankcrm.support.models import ServiceCase

    cases = list(ServiceCase.objects.select_related("sla_calendar"))
    sla_status(cases[0], now=shanghai(2026, 3, 20, 11, 0))  # compiles the calendar once
    with django_assert_num_queries(0):
        states = [
            sla_status(case, now=shanghai(2026, 3, 20, 11, 0)).first_response.state
            for case in cases
        ]
    # Received 10:00 each day; at Fri 20 March 11:00 the cases of Mon–Thu are past their
    # 450 minutes (due the next day 10:00), Friday's has used 60.
    assert sorted(states) == ["breached"] * 4 + ["running"]


def test_as_dict_for_the_api(service_bank):
    case = make_case(queue=service_bank.contact_centre, received_at=shanghai(2026, 3, 13, 16, 0))
    data = sla_status(case, now=shanghai(2026, 3, 16, 14, 30)).as_dict()
    assert data["first_response"] == {
        "kind": "first_response",
        "target_minutes": 450,
        "elapsed_minutes": 360,
        "remaining_minutes": 90,
        "due_at": shanghai(2026, 3, 16, 16, 0),
        "percent": 80,
        "state": "warning",
    }
    assert data["resolution"]["state"] == "running"
