"""The complaints register: the rows a regulator asks for, filtered by the day received,
within the exporter's scope (a branch manager never gets another branch's complaints), as
CSV (UTF-8 with a byte-order mark, bilingual headings) and XLSX (typed cells, frozen
heading row); an empty period still gives a valid file; every export is audited."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.audit.models import AuditEvent
from bankcrm.core.workflow import workflow_state_get
from bankcrm.support import services_complaints
from bankcrm.support.reports_complaints import (
    COLUMNS,
    complaints_register,
    complaints_register_csv,
    complaints_register_xlsx,
)
from bankcrm.support.services_complaints import (
    complaint_extend,
    complaint_redress_set,
    complaint_update,
)

from .conftest import shanghai
from .conftest_complaints import client_for, open_complaint, staff

pytestmark = pytest.mark.django_db

OCTOBER = {"date_from": dt.date(2026, 10, 1), "date_to": dt.date(2026, 10, 31)}
HEADINGS = [
    "Reference 投诉编号", "Received on 受理日期", "Channel 投诉渠道",
    "Customer (masked) 投诉人（已脱敏）", "Category code 投诉业务类别代码",
    "Regulatory category 投诉业务类别", "Product code 产品或服务代码",
    "Product or service 产品或服务", "Root cause code 投诉原因代码", "Root cause 投诉原因",
    "Statutory deadline 办理时限", "Extended 是否延期", "Reason for extension 延期原因",
    "Answered on 答复日期", "Answered within deadline 是否按时办结", "Outcome 处理结果",
    "Redress amount 补偿金额", "Redress currency 补偿币种", "Redress status 补偿状态",
    "Case state 处理状态", "Org unit 承办机构",
]  # fmt: skip


def _state_label(complaint) -> str:
    state = workflow_state_get(subject=complaint.case)
    return state.name if state is not None else complaint.case.state


@pytest.fixture
def register(service_bank, monkeypatch, settings):
    """Five complaints around October 2026: three of branch A (one received on 30
    September), one of branch B, one of a caller unknown to the bank at head office."""
    settings.SUPPORT_REDRESS_APPROVAL_THRESHOLD = "1000"
    sb = service_bank
    extended = open_complaint(
        sb, received_at=shanghai(2026, 10, 5, 9, 30), root_cause="fees", channel="phone"
    )
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 10, 20))
    complaint_extend(actor=sb.agent_a, complaint=extended, reason="Card scheme chargeback")
    complaint_update(
        actor=sb.agent_a,
        complaint=extended,
        changes={"answered_on": dt.date(2026, 10, 20), "outcome": "upheld"},
    )
    monkeypatch.undo()
    settings.SUPPORT_REDRESS_APPROVAL_THRESHOLD = "1000"
    complaint_redress_set(
        actor=sb.agent_a, complaint=extended, amount=Decimal("1000.00"), currency="CNY",
        reason="Refund of the second annual fee",
    )  # fmt: skip
    late_b = open_complaint(
        sb, party="customer_b", received_at=shanghai(2026, 10, 6, 14, 0), category="payment",
        product="transfer",
    )  # fmt: skip
    open_complaint(sb, received_at=shanghai(2026, 9, 30, 16, 0))
    last_day = open_complaint(
        sb, received_at=shanghai(2026, 10, 31, 23, 50), category="savings",
        product="time_deposit", channel="branch",
    )  # fmt: skip
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 11, 2))
    complaint_update(
        actor=sb.agent_a,
        complaint=last_day,
        changes={"answered_on": dt.date(2026, 11, 2), "outcome": "not_upheld"},
    )
    monkeypatch.undo()
    walk_in = open_complaint(
        sb, party=None, received_at=shanghai(2026, 10, 10, 11, 0), category="other",
        product="other", contact_name="张三",
        contact_email="zhang.san@example.cn", channel="web_form",
    )  # fmt: skip
    for complaint in (extended, late_b, last_day, walk_in):
        complaint.refresh_from_db()
    return {"extended": extended, "late_b": late_b, "last_day": last_day, "walk_in": walk_in}


def test_rows_hold_the_regulators_fields(service_bank, register):
    sb = service_bank
    rows = complaints_register(actor=sb.manager_a, **OCTOBER)
    extended, last_day = register["extended"], register["last_day"]
    assert [row["reference"] for row in rows] == [
        extended.case.reference,
        last_day.case.reference,
    ]
    first = rows[0]
    assert first == {
        "complaint": extended.pk,
        "case": str(extended.case_id),
        "reference": extended.case.reference,
        "received_on": dt.date(2026, 10, 5),
        "channel": "phone",
        "channel_label": "Phone",
        "customer": "王**",
        "category_code": "credit_card",
        "category": "Credit cards",
        "product_code": "credit_card",
        "product": "Credit card",
        "root_cause_code": "fees",
        "root_cause": "Pricing and fees",
        "deadline": dt.date(2026, 11, 4),
        "extended": True,
        "extension_reason": "Card scheme chargeback",
        "answered_on": dt.date(2026, 10, 20),
        "within_deadline": "yes",
        "outcome": "upheld",
        "outcome_label": "Upheld",
        "redress_amount": Decimal("1000.00"),
        "redress_currency": "CNY",
        "redress_status": "approved",
        "redress_status_label": "Approved",
        "state": extended.case.state,
        "state_label": _state_label(extended),
        "org_unit": "Branch A",
        "org_unit_code": "BRA",
    }
    # Received at 23:50 Shanghai time on 31 October: still October's.
    assert rows[1]["received_on"] == dt.date(2026, 10, 31)
    assert (rows[1]["within_deadline"], rows[1]["outcome_label"]) == ("yes", "Not upheld")
    assert (rows[1]["redress_amount"], rows[1]["redress_status_label"]) == (None, "No redress")


def test_scope_a_branch_manager_never_gets_another_branchs_complaints(service_bank, register):
    sb = service_bank
    manager_b = staff("manager_b", "branch_manager", sb.branch_b)
    b_rows = complaints_register(actor=manager_b, **OCTOBER)
    assert [row["reference"] for row in b_rows] == [register["late_b"].case.reference]
    assert b_rows[0]["customer"] == "李**"
    assert b_rows[0]["within_deadline"] == "no"  # deadline 21 October, never answered
    a_csv = complaints_register_csv(actor=sb.manager_a, **OCTOBER).decode("utf-8-sig")
    assert register["late_b"].case.reference not in a_csv
    assert register["walk_in"].case.reference not in a_csv
    head_office = complaints_register(actor=sb.supervisor, **OCTOBER)
    assert [row["received_on"] for row in head_office] == [
        dt.date(2026, 10, 5), dt.date(2026, 10, 6), dt.date(2026, 10, 10), dt.date(2026, 10, 31),
    ]  # fmt: skip
    walk_in = head_office[2]
    assert (walk_in["customer"], walk_in["org_unit"], walk_in["channel_label"]) == (
        "张*", "Head office", "Web form",
    )  # fmt: skip


def test_only_holders_of_the_export_permission_get_the_register(service_bank, register):
    sb = service_bank
    for person in (sb.agent_a, sb.rm_a):
        with pytest.raises(PermissionDenied):
            complaints_register_csv(actor=person, **OCTOBER)
    assert not AuditEvent.objects.filter(action="complaint.register_export").exists()
    assert client_for(sb.agent_a).get(reverse("support:complaints_register")).status_code == 403
    assert client_for(sb.agent_a).get(
        "/api/v1/support/complaints/register.csv",
        {"date_from": "2026-10-01", "date_to": "2026-10-31"},
    ).status_code == 403  # fmt: skip


def test_compliance_exports_every_branchs_complaints(service_bank, register):
    # Overdue complaints reach compliance, which reads the register bank-wide.
    body = complaints_register_csv(actor=service_bank.compliance, **OCTOBER)
    references = {row[0] for row in csv.reader(io.StringIO(body.decode("utf-8-sig")))}
    assert register["extended"].case.reference in references
    assert register["late_b"].case.reference in references


def test_csv_is_utf8_with_bom_bilingual_headings_and_audited(service_bank, register):
    sb = service_bank
    body = complaints_register_csv(actor=sb.manager_a, **OCTOBER)
    assert body.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert lines[0] == HEADINGS
    extended = register["extended"]
    assert lines[1] == [
        extended.case.reference, "2026-10-05", "Phone", "王**", "credit_card", "Credit cards",
        "credit_card", "Credit card", "fees", "Pricing and fees", "2026-11-04", "Yes",
        "Card scheme chargeback", "2026-10-20", "Yes", "Upheld", "1000.00", "CNY", "Approved",
        _state_label(extended), "Branch A",
    ]  # fmt: skip
    assert len(lines) == 3
    audit = AuditEvent.objects.get(action="complaint.register_export")
    assert audit.actor == "manager_a" and audit.actor_user_id == sb.manager_a.pk
    assert audit.after == {
        "date_from": "2026-10-01", "date_to": "2026-10-31", "format": "csv", "rows": 2,
    }  # fmt: skip


def test_xlsx_has_typed_cells_and_a_frozen_heading_row(service_bank, register):
    sb = service_bank
    body = complaints_register_xlsx(actor=sb.manager_a, **OCTOBER)
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.freeze_panes == "A2"
    assert [cell.value for cell in sheet[1]] == HEADINGS
    assert sheet.max_row == 3
    received, deadline, answered = sheet["B2"], sheet["K2"], sheet["N2"]
    assert received.is_date and received.value == dt.datetime(2026, 10, 5)
    assert received.number_format == "yyyy-mm-dd"
    assert (deadline.value, answered.value) == (dt.datetime(2026, 11, 4), dt.datetime(2026, 10, 20))
    amount = sheet["Q2"]
    assert (amount.data_type, amount.value, amount.number_format) == ("n", 1000, "#,##0.00")
    assert sheet["Q3"].value is None and sheet["N3"].value == dt.datetime(2026, 11, 2)
    assert sheet["A2"].value == register["extended"].case.reference
    assert sheet["D2"].value == "王**"
    audit = AuditEvent.objects.get(action="complaint.register_export")
    assert (audit.after["format"], audit.after["rows"]) == ("xlsx", 2)


def test_an_empty_period_still_gives_valid_files(service_bank, register):
    sb = service_bank
    period = {"date_from": dt.date(2025, 1, 1), "date_to": dt.date(2025, 1, 31)}
    body = complaints_register_csv(actor=sb.manager_a, **period).decode("utf-8")
    assert body == "\ufeff" + ",".join(HEADINGS) + "\r\n"
    sheet = load_workbook(io.BytesIO(complaints_register_xlsx(actor=sb.manager_a, **period))).active
    assert sheet.max_row == 1 and [cell.value for cell in sheet[1]] == HEADINGS
    audits = AuditEvent.objects.filter(action="complaint.register_export").order_by("id")
    assert [(a.after["format"], a.after["rows"]) for a in audits] == [("csv", 0), ("xlsx", 0)]


def test_period_is_checked(service_bank):
    with pytest.raises(ValidationError) as caught:
        complaints_register(
            actor=service_bank.manager_a, date_from=dt.date(2026, 10, 31),
            date_to=dt.date(2026, 10, 1),
        )  # fmt: skip
    assert caught.value.message_dict == {"date_to": ["The period ends before it starts."]}


def test_text_that_looks_like_a_formula_stays_text(service_bank, monkeypatch):
    sb = service_bank
    complaint = open_complaint(sb, received_at=shanghai(2026, 10, 5, 9, 0))
    monkeypatch.setattr(services_complaints, "bank_today", lambda: dt.date(2026, 10, 6))
    complaint_extend(actor=sb.agent_a, complaint=complaint, reason='=HYPERLINK("http://x")')
    text = complaints_register_csv(actor=sb.manager_a, **OCTOBER).decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(text)))[1][12] == '\'=HYPERLINK("http://x")'
    sheet = load_workbook(
        io.BytesIO(complaints_register_xlsx(actor=sb.manager_a, **OCTOBER))
    ).active
    assert (sheet["M2"].value, sheet["M2"].data_type) == ('=HYPERLINK("http://x")', "s")


def test_register_page_and_downloads(service_bank, register):
    sb = service_bank
    client = client_for(sb.manager_a)
    page = client.get(
        reverse("support:complaints_register"), {"date_from": "2026-10-01", "date_to": "2026-10-31"}
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "2 complaints" in html
    assert register["extended"].case.reference in html
    assert register["late_b"].case.reference not in html
    assert "date_from=2026-10-01&amp;date_to=2026-10-31" in html
    bad = client.get(
        reverse("support:complaints_register"), {"date_from": "2026-10-31", "date_to": "2026-10-01"}
    )
    assert bad.status_code == 400 and "The period ends before it starts." in bad.content.decode()
    download = client.get(
        reverse("support:complaints_register_xlsx"),
        {"date_from": "2026-10-01", "date_to": "2026-10-31"},
    )
    assert download.status_code == 200
    assert download["Content-Disposition"] == (
        'attachment; filename="complaints-register-2026-10-01-2026-10-31.xlsx"'
    )
    assert load_workbook(io.BytesIO(download.content)).active.max_row == 3
    assert len(COLUMNS) == len(HEADINGS)


def test_api_register_csv(service_bank, register):
    sb = service_bank
    client = client_for(sb.manager_a)
    response = client.get(
        "/api/v1/support/complaints/register.csv",
        {"date_from": "2026-10-01", "date_to": "2026-10-31"},
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert len(response.content.decode("utf-8-sig").strip().split("\r\n")) == 3
    missing = client.get("/api/v1/support/complaints/register.csv", {"date_from": "2026-10-01"})
    assert missing.status_code == 422
    assert AuditEvent.objects.filter(action="complaint.register_export").count() == 1


def test_the_register_reads_a_fixed_number_of_queries(service_bank, register):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sb = service_bank
    complaints_register(actor=sb.supervisor, **OCTOBER)  # the roles are read once per user
    with CaptureQueriesContext(connection) as few:
        assert len(complaints_register(actor=sb.supervisor, **OCTOBER)) == 4
    for day in (7, 8, 9):
        open_complaint(sb, party="customer_b", received_at=shanghai(2026, 10, day, 9, 0))
        open_complaint(
            sb, party=None, received_at=shanghai(2026, 10, day, 10, 0), contact_name="钱七",
            contact_email=f"qian{day}@example.cn",
        )  # fmt: skip
    with CaptureQueriesContext(connection) as more:
        assert len(complaints_register(actor=sb.supervisor, **OCTOBER)) == 10
    # The complaints with their case, customer, unit and codes; the workflow state names
    # (none to read for cases outside any workflow).
    assert len(few.captured_queries) == len(more.captured_queries)
    assert len(more.captured_queries) == (2 if register["extended"].case.workflow_id else 1)
