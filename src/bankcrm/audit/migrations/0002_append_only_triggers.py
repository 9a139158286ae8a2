"""Make the audit trail append-only in the database itself, not only in the application.

UPDATE and DELETE on the audit event table (and TRUNCATE on PostgreSQL) are rejected by
triggers, so a bug or a stray maintenance script cannot rewrite history; a database owner
can still drop the triggers, which is what the hash chain (``bankcrm audit verify``) catches.
The chain head table stays updatable: every append moves it.
"""

from django.db import migrations

TABLE = "audit_auditevent"

PG_INSTALL = [
    """
    CREATE OR REPLACE FUNCTION bankcrm_audit_reject_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on % is not allowed',
            TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    f"""
    CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION bankcrm_audit_reject_change()
    """,
    f"""
    CREATE TRIGGER audit_auditevent_no_truncate
    BEFORE TRUNCATE ON {TABLE}
    FOR EACH STATEMENT EXECUTE FUNCTION bankcrm_audit_reject_change()
    """,
]
PG_REMOVE = [
    f"DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON {TABLE}",
    f"DROP TRIGGER IF EXISTS audit_auditevent_append_only ON {TABLE}",
    "DROP FUNCTION IF EXISTS bankcrm_audit_reject_change()",
]

SQLITE_INSTALL = [
    f"""
    CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON {TABLE}
    BEGIN
        SELECT RAISE(ABORT, 'the audit trail is append-only: UPDATE on {TABLE} is not allowed');
    END
    """,
    f"""
    CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON {TABLE}
    BEGIN
        SELECT RAISE(ABORT, 'the audit trail is append-only: DELETE on {TABLE} is not allowed');
    END
    """,
]
SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete",
]


def _run(schema_editor, statements):
    for statement in statements:
        # No parameters: the PL/pgSQL body contains literal "%" placeholders of RAISE.
        schema_editor.execute(statement, params=None)


def install_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_INSTALL)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_INSTALL)


def remove_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _run(schema_editor, PG_REMOVE)
    elif vendor == "sqlite":
        _run(schema_editor, SQLITE_REMOVE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install_triggers, remove_triggers, elidable=False)]
