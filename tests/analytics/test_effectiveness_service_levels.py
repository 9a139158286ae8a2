"""The SLA performance report against figures worked out by hand.

Cases (received at 10:00 Shanghai time, no business calendar: every minute counts; the SLA
targets are set on the case and the dues are receipt + target; FR = first response):

| case | queue | received | FR | closed | FR target | res. target |
|---|---|---|---|---|---|---|
| A1 | branch A desk | 1 Sep | +1 h | resolved +4 h | 2 h | 8 h |
| A2 | branch A desk | 2 Sep | +2 h | resolved +10 h | 2 h | 8 h |
| A3 | branch A desk | 3 Sep | +4 h | resolved +6 h, flagged breached | 2 h | 8 h |
| A4 | branch A desk | 4 Sep | +10 h | open | — | — |
| A5 | branch A desk | 5 Oct | — | open (past both dues) | 2 h | 8 h |
| A6 | branch A desk | 6 Oct | +3 h | closed unresolved +20 h | 4 h | 24 h |
| A7 | branch A desk | 30 Sep | +2 h | resolved +48 h (2 Oct) | 2 h | 72 h |
| C1 | contact centre (HO) | 10 Sep | +0.5 h | resolved +30 h | 1 h | 24 h |
| C2 | contact centre (HO) | 11 Sep | — | merged into C1 +1 h | — | — |
| B1 | branch B desk | 15 Sep | +1 h | resolved +2 h | 2 h | 8 h |

A2's first response comes on its due (met); A3's resolution was flagged breached by the
sweep (missed, though resolved before the stored due); C1 is high priority, by e-mail; C2 is
a duplicate (opened, never counted as closed).

First responses in September: 0.5, 1, 1, 2, 2, 4, 10 h → median 2 h; the 90th percentile
lies at rank 1 + 0.9 × 6 = 6.4: 4 + 0.4 × (10 − 4) = 6.4 h; 5 of 6 with a target met.
Closed in September (A1, A2, A3, C1, B1): 2, 4, 6, 10, 30 h → median 6 h, p90 at rank 4.6:
10 + 0.6 × 20 = 22 h; 2 of 5 within SLA. October: A6 20 h, A7 48 h → median 34 h, p90
20 + 0.9 × 28 = 45.2 h; 2 of 2. Whole range: first responses 0.5, 1, 1, 2, 2, 3, 4, 10 →
median 2, p90 at rank 7.3: 4 + 0.3 × 6 = 5.8 h; closed 2, 4, 6, 10, 20, 30, 48 → median 10,
p90 at rank 6.4: 30 + 0.4 × 18 = 37.2 h.

Complaints (the register's rule: the answer date, else the day the case was resolved):
K1 (A1, credit cards) answered 10 Sep, deadline 16 Sep: met; K2 (A2, credit cards)
unanswered but its case resolved 2 Sep, deadline 17 Sep: met; K3 (A3, savings) answered
8 Sep, deadline 5 Sep: late; K4 (A5, savings, 5 Oct) unanswered, deadline 20 Oct: overdue;
K5 (A4, credit cards) unanswered, deadline in 2099: pending; K6 (B1, credit cards) answered
20 Sep, deadline 30 Sep: met.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.analytics.selectors_service_levels import (
    percentile,
    period_label,
    periods_between,
    service_level_report,
)
from bankcrm.support.models import (
    Complaint,
    ComplaintCode,
    ComplaintDeadlineRule,
    ServiceCase,
)
from tests.support.conftest import ServiceBank, service_bank, shanghai  # noqa: F401
from tests.support.conftest_sla import make_case

pytestmark = pytest.mark.django_db

SEP_1, OCT_31 = dt.date(2026, 9, 1), dt.date(2026, 10, 31)
RANGE = {"date_from": SEP_1, "date_to": OCT_31}


def _case(
    queue,
    received: dt.datetime,
    *,
    first: float | None = None,
    done: float | None = None,
    first_target: int | None = None,
    resolution_target: int | None = None,
    closed_only: bool = False,
    priority: int = 2,
    channel: str = "phone",
    resolution_breached: bool = False,
    merged_into: ServiceCase | None = None,
) -> ServiceCase:
    case = make_case(queue=queue, received_at=received, priority=priority, apply_policy=False)
    case.channel = channel
    if first_target is not None:
        case.first_response_target_minutes = first_target
        case.first_response_due_at = received + dt.timedelta(minutes=first_target)
    if resolution_target is not None:
        case.resolution_target_minutes = resolution_target
        case.resolution_due_at = received + dt.timedelta(minutes=resolution_target)
    if first is not None:
        case.first_responded_at = received + dt.timedelta(hours=first)
    if done is not None:
        moment = received + dt.timedelta(hours=done)
        case.is_open = False
        case.state = "closed" if closed_only or merged_into else "resolved"
        if closed_only or merged_into:
            case.closed_at = moment
        else:
            case.resolved_at = moment
        case.merged_into = merged_into
        if resolution_breached:
            case.resolution_breached_at = case.resolution_due_at
    case.save()
    return case


def _complaint(case, category, received_on, deadline, answered_on=None) -> Complaint:
    return Complaint.objects.create(
        case=case,
        category=ComplaintCode.objects.get(kind="category", code=category),
        product=ComplaintCode.objects.get(kind="product", code="credit_card"),
        received_on=received_on,
        deadline_rule=ComplaintDeadlineRule.objects.get(is_default=True),
        deadline=deadline,
        answered_on=answered_on,
    )


@pytest.fixture
def desk(service_bank):  # noqa: F811
    sb = service_bank
    qa, cc, qb = sb.queue_a, sb.contact_centre, sb.queue_b
    cases = {
        "A1": _case(qa, shanghai(2026, 9, 1, 10), first=1, done=4, first_target=120,
                    resolution_target=480),
        "A2": _case(qa, shanghai(2026, 9, 2, 10), first=2, done=10, first_target=120,
                    resolution_target=480),
        "A3": _case(qa, shanghai(2026, 9, 3, 10), first=4, done=6, first_target=120,
                    resolution_target=480, resolution_breached=True),
        "A4": _case(qa, shanghai(2026, 9, 4, 10), first=10),
        "A5": _case(qa, shanghai(2026, 10, 5, 10), first_target=120, resolution_target=480),
        "A6": _case(qa, shanghai(2026, 10, 6, 10), first=3, done=20, first_target=240,
                    resolution_target=1440, closed_only=True),
        "A7": _case(qa, shanghai(2026, 9, 30, 10), first=2, done=48, first_target=120,
                    resolution_target=4320),
        "C1": _case(cc, shanghai(2026, 9, 10, 10), first=0.5, done=30, first_target=60,
                    resolution_target=1440, priority=3, channel="email"),
        "B1": _case(qb, shanghai(2026, 9, 15, 10), first=1, done=2, first_target=120,
                    resolution_target=480),
    }  # fmt: skip
    cases["C2"] = _case(cc, shanghai(2026, 9, 11, 10), done=1, merged_into=cases["C1"])
    d = dt.date
    _complaint(cases["A1"], "credit_card", d(2026, 9, 1), d(2026, 9, 16), d(2026, 9, 10))
    _complaint(cases["A2"], "credit_card", d(2026, 9, 2), d(2026, 9, 17))
    _complaint(cases["A3"], "savings", d(2026, 9, 3), d(2026, 9, 5), d(2026, 9, 8))
    _complaint(cases["A5"], "savings", d(2026, 10, 5), d(2026, 10, 20))
    _complaint(cases["A4"], "credit_card", d(2026, 9, 4), d(2099, 1, 1))
    _complaint(cases["B1"], "credit_card", d(2026, 9, 15), d(2026, 9, 30), d(2026, 9, 20))
    return sb


def _hours(value: str) -> Decimal:
    return Decimal(value)


def test_percentiles_interpolate_between_the_nearest_ranks():
    values = {1: 5, 2: 1, 3: 2, 4: 10}
    ordered = dict(enumerate(sorted(values.values()), start=1))
    assert percentile(ordered, 4, 50) == 3.5  # (2 + 5) / 2
    assert percentile(ordered, 4, 90) == 8.5  # rank 3.7: 5 + 0.7 × 5
    assert percentile({1: 7}, 1, 90) == 7
    assert percentile({}, 0, 50) is None


def test_periods_are_months_or_iso_weeks():
    assert periods_between(dt.date(2026, 9, 15), dt.date(2026, 11, 2), "month") == [
        dt.date(2026, 9, 1), dt.date(2026, 10, 1), dt.date(2026, 11, 1),
    ]  # fmt: skip
    weeks = periods_between(dt.date(2026, 9, 2), dt.date(2026, 9, 14), "week")
    assert weeks == [dt.date(2026, 8, 31), dt.date(2026, 9, 7), dt.date(2026, 9, 14)]
    assert [period_label(week, "week") for week in weeks] == ["2026-W36", "2026-W37", "2026-W38"]


def test_per_month_figures_of_the_whole_bank(desk):
    report = service_level_report(actor=desk.supervisor, **RANGE)
    sep, oct_ = report.periods
    assert (sep.label, sep.date_from, sep.date_to) == ("2026-09", SEP_1, dt.date(2026, 9, 30))
    assert (sep.opened, oct_.opened) == (8, 2)
    assert sep.first_responses == 7
    assert (sep.first_response_median, sep.first_response_p90) == (_hours("2.00"), _hours("6.40"))
    assert (sep.first_response_with_target, sep.first_response_met) == (6, 5)
    assert sep.first_response_share == pytest.approx(5 / 6)
    assert sep.closed == 5
    assert (sep.resolution_median, sep.resolution_p90) == (_hours("6.00"), _hours("22.00"))
    assert (sep.resolution_with_target, sep.resolution_met, sep.resolution_share) == (5, 2, 0.4)
    assert sep.breaches == 4  # one first response, three resolutions
    assert (oct_.first_responses, oct_.first_response_median) == (1, _hours("3.00"))
    assert (oct_.closed, oct_.resolution_median, oct_.resolution_p90) == (
        2, _hours("34.00"), _hours("45.20"),
    )  # fmt: skip
    assert (oct_.resolution_share, oct_.breaches) == (1.0, 0)
    # A5 (received in October) is open and past both dues.
    assert (sep.open_past_sla, oct_.open_past_sla, report.open_past_sla_now) == (0, 1, 1)
    total = report.total
    assert (total.opened, total.first_responses, total.closed) == (10, 8, 7)
    assert (total.first_response_median, total.first_response_p90) == (
        _hours("2.00"), _hours("5.80"),
    )  # fmt: skip
    assert (total.resolution_median, total.resolution_p90) == (_hours("10.00"), _hours("37.20"))
    assert (total.first_response_met, total.first_response_with_target) == (6, 7)
    assert (total.resolution_met, total.resolution_with_target) == (4, 7)
    assert (total.breaches, total.open_past_sla) == (4, 1)


def test_per_queue_priority_and_channel(desk):
    report = service_level_report(actor=desk.supervisor, group="queue", **RANGE)
    a, b, cc = report.groups
    assert [row.label for row in report.groups] == [
        "Branch A desk", "Branch B desk", "Contact centre",
    ]  # fmt: skip
    assert (a.opened, a.first_responses, a.closed, a.open_past_sla) == (7, 6, 5, 1)
    assert (a.first_response_median, a.first_response_p90) == (_hours("2.50"), _hours("7.00"))
    assert (a.first_response_with_target, a.first_response_met) == (5, 4)
    assert (a.resolution_median, a.resolution_p90) == (_hours("10.00"), _hours("36.80"))
    assert (a.resolution_with_target, a.resolution_met) == (5, 3)
    assert a.filters == {
        "queue": str(desk.queue_a.pk),
        "received_from": "2026-09-01",
        "received_to": "2026-10-31",
    }
    assert (b.opened, b.resolution_median, b.resolution_share) == (1, _hours("2.00"), 1.0)
    assert (cc.opened, cc.closed, cc.first_response_median) == (2, 1, _hours("0.50"))
    assert (cc.resolution_share, cc.first_response_share) == (0.0, 1.0)

    by_priority = service_level_report(actor=desk.supervisor, group="priority", **RANGE)
    assert [(row.key, row.opened) for row in by_priority.groups] == [("3", 1), ("2", 9)]
    by_channel = service_level_report(actor=desk.supervisor, group="channel", **RANGE)
    assert [(row.key, row.opened) for row in by_channel.groups] == [("phone", 9), ("email", 1)]
    # A filter narrows every figure.
    email = service_level_report(actor=desk.supervisor, channel="email", **RANGE)
    assert (email.total.opened, email.total.closed, email.total.breaches) == (1, 1, 1)


def test_weeks(desk):
    report = service_level_report(
        actor=desk.supervisor,
        period="week",
        date_from=dt.date(2026, 9, 1),
        date_to=dt.date(2026, 9, 13),
    )
    assert [(row.label, row.opened) for row in report.periods] == [
        ("2026-W36", 4), ("2026-W37", 2),
    ]  # fmt: skip
    first_week = report.periods[0]
    assert (first_week.date_from, first_week.date_to) == (dt.date(2026, 9, 1), dt.date(2026, 9, 6))
    # A1 4 h, A2 10 h, A3 6 h closed in the first week.
    assert (first_week.closed, first_week.resolution_median) == (3, _hours("6.00"))


def test_complaints_deadlines(desk):
    report = service_level_report(actor=desk.supervisor, **RANGE)
    assert report.complaints_shown
    sep, oct_ = report.complaint_periods
    assert (sep.received, sep.met, sep.late, sep.overdue, sep.pending) == (5, 3, 1, 0, 1)
    assert (oct_.received, oct_.overdue) == (1, 1)
    total = report.complaint_total
    assert (total.received, total.met, total.late, total.overdue, total.pending) == (6, 3, 1, 1, 1)
    assert total.share == 0.6
    cards, savings = report.complaint_categories
    assert (cards.key, cards.label, cards.received, cards.met, cards.share) == (
        "credit_card", "Credit cards", 4, 3, 1.0,
    )  # fmt: skip
    assert (savings.key, savings.received, savings.late, savings.overdue, savings.share) == (
        "savings", 2, 1, 1, 0.0,
    )  # fmt: skip


def test_a_branch_manager_sees_their_branch_only(desk):
    report = service_level_report(actor=desk.manager_a, **RANGE)
    assert [row.label for row in report.groups] == ["Branch A desk"]
    assert (report.total.opened, report.total.closed) == (7, 5)
    assert (report.total.resolution_median, report.total.resolution_p90) == (
        _hours("10.00"), _hours("36.80"),
    )  # fmt: skip
    assert report.complaint_total.received == 5
    assert report.complaint_total.met == 2


def test_permission_and_bad_filters(desk, bank):
    with pytest.raises(PermissionDenied):
        service_level_report(actor=bank.analyst, **RANGE)
    with pytest.raises(ValidationError) as error:
        service_level_report(
            actor=desk.supervisor, date_from=OCT_31, date_to=SEP_1, period="day", group="x"
        )
    assert set(error.value.message_dict) == {"date_to", "period", "group"}
    with pytest.raises(ValidationError) as error:
        service_level_report(actor=desk.supervisor, date_from=dt.date(2020, 1, 1), date_to=OCT_31)
    assert set(error.value.message_dict) == {"date_from"}
