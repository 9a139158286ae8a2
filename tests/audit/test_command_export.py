"""`bankcrm audit export`: the filtered trail as CSV, recorded as an audit.export event."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from bankcrm.audit.models import AuditEvent

from .conftest import record_sample_events

pytestmark = pytest.mark.django_db


def test_export_to_stdout_with_filters_is_recorded():
    record_sample_events(4)
    out = io.StringIO()
    call_command("audit", "export", "--actor", "system:nightly", stdout=out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows[0][0] == "id"
    assert [(row[0], row[2], row[5]) for row in rows[1:]] == [
        ("4", "system:nightly", "customer.update.4"),
        ("2", "system:nightly", "customer.update.2"),
    ]
    export = AuditEvent.objects.get(pk=5)
    assert (export.action, export.actor, export.channel) == (
        "audit.export",
        "system:audit export",
        "command",
    )
    assert export.after == {"filters": {"actor": "system:nightly"}}


def test_export_to_a_file_has_a_byte_order_mark(tmp_path):
    record_sample_events(2)
    target = tmp_path / "trail.csv"
    call_command("audit", "export", "--output", str(target), "--date-from", "2000-01-01")
    text = target.read_text(encoding="utf-8")
    assert text.startswith("\ufeffid,occurred_at,")
    assert len(list(csv.reader(io.StringIO(text[1:])))) == 3
    assert AuditEvent.objects.get(pk=3).after == {"filters": {"date_from": "2000-01-01"}}


def test_from_id_below_one_is_a_usage_error():
    with pytest.raises(CommandError) as caught:
        call_command("audit", "verify", "--from-id", "0")
    assert caught.value.returncode == 1
    assert AuditEvent.objects.count() == 0
