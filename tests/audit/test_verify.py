"""`bankcrm audit verify`: an intact chain passes; every kind of tampering is named."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from bankcrm.audit.chain import row_hash
from bankcrm.audit.guard import append_only_guard_installed
from bankcrm.audit.models import AuditChainHead, AuditEvent
from bankcrm.audit.services import event_fields
from bankcrm.audit.verification import verify_chain

from .conftest import record_sample_events

pytestmark = pytest.mark.django_db


def run_verify(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("audit", "verify", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def verify_fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run_verify(*args)
    assert caught.value.returncode == 2
    return caught.value


def lift_guard() -> None:
    """What a person with database rights would do first: remove the append-only triggers."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER audit_auditevent_no_update")
            cursor.execute("DROP TRIGGER audit_auditevent_no_delete")
        else:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")


def sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def test_intact_chain_passes_and_the_check_is_recorded():
    record_sample_events(5)
    out, err = run_verify()
    assert out.strip() == "audit chain intact: 5 events"
    assert err == ""
    check = AuditEvent.objects.get(pk=6)
    assert (check.action, check.actor, check.channel) == (
        "audit.verify",
        "system:audit verify",
        "command",
    )
    assert check.after == {
        "intact": True,
        "checked": 5,
        "first_id": 1,
        "last_id": 5,
        "guard_installed": True,
    }
    # The recorded check is itself part of the chain.
    out, _ = run_verify()
    assert out.strip() == "audit chain intact: 6 events"


def test_empty_trail_is_intact():
    report = verify_chain()
    assert (report.is_intact, report.checked) == (True, 0)


def test_from_id_checks_the_rest_of_the_chain():
    record_sample_events(5)
    out, _ = run_verify("--from-id", "3")
    assert out.strip() == "audit chain intact: 3 events"


def test_edited_row_is_named():
    record_sample_events(5)
    lift_guard()
    sql("UPDATE audit_auditevent SET reason = %s WHERE id = 3", ["nothing to see"])
    error = verify_fails()
    assert str(error) == (
        "audit chain broken at event #3 (edited): Event #3 was edited: its contents no longer "
        "match its hash."
    )


def test_edited_json_value_is_named():
    record_sample_events(5)
    lift_guard()
    event = AuditEvent.objects.get(pk=2)
    after = dict(event.after)
    after["limit"] = "99999.10"
    AuditEvent.objects.filter(pk=2).update(after=after)
    error = verify_fails()
    assert "event #2 (edited)" in str(error)


def test_rewritten_row_with_recomputed_hash_is_named():
    events = record_sample_events(5)
    lift_guard()
    event = AuditEvent.objects.get(pk=3)
    event.reason = "approved by the board"
    new_hash = row_hash(event.prev_hash, event_fields(event))
    sql(
        "UPDATE audit_auditevent SET reason = %s, row_hash = %s WHERE id = 3",
        [event.reason, new_hash],
    )
    assert new_hash != events[2].row_hash
    error = verify_fails()
    assert str(error).startswith("audit chain broken at event #3 (edited): Event #3 was rewritten")


def test_deleted_row_in_the_middle_is_named():
    record_sample_events(5)
    lift_guard()
    sql("DELETE FROM audit_auditevent WHERE id = 3")
    error = verify_fails()
    assert str(error) == (
        "audit chain broken at event #3 (deleted): Event #3 is missing: the trail jumps from "
        "event #2 to event #4."
    )


def test_deleted_first_row_is_named():
    record_sample_events(3)
    lift_guard()
    sql("DELETE FROM audit_auditevent WHERE id = 1")
    error = verify_fails()
    assert "event #1 (deleted)" in str(error)


def test_rows_deleted_from_the_end_are_named():
    record_sample_events(5)
    lift_guard()
    sql("DELETE FROM audit_auditevent WHERE id >= 4")
    report = verify_chain()
    assert report.first_break is not None
    assert (report.first_break.event_id, report.first_break.problem) == (4, "deleted")
    assert report.first_break.detail == (
        "Events #4 to #5 are missing: they were deleted from the end of the trail."
    )
    error = verify_fails()
    assert "event #4 (deleted)" in str(error)


