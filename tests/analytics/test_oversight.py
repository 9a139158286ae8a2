"""The audit and personal-data access report for auditors on a small hand-built trail: the
activity by kind, action, object type, channel and member of staff; personal-data access per
actor with the distinct customers resolved from each record; the exports; the drill-downs of
one member of staff and of one customer; the permission (the audit trail's own), the
exports of the report and the page's query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from contextlib import contextmanager
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics.selectors_oversight import (
    CUSTOMER_RECORDS,
    event_kind,
    oversight_period,
    oversight_report,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context
from bankcrm.core.services import pii_unmask
from bankcrm.customers.models import Party
from bankcrm.customers.services import customer_search_record, list_export_record, party_update
from tests.factories import UserFactory
from tests.factories.customers import ContactPointFactory, IdentifierFactory

pytestmark = pytest.mark.django_db

JUNE = oversight_period(dt.date(2024, 6, 1), dt.date(2024, 6, 30))
FILTERS = {"date_from": "2024-06-01", "date_to": "2024-06-30"}


@contextmanager
def at(day: int, channel: str = "web", month: int = 6):
    """Events recorded now carry 10:00 UTC on ``day`` June 2024 and ``channel``."""
    moment = dt.datetime(2024, month, day, 10, 0, tzinfo=dt.UTC)
    with (
        mock.patch("bankcrm.audit.services.timezone.now", return_value=moment),
        request_context(channel=channel),
    ):
        yield


def user_with(bank, username: str, role: str):
    # Auditors, compliance officers and administrators sign in with a second factor.
    return UserFactory(
        username=username,
        org_unit=bank.head_office,
        roles=[Role.objects.get(code=role)],
        mfa_enabled=True,
    )


@pytest.fixture
def auditor(bank):
    return user_with(bank, "auditor", "auditor")


@pytest.fixture
def trail(bank):
    """Eleven events in June 2024 (and one before, one after):

    E1 3 Jun rm_a reveals 王小明's ID number · E2 4 Jun rm_a reveals 王小明's phone ·
    E3 5 Jun rm_a searches by phone · E4 6 Jun manager_a reveals 王小明's date of birth ·
    E5 7 Jun manager_a changes 王小明's segment · E6 8 Jun manager_a exports accounts (12 rows)
    · E7 9 Jun (API) rm_b reveals 李大伟's e-mail · E8 10 Jun rm_a signs in · E9 11 Jun (job)
    the churn scoring · E10 12 Jun manager_a exports the RFM report (0 rows, XLSX) · E11 13 Jun
    (command) rm_a notes an account of the old system (its id is no key)."""
    a, b = bank.customer_a, bank.customer_b
    identifier = IdentifierFactory(party=a)
    phone = ContactPointFactory(party=a)
    email = ContactPointFactory(party=b, kind="email", value="li@example.com")
    with at(15, month=5):
        pii_unmask(actor=bank.rm_a, target=identifier, field="number", reason="Before June")
    with at(3):
        pii_unmask(
            actor=bank.rm_a,
            target=identifier,
            field="number",
            reason="Customer called to verify identity",
        )
    with at(4):
        pii_unmask(actor=bank.rm_a, target=phone, field="value", reason="Call back")
    with at(5):
        customer_search_record(actor=bank.rm_a, query_kind="phone", results=1)
    with at(6):
        pii_unmask(
            actor=bank.manager_a, target=a.person, field="date_of_birth", reason="KYC review"
        )
    with at(7):
        party_update(
            actor=bank.manager_a, party=a, changes={"segment": "affluent"}, reason="Reviewed"
        )
    with at(8):
        list_export_record(
            actor=bank.manager_a,
            action="account.export",
            object_type="banking.account",
            filters={"status": "active"},
            fmt="csv",
            rows=12,
        )
    with at(9, "api"):
        pii_unmask(actor=bank.rm_b, target=email, field="value", reason="Complaint follow-up")
    with at(10):
        audit_record(actor=bank.rm_a, action="auth.login", target=bank.rm_a)
    with at(11, "job"):
        audit_record(
            actor=SystemActor("analytics.churn_score"),
            action="analytics.churn_score",
            object_type="risk.modelversion",
            object_pk=1,
        )
    with at(12):
        audit_record(
            actor=bank.manager_a,
            action="analytics.report_export",
            object_type="analytics.report",
            after={
                "report": "analytics.rfm",
                "filters": {"months": "3"},
                "format": "xlsx",
                "rows": 0,
            },
        )
    with at(13, "command"):
        audit_record(
            actor=bank.rm_a,
            action="account.note",
            object_type="banking.account",
            object_pk="legacy-17",
        )
    with at(1, month=7):
        audit_record(actor=bank.rm_a, action="auth.logout", target=bank.rm_a)
    return {"identifier": identifier, "phone": phone, "email": email}


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def section(rows: list[list[str]], title: str) -> list[list[str]]:
    start = rows.index([f"# {title}"]) + 1
    end = next((i for i in range(start, len(rows)) if not rows[i]), len(rows))
    return rows[start:end]


# --------------------------------------------------------------------------- figures


def test_actions_are_classified_as_reads_writes_and_sign_ins():
    assert [
        event_kind(action)
        for action in (
            "pii.unmask",
            "customer.search",
            "account.export",
            "risk.dataset_export",
            "analytics.export_job_download",
            "auth.login",
            "customer.update",
            "analytics.export_job_start",
        )
    ] == ["read", "read", "read", "read", "read", "sign_in", "write", "write"]
    # Every record that names a customer is keyed by a UUID (what ObjectUUID casts).
    for model, _path in CUSTOMER_RECORDS.values():
        assert model._meta.pk.get_internal_type() == "UUIDField", model


def test_the_activity_of_the_period(auditor, trail):
    report = oversight_report(actor=auditor, period=JUNE, top=2)
    assert report.events == 11
    assert [(line.key, line.events) for line in report.by_kind] == [
        ("read", 7),
        ("write", 3),
        ("sign_in", 1),
    ]
    assert [(line.key, line.events, line.kind) for line in report.by_action] == [
        ("pii.unmask", 4, "read"),
        ("account.export", 1, "read"),
        ("account.note", 1, "write"),
        ("analytics.churn_score", 1, "write"),
        ("analytics.report_export", 1, "read"),
        ("auth.login", 1, "sign_in"),
        ("customer.search", 1, "read"),
        ("customer.update", 1, "write"),
    ]
    assert [(line.key, line.events) for line in report.by_object_type] == [
        ("banking.account", 2),
        ("customers.contactpoint", 2),
        ("customers.party", 2),
        ("access.user", 1),
        ("analytics.report", 1),
        ("customers.identifier", 1),
        ("customers.personprofile", 1),
        ("risk.modelversion", 1),
    ]
    assert [(line.key, line.events) for line in report.by_channel] == [
        ("web", 8),
        ("api", 1),
        ("command", 1),
        ("job", 1),
    ]
    # Staff only (the job is not a member of staff); the top 2 of 3.
    assert report.staff_count == 3
    assert [
        (line.actor, line.events, line.writes, line.reads, line.sign_ins)
        for line in report.top_staff
    ] == [("rm_a", 5, 1, 3, 1), ("manager_a", 4, 1, 3, 0)]
    assert report.top_staff[0].last_at == dt.datetime(2024, 6, 13, 10, 0, tzinfo=dt.UTC)


def test_personal_data_access_per_actor_and_distinct_customers(auditor, bank, trail):
    report = oversight_report(actor=auditor, period=JUNE)
    assert (report.access_events, report.access_customers) == (7, 2)
    assert [
        (line.actor, line.reveals, line.searches, line.downloads, line.exports, line.events,
         line.customers)
        for line in report.access_by_staff
    ] == [
        ("manager_a", 1, 0, 0, 2, 3, 1),
        ("rm_a", 2, 1, 0, 0, 3, 1),
        ("rm_b", 1, 0, 0, 0, 1, 1),
    ]  # fmt: skip
    assert report.access_by_staff[1].first_at == dt.datetime(2024, 6, 3, 10, 0, tzinfo=dt.UTC)


def test_the_exports_with_their_filters_and_rows(auditor, trail):
    report = oversight_report(actor=auditor, period=JUNE)
    assert report.export_count == 2
    assert [
        (e.actor, e.action, e.object_type, e.report, e.filters, e.format, e.rows)
        for e in report.exports
    ] == [
        ("manager_a", "analytics.report_export", "analytics.report", "analytics.rfm", "months=3",
         "xlsx", 0),
        ("manager_a", "account.export", "banking.account", "", "status=active", "csv", 12),
    ]  # fmt: skip
    assert [(line.actor, line.exports, line.rows) for line in report.exports_by_staff] == [
        ("manager_a", 2, 12)
    ]


def test_the_drill_down_of_one_member_of_staff(auditor, bank, trail):
    report = oversight_report(actor=auditor, period=JUNE, staff="rm_a")
    assert (report.staff_access_count, report.staff_customers) == (3, 1)
    customer = str(bank.customer_a.pk)
    assert [
        (e.action, e.access, e.object_type, e.customer, e.detail, e.reason)
        for e in report.staff_access
    ] == [
        ("customer.search", "search", "customers.party", "", "query_kind=phone, results=1", ""),
        ("pii.unmask", "reveal", "customers.contactpoint", customer, "field=value", "Call back"),
        ("pii.unmask", "reveal", "customers.identifier", customer, "field=number",
         "Customer called to verify identity"),
    ]  # fmt: skip
    # The record as the trail names it, nothing decrypted.
    assert report.staff_access[2].object_repr == f"identifier {trail['identifier'].pk}"


def test_the_drill_down_of_one_customer(auditor, bank, trail):
    report = oversight_report(actor=auditor, period=JUNE, customer=bank.customer_a.pk)
    assert report.customer_access_count == 4
    assert [(e.actor, e.action, e.object_type) for e in report.customer_access] == [
        ("manager_a", "customer.update", "customers.party"),
        ("manager_a", "pii.unmask", "customers.personprofile"),
        ("rm_a", "pii.unmask", "customers.contactpoint"),
        ("rm_a", "pii.unmask", "customers.identifier"),
    ]
    assert [(line.actor, line.events, line.reads) for line in report.customer_by_staff] == [
        ("manager_a", 2, 1),
        ("rm_a", 2, 2),
    ]
    other = oversight_report(actor=auditor, period=JUNE, customer=bank.customer_b.pk)
    assert [(e.actor, e.reason, e.channel) for e in other.customer_access] == [
        ("rm_b", "Complaint follow-up", "api")
    ]


def test_the_period_and_the_filters_are_checked(auditor, trail):
    may = oversight_report(
        actor=auditor, period=oversight_period(dt.date(2024, 5, 1), dt.date(2024, 5, 31))
    )
    assert may.events == 1 and may.by_action[0].key == "pii.unmask"
    with pytest.raises(ValidationError) as error:
        oversight_period(dt.date(2024, 6, 30), dt.date(2024, 6, 1))
    assert "date_from" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        oversight_report(actor=auditor, period=JUNE, top=0)
    assert "top" in error.value.message_dict


# --------------------------------------------------------------------------- permission


def test_only_the_audit_trails_readers_open_the_report(client, bank, auditor, trail):
    before = AuditEvent.objects.count()
    segments = list(Party.objects.order_by("pk").values_list("segment", flat=True))
    with pytest.raises(PermissionDenied):
        oversight_report(actor=bank.manager_a, period=JUNE)
    # A branch manager holds analytics.* but not the audit trail.
    login(client, bank.manager_a)
    assert client.get(reverse("analytics:report_oversight"), FILTERS).status_code == 403
    for fmt in ("csv", "xlsx", "pdf"):
        url = reverse("analytics:report_export", args=["oversight", fmt])
        assert client.get(url, FILTERS).status_code == 403
    index = client.get(reverse("analytics:report_index"))
    assert "oversight" not in [report["key"] for report in index.context["reports"]]
    # An administrator reads the trail but exports no reports.
    login(client, user_with(bank, "admin", "administrator"))
    assert client.get(reverse("analytics:report_oversight"), FILTERS).status_code == 200
    url = reverse("analytics:report_export", args=["oversight", "csv"])
    assert client.get(url, FILTERS).status_code == 403
    assert AuditEvent.objects.count() == before
    assert list(Party.objects.order_by("pk").values_list("segment", flat=True)) == segments
    # Auditors and compliance officers find it on the report index.
    for user in (auditor, user_with(bank, "compliance", "compliance_officer")):
        index = login(client, user).get(reverse("analytics:report_index"))
        assert "oversight" in [report["key"] for report in index.context["reports"]]


# --------------------------------------------------------------------------- page and exports


def test_the_page_shows_the_sections_and_links(client, bank, auditor, trail):
    login(client, auditor)
    response = client.get(reverse("analytics:report_oversight"), {**FILTERS, "top": "2"})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.events == 11
    html = response.content.decode()
    assert 'data-figure="events">11<' in html
    action_link = response.context["links"]["actions"][0]["url"]
    assert action_link.startswith(reverse("audit:event_list"))
    assert "action=pii.unmask" in action_link and "date_from=2024-06-01" in action_link
    staff = response.context["links"]["access"][1]
    assert staff["line"].actor == "rm_a" and "staff=rm_a" in staff["drill_url"]
    drill = client.get(staff["drill_url"])
    rows = drill.context["staff_rows"]
    assert [row["event"].action for row in rows] == ["customer.search", "pii.unmask", "pii.unmask"]
    assert f"customer={bank.customer_a.pk}" in rows[1]["customer_url"]
    assert "Customer called to verify identity" in drill.content.decode()
    customer = client.get(rows[1]["customer_url"])
    assert customer.context["report"].customer_access_count == 4
    assert reverse("customers:detail", args=[bank.customer_a.pk]) in customer.content.decode()
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]
    bad = client.get(reverse("analytics:report_oversight"), {"customer": "not-a-key"})
    assert bad.context["report"] is None and "customer" in bad.context["form"].errors


def test_the_exports_hold_every_table_and_are_audited(client, bank, auditor, trail):
    login(client, auditor)
    query = {**FILTERS, "staff": "rm_a", "customer": str(bank.customer_a.pk)}
    rows = csv_rows(
        client.get(reverse("analytics:report_export", args=["oversight", "csv"]), query)
    )
    assert section(rows, "Events by kind")[1:] == [
        ["Reads", "7"],
        ["Writes", "3"],
        ["Sign-ins", "1"],
    ]
    access = section(rows, "Personal data access by member of staff")
    assert [row[:8] for row in access[1:]] == [
        ["manager_a", str(bank.manager_a.pk), "1", "0", "0", "2", "3", "1"],
        ["rm_a", str(bank.rm_a.pk), "2", "1", "0", "0", "3", "1"],
        ["rm_b", str(bank.rm_b.pk), "1", "0", "0", "0", "1", "1"],
    ]
    exports = section(rows, "Exports")
    assert [row[1:8] for row in exports[1:]] == [
        ["manager_a", "analytics.report_export", "analytics.report", "analytics.rfm", "xlsx", "0",
         "months=3"],
        ["manager_a", "account.export", "banking.account", "", "csv", "12", "status=active"],
    ]  # fmt: skip
    assert len(section(rows, "Personal data access of rm_a")) == 4
    assert len(section(rows, f"Events about customer {bank.customer_a.pk}")) == 5
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("id")
    assert event.actor == "auditor" and event.after["report"] == "analytics.oversight"
    assert event.after["filters"] == query
    response = client.get(reverse("analytics:report_export", args=["oversight", "xlsx"]), query)
    book = load_workbook(io.BytesIO(response.content))
    assert [cell.value for cell in book["Events by channel"][2]] == ["web", 8]
    response = client.get(reverse("analytics:report_export", args=["oversight", "pdf"]), query)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_an_export_of_an_empty_period_is_still_a_valid_file(client, auditor, trail):
    login(client, auditor)
    empty = {"date_from": "2020-01-01", "date_to": "2020-01-31"}
    rows = csv_rows(
        client.get(reverse("analytics:report_export", args=["oversight", "csv"]), empty)
    )
    assert section(rows, "Events by kind")[1:] == [
        ["Reads", "0"],
        ["Writes", "0"],
        ["Sign-ins", "0"],
    ]
    assert section(rows, "Exports") == [
        ["Time", "Member of staff", "Action", "Object type", "Report", "Format", "Rows", "Filters",
         "Event"]
    ]  # fmt: skip
    response = client.get(reverse("analytics:report_export", args=["oversight", "xlsx"]), empty)
    assert load_workbook(io.BytesIO(response.content))["Exports"].max_row == 1
    response = client.get(reverse("analytics:report_export", args=["oversight", "pdf"]), empty)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_the_page_reads_a_fixed_number_of_queries(
    client, bank, auditor, trail, django_assert_max_num_queries
):
    login(client, auditor)
    query = {**FILTERS, "staff": "rm_a", "customer": str(bank.customer_a.pk)}
    client.get(reverse("analytics:report_oversight"), query)
    with django_assert_max_num_queries(14):
        client.get(reverse("analytics:report_oversight"), query)
