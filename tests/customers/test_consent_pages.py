# ruff: noqa: F811 - the shared fixtures are imported by name
"""The consent panel on the customer 360 and the staff consent page: what each role sees,
recording a choice, the contact flags, the audited preference link, and scope (another
branch's customer is a 404 and nothing changes)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import NoReverseMatch, clear_url_caches, reverse

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.customers import urls as customer_urls
from bankcrm.customers import views_consent
from bankcrm.customers.models import Consent, ConsentEvent, ContactPoint, Party
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories import UserFactory
from tests.factories.customers import ConsentFactory, ContactPointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def consent_urls(monkeypatch):
    """The staff consent pages, wired here when customers/urls.py does not name them yet."""
    try:
        reverse("customers:consents", args=["00000000-0000-0000-0000-000000000000"])
    except NoReverseMatch:
        monkeypatch.setattr(
            customer_urls,
            "urlpatterns",
            [*customer_urls.urlpatterns, *views_consent.staff_urlpatterns()],
        )
        clear_url_caches()
        yield
        clear_url_caches()
        return
    yield


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def email(bank: Bank) -> ContactPoint:
    point = ContactPointFactory(
        party=bank.customer_a, kind="email", value="wang.xiaoming@example.com", is_primary=True
    )
    ConsentFactory(party=bank.customer_a, purpose="email_marketing", contact_point=point)
    return point


def state() -> tuple[Any, ...]:
    return (
        list(Consent.objects.order_by("pk").values_list("pk", "status")),
        ConsentEvent.objects.count(),
        AuditEvent.objects.count(),
        list(Party.objects.order_by("pk").values_list("do_not_contact", "deceased_on")),
    )


def test_rm_sees_the_panel_on_the_360_page(bank: Bank, email: ContactPoint):
    phone = ContactPointFactory(
        party=bank.customer_a, kind="phone", value="+8613912345678", is_primary=True
    )
    response = _client(bank.rm_a).get(reverse("customers:detail", args=[bank.customer_a.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="consent-panel"' in body
    assert "w***@example.com" in body
    assert "wang.xiaoming@example.com" not in body.split('id="consent-panel"')[1]
    panel = response.context["consent"]
    assert [(r.purpose, r.status) for r in panel["rows"]] == [
        ("email_marketing", "granted"),
        ("profiling", ""),
        ("third_party_sharing", ""),
    ]
    assert panel["may_change"] is True
    assert panel["page_url"] == reverse("customers:consents", args=[bank.customer_a.pk])
    assert 'id="consent-link-form"' in body
    assert 'data-purpose="email_marketing" data-status="granted"' in body
    # The phone has no consent at all: listed as not asked, masked.
    not_asked = body.split(f'data-contact-point="{phone.pk}"')[1].split("</li>")[0]
    assert "+86 139****5678" in not_asked
    assert "Not asked" in not_asked


def test_flags_show_on_the_panel(bank: Bank, email: ContactPoint):
    Party.objects.filter(pk=bank.customer_a.pk).update(do_not_contact=True)
    body = (
        _client(bank.rm_a)
        .get(reverse("customers:detail", args=[bank.customer_a.pk]))
        .content.decode()
    )
    assert 'id="consent-do-not-contact"' in body


def test_view_only_roles_see_the_panel_without_actions(bank: Bank, email: ContactPoint):
    analyst = bank.analyst  # customers.view_* bank-wide, no change_consent
    response = _client(analyst).get(reverse("customers:detail", args=[bank.customer_a.pk]))
    assert response.status_code == 200
    assert response.context["consent"]["may_change"] is False
    body = response.content.decode()
    assert 'id="consent-panel"' in body
    assert 'id="consent-link-form"' not in body
    page = _client(analyst).get(reverse("customers:consents", args=[bank.customer_a.pk]))
    assert page.status_code == 200
    assert 'id="consent-record-form"' not in page.content.decode()
    before = state()
    url = reverse("customers:consents", args=[bank.customer_a.pk])
    response = _client(analyst).post(url, {"purpose": "profiling", "status": "granted"})
    assert response.status_code == 403
    link = reverse("customers:consent_link", args=[bank.customer_a.pk])
    assert _client(analyst).post(link).status_code == 403
    assert state() == before


def test_consent_page_records_a_choice_and_shows_history(bank: Bank, email: ContactPoint):
    client = _client(bank.rm_a)
    url = reverse("customers:consents", args=[bank.customer_a.pk])
    response = client.post(
        url,
        {
            "purpose": "email_marketing",
            "contact_point": str(email.pk),
            "status": "withdrawn",
            "source": "branch",
            "lawful_basis": "consent",
            "note": "Customer asked at the counter",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url
    consent = Consent.objects.get(purpose="email_marketing")
    assert (consent.status, consent.source) == ("withdrawn", "branch")
    page = client.get(url)
    body = page.content.decode()
    assert [e.status for e in page.context["events"]] == ["withdrawn"]
    assert "Customer asked at the counter" in body
    assert 'id="history"' in body


def test_consent_page_shows_the_services_error_on_the_field(bank: Bank, email: ContactPoint):
    before = state()
    response = _client(bank.rm_a).post(
        reverse("customers:consents", args=[bank.customer_a.pk]),
        {"purpose": "sms_marketing", "contact_point": str(email.pk), "status": "granted",
         "source": "branch", "lawful_basis": "consent"},
    )  # fmt: skip
    assert response.status_code == 400
    assert list(response.context["record_form"].errors) == ["contact_point"]
    assert 'id="consent-record-errors"' in response.content.decode()
    assert state() == before


def test_flags_form_sets_do_not_contact(bank: Bank):
    response = _client(bank.rm_a).post(
        reverse("customers:consent_flags", args=[bank.customer_a.pk]),
        {"do_not_contact": "on", "deceased_on": "", "reason": "Asked to be left alone"},
    )
    assert response.status_code == 302
    party = Party.objects.get(pk=bank.customer_a.pk)
    assert (party.do_not_contact, party.deceased_on) == (True, None)
    assert AuditEvent.objects.filter(action="customer.contact_flags").count() == 1


def test_preference_link_button_is_audited(bank: Bank, settings):
    settings.PUBLIC_BASE_URL = "https://bank.example"
    url = reverse("customers:consent_link", args=[bank.customer_a.pk])
    response = _client(bank.rm_a).post(url, {"language": "zh-hans"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="consent-link-value" value="https://bank.example/preferences/' in body
    audit = AuditEvent.objects.get(action="consent.preference_link")
    assert audit.actor == "rm_a"
    assert audit.after == {"language": "zh-hans", "valid_days": 30}


def test_another_branchs_customer_is_not_found(bank: Bank, email: ContactPoint):
    before = state()
    client = _client(bank.rm_b)
    pk = bank.customer_a.pk
    assert client.get(reverse("customers:consents", args=[pk])).status_code == 404
    for name, data in (
        ("customers:consents", {"purpose": "profiling", "status": "granted", "source": "branch",
                                "lawful_basis": "consent"}),
        ("customers:consent_flags", {"do_not_contact": "on", "reason": "x"}),
        ("customers:consent_link", {}),
    ):  # fmt: skip
        assert client.post(reverse(name, args=[pk]), data).status_code == 404, name
    assert state() == before


def test_service_agent_may_record_but_marketing_manager_only_sees(bank: Bank, email: ContactPoint):
    agent = UserFactory(
        username="agent_a", org_unit=bank.branch_a, roles=[Role.objects.get(code="service_agent")]
    )
    marketer = UserFactory(
        username="mk_a", org_unit=bank.branch_a,
        roles=[Role.objects.get(code="marketing_manager")],
    )  # fmt: skip
    url = reverse("customers:detail", args=[bank.customer_a.pk])
    assert _client(agent).get(url).context["consent"]["may_change"] is True
    assert _client(marketer).get(url).context["consent"]["may_change"] is False
