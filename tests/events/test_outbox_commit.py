"""Real commits and rollbacks (no test transaction around them), eager dispatch."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from bankcrm.events.models import OutboxEvent
from bankcrm.events.services import event_dispatch, event_dispatch_pending, event_record


class Boom(Exception):
    pass


@pytest.mark.django_db(transaction=True)
def test_commit_dispatches_and_rollback_does_not(subscribers, settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER is True
    seen = []
    subscribers.subscriber("test.real", name="probe")(lambda e: seen.append(e.payload["n"]))

    with transaction.atomic():
        event_record(type="test.real", payload={"n": 1})
        assert seen == []
    assert seen == [1]

    with pytest.raises(Boom), transaction.atomic():
        event_record(type="test.real", payload={"n": 2})
        raise Boom
    assert seen == [1]
    assert list(OutboxEvent.objects.values_list("payload__n", "status")) == [(1, "delivered")]


@pytest.mark.django_db(transaction=True)
def test_outside_any_transaction_it_commits_and_dispatches(subscribers):
    seen = []
    subscribers.subscriber("test.real", name="probe")(lambda e: seen.append(e.pk))
    assert connection.get_autocommit()
    event = event_record(type="test.real", payload={})
    assert seen == [event.pk]


@pytest.mark.django_db(transaction=True)
def test_subscriber_failure_never_breaks_the_committed_change(subscribers):
    def bad(event):
        raise Boom("down")

    subscribers.subscriber("test.real", name="bad")(bad)
    with transaction.atomic():
        event = event_record(type="test.real", payload={})
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("failed", 1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_locked_event_is_skipped_by_other_workers(subscribers):
    """SKIP LOCKED: while one worker holds an event, another neither waits nor delivers it."""
    seen = []
    subscribers.subscriber("test.lock", name="probe")(lambda e: seen.append(e.payload["n"]))
    with transaction.atomic():
        # Recorded and committed, dispatch left to the sweep (no subscriber ran yet).
        subscribers.unregister("probe")
        first = event_record(type="test.lock", payload={"n": 1})
        second = event_record(type="test.lock", payload={"n": 2})
    OutboxEvent.objects.update(status="pending", attempts=0)
    subscribers.subscriber("test.lock", name="probe")(lambda e: seen.append(e.payload["n"]))

    locked = threading.Event()
    release = threading.Event()

    def other_worker():
        try:
            with transaction.atomic():
                list(OutboxEvent.objects.select_for_update().filter(pk=first.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert event_dispatch(event_id=first.pk).status == "pending"
        assert event_dispatch_pending() == 1
        assert seen == [2]
    finally:
        release.set()
        thread.join(10)
    assert event_dispatch_pending() == 1
    assert seen == [2, 1]
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {"delivered"}
    assert second.pk != first.pk
