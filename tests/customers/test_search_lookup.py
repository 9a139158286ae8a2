"""The search's exact look-ups by personal data: one indexed UNION names the customers,
then their rows are read by key (never an OR across tables, which reads every party)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.banking.models import AccountRole
from bankcrm.customers.search import customer_search
from tests.factories.banking import AccountFactory, AccountRoleFactory
from tests.factories.customers import (
    IdentifierFactory,
    OrganisationFactory,
    PersonFactory,
    make_resident_id,
    make_uscc,
)

RESIDENT_ID = make_resident_id(dt.date(1990, 5, 17), region="330106", sequence=457)


def _party_queries(queries):
    return [q["sql"] for q in queries if q["sql"].startswith('SELECT "customers_party"')]


def test_resident_id_search_reads_parties_by_key(bank):
    IdentifierFactory(party=bank.customer_a, number=RESIDENT_ID)
    IdentifierFactory(party=bank.customer_b)
    customer_search(actor=bank.analyst, query=RESIDENT_ID)  # warms role and key caches
    with CaptureQueriesContext(connection) as captured:
        result = customer_search(actor=bank.analyst, query=RESIDENT_ID)
    assert [p.pk for p in result.parties] == [bank.customer_a.pk]
    assert result.query.kind == "resident_id"
    lookups = [q["sql"] for q in captured.captured_queries if "UNION" in q["sql"]]
    assert len(lookups) == 1
    assert '"customers_identifier"' in lookups[0]
    assert '"customers_organisationprofile"' in lookups[0]
    (parties,) = _party_queries(captured.captured_queries)
    # The customers are named by key; no join to the organisation profiles, no OR.
    assert '"customers_party"."id" IN (' in parties
    assert "customers_organisationprofile" not in parties
    assert " OR " not in parties
    assert "DISTINCT" not in parties


def test_resident_id_search_query_count(bank, django_assert_num_queries):
    IdentifierFactory(party=bank.customer_a, number=RESIDENT_ID)
    customer_search(actor=bank.analyst, query=RESIDENT_ID)  # warms role and key caches
    with CaptureQueriesContext(connection) as audit_only:
        from bankcrm.customers.services import customer_search_record

        customer_search_record(actor=bank.analyst, query_kind="resident_id", results=1)
    # The UNION of look-ups, the parties, their primary phones, then the audit event.
    with django_assert_num_queries(3 + len(audit_only.captured_queries)):
        result = customer_search(actor=bank.analyst, query=RESIDENT_ID)
    assert len(result.parties) == 1


def test_unknown_resident_id_reads_no_party(bank):
    IdentifierFactory(party=bank.customer_a, number=RESIDENT_ID)
    other = make_resident_id(dt.date(1990, 5, 17), region="330106", sequence=459)
    customer_search(actor=bank.analyst, query=other)
    with CaptureQueriesContext(connection) as captured:
        result = customer_search(actor=bank.analyst, query=other)
    assert result.parties == []
    assert _party_queries(captured.captured_queries) == []


def test_uscc_search_finds_the_organisation(bank):
    uscc = make_uscc("91330100MA2ABCDE")
    org = OrganisationFactory(
        display_name="杭州示例科技有限公司",
        owning_unit=bank.branch_a,
        organisation__uscc=uscc,
    )
    PersonFactory(owning_unit=bank.branch_a)
    result = customer_search(actor=bank.analyst, query=uscc.lower())
    assert result.query.kind == "identifier"
    assert [p.pk for p in result.parties] == [org.pk]


def test_account_number_search_finds_owner_and_joint_holder_once_each(bank):
    spouse = PersonFactory(
        display_name="陈美丽", owning_unit=bank.branch_a, portfolio=bank.portfolio_a
    )
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a, number="6222021099887766")
    AccountRoleFactory(account=account, party=spouse, role=AccountRole.Role.JOINT_OWNER)
    AccountFactory(owner=bank.customer_b, branch=bank.branch_b, number="6222021099887700")
    result = customer_search(actor=bank.analyst, query="6222 0210 9988 7766")
    assert result.query.kind == "account_number"
    assert sorted(p.display_name for p in result.parties) == ["王小明", "陈美丽"]
    # Scoped like every read: rm_b sees neither.
    assert customer_search(actor=bank.rm_b, query="6222021099887766").parties == []
