"""Customer services: validation, audit, events, scope."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.customers import services
from bankcrm.customers.models import ContactPoint, Identifier, Party, Relationship, Task
from bankcrm.events.models import OutboxEvent
from tests.factories.customers import PersonFactory, make_resident_id

SYSTEM = SystemActor("test")


def test_create_person_is_audited_with_event_and_search_columns(bank):
    party = services.party_create_person(
        actor=bank.rm_a,
        owning_unit=bank.branch_a,
        portfolio=bank.portfolio_a,
        segment=Party.Segment.AFFLUENT,
        family_name="Zeng",
        given_name="Xiaoxian",
        native_name="曾小贤",
        date_of_birth=dt.date(1984, 5, 6),
        gender="male",
        nationality="cn",
    )
    party.refresh_from_db()
    assert party.display_name == "曾小贤"
    assert party.search_name == "曾小贤"
    assert party.search_pinyin == "zeng xiao xian zengxiaoxian"
    assert party.person.native_name_pinyin == "zeng xiao xian"
    assert party.person.date_of_birth == dt.date(1984, 5, 6)
    assert party.person.birth_year == 1984
    assert party.person.nationality == "CN"
    assert party.data_key_id is not None
    event = AuditEvent.objects.get(action="customer.create", object_pk=str(party.pk))
    assert event.actor == "rm_a"
    assert event.after["segment"] == "affluent"
    assert event.after["person.birth_year"] == 1984
    assert "person.date_of_birth" not in event.after
    assert event.changed_secrets == ["person.date_of_birth"]
    outbox = OutboxEvent.objects.get(type="customer.created")
    assert outbox.payload["party"] == str(party.pk)
    assert outbox.payload["segment"] == "affluent"


def test_rm_cannot_create_a_customer_in_someone_elses_portfolio(bank):
    before = Party.objects.count()
    with pytest.raises(PermissionDenied):
        services.party_create_person(
            actor=bank.rm_a,
            owning_unit=bank.branch_b,
            portfolio=bank.portfolio_b,
            segment="mass",
            given_name="X",
            family_name="Y",
        )
    assert Party.objects.count() == before


def test_organisation_uscc_is_validated(bank):
    with pytest.raises(ValidationError) as caught:
        services.party_create_organisation(
            actor=bank.manager_a,
            owning_unit=bank.branch_a,
            segment="sme",
            legal_name="Hangzhou Tea Ltd",
            uscc="91330100716105852A",
        )
    assert "uscc" in caught.value.message_dict
    org = services.party_create_organisation(
        actor=bank.manager_a,
        owning_unit=bank.branch_a,
        segment="sme",
        legal_name="Hangzhou Tea Ltd",
        uscc="91330100716105852f",
    )
    assert org.organisation.uscc == "91330100716105852F"


def test_party_update_records_only_changes_and_refuses_out_of_scope(bank):
    party = bank.customer_a
    services.party_update(
        actor=bank.rm_a, party=party, changes={"segment": "private", "occupation": "Teacher"}
    )
    event = AuditEvent.objects.get(action="customer.update")
    assert event.before == {"segment": "mass", "person.occupation": ""}
    assert event.after == {"segment": "private", "person.occupation": "Teacher"}
    assert OutboxEvent.objects.filter(type="customer.updated").count() == 1
    with pytest.raises(Party.DoesNotExist):
        services.party_update(
            actor=bank.rm_a, party=bank.customer_b, changes={"segment": "private"}
        )
    bank.customer_b.refresh_from_db()
    assert bank.customer_b.segment == "mass"
    with pytest.raises(ValidationError) as caught:
        services.party_update(actor=bank.rm_a, party=party, changes={"kind": "organisation"})
    assert list(caught.value.message_dict) == ["kind"]


def test_identifier_add_checks_resident_id_and_duplicates(bank):
    party = bank.customer_a  # born 1985-03-14 (factory)
    with pytest.raises(ValidationError) as caught:
        services.identifier_add(
            actor=bank.rm_a,
            party=party,
            type="cn_resident_id",
            number=make_resident_id(dt.date(1990, 1, 1)),
        )
    assert caught.value.error_dict["number"][0].code == "resident_id_birth_mismatch"
    number = make_resident_id(dt.date(1985, 3, 14), sequence=555)
    identifier = services.identifier_add(
        actor=bank.rm_a, party=party, type="cn_resident_id", number=number, is_primary=True
    )
    assert Identifier.objects.get(pk=identifier.pk).number == number
    event = AuditEvent.objects.get(action="identifier.add")
    assert event.changed_secrets == ["number"]
    assert number not in str(event.after)
    other = PersonFactory(owning_unit=bank.branch_a, portfolio=bank.portfolio_a)
    with pytest.raises(ValidationError) as caught:
        services.identifier_add(
            actor=bank.rm_a, party=other, type="cn_resident_id", number=number.lower()
        )
    assert caught.value.error_dict["number"][0].code == "duplicate_identifier"
    assert Identifier.objects.count() == 1


def test_contact_points_normalised_and_one_primary_per_kind(bank):
    party = bank.customer_a
    first = services.contact_point_add(
        actor=bank.rm_a, party=party, kind="phone", value="138 0013 8000", is_primary=True
    )
    second = services.contact_point_add(
        actor=bank.rm_a, party=party, kind="phone", value="+86 139 0013 9000", is_primary=True
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.value, first.is_primary) == ("+8613800138000", False)
    assert (second.value, second.is_primary) == ("+8613900139000", True)
    address = services.contact_point_add(
        actor=bank.rm_a,
        party=party,
        kind="address",
        address={"lines": ["88 Nanjing Road"], "city": "Shanghai", "postcode": "200001"},
    )
    assert ContactPoint.objects.get(pk=address.pk).address == {
        "lines": ["88 Nanjing Road"],
        "city": "Shanghai",
        "province": "",
        "postcode": "200001",
        "country": "CN",
    }
    with pytest.raises(ValidationError) as caught:
        services.contact_point_add(actor=bank.rm_a, party=party, kind="email", value="nope")
    assert list(caught.value.message_dict) == ["value"]


def test_relationship_rules(bank):
    company = services.party_create_organisation(
        actor=bank.manager_a, owning_unit=bank.branch_a, segment="sme", legal_name="Tea Co"
    )
    owner = bank.customer_a
    link = services.relationship_add(
        actor=bank.manager_a,
        party_from=owner,
        party_to=company,
        type="beneficial_owner",
        ownership_pct=Decimal("62.50"),
    )
    assert link.ownership_pct == Decimal("62.50")
    with pytest.raises(ValidationError):
        services.relationship_add(
            actor=bank.manager_a, party_from=owner, party_to=company, type="director",
            ownership_pct=Decimal("10"),
        )  # fmt: skip
    with pytest.raises(ValidationError):
        services.relationship_add(
            actor=bank.manager_a, party_from=owner, party_to=company, type="guarantor",
            ownership_pct=None, start_on=dt.date(2024, 1, 2), end_on=dt.date(2024, 1, 1),
        )  # fmt: skip
    assert Relationship.objects.count() == 1
    with pytest.raises(Party.DoesNotExist):
        services.relationship_add(
            actor=bank.manager_a, party_from=owner, party_to=bank.customer_b, type="spouse"
        )


def test_interaction_log_keeps_last_contact_and_records_event(bank):
    party = bank.customer_a
    when = timezone.now() - dt.timedelta(days=3)
    interaction = services.interaction_log(
        actor=bank.rm_a, party=party, kind="call", subject="Review", body="Wants a loan",
        occurred_at=when,
    )  # fmt: skip
    older = when - dt.timedelta(days=10)
    services.interaction_log(
        actor=bank.rm_a, party=party, kind="note", subject="Old note", occurred_at=older
    )
    party.refresh_from_db()
    assert party.last_contacted_at == when
    assert interaction.staff == bank.rm_a
    assert OutboxEvent.objects.filter(type="interaction.logged").count() == 2
    event = AuditEvent.objects.filter(action="interaction.log").order_by("id").first()
    assert event.changed_secrets == ["body"]
    assert "Wants a loan" not in str(event.after)


def test_tasks_create_and_complete(bank):
    task = services.task_create(
        actor=bank.rm_a, title="Call about renewal", party=bank.customer_a,
        due_on=dt.date(2030, 1, 1), priority="high",
    )  # fmt: skip
    assert (task.owner, task.owning_unit, task.status) == (bank.rm_a, bank.branch_a, "open")
    assert OutboxEvent.objects.get(type="task.created").payload["owner"] == bank.rm_a.pk
    services.task_complete(actor=bank.rm_a, task=task)
    task.refresh_from_db()
    assert task.status == Task.Status.DONE
    assert task.completed_at is not None
    with pytest.raises(ValidationError):
        services.task_cancel(actor=bank.rm_a, task=task)
    assert [e.action for e in AuditEvent.objects.order_by("id")] == ["task.create", "task.complete"]


def test_system_actor_may_write(bank):
    party = services.party_create_person(
        actor=SYSTEM, owning_unit=bank.branch_b, segment="mass", given_name="Ann",
        family_name="Lee", source_system="demo", source_id="C1",
    )  # fmt: skip
    assert party.display_name == "Ann Lee"
    assert party.search_pinyin == ""
    assert AuditEvent.objects.get(action="customer.create").actor == "system:test"
