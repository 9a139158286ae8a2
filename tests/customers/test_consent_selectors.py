# ruff: noqa: F811 - the shared fixtures are imported by name
"""Consent selectors: the ``Exists`` building block in Party and ContactPoint querysets gives
exactly the expected ids, the fresh send-time check, the reachable contact point, the wording
in force, and the scoped list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Q
from django.utils import timezone

from bankcrm.customers import services_consent
from bankcrm.customers.models import ConsentPurpose, ConsentText, ContactPoint, Party
from bankcrm.customers.selectors_consent import (
    consent_granted_exists,
    consent_is_granted,
    consent_list,
    consent_overview,
    consent_text_current,
    reachable_contact_point,
)
from tests.customers.conftest import Bank, bank  # noqa: F401
from tests.factories.customers import ConsentFactory, ContactPointFactory, PersonFactory

pytestmark = pytest.mark.django_db


def _person(bank: Bank, name: str) -> Party:
    return PersonFactory(display_name=name, owning_unit=bank.branch_a, portfolio=bank.portfolio_a)


def _email(party: Party, primary: bool = True) -> ContactPoint:
    return ContactPointFactory(
        party=party, kind="email", value=f"{party.pk.hex[:8]}{int(primary)}@example.com",
        is_primary=primary,
    )  # fmt: skip


def _phone(party: Party) -> ContactPoint:
    return ContactPointFactory(party=party, kind="phone", is_primary=True)


@pytest.fixture
def people(bank: Bank) -> dict[str, object]:
    granted = _person(bank, "Granted E-mail")
    withdrawn = _person(bank, "Withdrawn E-mail")
    sms = _person(bank, "SMS only")
    profiled = _person(bank, "Profiling only")
    nothing = _person(bank, "Nothing")
    granted_email = _email(granted)
    withdrawn_email = _email(withdrawn)
    sms_phone = _phone(sms)
    _email(sms)
    ConsentFactory(party=granted, purpose="email_marketing", contact_point=granted_email)
    ConsentFactory(
        party=withdrawn, purpose="email_marketing", contact_point=withdrawn_email,
        status="withdrawn", withdrawn_at=timezone.now(),
    )  # fmt: skip
    ConsentFactory(party=sms, purpose="sms_marketing", contact_point=sms_phone)
    ConsentFactory(party=profiled, purpose="profiling", contact_point=None)
    return {
        "granted": granted, "withdrawn": withdrawn, "sms": sms, "profiled": profiled,
        "nothing": nothing, "granted_email": granted_email, "sms_phone": sms_phone,
    }  # fmt: skip


def _ids(queryset) -> set:
    return set(queryset.values_list("pk", flat=True))


def test_exists_in_a_party_filter_gives_exact_ids(people):
    parties = Party.objects.filter(pk__in=[p.pk for p in people.values() if isinstance(p, Party)])
    assert _ids(parties.filter(consent_granted_exists("email_marketing"))) == {people["granted"].pk}
    assert _ids(parties.filter(consent_granted_exists("sms_marketing"))) == {people["sms"].pk}
    assert _ids(parties.filter(consent_granted_exists("phone_marketing"))) == set()
    assert _ids(parties.filter(consent_granted_exists("profiling"))) == {people["profiled"].pk}
    assert _ids(parties.filter(~consent_granted_exists("email_marketing"))) == {
        people[k].pk for k in ("withdrawn", "sms", "profiled", "nothing")
    }
    either = parties.filter(
        Q(consent_granted_exists("email_marketing")) | Q(consent_granted_exists("sms_marketing"))
    )
    assert _ids(either) == {people["granted"].pk, people["sms"].pk}
    annotated = dict(
        parties.annotate(ok=consent_granted_exists("email_marketing")).values_list("pk", "ok")
    )
    assert annotated[people["granted"].pk] is True
    assert annotated[people["withdrawn"].pk] is False


def test_exists_on_a_contact_point_and_with_another_party_ref(people):
    points = ContactPoint.objects.filter(
        consent_granted_exists("email_marketing", party_ref="party_id", contact_point_ref="pk")
    )
    assert _ids(points) == {people["granted_email"].pk}
    # A per-customer consent row never counts for a channel purpose on a contact point.
    sms_points = ContactPoint.objects.filter(
        consent_granted_exists("sms_marketing", party_ref="party_id", contact_point_ref="pk")
    )
    assert _ids(sms_points) == {people["sms_phone"].pk}


def test_consent_is_granted_reads_fresh_and_is_false_after_withdrawal(bank: Bank, people):
    party = people["granted"]
    point = people["granted_email"]
    assert consent_is_granted(party_id=party.pk, purpose="email_marketing")
    assert consent_is_granted(
        party_id=party.pk, purpose="email_marketing", contact_point_id=point.pk
    )
    assert not consent_is_granted(party_id=party.pk, purpose="profiling")
    services_consent.consent_withdraw(
        actor=bank.rm_a, party=party, purpose="email_marketing",
        source="unsubscribe_link", contact_point=point,
    )  # fmt: skip
    assert not consent_is_granted(party_id=party.pk, purpose="email_marketing")
    assert not consent_is_granted(
        party_id=party.pk, purpose="email_marketing", contact_point_id=point.pk
    )
    assert consent_is_granted(party_id=people["profiled"].pk, purpose="profiling")


def test_reachable_contact_point_prefers_the_primary(bank: Bank):
    party = _person(bank, "Two addresses")
    secondary = _email(party, primary=False)
    primary = _email(party, primary=True)
    assert reachable_contact_point(party_id=party.pk, purpose="email_marketing") is None
    ConsentFactory(party=party, purpose="email_marketing", contact_point=secondary)
    assert reachable_contact_point(party_id=party.pk, purpose="email_marketing") == secondary
    ConsentFactory(party=party, purpose="email_marketing", contact_point=primary)
    assert reachable_contact_point(party_id=party.pk, purpose="email_marketing") == primary
    assert reachable_contact_point(party_id=party.pk, purpose="sms_marketing") is None
    assert reachable_contact_point(party_id=party.pk, purpose="profiling") is None


def test_wording_in_force_is_the_latest_effective_version():
    seeded = consent_text_current("sms_marketing")
    assert seeded is not None
    assert (seeded.version, seeded.effective_from) == (
        1,
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert "短信" in seeded.text_zh and "text message" in seeded.text_en
    assert {consent_text_current(p).version for p in ConsentPurpose.values} == {1}
    ConsentText.objects.create(
        purpose="sms_marketing", version=2, text_en="later", text_zh="以后",
        effective_from=timezone.now() + dt.timedelta(days=10),
    )  # fmt: skip
    assert consent_text_current("sms_marketing").version == 1
    ConsentText.objects.filter(purpose="sms_marketing", version=2).update(
        effective_from=timezone.now() - dt.timedelta(seconds=1)
    )
    assert consent_text_current("sms_marketing").version == 2


def test_consent_list_and_overview_are_scoped(bank: Bank, people):
    party = people["granted"]
    assert [c.purpose for c in consent_list(actor=bank.rm_a, party=party)] == ["email_marketing"]
    assert consent_list(actor=bank.rm_b, party=party) == []
    rows = consent_overview(actor=bank.rm_a, party=party)
    assert [(r.purpose, r.masked_value, r.status) for r in rows] == [
        ("email_marketing", rows[0].masked_value, "granted"),
        ("profiling", "", ""),
        ("third_party_sharing", "", ""),
    ]
    assert rows[0].masked_value.startswith(party.pk.hex[0]) and "***@example.com" in (
        rows[0].masked_value
    )
    assert rows[0].key == f"email_marketing:{people['granted_email'].pk}"
    assert rows[0].text_version is None  # the factory's row names no wording
