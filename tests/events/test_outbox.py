"""The transactional outbox: recording, dispatch after commit, retries, dead letters."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.events.models import EventDelivery, OutboxEvent
from bankcrm.events.services import (
    event_dispatch,
    event_dispatch_pending,
    event_record,
    event_requeue,
)

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_event_record_writes_the_row_and_dispatches_after_commit(
    subscribers, django_capture_on_commit_callbacks
):
    seen = []
    subscribers.subscriber("test.created", name="probe")(lambda event: seen.append(event.pk))
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        event = event_record(type="test.created", payload={"amount": "10.00"})
        assert seen == []  # nothing leaves before the commit
    assert len(callbacks) == 1
    assert seen == [event.pk]
    event.refresh_from_db()
    assert event.status == OutboxEvent.Status.DELIVERED
    assert event.attempts == 1
    assert event.payload == {"amount": "10.00"}
    assert event.delivered_at is not None
    assert list(event.deliveries.values_list("subscriber", "status", "attempts")) == [
        ("probe", "delivered", 1)
    ]


def test_event_record_stores_the_target(subscribers):
    target = AuditEvent(id=77)
    event = event_record(type="test.target", target=target, payload={})
    assert (event.object_type, event.object_pk) == ("audit.auditevent", "77")


def test_rolled_back_transaction_records_and_dispatches_nothing(
    subscribers, django_capture_on_commit_callbacks
):
    seen = []
    subscribers.subscriber("test.created", name="probe")(lambda event: seen.append(event.pk))
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        event_record(type="test.created", payload={})
        raise Boom
    assert callbacks == []
    assert seen == []
    assert OutboxEvent.objects.count() == 0


def test_patterns_prefix_and_everything(subscribers):
    calls = []
    subscribers.subscriber("loan.*", name="loans")(lambda e: calls.append(("loans", e.type)))
    subscribers.subscriber("*", name="all")(lambda e: calls.append(("all", e.type)))
    subscribers.subscriber("loan.approved", name="exact")(lambda e: calls.append(("exact", e.type)))
    for event_type in ("loan.approved", "loan.rejected", "customer.created", "loans.x"):
        event_dispatch(event_id=event_record(type=event_type, payload={}).pk)
    assert calls == [
        ("all", "loan.approved"),
        ("exact", "loan.approved"),
        ("loans", "loan.approved"),
        ("all", "loan.rejected"),
        ("loans", "loan.rejected"),
        ("all", "customer.created"),
        ("all", "loans.x"),
    ]


@pytest.mark.parametrize("pattern", ["", "loan*", "*.created", "loan.*.x"])
def test_bad_patterns_are_refused(subscribers, pattern):
    with pytest.raises(ValueError, match="must be an event type"):
        subscribers.subscriber(pattern)


def test_dispatch_twice_delivers_once(subscribers):
    seen = []
    subscribers.subscriber("test.once", name="probe")(lambda event: seen.append(event.pk))
    event = event_record(type="test.once", payload={})
    event_dispatch(event_id=event.pk)
    event_dispatch(event_id=event.pk)
    event_dispatch_pending()
    assert seen == [event.pk]
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("delivered", 1)


def test_failing_subscriber_is_retried_alone_with_backoff(subscribers, settings):
    settings.EVENTS_RETRY_BASE_SECONDS = 30
    settings.EVENTS_RETRY_MAX_SECONDS = 100
    settings.EVENTS_MAX_ATTEMPTS = 5
    good_calls, bad_calls = [], []
    subscribers.subscriber("test.retry", name="a.good")(lambda e: good_calls.append(e.pk))

    def bad(event):
        bad_calls.append(event.pk)
        # Its writes are undone by its savepoint; the good subscriber's stay.
        AuditEvent.objects.filter(pk=-1).delete()
        if len(bad_calls) < 4:
            raise Boom("ledger unavailable")

    subscribers.subscriber("test.retry", name="b.bad")(bad)
    event = event_record(type="test.retry", payload={})

    expected_waits = [30, 60, 100]  # doubling, capped at EVENTS_RETRY_MAX_SECONDS
    for attempt, wait in enumerate(expected_waits, start=1):
        before = timezone.now()
        event = event_dispatch(event_id=event.pk)
        after = timezone.now()
        assert event.status == OutboxEvent.Status.FAILED
        assert event.attempts == attempt
        assert "b.bad: " in event.last_error and "ledger unavailable" in event.last_error
        assert before + dt.timedelta(seconds=wait) <= event.next_attempt_at
        assert event.next_attempt_at <= after + dt.timedelta(seconds=wait)
        # Not due yet: a dispatch now does nothing.
        assert event_dispatch(event_id=event.pk).attempts == attempt
        OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())

    event = event_dispatch(event_id=event.pk)
    assert (event.status, event.attempts, event.last_error) == ("delivered", 4, "")
    assert good_calls == [event.pk]
    assert bad_calls == [event.pk] * 4
    records = {r.subscriber: (r.status, r.attempts) for r in event.deliveries.all()}
    assert records == {"a.good": ("delivered", 1), "b.bad": ("delivered", 4)}


def test_event_is_dead_after_max_attempts_and_audited(subscribers, settings):
    settings.EVENTS_MAX_ATTEMPTS = 2

    def bad(event):
        raise Boom("no route to host")

    subscribers.subscriber("test.dead", name="bad")(bad)
    event = event_record(type="test.dead", payload={})
    event_dispatch(event_id=event.pk)
    OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    event = event_dispatch(event_id=event.pk)
    assert (event.status, event.attempts) == ("dead", 2)
    audit = AuditEvent.objects.get(action="event.dead")
    assert (audit.actor, audit.object_type, audit.object_pk) == (
        "system:events.dispatcher",
        "events.outboxevent",
        str(event.pk),
    )
    # Dead events are not picked up again.
    assert event_dispatch_pending(include_waiting=True) == 0

    subscribers.unregister("bad")
    subscribers.subscriber("test.dead", name="bad")(lambda e: None)
    event = event_requeue(actor=SystemActor("ops"), event_id=event.pk, reason="host fixed")
    assert (event.status, event.attempts) == ("pending", 0)
    assert AuditEvent.objects.get(action="event.requeue").reason == "host fixed"
    assert event_dispatch_pending() == 1
    event.refresh_from_db()
    assert event.status == "delivered"


def test_event_without_subscribers_is_delivered(subscribers):
    event = event_dispatch(event_id=event_record(type="test.nobody", payload={}).pk)
    assert (event.status, event.attempts) == ("delivered", 1)
    assert EventDelivery.objects.count() == 0


def test_dispatch_pending_drains_due_events_in_batches_once_each(subscribers):
    seen = []

    def flaky(event):
        seen.append(event.payload["n"])
        if event.payload["n"] == 2:
            raise Boom("again")

    subscribers.subscriber("test.sweep", name="flaky")(flaky)
    events = [event_record(type="test.sweep", payload={"n": n}) for n in range(5)]
    later = event_record(type="test.sweep", payload={"n": 99})
    OutboxEvent.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert event_dispatch_pending(batch_size=2) == 5
    assert sorted(seen) == [0, 1, 2, 3, 4]  # the failing one is not retried in the same sweep
    statuses = dict(OutboxEvent.objects.values_list("payload__n", "status"))
    assert statuses == {
        0: "delivered",
        1: "delivered",
        2: "failed",
        3: "delivered",
        4: "delivered",
        99: "pending",
    }
    assert events[2].pk in OutboxEvent.objects.filter(status="failed").values_list("pk", flat=True)
    # Forced drain: the waiting ones go too.
    assert event_dispatch_pending(include_waiting=True) == 2
    assert sorted(seen) == [0, 1, 2, 2, 3, 4, 99]


def test_events_command_status_and_dispatch(subscribers, capsys):
    subscribers.subscriber("test.cmd", name="probe")(lambda e: None)
    event_record(type="test.cmd", payload={})
    call_command("events", "status")
    out = capsys.readouterr().out
    assert "pending    1" in out and "delivered  0" in out
    call_command("events", "dispatch")
    out = capsys.readouterr().out
    assert "Attempted delivery of 1 event(s)." in out
    assert "pending    0" in out and "delivered  1" in out
