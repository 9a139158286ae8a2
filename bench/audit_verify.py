"""How fast `bankcrm audit verify` checks the hash chain, against a plain scan of the table.

Builds a chained trail of ``--rows`` events in a throw-away database (an SQLite file in a
temporary directory, or with ``--postgres URL`` a temporary database on that server, dropped
afterwards), then times the verification and, as the comparison, a keyset scan reading the
same columns without hashing. Prints one JSON line: medians of ``--runs`` runs, their ratio,
and the peak Python memory of one verification (tracemalloc), which stays flat as the trail
grows because the check reads in chunks.

    python bench/audit_verify.py [--rows 100000] [--runs 3] [--postgres postgres://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _fill(rows: int) -> None:
    from django.db import transaction

    from bankcrm.audit.chain import GENESIS_HASH, row_hash
    from bankcrm.audit.models import AuditChainHead, AuditEvent
    from bankcrm.audit.services import event_fields

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    prev = GENESIS_HASH
    batch: list[AuditEvent] = []
    with transaction.atomic():
        for number in range(1, rows + 1):
            event = AuditEvent(
                id=number,
                occurred_at=start + dt.timedelta(seconds=number),
                actor=f"user{number % 97}",
                actor_user_id=number % 97,
                channel="web",
                action="customer.update",
                object_type="customers.party",
                object_pk=str(uuid.UUID(int=number)),
                object_repr=f"Customer {number}",
                before={"segment": "retail", "limit": f"{number}.00"},
                after={"segment": "premium", "limit": f"{number + 1}.00"},
                changed_secrets=["national_id"] if number % 10 == 0 else [],
                reason="annual review",
                request_id=uuid.UUID(int=number).hex,
                ip="10.0.0.1",
                prev_hash=prev,
            )
            event.row_hash = row_hash(prev, event_fields(event))
            prev = event.row_hash
            batch.append(event)
            if len(batch) == 5000:
                AuditEvent.objects.bulk_create(batch)
                batch.clear()
        AuditEvent.objects.bulk_create(batch)
        AuditChainHead.objects.update_or_create(
            pk=1, defaults={"last_event_id": rows, "last_hash": prev}
        )


def _raw_scan(chunk_size: int = 5000) -> int:
    """The comparison: read every chained column in the same keyset chunks, hash nothing."""
    from django.db import connection

    columns = (
        "id, occurred_at, actor, actor_user_id, channel, action, object_type, object_pk, "
        "object_repr, before, after, changed_secrets, reason, request_id, ip, prev_hash, row_hash"
    )
    count, last = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"SELECT {columns} FROM audit_auditevent WHERE id > %s ORDER BY id LIMIT %s",
                [last, chunk_size],
            )
            rows = cursor.fetchall()
            count += len(rows)
            if len(rows) < chunk_size:
                return count
            last = rows[-1][0]


def _median_seconds(func: Any, runs: int) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def _bench(rows: int, runs: int, database: str) -> dict[str, Any]:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from bankcrm.audit.verification import verify_chain

    fill_started = time.perf_counter()
    _fill(rows)
    fill_seconds = time.perf_counter() - fill_started

    verify_seconds, report = _median_seconds(verify_chain, runs)
    assert report.is_intact and report.checked == rows, report
    scan_seconds, scanned = _median_seconds(_raw_scan, runs)
    assert scanned == rows

    tracemalloc.start()
    verify_chain()
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "bench": "audit_verify",
        "database": database,
        "rows": rows,
        "runs": runs,
        "verify_median_s": round(verify_seconds, 3),
        "verify_rows_per_s": round(rows / verify_seconds),
        "raw_scan_median_s": round(scan_seconds, 3),
        "raw_scan_rows_per_s": round(rows / scan_seconds),
        "verify_vs_raw_scan_time_ratio": round(verify_seconds / scan_seconds, 2),
        "verify_peak_python_mib": round(peak / 2**20, 2),
        "fill_rows_per_s": round(rows / fill_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", help="server URL; a temporary database is made there")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    with tempfile.TemporaryDirectory(prefix="bankcrm-bench-") as tmp:
        os.environ["BANKCRM_VAR_DIR"] = tmp
        if not args.postgres:
            os.environ["BANKCRM_DATABASE_URL"] = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            print(json.dumps(_bench(args.rows, args.runs, "sqlite")))
            return
        import psycopg

        name = f"bankcrm_bench_audit_{os.getpid()}"
        server = args.postgres.rsplit("/", 1)[0]
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            os.environ["BANKCRM_DATABASE_URL"] = f"{server}/{name}"
            result = _bench(args.rows, args.runs, "postgresql")
            from django.db import connections

            connections.close_all()
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        print(json.dumps(result))


if __name__ == "__main__":
    main()
