"""Run by test_concurrency: threads appending to a fresh file SQLite database, as embedded.

Usage: python -m tests.audit.sqlite_writers THREADS EVENTS_PER_THREAD (with
BANKCRM_DATABASE_URL pointing at an empty SQLite file). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    threads, per_thread = int(sys.argv[1]), int(sys.argv[2])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from bankcrm.audit.models import AuditEvent
    from bankcrm.audit.verification import verify_chain
    from tests.audit.test_concurrency import _append_concurrently

    errors = _append_concurrently(threads, per_thread)
    rows = list(AuditEvent.objects.order_by("pk").values_list("pk", "prev_hash"))
    report = verify_chain()
    print(
        json.dumps(
            {
                "errors": [repr(e) for e in errors],
                "ids": [pk for pk, _ in rows],
                "distinct_prev_hashes": len({prev for _, prev in rows}),
                "intact": report.is_intact,
                "checked": report.checked,
            }
        )
    )


if __name__ == "__main__":
    main()
