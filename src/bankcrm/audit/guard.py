"""The database-level append-only guard of the audit trail (installed by migration 0002).

The triggers themselves are created by ``audit/migrations/0002_append_only_triggers.py``
(migrations never import application code, so the SQL lives there). This module only
inspects them, and lets a maintenance step that must empty the whole database (the test
suite's flush between transactional tests) lift them for the length of one transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "audit_auditevent"
SQLITE_TRIGGERS = {
    "audit_auditevent_no_update": (
        f"CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on {TABLE} "
        "is not allowed'); END"
    ),
    "audit_auditevent_no_delete": (
        f"CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on {TABLE} "
        "is not allowed'); END"
    ),
}
PG_TRIGGERS = ("audit_auditevent_append_only", "audit_auditevent_no_truncate")


def append_only_guard_installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether the triggers rejecting UPDATE/DELETE on the audit table are in place.

    A later migration that rebuilds the table on SQLite (Django copies it to a new table)
    would silently drop them; ``bankcrm audit verify`` warns when that happens.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
            return set(SQLITE_TRIGGERS) <= {row[0] for row in cursor.fetchall()}
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass "
                "AND NOT tgisinternal AND tgenabled <> 'D'",
                [TABLE],
            )
            return set(PG_TRIGGERS) <= {row[0] for row in cursor.fetchall()}
    return False


@contextlib.contextmanager
def append_only_suspended(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """Lift the guard inside one transaction (DDL is transactional on both databases).

    For wiping a whole test database only: the audit trail of a real bank is never emptied.
    """
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [TABLE],
            )
            present = [row[0] for row in cursor.fetchall() if row[0] in SQLITE_TRIGGERS]
            for name in present:
                cursor.execute(f"DROP TRIGGER {name}")
            yield
            for name in present:
                cursor.execute(SQLITE_TRIGGERS[name])
        elif connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            yield
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
        else:
            yield
