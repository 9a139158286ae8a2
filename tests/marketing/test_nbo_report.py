"""The next best offer report: accepted, dismissed by reason, acceptance rate, by branch; scoped
to the viewer's reach."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.marketing.models import OfferDecision
from bankcrm.marketing.selectors_offers import offer_report
from tests.factories import UserFactory

from .test_nbo_fixtures import Nbo, client_for, nbo  # noqa: F401


def decide(setup: Nbo, party: Any, offer: Any, decision: str, reason: str = "", days_ago: int = 0):
    record = OfferDecision.objects.create(
        party=party, offer=offer, decision=decision, reason=reason, decided_by=setup.bank.rm_a
    )
    if days_ago:
        OfferDecision.objects.filter(pk=record.pk).update(
            created_at=timezone.now() - dt.timedelta(days=days_ago)
        )
    return record


@pytest.fixture
def decisions(nbo: Nbo) -> Nbo:  # noqa: F811
    a, b = nbo.customer, nbo.bank.customer_b
    wealth, deposit = nbo.offer_wealth, nbo.offer_deposit
    decide(nbo, a, wealth, "accepted")
    decide(nbo, a, wealth, "accepted", days_ago=40)
    decide(nbo, a, wealth, "dismissed", "not_interested")
    decide(nbo, b, wealth, "accepted")
    decide(nbo, b, wealth, "dismissed", "bad_timing")
    decide(nbo, b, wealth, "dismissed", "other")
    decide(nbo, a, deposit, "dismissed", "has_elsewhere")
    return nbo


def figures(report) -> dict[str, tuple[int, int, Decimal | None]]:
    return {
        line.offer.code: (line.accepted, line.dismissed, line.acceptance_rate)
        for line in report.lines
    }


def branches(report) -> dict[tuple[str, str], tuple[int, int]]:
    return {
        (line.offer.code, line.unit.code): (line.accepted, line.dismissed)
        for line in report.branches
    }


def test_report_figures_for_the_whole_bank(decisions: Nbo) -> None:
    report = offer_report(actor=decisions.bank.marketer)
    assert figures(report) == {
        "td12": (0, 1, Decimal("0.0")),
        "wealth": (3, 3, Decimal("50.0")),
    }
    wealth = report.lines[1]
    assert wealth.by_reason == {"not_interested": 1, "bad_timing": 1, "other": 1}
    assert [count for _code, _label, count in wealth.reason_counts()] == [1, 0, 0, 1, 0, 1]
    assert branches(report) == {
        ("td12", "BRA"): (0, 1),
        ("wealth", "BRA"): (2, 1),
        ("wealth", "BRB"): (1, 2),
    }


def test_report_period(decisions: Nbo) -> None:
    today = timezone.localdate()
    report = offer_report(actor=decisions.bank.marketer, date_from=today - dt.timedelta(days=30))
    assert figures(report)["wealth"] == (2, 3, Decimal("40.0"))
    report = offer_report(actor=decisions.bank.marketer, date_to=today - dt.timedelta(days=30))
    assert figures(report) == {"wealth": (1, 0, Decimal("100.0"))}


def test_report_is_scoped_to_the_viewers_units(decisions: Nbo) -> None:
    report = offer_report(actor=decisions.bank.manager_a)
    assert figures(report) == {
        "td12": (0, 1, Decimal("0.0")),
        "wealth": (2, 1, Decimal("66.7")),
    }
    assert set(branches(report)) == {("td12", "BRA"), ("wealth", "BRA")}
    report = offer_report(actor=decisions.bank.rm_b)
    assert figures(report) == {"wealth": (1, 2, Decimal("33.3"))}


def test_report_page(decisions: Nbo) -> None:
    client = client_for(decisions.bank.manager_a)
    answer = client.get(reverse("marketing:offer_report"))
    assert answer.status_code == 200
    page = answer.content.decode()
    assert 'data-accepted="2"' in page
    assert 'data-rate="66.7"' in page
    assert 'data-branch="BRB"' not in page
    answer = client.get(
        reverse("marketing:offer_report"), {"date_from": "2026-05-02", "date_to": "2026-05-01"}
    )
    assert answer.status_code == 400
    assert list(answer.context["form"].errors) == ["date_to"]


def test_report_needs_the_permission(decisions: Nbo) -> None:
    agent = UserFactory(
        username="agent_report",
        org_unit=decisions.bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )
    assert client_for(agent).get(reverse("marketing:offer_report")).status_code == 403
