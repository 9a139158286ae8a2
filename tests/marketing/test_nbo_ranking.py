"""Next best offers: ranking by expected value and every filter."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.utils import timezone

from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Consent, Party
from bankcrm.marketing.models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    OfferDecision,
)
from bankcrm.marketing.selectors_offers import next_best_offer_panel, next_best_offers
from tests.factories.marketing import CampaignFactory, ProductOfferFactory

from .test_nbo_fixtures import Nbo, nbo  # noqa: F401


def codes(items):
    return [item.offer.code for item in items]


def test_ranking_is_propensity_times_value(nbo: Nbo) -> None:  # noqa: F811
    items = next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer, limit=3)
    assert codes(items) == ["wealth", "td12", "card"]
    assert [item.expected_value for item in items] == [
        Decimal("500.00"),
        Decimal("240.00"),
        Decimal("100.00"),
    ]
    assert [item.propensity for item in items] == [0.25, 0.30, 0.10]
    assert [item.band for item in items] == ["medium", "high", "medium"]
    assert items[1].why == ["High propensity (30 per cent)"]
    assert items[0].value == Decimal("2000")
    assert items[0].product == nbo.wealth


def test_unscored_offers_come_after_the_scored_ones(nbo: Nbo) -> None:  # noqa: F811
    items = next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer, limit=10)
    # The current account is held: never offered; the loan has no score: last.
    assert codes(items) == ["wealth", "td12", "card", "loan"]
    assert items[-1].is_scored is False
    assert items[-1].expected_value is None
    assert items[-1].band == ""


def test_holding_the_product_leaves_the_offer_out(nbo: Nbo) -> None:  # noqa: F811
    from tests.factories.banking import AccountFactory

    AccountFactory(product=nbo.wealth, owner=nbo.customer, branch=nbo.bank.branch_a)
    assert codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer)) == [
        "td12",
        "card",
        "loan",
    ]


def test_a_closed_account_does_not_count_as_holding(nbo: Nbo) -> None:  # noqa: F811
    from tests.factories.banking import AccountFactory

    AccountFactory(
        product=nbo.wealth,
        owner=nbo.customer,
        branch=nbo.bank.branch_a,
        status="closed",
        closed_on=dt.date(2024, 1, 1),
    )
    assert codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer))[0] == "wealth"


def test_eligibility_rules_are_checked(nbo: Nbo) -> None:  # noqa: F811
    nbo.offer_wealth.eligibility = {
        "all": [{"field": "party.segment", "op": "eq", "value": "private"}]
    }
    nbo.offer_wealth.save()
    assert codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer)) == [
        "td12",
        "card",
        "loan",
    ]
    Party.objects.filter(pk=nbo.customer.pk).update(segment="private")
    assert codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer))[0] == "wealth"


def test_inactive_expired_and_non_nbo_offers_are_left_out(nbo: Nbo) -> None:  # noqa: F811
    today = bank_today()
    nbo.offer_wealth.valid_until = today - dt.timedelta(days=1)
    nbo.offer_wealth.save()
    nbo.offer_deposit.valid_from = today + dt.timedelta(days=1)
    nbo.offer_deposit.save()
    nbo.offer_card.is_next_best_offer = False
    nbo.offer_card.save()
    nbo.offer_loan.is_active = False
    nbo.offer_loan.save()
    assert next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer) == []


def test_a_recent_dismissal_hides_the_offer_until_the_period_ends(nbo: Nbo) -> None:  # noqa: F811
    decision = OfferDecision.objects.create(
        party=nbo.customer,
        offer=nbo.offer_wealth,
        decision="dismissed",
        reason="not_interested",
        decided_by=nbo.bank.rm_a,
    )
    assert "wealth" not in codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer))
    with override_settings(MARKETING_NBO_DISMISS_DAYS=90):
        OfferDecision.objects.filter(pk=decision.pk).update(
            created_at=timezone.now() - dt.timedelta(days=91)
        )
        assert codes(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer))[0] == "wealth"


def test_no_profiling_consent_means_no_offers_and_a_note(nbo: Nbo) -> None:  # noqa: F811
    Consent.objects.filter(party=nbo.customer, purpose="profiling").update(status="withdrawn")
    panel = next_best_offer_panel(actor=nbo.bank.rm_a, party=nbo.customer)
    assert panel.items == []
    assert panel.blocked == "no_profiling_consent"
    assert panel.blocked_message == "No consent to profiling: no personalised offers"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"do_not_contact": True}, "do_not_contact"),
        ({"deceased_on": dt.date(2026, 1, 2)}, "deceased"),
        ({"status": "closed"}, "closed"),
    ],
)
def test_customer_flags_block_every_offer(nbo: Nbo, change, reason) -> None:  # noqa: F811
    Party.objects.filter(pk=nbo.customer.pk).update(**change)
    nbo.customer.refresh_from_db()
    panel = next_best_offer_panel(actor=nbo.bank.rm_a, party=nbo.customer)
    assert (panel.items, panel.blocked) == ([], reason)


def _sent_messages(setup: Nbo, count: int, days_ago: int) -> None:
    now = timezone.now()
    for number in range(count):
        campaign = CampaignFactory(
            segment__owning_unit=setup.bank.head_office, status=Campaign.Status.COMPLETED
        )
        target = CampaignTarget.objects.create(
            campaign=campaign, party=setup.customer, group="treatment", draw=0.5
        )
        CampaignMessage.objects.create(
            campaign=campaign,
            target=target,
            party=setup.customer,
            channel="email",
            status="sent",
            queued_at=now,
            sent_at=now - dt.timedelta(days=days_ago, minutes=number),
        )


@override_settings(MARKETING_FREQUENCY_CAP=3, MARKETING_FREQUENCY_DAYS=30)
def test_the_contact_limit_blocks_offers(nbo: Nbo) -> None:  # noqa: F811
    _sent_messages(nbo, 2, days_ago=1)
    _sent_messages(nbo, 1, days_ago=40)  # outside the period: does not count
    assert len(next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer)) == 3
    _sent_messages(nbo, 1, days_ago=2)
    panel = next_best_offer_panel(actor=nbo.bank.rm_a, party=nbo.customer)
    assert (panel.items, panel.blocked) == ([], "frequency_cap")


def test_ties_are_broken_by_propensity(nbo: Nbo) -> None:  # noqa: F811
    from .test_nbo_fixtures import score

    # The loan product scores 0.4: loan 3000 × 0.4 = 1200.00, aaa 1250 × 0.4 = 500.00, the
    # same as the wealth plan's 2000 × 0.25, which has the lower propensity.
    ProductOfferFactory(code="aaa", product=nbo.loan, value=Decimal(1250))
    score(nbo.customer, nbo.loan, 0.4, nbo.model)
    items = next_best_offers(actor=nbo.bank.rm_a, party=nbo.customer, limit=4)
    assert codes(items) == ["loan", "aaa", "wealth", "td12"]
    assert [item.expected_value for item in items] == [
        Decimal("1200.00"),
        Decimal("500.00"),
        Decimal("500.00"),
        Decimal("240.00"),
    ]


def test_scope_and_permission(nbo: Nbo) -> None:  # noqa: F811
    with pytest.raises(Party.DoesNotExist):
        next_best_offers(actor=nbo.bank.rm_b, party=nbo.customer)
    from bankcrm.access.models import Role
    from tests.factories import UserFactory

    agent = UserFactory(
        username="agent_nbo",
        org_unit=nbo.bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )
    with pytest.raises(PermissionDenied):
        next_best_offers(actor=agent, party=nbo.customer)
