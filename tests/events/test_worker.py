"""A real Celery worker on a real broker (Redis) delivers an event after commit."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection, transaction

from bankcrm import celery_app
from bankcrm.audit.models import AuditEvent
from bankcrm.events.models import EventDelivery, OutboxEvent
from bankcrm.events.services import event_record
from tests.conftest import in_ci

REPO_ROOT = Path(__file__).resolve().parents[2]
BROKER_URL = os.environ.get("BANKCRM_TEST_BROKER_URL", "redis://127.0.0.1:6379/3")
WORKER_EVENT_TYPE = "test.worker.ping"  # as in tests/events/worker_subscribers.py


def _require_redis() -> None:
    import redis

    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        message = f"Redis is not answering at {BROKER_URL}: {exc}"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] or "postgres"
    if db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def broker():
    """Point this process's Celery app at Redis, on a queue of its own, for one test.

    Celery has no public call to re-point a configured app at another broker: its AMQP helper
    caches the producer pool (the eager runs' memory transport) and the queues, so a fresh one
    is used for the test and the old one put back afterwards.
    """
    _require_redis()
    queue = f"bankcrm-test-{uuid.uuid4().hex[:8]}"
    keys = ("broker_url", "task_always_eager", "task_default_queue")
    saved_conf = {key: celery_app.conf[key] for key in keys}
    saved_amqp = celery_app.__dict__.pop("amqp", None)
    saved_pool, celery_app._pool = celery_app._pool, None
    celery_app.conf.update(broker_url=BROKER_URL, task_always_eager=False, task_default_queue=queue)
    try:
        yield queue
    finally:
        if celery_app._pool is not None:
            celery_app._pool.force_close_all()
        celery_app._pool = saved_pool
        celery_app.__dict__.pop("amqp", None)
        if saved_amqp is not None:
            celery_app.__dict__["amqp"] = saved_amqp
        celery_app.conf.update(saved_conf)


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.broker
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_real_worker_delivers_after_commit(broker, tmp_path):
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "BANKCRM_DATABASE_URL": _database_url(),
        "BANKCRM_BROKER_URL": BROKER_URL,
        "DJANGO_SETTINGS_MODULE": os.environ.get(
            "DJANGO_SETTINGS_MODULE", "bankcrm.config.test_settings"
        ),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
        ),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bankcrm",
        "worker",
        "--pool",
        "solo",
        "--concurrency",
        "1",
        "--queues",
        broker,
        "--include",
        "tests.events.worker_subscribers",
        "--hostname",
        f"{broker}@%h",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        ready = _wait(lambda: "ready." in log_path.read_text() or worker.poll() is not None, 30)
        assert ready and worker.poll() is None, f"worker did not start:\n{log_path.read_text()}"

        with transaction.atomic():
            event = event_record(type=WORKER_EVENT_TYPE, payload={"n": 1})
        # A rolled-back event never reaches the worker.
        with pytest.raises(RuntimeError), transaction.atomic():
            ghost = event_record(type=WORKER_EVENT_TYPE, payload={"n": 2})
            raise RuntimeError

        def delivered() -> bool:
            return OutboxEvent.objects.filter(pk=event.pk, status="delivered").exists()

        assert _wait(delivered, 20), f"event not delivered in 20 s:\n{log_path.read_text()}"
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)

    stored = OutboxEvent.objects.get(pk=event.pk)
    assert (stored.status, stored.attempts) == ("delivered", 1)
    assert list(EventDelivery.objects.values_list("subscriber", "status", "attempts")) == [
        ("tests.worker_ping", "delivered", 1)
    ]
    seen = AuditEvent.objects.get(action="test.worker_ping")
    assert seen.object_pk == str(event.pk)
    assert seen.after == {"pid": worker.pid}  # ran in the worker, not in this process
    assert worker.pid != os.getpid()
    assert not OutboxEvent.objects.filter(pk=ghost.pk).exists()
    assert "events.dispatch[" in log_path.read_text()
