"""The auditor's pages: list with filters, detail, CSV export, chain check; 403 for others."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

from .conftest import record_sample_events

pytestmark = pytest.mark.django_db

LIST_URL = "/audit/"
EXPORT_URL = "/audit/export.csv"
VERIFY_URL = "/audit/verify/"


def _ids(response) -> list[int]:
    return [event.pk for event in response.context["page"].events]


def test_urls_are_mounted_under_audit():
    assert reverse("audit:event_list") == LIST_URL
    assert reverse("audit:event_detail", args=[7]) == "/audit/7/"
    assert reverse("audit:event_export") == EXPORT_URL
    assert reverse("audit:chain_verify") == VERIFY_URL


def test_auditor_sees_the_trail_newest_first(auditor_client):
    record_sample_events(3)
    response = auditor_client.get(LIST_URL)
    assert response.status_code == 200
    assert _ids(response) == [3, 2, 1]
    html = response.content.decode()
    assert "customer.update.3" in html
    assert "李伟 2" in html
    assert 'class="table-responsive"' in html
    assert '<label class="form-label small mb-1" for="id_action">Action starts with</label>' in html
    assert 'id="audit-verify-button"' in html
    assert 'id="audit-export"' in html  # the auditor may export


def test_compliance_officer_reads_but_may_not_export(client, compliance_officer):
    record_sample_events(1)
    client.force_login(compliance_officer)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert 'id="audit-export"' not in response.content.decode()
    count = AuditEvent.objects.count()
    assert client.get(EXPORT_URL).status_code == 403
    assert AuditEvent.objects.count() == count


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", LIST_URL), ("get", "/audit/1/"), ("get", EXPORT_URL), ("post", VERIFY_URL)],
)
def test_relationship_manager_gets_403_and_nothing_is_written(
    client, relationship_manager, method, url
):
    record_sample_events(1)
    client.force_login(relationship_manager)
    before = list(AuditEvent.objects.values_list("pk", "row_hash"))
    response = getattr(client, method)(url)
    assert response.status_code == 403
    assert "李伟" not in response.content.decode()
    assert list(AuditEvent.objects.values_list("pk", "row_hash")) == before


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(LIST_URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("access:login"))


def test_htmx_filter_change_gets_only_the_table(auditor_client):
    record_sample_events(3)
    response = auditor_client.get(LIST_URL, {"action": "customer.update.2"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-table"')
    assert "<html" not in html
    assert _ids(response) == [2]


def test_filters_narrow_the_trail(auditor_client, auditor):
    record_sample_events(5)
    with request_context(request_id="req-abcdef-42", channel="web"):
        audit_record(actor=auditor, action="access.user.update", target=auditor)

    def ids(**params):
        return _ids(auditor_client.get(LIST_URL, params))

    assert ids(actor="system:nightly") == [4, 2]
    assert ids(action="customer.") == [5, 4, 3, 2, 1]
    assert ids(action="access.") == [6]
    assert ids(object_type="customers.party", object_pk="c-3") == [3]
    assert ids(request_id="req-abcdef-42") == [6]
    assert ids(q="李伟 4") == [4]
    assert ids(q="nobody") == []


def test_date_range_is_read_in_the_viewers_time_zone(auditor_client, auditor):
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    auditor.timezone = "Asia/Shanghai"
    auditor.save(update_fields=["timezone"])
    events = record_sample_events(2)
    # 20:30 UTC on 1 March is 04:30 on 2 March in Shanghai.
    stamp = dt.datetime(2026, 3, 1, 20, 30, tzinfo=dt.UTC)
    assert stamp.astimezone(shanghai).date() == dt.date(2026, 3, 2)
    with mock.patch("bankcrm.audit.services.timezone.now", return_value=stamp):
        late = audit_record(actor=SystemActor("clock"), action="clock.tick")
    assert late.pk == len(events) + 1
    in_shanghai = _ids(
        auditor_client.get(LIST_URL, {"date_from": "2026-03-02", "date_to": "2026-03-02"})
    )
    assert in_shanghai == [late.pk]
    assert _ids(auditor_client.get(LIST_URL, {"date_to": "2026-03-01"})) == []
    assert "CST" in auditor_client.get(f"/audit/{late.pk}/").content.decode()


def test_bad_filter_shows_the_error_and_lists_nothing(auditor_client):
    record_sample_events(1)
    response = auditor_client.get(LIST_URL, {"date_from": "2026-03-05", "date_to": "2026-03-01"})
    assert response.status_code == 200
    assert _ids(response) == []
    assert (
        "The start date 2026-03-05 is after the end date 2026-03-01." in response.content.decode()
    )


def test_keyset_pages_of_fifty(auditor_client):
    for number in range(120):
        audit_record(actor=SystemActor("bulk"), action="bulk.item", object_pk=number)
    first = auditor_client.get(LIST_URL, {"action": "bulk."})
    assert _ids(first) == list(range(120, 70, -1))
    assert first.context["page"].next_before == 71
    assert 'href="?action=bulk.&amp;before=71"' in first.content.decode()
    second = auditor_client.get(LIST_URL, {"action": "bulk.", "before": 71})
    assert _ids(second) == list(range(70, 20, -1))
    third = auditor_client.get(LIST_URL, {"action": "bulk.", "before": 21})
    assert _ids(third) == list(range(20, 0, -1))
    assert third.context["page"].next_before is None


def test_list_page_query_count_does_not_grow_with_rows(auditor_client, django_assert_num_queries):
    record_sample_events(3)
    auditor_client.get(LIST_URL)  # warm up: session, user
    # session, user, the actor's roles (cached for the request: permission, navigation),
    # one query for the page of events, and the sliding idle timeout's session save
    # (savepoint, update, release).
    with django_assert_num_queries(7):
        small = auditor_client.get(LIST_URL)
    for number in range(60):
        audit_record(actor=SystemActor("bulk"), action="bulk.item", object_pk=number)
    with django_assert_num_queries(7):
        large = auditor_client.get(LIST_URL)
    assert (len(_ids(small)), len(_ids(large))) == (3, 50)


def test_detail_shows_before_after_secrets_and_hashes(auditor_client):
    events = record_sample_events(3)
    response = auditor_client.get("/audit/3/")
    assert response.status_code == 200
    html = response.content.decode()
    changes = response.context["changes"]
    assert changes == [
        {"field": "limit", "before": "1000.10", "after": "1003.10"},
        {"field": "reviewed", "before": None, "after": "2026-03-03"},
    ]
    assert "<code>national_id</code>" in html
    assert events[2].row_hash in html
    assert events[2].prev_hash == events[1].row_hash
    assert events[1].row_hash in html


def test_detail_of_missing_event_is_404(auditor_client):
    assert auditor_client.get("/audit/999/").status_code == 404


def _read_csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_csv_export_streams_filtered_rows_and_is_audited(auditor_client, auditor):
    record_sample_events(4)
    audit_record(actor=SystemActor("x"), action="customer.update.9", object_repr="=HYPERLINK(evil)")
    response = auditor_client.get(EXPORT_URL, {"actor": "system:nightly"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="audit-trail-6.csv"'
    rows = _read_csv(response)
    assert rows[0][:6] == ["id", "occurred_at", "actor", "actor_user_id", "channel", "action"]
    assert [row[0] for row in rows[1:]] == ["4", "2"]
    assert rows[1][5] == "customer.update.4"
    assert rows[1][8] == "李伟 4"
    export = AuditEvent.objects.get(pk=6)
    assert (export.action, export.actor, export.actor_user_id) == (
        "audit.export",
        "auditor1",
        auditor.pk,
    )
    assert export.after == {"filters": {"actor": "system:nightly"}}


def test_csv_export_neutralises_spreadsheet_formulas(auditor_client):
    audit_record(actor=SystemActor("x"), action="customer.update", object_repr="=HYPERLINK(evil)")
    rows = _read_csv(auditor_client.get(EXPORT_URL))
    assert rows[1][8] == "'=HYPERLINK(evil)"


def test_verify_button_runs_the_check_and_is_audited(auditor_client, auditor):
    record_sample_events(3)
    response = auditor_client.post(VERIFY_URL, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-intact="true"' in html
    assert "The audit chain is intact: 3 events checked." in html
    check = AuditEvent.objects.get(pk=4)
    assert (check.action, check.actor_user_id, check.after["intact"]) == (
        "audit.verify",
        auditor.pk,
        True,
    )


def test_verify_button_reports_the_first_bad_event(auditor_client):
    from django.db import connection

    record_sample_events(3)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER audit_auditevent_no_update")
        else:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("UPDATE audit_auditevent SET actor = 'someone' WHERE id = 2")
    response = auditor_client.post(VERIFY_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "The audit chain is broken at event #2." in html
    assert "Event #2 was edited" in html


def test_verify_needs_post(auditor_client):
    assert auditor_client.get(VERIFY_URL).status_code == 405
    assert AuditEvent.objects.count() == 0


def test_nav_entry_is_shown_to_the_auditor_only(auditor, relationship_manager):
    from bankcrm.web.navigation import nav_for

    assert "audit" in [entry.key for entry in nav_for(auditor)]
    assert "audit" not in [entry.key for entry in nav_for(relationship_manager)]


def test_times_are_shown_in_utc_for_english_users_by_default(auditor_client):
    record_sample_events(1)
    event = AuditEvent.objects.get(pk=1)
    html = auditor_client.get(LIST_URL).content.decode()
    assert timezone.localtime(event.occurred_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S") in html
