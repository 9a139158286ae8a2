"""Concurrent appends: many writers at once still form one unbroken chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.db import connections

from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record
from bankcrm.audit.verification import verify_chain
from bankcrm.core.actor import SystemActor

THREADS = 8
EVENTS_PER_THREAD = 25


def _append_concurrently(threads: int, per_thread: int) -> list[BaseException]:
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait(timeout=30)
            for index in range(per_thread):
                audit_record(
                    actor=SystemActor(f"writer{number}"),
                    action="test.append",
                    object_type="tests.item",
                    object_pk=f"{number}-{index}",
                )
        except BaseException as exc:  # reported to the test thread below
            errors.append(exc)
        finally:
            # Each thread has its own connection; close it so the test database can go.
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return errors


def _assert_one_chain(threads: int, per_thread: int) -> None:
    total = threads * per_thread
    rows = list(AuditEvent.objects.order_by("pk").values_list("pk", "prev_hash", "actor"))
    assert [pk for pk, _, _ in rows] == list(range(1, total + 1))
    assert len({prev for _, prev, _ in rows}) == total  # no two events link to the same one
    assert Counter(actor for _, _, actor in rows) == {
        f"system:writer{n}": per_thread for n in range(threads)
    }
    report = verify_chain()
    assert (report.is_intact, report.checked) == (True, total)


@pytest.mark.postgres
def test_concurrent_appends_on_postgresql_form_one_chain(transactional_db):
    errors = _append_concurrently(THREADS, EVENTS_PER_THREAD)
    assert errors == []
    _assert_one_chain(THREADS, EVENTS_PER_THREAD)


def test_concurrent_appends_on_embedded_sqlite_form_one_chain(tmp_path):
    """The embedded set-up (file database, WAL, IMMEDIATE transactions) in a fresh process.

    The test database of an SQLite run is in memory with a shared cache, where concurrent
    writers fail at once instead of waiting; the embedded product uses a file.
    """
    env = {
        **os.environ,
        "BANKCRM_DATABASE_URL": f"sqlite:///{tmp_path / 'bankcrm.sqlite3'}",
        "BANKCRM_VAR_DIR": str(tmp_path),
    }
    env.pop("BANKCRM_TEST_SQLITE_NAME", None)
    result = subprocess.run(
        [sys.executable, "-m", "tests.audit.sqlite_writers", "6", "20"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {
        "errors": [],
        "ids": list(range(1, 121)),
        "distinct_prev_hashes": 120,
        "intact": True,
        "checked": 120,
    }
