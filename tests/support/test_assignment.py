"""Assignment of new cases: the customer's RM for premium segments, skills and languages,
round robin among available agents under their caps, manual queues."""

from __future__ import annotations

import datetime as dt

from bankcrm.access.models import Role
from bankcrm.support.assignment import case_assignee_pick
from bankcrm.support.models import Queue, QueueMember
from tests.factories import UserFactory
from tests.factories.support import QueueMemberFactory
from tests.support.conftest import shanghai
from tests.support.conftest_sla import make_case

MONDAY = shanghai(2026, 3, 16, 9, 0)


def _member(queue, user) -> QueueMember:
    return QueueMember.objects.get(queue=queue, user=user)


def _pick(queue, **kwargs):
    return case_assignee_pick(case=make_case(queue=queue, received_at=MONDAY, **kwargs))


def test_round_robin_takes_turns_never_assigned_first(service_bank):
    queue, first, second = (
        service_bank.contact_centre,
        service_bank.agent_cc,
        service_bank.agent_cc2,
    )
    assert first.pk < second.pk
    # Neither was ever assigned: the lower user key first, then the other, then back.
    assert [_pick(queue) for _ in range(4)] == [first, second, first, second]
    assert _member(queue, first).last_assigned_at < _member(queue, second).last_assigned_at


def test_the_agent_assigned_longest_ago_goes_next(service_bank):
    queue = service_bank.contact_centre
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc).update(
        last_assigned_at=dt.datetime(2026, 3, 16, 2, 0, tzinfo=dt.UTC)
    )
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc2).update(
        last_assigned_at=dt.datetime(2026, 3, 16, 1, 0, tzinfo=dt.UTC)
    )
    assert _pick(queue) == service_bank.agent_cc2


def test_away_and_inactive_agents_are_skipped(service_bank):
    queue = service_bank.contact_centre
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc).update(is_available=False)
    assert [_pick(queue) for _ in range(2)] == [service_bank.agent_cc2] * 2
    service_bank.agent_cc2.is_active = False
    service_bank.agent_cc2.save()
    assert _pick(queue) is None


def test_an_agent_at_their_cap_is_skipped(service_bank):
    queue = service_bank.contact_centre
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc).update(max_open_cases=1)
    # agent_cc holds one open case of this queue: at the cap.
    make_case(queue=queue, received_at=MONDAY, assigned_to=service_bank.agent_cc)
    assert [_pick(queue) for _ in range(2)] == [service_bank.agent_cc2] * 2
    # A closed case does not count against the cap.
    from bankcrm.support.models import ServiceCase

    ServiceCase.objects.filter(assigned_to=service_bank.agent_cc).update(is_open=False)
    assert _pick(queue) == service_bank.agent_cc


def test_skill_and_language(service_bank):
    queue = service_bank.contact_centre
    queue.assignment = Queue.Assignment.SKILL
    queue.save()
    complaints = UserFactory(
        username="agent_complaints",
        org_unit=service_bank.head_office,
        roles=[Role.objects.get(code="service_agent")],
    )
    QueueMemberFactory(queue=queue, user=complaints, skills=["complaint"], languages=["zh-hans"])
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc).update(
        skills=["inquiry", "service_request"], languages=["en"]
    )
    QueueMember.objects.filter(queue=queue, user=service_bank.agent_cc2).update(
        skills=["inquiry"], languages=["zh-hans"]
    )
    # A complaint in Chinese: only the complaints agent has the skill.
    assert _pick(queue, case_type="complaint", language="zh-hans") == complaints
    # An inquiry in English: only agent_cc speaks English ("en").
    assert _pick(queue, case_type="inquiry", language="en") == service_bank.agent_cc
    # An inquiry in Chinese: agent_cc2 ("zh" would match "zh-hans" too).
    assert _pick(queue, case_type="inquiry", language="zh") == service_bank.agent_cc2
    # A fraud report: nobody has the skill; the case stays unassigned in the queue.
    assert _pick(queue, case_type="fraud_report") is None
    # An agent listing no skill handles every type.
    QueueMember.objects.filter(queue=queue, user=complaints).update(skills=[])
    assert _pick(queue, case_type="fraud_report", language="zh-hans") == complaints


def test_premium_customers_go_to_their_relationship_manager(service_bank):
    queue, customer, rm = service_bank.queue_a, service_bank.customer_a, service_bank.rm_a
    queue.rm_segments = ["private"]
    queue.save()
    QueueMemberFactory(queue=queue, user=rm, last_assigned_at=MONDAY)
    customer.segment = "private"
    customer.save(update_fields=["segment"])
    # The RM was assigned more recently than agent_a, yet gets their own customer's case.
    assert _pick(queue, party=customer) == rm
    assert _pick(queue, party=customer) == rm
    # A case without the customer follows round robin.
    assert _pick(queue) == service_bank.agent_a
    # The RM away: round robin among the others.
    QueueMember.objects.filter(queue=queue, user=rm).update(is_available=False)
    assert _pick(queue, party=customer) == service_bank.agent_a
    # A mass-retail customer's case does not look for the RM: round robin, where the RM
    # was assigned last.
    QueueMember.objects.filter(queue=queue, user=rm).update(
        is_available=True, last_assigned_at=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    )
    customer.segment = "mass"
    customer.save(update_fields=["segment"])
    assert _pick(queue, party=customer) == service_bank.agent_a


def test_manual_queue_and_empty_queue(service_bank):
    queue = service_bank.contact_centre
    queue.assignment = Queue.Assignment.MANUAL
    queue.save()
    assert _pick(queue) is None
    assert _member(queue, service_bank.agent_cc).last_assigned_at is None
    QueueMember.objects.filter(queue=service_bank.queue_b).delete()
    assert _pick(service_bank.queue_b) is None
