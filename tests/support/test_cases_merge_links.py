"""Merging duplicate cases and linking a case to the customer's accounts, loans, loan
applications and transactions: who may, what moves, what is refused (nothing written)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.workflow import workflow_history
from bankcrm.events.models import OutboxEvent
from bankcrm.lending.models import Loan
from bankcrm.support.models import (
    CaseArticleLink,
    CaseLink,
    CaseMessage,
    KnowledgeArticle,
    ServiceCase,
)
from bankcrm.support.services_cases import (
    case_link_add,
    case_link_remove,
    case_merge,
    case_note_add,
    case_transition,
)
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.lending import LoanApplicationFactory, LoanProductFactory

from .conftest_cases import case_setup, make_case, stored  # noqa: F401

pytestmark = pytest.mark.django_db


def snapshot(*cases: ServiceCase) -> tuple[Any, ...]:
    return (
        [stored(ServiceCase, case.pk) for case in cases],
        sorted(CaseMessage.objects.values_list("pk", "case_id")),
        sorted(CaseLink.objects.values_list("pk", "case_id")),
        AuditEvent.objects.count(),
        OutboxEvent.objects.count(),
    )


@pytest.fixture
def account_a(service_bank: Any) -> Any:
    return AccountFactory(
        owner=service_bank.customer_a, branch=service_bank.branch_a, number="6222021012345678"
    )


# --- Merge ---------------------------------------------------------------------------------


def test_merge_moves_the_conversation_and_closes_the_duplicate(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    account_a: Any,
) -> None:
    bank = service_bank
    agent = bank.agent_a
    into = make_case(actor=agent, party=bank.customer_a, queue="branch_a", subject="Lost card")
    duplicate = make_case(actor=agent, party=bank.customer_a, queue="branch_a", subject="Card lost")
    case_transition(actor=agent, case=duplicate, transition="start")
    note = case_note_add(actor=agent, case=duplicate, text="Called twice about the same card.")
    case_link_add(actor=agent, case=duplicate, kind="account", object_pk=str(account_a.pk))
    case_link_add(actor=agent, case=into, kind="account", object_pk=str(account_a.pk))
    article = KnowledgeArticle.objects.create(slug="lost-card", title_en="Lost card")
    CaseArticleLink.objects.create(case=duplicate, article=article, linked_by=agent)

    result = case_merge(actor=agent, duplicate=duplicate, into=into, reason="Same lost card")
    assert result.pk == into.pk
    duplicate.refresh_from_db()
    assert duplicate.merged_into == into
    assert (duplicate.state, duplicate.is_open) == ("closed", False)
    assert duplicate.closed_at is not None
    assert CaseMessage.objects.get(pk=note.pk).case_id == into.pk
    assert CaseMessage.objects.get(pk=note.pk).body == "Called twice about the same card."
    # The account was linked to both: it stays once, on the case that stays.
    assert list(CaseLink.objects.values_list("case_id", "kind")) == [(into.pk, "account")]
    assert list(CaseArticleLink.objects.values_list("case_id", flat=True)) == [into.pk]
    merge_audit = AuditEvent.objects.get(action="case.merge", object_pk=str(duplicate.pk))
    assert merge_audit.after["into"] == into.reference
    assert (merge_audit.after["messages"], merge_audit.after["links"]) == (1, 0)
    assert merge_audit.reason == "Same lost card"
    into_audit = AuditEvent.objects.get(action="case.merge_into", object_pk=str(into.pk))
    assert into_audit.after["duplicate"] == duplicate.reference
    assert into_audit.after["articles"] == 1
    event = OutboxEvent.objects.get(type="case.merged")
    assert event.payload["duplicate_reference"] == duplicate.reference
    last_step = list(workflow_history(actor=agent, subject=duplicate))[-1]
    assert (last_step.transition, last_step.to_state, last_step.reason) == (
        "merge",
        "closed",
        "Same lost card",
    )

    before = snapshot(duplicate, into)
    with pytest.raises(ValidationError) as caught:
        case_merge(actor=agent, duplicate=duplicate, into=into, reason="again")
    assert caught.value.message_dict == {
        "duplicate": [f"{duplicate.reference} is already merged into another case."]
    }
    with pytest.raises(ValidationError) as caught:
        case_transition(actor=agent, case=duplicate, transition="reopen")
    assert list(caught.value.message_dict) == ["transition"]
    assert snapshot(duplicate, into) == before


def test_merge_refusals_change_nothing(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    a1 = make_case(actor=bank.agent_a, party=bank.customer_a, queue="branch_a")
    a2 = make_case(actor=bank.agent_a, party=bank.customer_a, queue="branch_a")
    b1 = make_case(actor=bank.agent_b, party=bank.customer_b, queue="branch_b")
    cc = make_case(actor=bank.agent_cc, party=bank.customer_b)
    before = snapshot(a1, a2, b1, cc)
    with pytest.raises(ValidationError) as caught:
        case_merge(actor=bank.agent_a, duplicate=a1, into=a1, reason="x")
    assert caught.value.message_dict == {"into": ["A case cannot be merged into itself."]}
    with pytest.raises(ValidationError) as caught:
        case_merge(actor=bank.agent_a, duplicate=a1, into=a2, reason="  ")
    assert caught.value.message_dict == {"reason": ["Say why the cases are merged."]}
    # Another branch's case is not there for agent A: not even a 403.
    with pytest.raises(ServiceCase.DoesNotExist):
        case_merge(actor=bank.agent_a, duplicate=a1, into=b1, reason="dup")
    with pytest.raises(PermissionDenied):
        case_merge(actor=bank.auditor, duplicate=a1, into=a2, reason="dup")
    # Head office's branch manager changes both cases: they belong to different customers.
    with pytest.raises(ValidationError) as caught:
        case_merge(actor=bank.supervisor, duplicate=a1, into=cc, reason="dup")
    assert caught.value.message_dict == {
        "into": [f"{a1.reference} and {cc.reference} belong to different customers."]
    }
    assert snapshot(a1, a2, b1, cc) == before


def test_merge_into_a_case_without_customer_gives_it_the_customer(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    mail = SystemActor("support.mail")
    into = make_case(
        actor=mail,
        channel="email",
        contact_email="wang.xm@example.cn",
        first_message={"from_address": "wang.xm@example.cn", "body": "卡被吞了"},
    )
    duplicate = make_case(actor=bank.agent_cc, party=bank.customer_a, subject="ATM kept card")
    case_note_add(actor=bank.agent_cc, case=duplicate, text="Customer called as well.")
    case_merge(actor=bank.agent_cc, duplicate=duplicate, into=into, reason="Same ATM incident")
    into.refresh_from_db()
    assert into.party == bank.customer_a
    assert into.org_unit_id == bank.branch_a.pk
    bodies = sorted(CaseMessage.objects.filter(case=into).values_list("pk", flat=True))
    assert len(bodies) == 2
    assert sorted(m.body for m in CaseMessage.objects.filter(case=into)) == [
        "Customer called as well.",
        "卡被吞了",
    ]
    keys = {
        token.data_key_id()
        for token in CaseMessage.objects.filter(case=into).values_list("body", flat=True)
    }
    assert len(keys) == 1  # both messages under the customer's key now


def test_a_complaint_merges_into_a_complaint_only(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    complaint = make_case(
        actor=bank.agent_a,
        case_type="complaint",
        party=bank.customer_a,
        description="Fee charged twice",
        complaint={"category": "other", "product": "other"},
    )
    inquiry = make_case(actor=bank.agent_a, party=bank.customer_a)
    with pytest.raises(ValidationError) as caught:
        case_merge(actor=bank.agent_a, duplicate=complaint, into=inquiry, reason="dup")
    assert caught.value.message_dict == {
        "into": ["A complaint is a regulated record: merge it into another complaint only."]
    }
    # The other way round is fine: the inquiry's messages join the complaint.
    case_merge(actor=bank.agent_a, duplicate=inquiry, into=complaint, reason="dup")
    assert ServiceCase.objects.get(pk=inquiry.pk).merged_into_id == complaint.pk


# --- Links ---------------------------------------------------------------------------------


def test_links_to_the_customers_records_with_masked_labels(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    account_a: Any,
) -> None:
    bank = service_bank
    agent = bank.agent_a
    case = make_case(actor=agent, party=bank.customer_a, queue="branch_a")
    link = case_link_add(actor=agent, case=case, kind="account", object_pk=str(account_a.pk))
    assert link.label == f"{account_a.product.name} **** 5678"
    assert "6222021012345678" not in link.label
    assert link.linked_by == agent

    txn = TransactionFactory(
        account=account_a, booking_date=dt.date(2026, 3, 2), amount=Decimal("-88.50")
    )
    txn_link = case_link_add(actor=agent, case=case, kind="transaction", object_pk=str(txn.pk))
    assert txn_link.label == "2026-03-02 -88.50 CNY **** 5678"

    application = LoanApplicationFactory(
        applicant=bank.customer_a, branch=bank.branch_a, reference="LA-2026-000042"
    )
    # Service agents do not see lending at all; the branch manager does.
    with pytest.raises(ValidationError):
        case_link_add(
            actor=agent, case=case, kind="loan_application", object_pk=str(application.pk)
        )
    manager = bank.manager_a
    app_link = case_link_add(
        actor=manager, case=case, kind="loan_application", object_pk=str(application.pk)
    )
    assert app_link.label == f"LA-2026-000042 {application.product.name}"

    loan = Loan.objects.create(
        reference="LN-2026-000007",
        product=LoanProductFactory(),
        borrower=bank.customer_a,
        account=account_a,
        branch=bank.branch_a,
        principal=Decimal("50000.00"),
        currency="CNY",
        annual_rate=Decimal("4.350000"),
        term_months=24,
        method="annuity",
        day_count="act365",
        disbursed_on=dt.date(2026, 1, 5),
        maturity_date=dt.date(2028, 1, 5),
        outstanding_principal=Decimal("48000.00"),
    )
    loan_link = case_link_add(actor=manager, case=case, kind="loan", object_pk=str(loan.pk))
    assert loan_link.label == f"LN-2026-000007 {loan.product.name}"
    assert list(CaseLink.objects.filter(case=case).values_list("kind", flat=True)) == [
        "account",
        "transaction",
        "loan_application",
        "loan",
    ]
    audit = AuditEvent.objects.filter(action="case.link_add").order_by("pk").first()
    assert audit.after == {
        "kind": "account",
        "object_pk": str(account_a.pk),
        "label": link.label,
    }

    case_link_remove(actor=agent, case=case, link=txn_link)
    assert not CaseLink.objects.filter(pk=txn_link.pk).exists()
    assert AuditEvent.objects.get(action="case.link_remove").before["label"] == txn_link.label


def test_link_refusals_name_the_field_and_change_nothing(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    account_a: Any,
) -> None:
    bank = service_bank
    agent = bank.agent_a
    case = make_case(actor=agent, party=bank.customer_a, queue="branch_a")
    no_customer = make_case(actor=agent, queue="branch_a")
    account_b = AccountFactory(owner=bank.customer_b, branch=bank.branch_b)
    other_a = AccountFactory(branch=bank.branch_a)  # a branch A account of someone else
    case_link_add(actor=agent, case=case, kind="account", object_pk=str(account_a.pk))
    before = snapshot(case, no_customer)
    for kind, key, field, message in (
        ("account", str(account_b.pk), "object_pk",
         "No account of this customer with this key is within your reach."),
        ("account", str(other_a.pk), "object_pk",
         "No account of this customer with this key is within your reach."),
        ("account", "not-a-key", "object_pk",
         "No account of this customer with this key is within your reach."),
        ("transaction", "12", "object_pk",
         "No transaction of this customer with this key is within your reach."),
        ("card", "1", "kind", "Choose what to link: account, loan, loan_application, transaction."),
        ("account", str(account_a.pk), "object_pk", "This record is already linked to the case."),
    ):  # fmt: skip
        with pytest.raises(ValidationError) as caught:
            case_link_add(actor=agent, case=case, kind=kind, object_pk=key)
        assert caught.value.message_dict == {field: [message]}, kind
    with pytest.raises(ValidationError) as caught:
        case_link_add(actor=agent, case=no_customer, kind="account", object_pk=str(account_a.pk))
    assert caught.value.message_dict == {"object_pk": ["Link the case to its customer first."]}
    with pytest.raises(PermissionDenied):
        case_link_add(actor=bank.auditor, case=case, kind="account", object_pk=str(account_a.pk))
    with pytest.raises(ServiceCase.DoesNotExist):
        case_link_add(actor=bank.agent_b, case=case, kind="account", object_pk=str(account_b.pk))
    assert snapshot(case, no_customer) == before
