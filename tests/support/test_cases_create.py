"""Opening service cases: reference, scope, queue, workflow, assignment, complaint, links,
first message, audit and event; every bad field named at once and nothing written."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today
from bankcrm.events.models import OutboxEvent
from bankcrm.support.models import (
    CaseLink,
    CaseMessage,
    CaseSequence,
    CaseType,
    Complaint,
    QueueMember,
    ServiceCase,
)
from bankcrm.support.services_cases import case_create
from tests.factories.banking import AccountFactory

from .conftest_cases import case_setup, make_case  # noqa: F401

pytestmark = pytest.mark.django_db

WEB_FORM = SystemActor("support.web_form")


def counts() -> tuple[int, ...]:
    return (
        ServiceCase.objects.count(),
        CaseMessage.objects.count(),
        CaseLink.objects.count(),
        Complaint.objects.count(),
        AuditEvent.objects.count(),
        OutboxEvent.objects.count(),
        sum(CaseSequence.objects.values_list("last_number", flat=True)),
    )


def raw_column(case: ServiceCase, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM support_servicecase WHERE id = %s",  # nosec B608 - fixed column names of this test
            [case.pk.hex if connection.vendor == "sqlite" else case.pk],
        )
        return cursor.fetchone()[0]


def test_phone_case_for_a_customer(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    case = make_case(
        actor=bank.agent_a,
        party=bank.customer_a,
        description="客户在境外刷卡被拒。",
        contact_phone="13812345678",
    )
    year = bank_today().year
    assert case.reference == f"SC-{year}-000001"
    assert (case.case_type.code, case.channel, case.priority) == ("inquiry", "phone", 2)
    assert case.subject == "Card not working abroad"
    # The customer's branch, not the queue's, is the case's scope.
    assert case.org_unit_id == bank.branch_a.pk
    assert case.segment == bank.customer_a.segment
    assert case.queue == bank.contact_centre  # no default queue on the type: the setting's
    assert (case.workflow.key, case.state, case.is_open) == ("support_inquiry", "new", True)
    assert case.opened_by == bank.agent_a
    assert case.language == "zh-hans"
    # Round robin in the contact centre: nobody assigned yet, the lower key first.
    assert case.assigned_to == bank.agent_cc
    member = QueueMember.objects.get(queue=bank.contact_centre, user=bank.agent_cc)
    assert member.last_assigned_at is not None
    stored = ServiceCase.objects.get(pk=case.pk)
    assert stored.description == "客户在境外刷卡被拒。"
    assert "客户" not in raw_column(case, "description")
    assert "13812345678" not in raw_column(case, "contact_phone")

    second = make_case(actor=bank.agent_a, party=bank.customer_a)
    assert second.reference == f"SC-{year}-000002"
    assert second.assigned_to == bank.agent_cc2  # round robin moves on

    audit = AuditEvent.objects.get(action="case.create", object_pk=str(case.pk))
    assert audit.actor == "agent_a"
    assert audit.after["reference"] == case.reference
    assert audit.after["org_unit"] == bank.branch_a.pk
    assert "description" not in audit.after
    assert sorted(audit.changed_secrets) == ["contact_phone", "description"]
    event = OutboxEvent.objects.get(type="case.created", object_pk=str(case.pk))
    assert event.payload == {
        "id": str(case.pk),
        "reference": case.reference,
        "type": "inquiry",
        "channel": "phone",
        "priority": 2,
        "queue": "contact_centre",
        "party": str(bank.customer_a.pk),
    }


def test_case_without_customer_belongs_to_its_queues_unit(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    case = make_case(
        actor=WEB_FORM,
        channel="web_form",
        queue="branch_b",
        contact_name="Zhang Wei",
        contact_email="zhang.wei@example.cn",
        language="en",
    )
    assert case.org_unit_id == service_bank.branch_b.pk
    assert case.party_id is None
    assert case.segment == ""
    assert case.opened_by is None
    assert case.assigned_to == service_bank.agent_b
    assert case.language == "en"
    assert OutboxEvent.objects.get(type="case.created").payload["party"] is None
    assert AuditEvent.objects.get(action="case.create").actor == "system:support.web_form"


def test_queue_falls_back_from_type_default_to_setting(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    CaseType.objects.filter(code="inquiry").update(default_queue=service_bank.queue_a)
    assert make_case(case_type="inquiry").queue == service_bank.queue_a
    assert make_case(case_type="inquiry", queue=service_bank.queue_b).queue == (
        service_bank.queue_b
    )
    CaseType.objects.filter(code="inquiry").update(default_queue=None)
    assert make_case(case_type="inquiry").queue == service_bank.contact_centre


def test_every_bad_field_is_named_and_nothing_is_written(
    service_bank: Any,
    case_setup: None,  # noqa: F811
) -> None:
    before = counts()
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_a,
            case_type="no_such_type",
            channel="fax",
            subject="   ",
            priority=9,
            queue="nowhere",
            contact_email="not-an-address",
            contact_phone="call me",
            language="fr",
            received_at=timezone.now() + dt.timedelta(days=1),
            first_message={"body": "hi", "colour": "red"},
            links=[("account", "x")],
        )
    errors = caught.value.message_dict
    assert sorted(errors) == [
        "case_type",
        "channel",
        "contact_email",
        "contact_phone",
        "first_message.channel",
        "first_message.colour",
        "language",
        "links.0",
        "priority",
        "queue",
        "received_at",
        "subject",
    ]
    assert errors["subject"] == ["Write the subject."]
    assert errors["received_at"] == ["A case cannot be received in the future."]
    assert errors["links.0"] == ["Link the case to its customer first."]
    codes = {name: [e.code for e in items] for name, items in caught.value.error_dict.items()}
    assert codes["case_type"] == ["case_type_unknown"]
    assert codes["channel"] == ["case_channel_unknown"]
    assert counts() == before


def test_customer_of_another_branch_is_refused(
    service_bank: Any,
    case_setup: None,  # noqa: F811
) -> None:
    before = counts()
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_b,
            case_type="inquiry",
            channel="branch",
            subject="Address change",
            party=service_bank.customer_a,
        )
    assert caught.value.message_dict == {
        "party": ["This customer does not exist or is outside your reach."]
    }
    assert counts() == before


def test_roles_without_the_right_to_open_cases(
    service_bank: Any,
    case_setup: None,  # noqa: F811
) -> None:
    before = counts()
    for actor in (service_bank.auditor, service_bank.compliance):
        with pytest.raises(PermissionDenied):
            case_create(actor=actor, case_type="inquiry", channel="phone", subject="Hello")
    assert counts() == before


def test_type_required_fields(service_bank: Any, case_setup: None) -> None:  # noqa: F811
    CaseType.objects.filter(code="fraud_report").update(
        required_fields=["party", "description", "contact", "account", "loan|party"]
    )
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_cc, case_type="fraud_report", channel="phone", subject="Fraud"
        )
    assert caught.value.message_dict == {
        "contact_email": ["A Fraud report case needs an e-mail address or a phone number."],
        "description": ["A Fraud report case needs a description."],
        "links": [
            "A Fraud report case needs a linked account.",
            "A Fraud report case needs a linked loan or the customer.",
        ],
        "party": ["A Fraud report case needs the customer."],
    }
    account = AccountFactory(owner=service_bank.customer_a, branch=service_bank.branch_a)
    case = case_create(
        actor=service_bank.agent_cc,
        case_type="fraud_report",
        channel="phone",
        subject="Fraud",
        party=service_bank.customer_a,
        description="Unknown card payments",
        contact_phone="+86 138 1234 5678",
        links=[("account", str(account.pk))],
    )
    assert case.priority == 4  # the type's default
    link = CaseLink.objects.get(case=case)
    assert (link.kind, link.object_pk) == ("account", str(account.pk))
    assert link.label == f"{account.product.name} **** {account.number_last4}"
    assert link.linked_by == service_bank.agent_cc


def test_complaint_needs_its_classification(service_bank: Any, case_setup: None) -> None:  # noqa: F811
    before = counts()
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_a,
            case_type="complaint",
            channel="branch",
            subject="Fee charged twice",
            description="The annual fee was taken twice.",
            party=service_bank.customer_a,
            complaint={"category": "no_such", "received_on": "yesterday"},
        )
    assert caught.value.message_dict == {
        "complaint.category": ["“no_such” is not an active code of this list."],
        "complaint.product": ["Choose the product or service."],
        "complaint.received_on": ["Give the date as YYYY-MM-DD."],
    }
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_a,
            case_type="complaint",
            channel="branch",
            subject="Fee charged twice",
            description="The annual fee was taken twice.",
            party=service_bank.customer_a,
        )
    assert caught.value.message_dict == {
        "complaint": ["A complaint needs its regulatory category and product."]
    }
    with pytest.raises(ValidationError) as caught:
        case_create(
            actor=service_bank.agent_a,
            case_type="inquiry",
            channel="branch",
            subject="Opening hours",
            complaint={"category": "other", "product": "other"},
        )
    assert caught.value.message_dict == {"complaint": ["Only complaints take complaint details."]}
    assert counts() == before

    case = case_create(
        actor=service_bank.agent_a,
        case_type="complaint",
        channel="branch",
        subject="Fee charged twice",
        description="The annual fee was taken twice.",
        party=service_bank.customer_a,
        complaint={"category": "debit_card", "product": "debit_card", "received_on": bank_today()},
    )
    complaint = Complaint.objects.get(case=case)
    assert (complaint.category.code, complaint.product.code) == ("debit_card", "debit_card")
    assert complaint.received_on == bank_today()
    assert case.priority == 3


def test_first_message_is_stored_encrypted_and_once(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    received = timezone.now() - dt.timedelta(hours=2)
    case = make_case(
        actor=SystemActor("support.mail"),
        channel="email",
        subject="Statement copy",
        contact_email="li.na@example.cn",
        received_at=received,
        first_message={
            "from_address": "li.na@example.cn",
            "to_address": "service@bank.example",
            "subject": "Statement copy",
            "body": "请寄送三月份的对账单。",
            "message_id": "<abc@example.cn>",
            "references": ["<x@example.cn>", "<y@example.cn>"],
            "attachments": [{"name": "id.pdf", "size": 100, "content_type": "application/pdf"}],
        },
    )
    assert case.received_at == received
    message = CaseMessage.objects.get(case=case)
    assert (message.direction, message.status, message.channel) == ("inbound", "received", "email")
    assert message.body == "请寄送三月份的对账单。"
    assert message.references == "<x@example.cn> <y@example.cn>"
    assert message.attachments == [
        {"name": "id.pdf", "size": 100, "content_type": "application/pdf"}
    ]
    assert case.state == "new"  # an opening message does not move the case
    before = counts()
    with pytest.raises(ValidationError) as caught:
        make_case(
            actor=SystemActor("support.mail"),
            channel="email",
            first_message={"body": "again", "message_id": "<abc@example.cn>"},
        )
    assert caught.value.message_dict == {
        "first_message.message_id": ["This message is already stored."]
    }
    assert counts() == before


def test_given_assignee_skips_round_robin(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    case = make_case(assigned_to=service_bank.agent_cc2)
    assert case.assigned_to == service_bank.agent_cc2
    assert set(
        QueueMember.objects.filter(queue=service_bank.contact_centre).values_list(
            "last_assigned_at", flat=True
        )
    ) == {None}
    with pytest.raises(ValidationError) as caught:
        make_case(assigned_to=service_bank.bank.analyst)
    assert caught.value.message_dict == {
        "assigned_to": [f"{service_bank.bank.analyst} may not work on service cases."]
    }


def test_reference_numbers_are_gap_free_after_a_failure(
    service_bank: Any,
    make_case: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = make_case()
    import bankcrm.support.services_cases as services

    def broken_event(**kwargs: Any) -> None:
        raise RuntimeError("outbox unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(services, "event_record", broken_event)
        with pytest.raises(RuntimeError):
            make_case()
    second = make_case()
    number = int(first.reference.rsplit("-", 1)[1])
    assert second.reference.endswith(f"-{number + 1:06d}")
    assert ServiceCase.objects.count() == 2