def test_deletion_hidden_by_renumbering_is_named():
    record_sample_events(6)
    lift_guard()
    sql("DELETE FROM audit_auditevent WHERE id = 3")
    for old_id in (4, 5, 6):
        sql("UPDATE audit_auditevent SET id = %s WHERE id = %s", [old_id - 1, old_id])
    sql("UPDATE audit_auditchainhead SET last_event_id = 5")
    error = verify_fails()
    assert str(error).startswith("audit chain broken at event #3 (deleted): Event #3 was event #4")


def test_reordered_rows_are_named():
    record_sample_events(5)
    lift_guard()
    sql("UPDATE audit_auditevent SET id = -3 WHERE id = 3")
    sql("UPDATE audit_auditevent SET id = 3 WHERE id = 4")
    sql("UPDATE audit_auditevent SET id = 4 WHERE id = -3")
    error = verify_fails()
    assert str(error).startswith("audit chain broken at event #3 (reordered)")
    assert "right after event #4" in str(error)


def test_row_inserted_outside_bankcrm_is_named():
    events = record_sample_events(5)
    forged = AuditEvent(**{**event_fields(events[-1]), "id": 6, "action": "customer.delete"})
    forged.prev_hash = events[-1].row_hash
    forged.row_hash = row_hash(forged.prev_hash, event_fields(forged))
    forged.save(force_insert=True)
    error = verify_fails()
    assert str(error).startswith("audit chain broken at event #6 (inserted)")


def test_tampered_chain_head_is_named():
    record_sample_events(5)
    AuditChainHead.objects.filter(pk=1).update(last_hash="f" * 64)
    error = verify_fails()
    assert str(error) == (
        "audit chain broken at event #5 (head): The chain head does not match event #5."
    )


def test_failed_check_is_recorded_too():
    record_sample_events(4)
    lift_guard()
    sql("UPDATE audit_auditevent SET object_repr = %s WHERE id = 2", ["someone else"])
    with pytest.raises(CommandError):
        run_verify()
    check = AuditEvent.objects.get(pk=5)
    assert check.action == "audit.verify"
    assert check.after["intact"] is False
    assert (check.after["first_bad_event"], check.after["problem"]) == (2, "edited")
    assert check.after["guard_installed"] is False


def test_database_rejects_update_and_delete_of_events():
    record_sample_events(2)
    assert append_only_guard_installed(connection)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=1).update(reason="edited")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=2).delete()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        sql("DELETE FROM audit_auditevent")
    assert list(AuditEvent.objects.order_by("pk").values_list("pk", "reason")) == [
        (1, "annual review 1"),
        (2, "annual review 2"),
    ]
    # The chain head moves on every append: it must stay updatable.
    AuditChainHead.objects.filter(pk=1).update(last_event_id=2)


@pytest.mark.postgres
def test_database_rejects_truncate_on_postgresql():
    record_sample_events(1)
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        sql("TRUNCATE audit_auditevent")
    assert AuditEvent.objects.count() == 1


def test_verify_reads_in_chunks_not_all_at_once(django_assert_num_queries):
    record_sample_events(7)
    # guard check + head + three chunks of 3 (the last one empty) = 5 queries.
    with django_assert_num_queries(5):
        report = verify_chain(chunk_size=3)
    assert (report.is_intact, report.checked) == (True, 7)


def test_transactional_tests_flush_the_trail_between_tests(transactional_db):
    """The flush after this test must get past the append-only triggers (tests/conftest.py)."""
    record_sample_events(2)
    assert append_only_guard_installed(connection)
    assert AuditEvent.objects.count() == 2


def test_after_a_flush_the_trail_starts_again_and_the_guard_is_back(transactional_db):
    assert AuditEvent.objects.count() == 0
    assert append_only_guard_installed(connection)
