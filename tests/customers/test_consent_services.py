# ruff: noqa: F811 - the shared fixtures are imported by name
"""Consent services: grant, withdraw, history, validation (nothing changes on an error),
audit and outbox rows, contact flags, preference links, and scope (an RM of branch B cannot
change branch A's customer)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.customers import services_consent
from bankcrm.customers.models import (
    Consent,
    ConsentEvent,
    ConsentText,
    ContactPoint,
    Party,
)
from bankcrm.customers.selectors_consent import consent_is_granted
from bankcrm.events.models import OutboxEvent
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories import UserFactory
from tests.factories.customers import ContactPointFactory, OrganisationFactory

pytestmark = pytest.mark.django_db

EMAIL = "wang.xiaoming@example.com"


@dataclass
class World:
    bank: Bank
    party: Party
    email: ContactPoint
    phone: ContactPoint
    other_email: ContactPoint


@pytest.fixture
def world(bank: Bank) -> World:
    party = bank.customer_a
    email = ContactPointFactory(party=party, kind="email", value=EMAIL, is_primary=True)
    phone = ContactPointFactory(party=party, kind="phone", value="+8613912345678", is_primary=True)
    other_email = ContactPointFactory(
        party=bank.customer_b, kind="email", value="li.dawei@example.com", is_primary=True
    )
    return World(bank, party, email, phone, other_email)


def snapshot() -> tuple[Any, ...]:
    return (
        list(Consent.objects.order_by("pk").values_list("pk", "status", "source")),
        ConsentEvent.objects.count(),
        AuditEvent.objects.count(),
        OutboxEvent.objects.filter(type__startswith="consent.").count(),
        list(Party.objects.order_by("pk").values_list("pk", "do_not_contact", "deceased_on")),
    )


def grant_email(world: World, actor: Any = None) -> Consent:
    return services_consent.consent_record(
        actor=actor or world.bank.rm_a,
        party=world.party,
        purpose="email_marketing",
        status="granted",
        source="branch",
        contact_point=world.email,
        note="Signed at the counter",
    )


def test_grant_creates_the_row_its_event_audit_and_outbox(world: World):
    consent = grant_email(world)
    consent.refresh_from_db()
    text = ConsentText.objects.get(purpose="email_marketing", version=1)
    assert (consent.party_id, consent.purpose, consent.contact_point_id) == (
        world.party.pk,
        "email_marketing",
        world.email.pk,
    )
    assert (consent.status, consent.source, consent.lawful_basis) == (
        "granted",
        "branch",
        "consent",
    )
    assert consent.text_id == text.pk
    assert consent.granted_at is not None and consent.withdrawn_at is None
    assert consent.recorded_by_id == world.bank.rm_a.pk
    event = ConsentEvent.objects.get()
    assert (event.consent_id, event.party_id, event.status, event.source, event.text_id) == (
        consent.pk,
        world.party.pk,
        "granted",
        "branch",
        text.pk,
    )
    assert event.recorded_by_label == world.bank.rm_a.get_full_name()
    assert event.note == "Signed at the counter"
    audit = AuditEvent.objects.get(action="consent.record")
    assert audit.actor == "rm_a"
    assert audit.object_type == "customers.consent"
    assert audit.object_pk == str(consent.pk)
    assert audit.before is None
    assert audit.after["status"] == "granted"
    assert audit.after["contact_point"] == str(world.email.pk)
    outbox = OutboxEvent.objects.get(type="consent.changed")
    assert outbox.payload == {
        "consent": consent.pk,
        "party": str(world.party.pk),
        "purpose": "email_marketing",
        "contact_point": str(world.email.pk),
        "status": "granted",
        "previous_status": "",
        "source": "branch",
        "lawful_basis": "consent",
        "text_version": 1,
    }
    # No personal data leaves through the event or the audit trail.
    assert EMAIL not in json.dumps(outbox.payload)
    assert EMAIL not in json.dumps(audit.after)
    assert consent_is_granted(
        party_id=world.party.pk, purpose="email_marketing", contact_point_id=world.email.pk
    )


def test_withdraw_keeps_the_grant_time_and_appends_history(world: World):
    granted = grant_email(world)
    granted_at = Consent.objects.get(pk=granted.pk).granted_at
    withdrawn = services_consent.consent_withdraw(
        actor=world.bank.rm_a,
        party=world.party,
        purpose="email_marketing",
        source="contact_centre",
        contact_point=world.email,
        note="Asked on the phone",
    )
    withdrawn.refresh_from_db()
    assert withdrawn.pk == granted.pk
    assert Consent.objects.count() == 1
    assert (withdrawn.status, withdrawn.source) == ("withdrawn", "contact_centre")
    assert withdrawn.granted_at == granted_at
    assert withdrawn.withdrawn_at is not None and withdrawn.withdrawn_at >= granted_at
    assert list(
        ConsentEvent.objects.order_by("occurred_at", "id").values_list("status", "source")
    ) == [("granted", "branch"), ("withdrawn", "contact_centre")]
    audit = AuditEvent.objects.get(action="consent.withdraw")
    assert audit.before["status"] == "granted"
    assert audit.after["status"] == "withdrawn"
    assert audit.reason == "Asked on the phone"
    changes = OutboxEvent.objects.filter(type="consent.changed").order_by("occurred_at")
    payloads = [e.payload for e in changes]
    assert [(p["previous_status"], p["status"]) for p in payloads] == [
        ("", "granted"),
        ("granted", "withdrawn"),
    ]
    assert not consent_is_granted(
        party_id=world.party.pk, purpose="email_marketing", contact_point_id=world.email.pk
    )


def test_withdrawing_twice_changes_nothing_the_second_time(world: World):
    grant_email(world)
    services_consent.consent_withdraw(
        actor=world.bank.rm_a,
        party=world.party,
        purpose="email_marketing",
        source="branch",
        contact_point=world.email,
    )
    before = snapshot()
    again = services_consent.consent_withdraw(
        actor=world.bank.rm_a,
        party=world.party,
        purpose="email_marketing",
        source="branch",
        contact_point=world.email,
    )
    assert again.status == "withdrawn"
    assert snapshot() == before


def test_regrant_after_withdrawal_sets_a_new_grant_time(world: World):
    first = grant_email(world)
    services_consent.consent_withdraw(
        actor=world.bank.rm_a, party=world.party, purpose="email_marketing",
        source="branch", contact_point=world.email,
    )  # fmt: skip
    first_granted_at = Consent.objects.get(pk=first.pk).granted_at
    again = grant_email(world)
    again.refresh_from_db()
    assert again.status == "granted"
    assert again.withdrawn_at is None
    assert again.granted_at >= first_granted_at
    assert ConsentEvent.objects.filter(consent=again).count() == 3


def test_per_customer_purpose_and_explicit_text_and_basis(world: World):
    v2 = ConsentText.objects.create(
        purpose="profiling",
        version=2,
        text_en="v2",
        text_zh="第二版",
        effective_from=timezone.now() - dt.timedelta(days=1),
    )
    consent = services_consent.consent_record(
        actor=world.bank.rm_a,
        party=world.party,
        purpose="profiling",
        status="refused",
        source="paper_form",
        lawful_basis="legitimate_interest",
    )
    assert consent.contact_point is None
    assert consent.text_id == v2.pk  # the wording in force defaults
    assert (consent.status, consent.lawful_basis) == ("refused", "legitimate_interest")
    assert consent.granted_at is None and consent.withdrawn_at is None
    v1 = ConsentText.objects.get(purpose="profiling", version=1)
    consent = services_consent.consent_record(
        actor=world.bank.rm_a,
        party=world.party,
        purpose="profiling",
        status="granted",
        source="branch",
        text=v1,
    )
    assert consent.text_id == v1.pk
    assert Consent.objects.filter(party=world.party, purpose="profiling").count() == 1


def _bad_calls(world: World) -> list[tuple[str, dict[str, Any], str, str]]:
    base = {"party": world.party, "status": "granted", "source": "branch"}
    return [
        # (service, arguments, field, code)
        ("record", {**base, "purpose": "sms_marketing", "contact_point": world.email},
         "contact_point", "wrong_kind"),
        ("record", {**base, "purpose": "email_marketing", "contact_point": world.other_email},
         "contact_point", "other_party"),
        ("record", {**base, "purpose": "email_marketing"}, "contact_point", "required"),
        ("record", {**base, "purpose": "profiling", "contact_point": world.email},
         "contact_point", "not_allowed"),
        ("record", {**base, "purpose": "postal_marketing"}, "purpose", "invalid_choice"),
        ("record", {**base, "purpose": "profiling", "source": "carrier_pigeon"},
         "source", "invalid_choice"),
        ("record", {**base, "purpose": "profiling", "status": "maybe"}, "status", "invalid_choice"),
        ("record", {**base, "purpose": "profiling", "lawful_basis": "whim"},
         "lawful_basis", "invalid_choice"),
        ("record", {**base, "purpose": "profiling",
                    "text": ConsentText.objects.get(purpose="email_marketing", version=1)},
         "text", "other_purpose"),
        ("record", {**base, "purpose": "profiling", "note": "x" * 301}, "note", "too_long"),
        ("withdraw", {"party": world.party, "purpose": "third_party_sharing", "source": "branch"},
         "purpose", "not_on_record"),
        ("withdraw", {"party": world.party, "purpose": "sms_marketing", "source": "branch",
                      "contact_point": world.phone}, "contact_point", "not_on_record"),
        ("withdraw", {"party": world.party, "purpose": "phone_marketing", "source": "branch",
                      "contact_point": world.email}, "contact_point", "wrong_kind"),
    ]  # fmt: skip


def test_invalid_input_names_the_field_and_changes_nothing(world: World):
    grant_email(world)
    before = snapshot()
    for service, arguments, field, code in _bad_calls(world):
        call = (
            services_consent.consent_record
            if service == "record"
            else services_consent.consent_withdraw
        )
        with pytest.raises(ValidationError) as caught:
            call(actor=world.bank.rm_a, **arguments)
        assert list(caught.value.error_dict) == [field], (service, arguments)
        assert caught.value.error_dict[field][0].code == code, (service, arguments)
        assert snapshot() == before


def test_rm_of_branch_b_cannot_change_branch_a_customer(world: World):
    grant_email(world)
    before = snapshot()
    with pytest.raises(Party.DoesNotExist):
        grant_email(world, actor=world.bank.rm_b)
    with pytest.raises(Party.DoesNotExist):
        services_consent.consent_withdraw(
            actor=world.bank.rm_b, party=world.party, purpose="email_marketing",
            source="branch", contact_point=world.email,
        )  # fmt: skip
    with pytest.raises(Party.DoesNotExist):
        services_consent.party_contact_flags_set(
            actor=world.bank.rm_b, party=world.party, do_not_contact=True, reason="asked"
        )
    with pytest.raises(Party.DoesNotExist):
        services_consent.preference_link_issue(actor=world.bank.rm_b, party=world.party)
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action="consent.preference_link").exists()


def test_roles_without_change_consent_are_refused(world: World):
    marketer = UserFactory(
        username="mk", org_unit=world.bank.head_office,
        roles=[Role.objects.get(code="marketing_manager")],
    )  # fmt: skip
    before = snapshot()
    with pytest.raises(PermissionDenied):
        grant_email(world, actor=marketer)
    assert snapshot() == before


def test_service_agent_of_the_branch_records_consent(world: World):
    agent = UserFactory(
        username="agent_a", org_unit=world.bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )  # fmt: skip
    consent = grant_email(world, actor=agent)
    assert consent.status == "granted"
    agent_b = UserFactory(
        username="agent_b", org_unit=world.bank.branch_b,
        roles=[Role.objects.get(code="service_agent")],
    )  # fmt: skip
    with pytest.raises(Party.DoesNotExist):
        grant_email(world, actor=agent_b)


def test_contact_flags_are_set_audited_and_validated(world: World):
    party = services_consent.party_contact_flags_set(
        actor=world.bank.rm_a, party=world.party, do_not_contact=True, reason="Customer asked"
    )
    party.refresh_from_db()
    assert (party.do_not_contact, party.deceased_on) == (True, None)
    audit = AuditEvent.objects.get(action="customer.contact_flags")
    assert (audit.before, audit.after, audit.reason) == (
        {"do_not_contact": False},
        {"do_not_contact": True},
        "Customer asked",
    )
    outbox = OutboxEvent.objects.get(type="customer.contact_flags_changed")
    assert outbox.payload == {
        "party": str(party.pk), "do_not_contact": True, "deceased": False,
    }  # fmt: skip
    died = dt.date(2026, 3, 1)
    services_consent.party_contact_flags_set(
        actor=world.bank.rm_a, party=world.party, deceased_on=died, reason="Death certificate"
    )
    party.refresh_from_db()
    assert (party.do_not_contact, party.deceased_on) == (True, died)
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    organisation = OrganisationFactory(owning_unit=world.bank.branch_a)
    organisation.portfolio = world.bank.portfolio_a
    organisation.save()
    before = snapshot()
    for party_arg, kwargs, field in (
        (world.party, {"do_not_contact": False, "reason": " "}, "reason"),
        (world.party, {"deceased_on": tomorrow, "reason": "typo"}, "deceased_on"),
        (organisation, {"deceased_on": died, "reason": "x"}, "deceased_on"),
    ):
        with pytest.raises(ValidationError) as caught:
            services_consent.party_contact_flags_set(
                actor=world.bank.rm_a, party=party_arg, **kwargs
            )
        assert list(caught.value.error_dict) == [field]
    assert snapshot() == before
    # Clearing the date of death, flag left out: kept.
    services_consent.party_contact_flags_set(
        actor=world.bank.rm_a, party=world.party, deceased_on=None, reason="Recorded in error"
    )
    party.refresh_from_db()
    assert (party.do_not_contact, party.deceased_on) == (True, None)


def test_preference_link_is_signed_absolute_and_its_issue_audited(world: World, settings):
    settings.PUBLIC_BASE_URL = "https://bank.example"
    link = services_consent.preference_link_issue(
        actor=world.bank.rm_a, party=world.party, language="en"
    )
    assert link.startswith("https://bank.example/preferences/")
    assert link.endswith("/")
    token = link.removeprefix("https://bank.example/preferences/").rstrip("/")
    party, language = services_consent.preference_token_read(token)
    assert (party.pk, language) == (world.party.pk, "en")
    audit = AuditEvent.objects.get(action="consent.preference_link")
    assert audit.object_pk == str(world.party.pk)
    assert audit.after == {"language": "en", "valid_days": 30}
    # The plain link (used by e-mails) records nothing.
    count = AuditEvent.objects.count()
    services_consent.preference_link(party=world.party)
    assert AuditEvent.objects.count() == count


def test_a_row_created_meanwhile_is_updated_not_duplicated(world: World):
    from unittest import mock

    existing = grant_email(world)
    real_find = services_consent._find
    # The first look-up misses the row another request has just created.
    with mock.patch.object(
        services_consent,
        "_find",
        side_effect=[None, real_find(world.party, "email_marketing", world.email)],
    ):
        again = services_consent.consent_record(
            actor=world.bank.rm_a, party=world.party, purpose="email_marketing",
            status="withdrawn", source="branch", contact_point=world.email,
        )  # fmt: skip
    assert again.pk == existing.pk
    assert list(Consent.objects.values_list("pk", "status")) == [(existing.pk, "withdrawn")]
    assert ConsentEvent.objects.count() == 2
