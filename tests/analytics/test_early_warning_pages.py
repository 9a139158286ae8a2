"""The risk early-warning report page and its exports: counts linked to their warnings,
thresholds shown and settable, bad filters named, the viewer's scope, the permissions
(403 and nothing recorded), CSV/XLSX/PDF (a file of no warnings still valid) and the page's
query count."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics.catalogue import REPORTS
from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import KycProfile
from tests.analytics.test_early_warning import AS_OF, mask_name, warning_bank  # noqa: F401
from tests.analytics.test_exports import pdf_text
from tests.factories import RoleFactory, UserFactory
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

FILTERS = {"as_of": AS_OF.isoformat()}
PAGE = "analytics:report_early_warning"


@pytest.fixture(autouse=True)
def _exports_dir(settings, tmp_path):
    settings.ANALYTICS_EXPORT_DIR = str(tmp_path / "exports")


@pytest.fixture
def manager_b(bank):
    return UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def export(client, fmt, **filters):
    url = reverse("analytics:report_export", args=["early_warning", fmt])
    return client.get(url, {**FILTERS, **filters})


def test_the_report_is_in_the_catalogue_and_the_index(client, bank):
    assert REPORTS["early_warning"].url_name == PAGE
    response = login(client, bank.manager_a).get(reverse("analytics:report_index"))
    assert "early_warning" in [report["key"] for report in response.context["reports"]]
    assert reverse(PAGE) in response.content.decode()


def test_the_page_shows_counts_linked_to_their_warnings_and_the_thresholds(
    client,
    warning_bank,  # noqa: F811
):
    bank = warning_bank.bank
    response = login(client, bank.manager_a).get(reverse(PAGE), FILTERS)
    assert response.status_code == 200
    counts = {signal["code"]: signal["count"] for signal in response.context["signals"]}
    assert counts == {
        "balance_drop": 5,
        "salary_stopped": 1,
        "large_outflow": 2,
        "dormant_reactivated": 2,
        "delinquency_migration": 1,
        "kyc_review_due": 2,
        "document_expiring": 1,
    }
    assert response.context["total_all"] == 14
    html = response.content.decode()
    # The thresholds in force are written out, and each settable.
    assert "fell by more than 50% and by more than 10,000 CNY over the last 30 days" in html
    assert 'name="drop_percent"' in html and 'name="outflow_amount"' in html
    # Names are masked as lists show them; each links to the customer's page.
    drop51 = warning_bank.people["drop51"]
    assert mask_name("drop51") in html and "Test drop51" not in html
    assert reverse("customers:detail", args=[drop51.pk]) in html
    # A count opens its warnings.
    link = next(s["url"] for s in response.context["signals"] if s["code"] == "large_outflow")
    assert link.startswith(reverse(PAGE) + "?") and "signal=large_outflow" in link
    assert "as_of=2026-06-30" in link
    listed = client.get(link)
    assert [row.customer for row in listed.context["report"].rows] == [
        mask_name("out_share"),
        mask_name("out_amount"),
    ]
    assert listed.context["report"].total == 2
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]
    # One branch in reach: no branch filter offered.
    assert not response.context["form"].shows_units


def test_thresholds_change_the_warnings_and_bad_ones_are_named(client, warning_bank):  # noqa: F811
    bank = warning_bank.bank
    login(client, bank.manager_a)
    looser = client.get(reverse(PAGE), {**FILTERS, "drop_percent": "45", "signal": "balance_drop"})
    assert looser.context["report"].counts["balance_drop"] == 6  # drop49 joins
    assert "fell by more than 45%" in looser.content.decode()
    bad = client.get(reverse(PAGE), {**FILTERS, "drop_percent": "0", "outflow_days": "x"})
    assert bad.status_code == 200 and bad.context["report"] is None
    assert set(bad.context["form"].errors) == {"drop_percent", "outflow_days"}
    refused = export(client, "csv", drop_percent="101")
    assert refused.status_code == 400 and b"drop_percent" in refused.content
    other_unit = export(client, "csv", unit=str(bank.branch_b.pk))
    assert other_unit.status_code == 400 and b"unit" in other_unit.content
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


def test_a_viewer_of_several_branches_narrows_to_one(client, warning_bank):  # noqa: F811
    bank = warning_bank.bank
    login(client, bank.analyst)  # bank-wide
    response = client.get(reverse(PAGE), FILTERS)
    assert response.context["form"].shows_units
    branch_b = client.get(reverse(PAGE), {**FILTERS, "unit": str(bank.branch_b.pk)})
    parties = {row.party_pk for row in branch_b.context["report"].rows}
    assert parties == {str(warning_bank.people["branch_b"].pk)}


def test_the_htmx_request_gets_the_body_and_pages_link_on(client, warning_bank):  # noqa: F811
    login(client, warning_bank.bank.manager_a)
    partial = client.get(reverse(PAGE), FILTERS, HTTP_HX_REQUEST="true")
    assert next(t.name for t in partial.templates) == (
        "analytics/reports/partials/early_warning_body.html"
    )
    assert "<html" not in partial.content.decode()
    second = client.get(reverse(PAGE), {**FILTERS, "page": "2"})
    assert second.context["report"].rows == []
    assert "page=1" in second.context["previous_url"] and second.context["next_url"] == ""


def test_a_branch_manager_never_sees_another_branchs_rows(client, warning_bank, manager_b):  # noqa: F811
    response = login(client, manager_b).get(reverse(PAGE), FILTERS)
    parties = {row.party_pk for row in response.context["report"].rows}
    assert parties == {str(warning_bank.people["branch_b"].pk)}
    rows = csv_rows(export(client, "csv"))
    customers = {row[1] for row in rows[2 : rows.index([])]}
    assert customers == {mask_name("branch_b")}


def test_pages_and_exports_need_their_permissions(client, warning_bank):  # noqa: F811
    bank = warning_bank.bank
    teller = UserFactory(
        username="teller",
        org_unit=bank.branch_a,
        roles=[RoleFactory(code="teller", permissions=["customers.view_party"])],
    )
    login(client, teller)
    assert client.get(reverse(PAGE), FILTERS).status_code == 403
    for fmt in ("csv", "xlsx", "pdf"):
        assert export(client, fmt).status_code == 403
    # A relationship manager reads the report but may not export it.
    login(client, bank.rm_a)
    assert client.get(reverse(PAGE), FILTERS).status_code == 200
    for fmt in ("csv", "xlsx", "pdf"):
        assert export(client, fmt).status_code == 403
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


def test_the_exports_hold_every_warning_and_are_audited(client, warning_bank):  # noqa: F811
    bank = warning_bank.bank
    login(client, bank.manager_a)
    rows = csv_rows(export(client, "csv"))
    assert rows[0] == ["# Early warnings"]
    assert rows[1] == [
        "Signal", "Customer", "Observed on", "What was observed", "Account, loan or document",
        "Currency", "Amount", "Balance before", "Balance after", "Percent",
        "Relationship manager", "Branch",
    ]  # fmt: skip
    warnings = rows[2 : rows.index([])]
    assert len(warnings) == 14
    drop = next(row for row in warnings if row[1] == mask_name("drop51"))
    assert drop[0] == "Balance drop" and drop[2] == "2026-06-30"
    assert drop[5:10] == ["CNY", "51000.00", "100000.00", "49000.00", "51.0"]
    assert drop[11] == "Branch A"
    signals = rows[rows.index(["# Signals"]) + 2 :]
    assert [(row[0], row[3]) for row in signals] == [
        ("balance_drop", "5"),
        ("salary_stopped", "1"),
        ("large_outflow", "2"),
        ("dormant_reactivated", "2"),
        ("delinquency_migration", "1"),
        ("kyc_review_due", "2"),
        ("document_expiring", "1"),
    ]
    xlsx = export(client, "xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Early warnings", "Signals"]
    sheet = book["Early warnings"]
    assert sheet.freeze_panes == "A2"
    typed = next(row for row in sheet.iter_rows(values_only=True) if row[1] == mask_name("drop51"))
    assert typed[2] == dt.datetime(2026, 6, 30) and typed[6] == 51000
    pdf = export(client, "pdf")
    assert pdf["Content-Type"] == "application/pdf"
    assert "Risk early warnings" in pdf_text(pdf.content)
    events = AuditEvent.objects.filter(action="analytics.report_export").order_by("id")
    assert [event.after for event in events] == [
        {
            "report": "analytics.early_warning",
            "filters": {"as_of": "2026-06-30"},
            "format": fmt,
            "rows": 14 + 7,
        }
        for fmt in ("csv", "xlsx", "pdf")
    ]


def test_an_export_of_no_warnings_is_still_a_valid_file(client, warning_bank, manager_b):  # noqa: F811
    login(client, manager_b)
    rows = csv_rows(export(client, "csv", signal="salary_stopped"))
    assert rows[:2] == [["# Early warnings"], rows[1]] and rows[2] == []
    assert rows[rows.index(["# Signals"]) + 2][0] == "salary_stopped"
    xlsx = export(client, "xlsx", signal="salary_stopped")
    sheet = load_workbook(io.BytesIO(xlsx.content))["Early warnings"]
    assert len(list(sheet.iter_rows(values_only=True))) == 1  # the heading only
    pdf = export(client, "pdf", signal="salary_stopped")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    last = AuditEvent.objects.filter(action="analytics.report_export").order_by("id").last()
    assert last.after["rows"] == 1  # the signal's definition alone


def test_the_page_query_count_is_pinned(client, warning_bank, django_assert_max_num_queries):  # noqa: F811
    login(client, warning_bank.bank.manager_a)
    client.get(reverse(PAGE), FILTERS)
    # Session and user (and the session's save: 3), roles, the viewer's unit and the branch
    # choices, the nightly run (none here), the exchange rates, then one statement per signal
    # (its page of rows with its count): no query per warning or per customer.
    with django_assert_max_num_queries(17):
        response = client.get(reverse(PAGE), FILTERS)
    assert len(response.context["report"].rows) == 14
    # More warnings on more customers, the same queries.
    for number in range(5):
        extra = PersonFactory(
            display_name=f"Test extra {number}",
            owning_unit=warning_bank.bank.branch_a,
            portfolio=warning_bank.bank.portfolio_b,  # another relationship manager
        )
        KycProfile.objects.create(party=extra, next_review_on=dt.date(2026, 7, 1))
    with django_assert_max_num_queries(17):
        response = client.get(reverse(PAGE), FILTERS)
    assert response.context["report"].counts["kyc_review_due"] == 7


def test_the_relationship_managers_dashboard_lists_their_nearest_warnings(
    client,
    warning_bank,  # noqa: F811
    monkeypatch,
):
    # The dashboard reads the warnings as of today: today is the fixture's as-of day here.
    monkeypatch.setattr("bankcrm.analytics.selectors_early_warning.bank_today", lambda: AS_OF)
    response = login(client, warning_bank.bank.rm_a).get(
        reverse("analytics:dashboard_relationship")
    )
    assert response.status_code == 200
    warnings = response.context["warnings"]
    assert [row.signal for row in warnings[:3]] == ["balance_drop"] * 3
    html = response.content.decode()
    assert 'id="warnings-table"' in html
    for row in warnings:
        assert reverse("customers:detail", args=[row.party_pk]) in html
    assert reverse(PAGE) in html
