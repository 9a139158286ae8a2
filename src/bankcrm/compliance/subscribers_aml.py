"""Streaming AML monitoring: each batch of bookings appended to banking is evaluated by the
streaming scenarios as soon as it is committed.

banking records ``transactions.appended`` (payload ``first_id``/``last_id``, the range of
transaction ids the load stored) after its load; the handler reads the bookings of that range,
loads the monitoring state of their accounts, evaluates, saves the states in bulk and turns
the detections into alerts. Each account's state keeps the id of the last booking it saw
(its watermark), so running the handler twice, or on overlapping ranges, evaluates nothing
twice.
"""

from __future__ import annotations

from typing import Any

from bankcrm.events.registry import subscriber

#: Bookings read and evaluated per round (bounded memory on a large load).
CHUNK_IDS = 50_000


def monitor_transactions(
    *, first_id: int, last_id: int, scenarios: list[dict] | None = None
) -> int:
    """Evaluate the bookings with ids in [first_id, last_id]; returns the detections raised."""
    from django.db import transaction

    from bankcrm.core.actor import SYSTEM

    from .aml.frame import TxFrame
    from .aml.loading import flag_from_screening
    from .aml.streaming import StreamingMonitor
    from .models import Scenario

    if scenarios is None:
        scenarios = [
            {"code": s.code, "spec": s.spec, "mode": s.mode, "name": s.name}
            for s in Scenario.objects.filter(is_active=True).exclude(mode=Scenario.Mode.BATCH)
        ]
    monitor = StreamingMonitor(scenarios)
    if not monitor.scenarios:
        return 0
    raised = 0
    start = int(first_id) - 1
    while start < int(last_id):
        stop = min(start + CHUNK_IDS, int(last_id))
        frame = TxFrame.from_database(min_id=start, max_id=stop)
        start = stop
        if not len(frame):
            continue
        flag_from_screening(frame)
        accounts = [str(frame.keys[a]) for a in set(frame.account.tolist())]
        monitor.states.clear()
        monitor.load_state(accounts)
        detections = monitor.process(frame)
        with transaction.atomic():
            monitor.save_state(accounts)
            if detections:
                from .services_alerts import alerts_from_detections

                alerts_from_detections(actor=SYSTEM, detections=detections)
        raised += len(detections)
    return raised


@subscriber("transactions.appended", name="compliance.aml.streaming")
def monitor_appended_transactions(event: Any) -> None:
    payload = event.payload or {}
    first, last = payload.get("first_id"), payload.get("last_id")
    if first is None or last is None:
        return
    monitor_transactions(first_id=int(first), last_id=int(last))
