"""Regulatory report exports: the PBOC suspicious transaction report fields, the generic
STR/SAR, the large-value report rules, masking of identity numbers and the report record."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import xml.etree.ElementTree as ET  # nosec B405 - parsing our own output in a test
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import RegulatoryReport
from bankcrm.compliance.reports import LVTR_COLUMNS, STR_CN_COLUMNS, lvtr_rule, report_export
from bankcrm.compliance.services_cases import case_open
from bankcrm.customers.models import Identifier
from tests.factories import OrgUnitFactory, RoleFactory, UserFactory
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import (
    IdentifierFactory,
    OrganisationFactory,
    PersonFactory,
    make_resident_id,
)

from .test_alerts import make_user, raise_alert

pytestmark = pytest.mark.django_db

RESIDENT_ID = make_resident_id(dt.date(1985, 3, 14))


@pytest.fixture
def officer() -> Any:
    return make_user("officer1", "compliance_officer")


@pytest.fixture
def person_account() -> Any:
    owner = PersonFactory(display_name="王小明")
    IdentifierFactory(
        party=owner, type=Identifier.Type.CN_RESIDENT_ID, number=RESIDENT_ID, is_primary=True
    )
    return AccountFactory(owner=owner, branch=owner.owning_unit)


@pytest.fixture
def case(officer, person_account) -> Any:
    day = dt.date(2024, 6, 3)
    txns = [
        TransactionFactory(
            account=person_account,
            booking_date=day,
            amount=Decimal("49000.00"),
            kind="cash_deposit",
            channel="branch",
            counterparty_name="",
        ),
        TransactionFactory(
            account=person_account,
            booking_date=day + dt.timedelta(days=1),
            amount=Decimal("-48000.00"),
            direction="debit",
            kind="transfer_out",
            counterparty_name="Shell A Ltd",
            counterparty_account="HK0001",
            counterparty_country="HK",
        ),
    ]
    alert = raise_alert(person_account, score=90.0, transactions=[t.pk for t in txns])
    return case_open(actor=officer, alerts=[alert])


def test_str_cn_xml_has_the_pboc_fields_and_clear_id_for_officer(officer, case):
    name, data = report_export(actor=officer, kind="str_cn", case=case)
    assert name.startswith(f"str_cn-{case.reference}-") and name.endswith(".xml")
    root = ET.fromstring(data)  # nosec B314
    header = root.find("Header")
    assert header.findtext("report_reference") == case.reference
    assert header.findtext("report_type") == "S"
    assert header.findtext("customer_name") == "王小明"
    assert header.findtext("customer_type") == "01"
    assert header.findtext("id_type") == "居民身份证"
    assert header.findtext("id_number") == RESIDENT_ID
    assert header.findtext("suspicion_code") == "test_fan_in"
    assert header.findtext("suspicion_description") == "测试：多对一"
    rows = root.find("Transactions").findall("Transaction")
    assert len(rows) == 2
    first, second = rows
    assert first.findtext("txn_time") == "2024-06-03"
    assert (first.findtext("amount"), first.findtext("currency")) == ("49000.00", "CNY")
    assert first.findtext("direction") == "01"
    assert first.findtext("txn_method") == "现金"
    assert second.findtext("direction") == "02"
    assert second.findtext("counterparty_name") == "Shell A Ltd"
    assert second.findtext("counterparty_account") == "HK0001"
    assert second.findtext("counterparty_country") == "HK"
    assert second.findtext("txn_method") == "转账/网上银行"
    report = RegulatoryReport.objects.get()
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert (report.kind, report.case, report.rows, report.generated_by) == (
        "str_cn",
        case,
        2,
        officer,
    )
    assert AuditEvent.objects.filter(action="regulatory_report.export").count() == 1
    unmask = AuditEvent.objects.get(action="pii.unmask")
    assert unmask.after["count"] == 1


def test_str_cn_csv_lists_the_documented_columns(officer, case):
    name, data = report_export(actor=officer, kind="str_cn", case=case, fmt="csv")
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == STR_CN_COLUMNS
    assert [r["amount"] for r in rows] == ["49000.00", "48000.00"]


def test_id_number_is_masked_without_the_unmask_right(case):
    role = RoleFactory(
        code="report_clerk",
        permissions=["compliance.export_regulatoryreport", "compliance.view_case"],
        data_scope=Role.DataScope.BANK,
        may_unmask=False,
    )
    clerk = UserFactory(org_unit=OrgUnitFactory(), roles=[role])
    _name, data = report_export(actor=clerk, kind="str_cn", case=case)
    number = ET.fromstring(data).find("Header").findtext("id_number")  # nosec B314
    assert number != RESIDENT_ID
    assert number.startswith(RESIDENT_ID[:4]) and number.endswith(RESIDENT_ID[-4:])
    assert "*" in number
    assert not AuditEvent.objects.filter(action="pii.unmask").exists()


def test_generic_str_json_has_subject_narrative_period_and_transactions(officer, case):
    case.narrative = "Cash placed and sent to Hong Kong the next day."
    case.save(update_fields=["narrative"])
    _name, data = report_export(actor=officer, kind="str_generic", case=case)
    document = json.loads(data)
    assert document["reference"] == case.reference
    assert document["subject"]["name"] == "王小明"
    assert document["subject"]["id_number"] == RESIDENT_ID
    assert document["narrative"] == "Cash placed and sent to Hong Kong the next day."
    assert document["activity_period"] == {"from": "2024-06-03", "to": "2024-06-04"}
    assert [t["amount"] for t in document["transactions"]] == ["49000.00", "48000.00"]
    assert document["transactions"][1]["counterparty"]["country"] == "HK"
    assert document["status"] == "draft"
    _name, data = report_export(actor=officer, kind="str_generic", case=case, fmt="csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert rows[0]["narrative"] == "Cash placed and sent to Hong Kong the next day."


def test_lvtr_rules():
    assert lvtr_rule("cash_deposit", "person", False, "") == "cash"
    assert lvtr_rule("transfer_out", "organisation", True, "CN") == "transfer_org"
    assert lvtr_rule("transfer_out", "person", True, "CN") == "domestic_person"
    assert lvtr_rule("transfer_out", "person", True, "US") == "xborder_person"
    assert lvtr_rule("interest", "person", True, "") is None
    assert lvtr_rule("transfer_in", "person", False, "") is None


def test_lvtr_applies_the_daily_thresholds(officer, person_account):
    day = dt.date(2024, 7, 1)
    account = person_account
    # Cash: 30,000 + 25,000 on one day (aggregated ≥ 50,000): both reported.
    cash = [
        TransactionFactory(
            account=account, booking_date=day, amount=Decimal(v), kind="cash_deposit"
        )
        for v in ("30000.00", "25000.00")
    ]
    # 40,000 cash the next day: under the threshold.
    TransactionFactory(
        account=account,
        booking_date=day + dt.timedelta(days=1),
        amount=Decimal("40000.00"),
        kind="cash_deposit",
    )
    # A cross-border transfer of a person, USD 12,000 (≥ USD 10,000 equivalent).
    usd_account = AccountFactory(owner=account.owner, branch=account.branch, currency="USD")
    xborder = TransactionFactory(
        account=usd_account,
        booking_date=day,
        amount=Decimal("-12000.00"),
        currency="USD",
        direction="debit",
        kind="transfer_out",
        counterparty_name="Acme Inc",
        counterparty_account="US123",
        counterparty_country="US",
    )
    # A domestic transfer of a person of CNY 300,000: under CNY 500,000.
    TransactionFactory(
        account=account,
        booking_date=day,
        amount=Decimal("-300000.00"),
        direction="debit",
        kind="transfer_out",
        counterparty_name="李四",
        counterparty_account="6222000011112222",
        counterparty_country="CN",
    )
    # An organisation moving CNY 2,500,000 in one day: reported.
    org = OrganisationFactory()
    org_account = AccountFactory(owner=org, branch=org.owning_unit)
    org_txn = TransactionFactory(
        account=org_account,
        booking_date=day,
        amount=Decimal("2500000.00"),
        kind="transfer_in",
        counterparty_name="Supplier",
        counterparty_account="1234",
    )
    name, data = report_export(
        actor=officer, kind="lvtr_cn", date_from=day, date_to=day + dt.timedelta(days=1)
    )
    assert name.startswith("lvtr_cn-20240701-20240702-") and name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert tuple(rows[0]) == LVTR_COLUMNS
    reported = {int(r["txn_id"]): r for r in rows}
    assert set(reported) == {cash[0].pk, cash[1].pk, xborder.pk, org_txn.pk}
    assert reported[cash[0].pk]["rule_code"] == "cash"
    assert reported[xborder.pk]["rule_code"] == "xborder_person"
    assert reported[xborder.pk]["amount_usd"] == "12000.00"
    assert reported[org_txn.pk]["rule_code"] == "transfer_org"
    assert reported[org_txn.pk]["customer_type"] == "02"
    assert reported[cash[0].pk]["id_number"] == RESIDENT_ID
    report = RegulatoryReport.objects.get()
    assert (report.period_from, report.period_to, report.rows) == (
        day,
        day + dt.timedelta(days=1),
        4,
    )


def test_export_needs_the_permission_and_valid_input(officer, case):
    rm = make_user("rm1", "relationship_manager", unit=case.party.owning_unit)
    with pytest.raises(PermissionDenied):
        report_export(actor=rm, kind="str_cn", case=case)
    with pytest.raises(ValidationError) as info:
        report_export(actor=officer, kind="str_cn")
    assert "case" in info.value.message_dict
    with pytest.raises(ValidationError) as info:
        report_export(actor=officer, kind="str_cn", case=case, fmt="json")
    assert "fmt" in info.value.message_dict
    with pytest.raises(ValidationError):
        report_export(
            actor=officer,
            kind="lvtr_cn",
            date_from=dt.date(2024, 2, 1),
            date_to=dt.date(2024, 1, 1),
        )
    assert RegulatoryReport.objects.count() == 0
