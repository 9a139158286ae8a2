# ruff: noqa: F811 - the shared fixtures are imported by name
"""The preference page's "do not contact me for marketing at all" switch: shown ticked when
the customer's do-not-contact flag is set; ticking it sets the flag and unticking clears it,
through the contact flags service (audited ``customer.contact_flags`` by the preference page,
outbox ``customer.contact_flags_changed``), leaving the consents as they are; a form that did
not show the switch leaves the flag alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.customers import services_consent
from bankcrm.customers.models import Consent, ConsentEvent, ContactPoint, Party
from bankcrm.events.models import OutboxEvent
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories.customers import ConsentFactory, ContactPointFactory

pytestmark = pytest.mark.django_db

SWITCH = 'name="do_not_contact" value="1" id="do-not-contact-switch"'


@dataclass
class Customer:
    party: Party
    email: ContactPoint
    url: str


@pytest.fixture
def customer(bank: Bank) -> Customer:
    party = bank.customer_a
    email = ContactPointFactory(
        party=party, kind="email", value="wang.xiaoming@example.com", is_primary=True
    )
    ConsentFactory(party=party, purpose="email_marketing", contact_point=email)
    token = services_consent.preference_token(party=party)
    return Customer(party, email, f"/preferences/{token}/")


def _consents() -> list[tuple[Any, ...]]:
    rows = Consent.objects.order_by("pk").values_list("purpose", "contact_point_id", "status")
    return [*rows, ConsentEvent.objects.count()]


def _save(customer: Customer, **fields: Any) -> Any:
    """Post the page as the customer's browser does (CSRF enforced), e-mail consent kept on."""
    client = Client(enforce_csrf_checks=True)
    page = client.get(customer.url + "?lang=en")
    data = {
        "csrfmiddlewaretoken": page.cookies["csrftoken"].value,
        "lang": "en",
        "choice": [f"email_marketing:{customer.email.pk}"],
        **fields,
    }
    return client.post(customer.url + "?lang=en", data)


def _flag(customer: Customer) -> bool:
    return bool(Party.objects.get(pk=customer.party.pk).do_not_contact)


def test_switch_is_shown_unticked_then_ticked_once_set(customer: Customer) -> None:
    body = Client().get(customer.url + "?lang=en").content.decode()
    assert f'{SWITCH} aria-describedby="do-not-contact-help">' in body
    assert '<input type="hidden" name="do_not_contact_shown" value="1">' in body
    assert "Do not contact for marketing at all" in body

    Party.objects.filter(pk=customer.party.pk).update(do_not_contact=True)

    body = Client().get(customer.url + "?lang=en").content.decode()
    assert f'{SWITCH} aria-describedby="do-not-contact-help" checked>' in body


def test_ticking_the_switch_sets_do_not_contact_audited_as_the_preference_page(
    customer: Customer,
) -> None:
    consents = _consents()

    response = _save(customer, do_not_contact_shown="1", do_not_contact="1")

    assert response.status_code == 200
    body = response.content.decode()
    assert "1 choice changed." in body
    assert '<li class="py-1" data-key="do_not_contact">' in body
    assert _flag(customer) is True
    # The consents are untouched: the flag stops marketing whatever they say.
    assert _consents() == consents
    audit = AuditEvent.objects.get(action="customer.contact_flags")
    assert (audit.object_type, audit.object_pk) == ("customers.party", str(customer.party.pk))
    assert (audit.actor, audit.actor_user_id) == ("system:customer.preference_page", None)
    assert (audit.before, audit.after) == ({"do_not_contact": False}, {"do_not_contact": True})
    assert audit.reason == "preference_page, language=en"
    outbox = OutboxEvent.objects.get(type="customer.contact_flags_changed")
    assert outbox.payload == {
        "party": str(customer.party.pk),
        "do_not_contact": True,
        "deceased": False,
    }
    # The page now shows it ticked; saving the same choices again changes nothing.
    page = Client().get(customer.url + "?lang=en").content.decode()
    assert f'{SWITCH} aria-describedby="do-not-contact-help" checked>' in page
    again = _save(customer, do_not_contact_shown="1", do_not_contact="1")
    assert "0 choices changed." in again.content.decode()
    assert AuditEvent.objects.filter(action="customer.contact_flags").count() == 1


def test_unticking_the_switch_clears_do_not_contact(customer: Customer) -> None:
    services_consent.party_contact_flags_set(
        actor=services_consent.PREFERENCE_ACTOR,
        party=customer.party,
        do_not_contact=True,
        reason="preference_page, language=zh-hans",
    )
    assert _flag(customer) is True
    consents = _consents()

    # An unticked box sends nothing but the marker that the switch was shown.
    response = _save(customer, do_not_contact_shown="1")

    assert response.status_code == 200
    assert "1 choice changed." in response.content.decode()
    assert _flag(customer) is False
    assert _consents() == consents
    cleared = AuditEvent.objects.filter(action="customer.contact_flags").order_by("-id").first()
    assert (cleared.actor, cleared.reason) == (
        "system:customer.preference_page",
        "preference_page, language=en",
    )
    assert (cleared.before, cleared.after) == (
        {"do_not_contact": True},
        {"do_not_contact": False},
    )
    outbox = OutboxEvent.objects.filter(type="customer.contact_flags_changed")
    assert sorted(event.payload["do_not_contact"] for event in outbox) == [False, True]
    page = Client().get(customer.url + "?lang=en").content.decode()
    assert f'{SWITCH} aria-describedby="do-not-contact-help">' in page


def test_a_form_without_the_switch_leaves_the_flag_alone(customer: Customer) -> None:
    Party.objects.filter(pk=customer.party.pk).update(do_not_contact=True)

    # A page saved from before the switch existed: no marker, no box.
    response = _save(customer)

    assert response.status_code == 200
    assert _flag(customer) is True
    assert not AuditEvent.objects.filter(action="customer.contact_flags").exists()
    # The service likewise leaves it alone unless told.
    services_consent.preferences_apply(token=customer.url.split("/")[2], choices={}, language="en")
    assert _flag(customer) is True


def test_switch_and_consents_are_applied_together(customer: Customer) -> None:
    token = customer.url.split("/")[2]
    changed = services_consent.preferences_apply(
        token=token,
        choices={f"email_marketing:{customer.email.pk}": False},
        language="zh-hans",
        do_not_contact=True,
    )
    assert [(c.purpose, c.status) for c in changed] == [("email_marketing", "withdrawn")]
    assert _flag(customer) is True
    audit = AuditEvent.objects.get(action="customer.contact_flags")
    assert audit.reason == "preference_page, language=zh-hans"
    event = ConsentEvent.objects.filter(source="preference_page").get()
    assert (event.status, event.recorded_by_label, event.note) == (
        "withdrawn",
        "customer",
        "language=zh-hans",
    )
