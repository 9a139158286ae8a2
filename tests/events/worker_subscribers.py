"""A subscriber the real-worker test loads into its Celery worker (``celery worker -I``).

It writes an audit row naming the worker's process id, so the test can tell the handler ran
in the worker and not in the test process.
"""

from __future__ import annotations

import os

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.events.registry import subscriber

WORKER_EVENT_TYPE = "test.worker.ping"


@subscriber(WORKER_EVENT_TYPE, name="tests.worker_ping")
def worker_ping(event):
    audit_record(
        actor=SystemActor("test-worker"),
        action="test.worker_ping",
        object_type="events.outboxevent",
        object_pk=str(event.pk),
        after={"pid": os.getpid()},
    )
