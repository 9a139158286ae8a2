"""The customer risk rating: the shipped policy against hand-computed examples, the
validation of a policy, and the rating stored on the profile and in its history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from bankcrm.compliance import rating
from bankcrm.compliance.models import KycProfile, RatingPolicy, RiskRatingHistory
from bankcrm.compliance.services_kyc import (
    country_lists,
    kyc_profile_update,
    parties_rate_all,
    party_rate,
    rating_policy_activate,
)
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today
from tests.factories.banking import AccountFactory, AccountMonthlyFlowFactory, ProductFactory
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

SYSTEM = SystemActor("tests")
AS_OF = dt.date(2026, 3, 1)


@pytest.fixture
def spec() -> dict:
    return RatingPolicy.objects.get(is_active=True).spec


def _facts(**changes: object) -> dict:
    facts = {
        "as_of": AS_OF,
        "customer_type": "person",
        "nationality": "IR",
        "residence": "CN",
        "occupation": "Gold bullion trader",
        "products": {"current", "wealth"},
        "channel": "online",
        "pep_status": "none",
        "pep_left_office_on": None,
        "screening_status": "clear",
        "adverse_media": False,
        "ownership": None,
        "actual_monthly_turnover": Decimal("40000"),
        "expected_monthly_turnover": Decimal("10000"),
    }
    facts.update(changes)
    return facts


def _by_code(result: rating.RatingResult) -> dict[str, dict]:
    return {row["code"]: row for row in result.factors}


def test_shipped_policy_is_valid(spec) -> None:
    assert rating.validate_spec(spec) == []
    assert sum(Decimal(f["weight"]) for f in spec["factors"]) == Decimal("1.00")


def test_hand_computed_example(spec) -> None:
    """points × weight = contribution, by hand:

    customer_type  person                      10 × 0.05 =  0.50
    nationality    IR (FATF + sanctioned)     100 × 0.10 = 10.00   (highest list: 100)
    residence      CN (home country)            0 × 0.10 =  0.00
    occupation     "Gold bullion trader"       80 × 0.10 =  8.00   (precious metals)
    products       current 20, wealth 50       50 × 0.05 =  2.50   (the highest)
    channel        online                      50 × 0.05 =  2.50
    pep            none                         0 × 0.20 =  0.00
    screening      clear                        0 × 0.15 =  0.00
    adverse_media  no                           0 × 0.05 =  0.00
    ownership      a person: not applicable     0 × 0.05 =  0.00
    activity       40,000 / 10,000 = 4.00 > 3 100 × 0.10 = 10.00
                                                   score = 33.50
    33.50 ≥ 25 (medium) and < 45 (high): medium; reviewed every 36 months.
    """
    result = rating.evaluate(spec, _facts(), country_lists=country_lists())
    rows = _by_code(result)
    assert {code: row["contribution"] for code, row in rows.items()} == {
        "customer_type": "0.50",
        "nationality": "10.00",
        "residence": "0.00",
        "occupation": "8.00",
        "products": "2.50",
        "channel": "2.50",
        "pep": "0.00",
        "screening": "0.00",
        "adverse_media": "0.00",
        "ownership": "0.00",
        "activity": "10.00",
    }
    assert rows["nationality"]["value"] == "IR (fatf_high_risk, sanctioned_jurisdictions)"
    assert rows["occupation"]["key"] == "precious_metals"
    assert rows["activity"]["value"] == "40000.00 / 10000.00 = 4.00"
    assert rows["pep"]["label"] == "Politically exposed person"
    assert set(rows["pep"]) == {"code", "label", "value", "key", "points", "weight", "contribution"}
    assert result.score == Decimal("33.50")
    assert result.band == "medium"
    assert result.review_months == 36
    assert result.due_diligence == "standard"
    assert result.overrides == []


def test_current_pep_is_high_by_points_and_by_override(spec) -> None:
    # 33.50 + 100 × 0.20 = 53.50 ≥ 45: high; the override says so anyway.
    result = rating.evaluate(spec, _facts(pep_status="current"), country_lists=country_lists())
    assert (result.score, result.band, result.review_months) == (Decimal("53.50"), "high", 12)
    assert result.due_diligence == "enhanced"
    assert "current_pep" in result.overrides


def test_confirmed_sanctions_match_overrides_a_low_score(spec) -> None:
    # A home-country person otherwise without risk: 10 × 0.05 + 100 × 0.15 = 15.50, low by
    # points; the confirmed match makes the band high.
    facts = _facts(
        nationality="CN",
        occupation="Teacher",
        products=set(),
        channel="branch",
        actual_monthly_turnover=Decimal(0),
        expected_monthly_turnover=Decimal(5000),
        screening_status="confirmed",
    )
    result = rating.evaluate(spec, facts, country_lists=country_lists())
    assert result.score == Decimal("15.50")
    assert result.band == "high"
    assert result.overrides == ["sanctions_match"]


def test_former_pep_stays_enhanced_for_the_policy_period(spec) -> None:
    left = dt.date(2025, 6, 1)
    within = rating.evaluate(
        spec,
        _facts(pep_status="former", pep_left_office_on=left, as_of=dt.date(2026, 5, 31)),
        country_lists=country_lists(),
    )
    # 33.50 + 70 × 0.20 = 47.50: high; EDD until 12 months after leaving office.
    assert (within.score, within.band, within.due_diligence) == (
        Decimal("47.50"),
        "high",
        "enhanced",
    )
    assert within.edd_until == dt.date(2026, 6, 1)
    lapsed = rating.evaluate(
        spec,
        _facts(pep_status="former", pep_left_office_on=left, as_of=dt.date(2026, 6, 2)),
        country_lists=country_lists(),
    )
    # 33.50 + 20 × 0.20 = 37.50: medium, standard due diligence again.
    assert (lapsed.score, lapsed.band, lapsed.due_diligence) == (
        Decimal("37.50"),
        "medium",
        "standard",
    )
    assert lapsed.edd_until is None


def test_keywords_match_words_not_parts_of_words(spec) -> None:
    lists = country_lists()
    farmer = _by_code(rating.evaluate(spec, _facts(occupation="Dairy farms"), country_lists=lists))
    assert farmer["occupation"]["key"] == "default"
    casino = _by_code(rating.evaluate(spec, _facts(occupation="澳门博彩公司"), country_lists=lists))
    assert casino["occupation"]["key"] == "gambling"


def test_validate_spec_names_each_problem(spec) -> None:
    broken = {
        **spec,
        "bands": {"medium": "50", "high": "40"},
        "review_months": {"low": 60, "medium": 36, "high": 18},
        "factors": [*spec["factors"], {"code": "pep", "kind": "magic", "weight": "-1"}],
    }
    problems = rating.validate_spec(broken)
    assert "Factor code “pep” is used twice." in problems
    assert any("kind must be one of" in p for p in problems)
    assert any("weight must be a number" in p for p in problems)
    assert "The medium threshold must not exceed the high threshold." in problems
    assert "High-risk customers must be reviewed at least every 12 months." in problems


def test_policy_activation_refuses_a_bad_spec_and_changes_nothing(spec) -> None:
    from django.core.exceptions import ValidationError

    bad = {**spec, "factors": [{**spec["factors"][1], "lists": {"nowhere": 10}}]}
    with pytest.raises(ValidationError) as caught:
        rating_policy_activate(actor=SYSTEM, spec=bad, name="v2")
    assert "spec" in caught.value.message_dict
    assert RatingPolicy.objects.get(is_active=True).version == 1
    policy = rating_policy_activate(actor=SYSTEM, spec=spec, name="Second")
    assert (policy.version, policy.is_active) == (2, True)
    assert RatingPolicy.objects.filter(is_active=True).count() == 1


def test_party_rate_stores_profile_and_history_from_the_database() -> None:
    product = ProductFactory(category="wealth")
    party = PersonFactory(person__nationality="IR", person__occupation="Gold bullion trader")
    party.customer_since = dt.date(2024, 1, 1)
    party.save()
    account = AccountFactory(owner=party, product=product, currency="CNY")
    # Six complete months before this one, 60,000 in each of two months: 20,000 a month.
    today = bank_today().replace(day=1)
    for months_back in (1, 2):
        AccountMonthlyFlowFactory(
            account=account,
            month=rating.add_months(today, -months_back),
            inflow=Decimal("60000"),
            outflow=Decimal("100"),
        )
    kyc_profile_update(
        actor=SYSTEM,
        party=party,
        changes={
            "onboarding_channel": "online",
            "expected_activity": {"monthly_turnover": "10000"},
        },
    )
    profile = KycProfile.objects.get(party=party)
    rows = {row["code"]: row for row in profile.risk_factors}
    assert rows["products"]["value"] == "wealth"
    # 120,000 / 6 months = 20,000 a month against 10,000 expected: ratio 2.00 → 50 points.
    assert rows["activity"]["value"] == "20000.00 / 10000.00 = 2.00"
    assert rows["activity"]["contribution"] == "5.00"
    # No residence recorded: the nationality (IR) stands for it. 0.50 + 10.00 + 10.00
    # + 8.00 + 2.50 (wealth) + 2.50 (online) + 0 + 4.50 (not screened) + 0 + 0 + 5.00
    # = 43.00: medium by points, but a sanctioned country of residence overrides to high.
    assert profile.risk_score == Decimal("43.00")
    assert profile.risk_band == "high"
    assert profile.due_diligence == "enhanced"
    assert profile.next_review_on == dt.date(2025, 1, 1)  # 12 months after customer_since
    history = list(RiskRatingHistory.objects.filter(party=party))
    assert [h.trigger for h in history] == ["kyc.profile_update"]
    # Rating again with the same facts writes nothing new.
    party_rate(actor=SYSTEM, party=party, trigger="manual")
    assert RiskRatingHistory.objects.filter(party=party).count() == 1


def test_rate_all_is_set_based(django_assert_max_num_queries) -> None:
    parties = [PersonFactory() for _ in range(30)]
    with django_assert_max_num_queries(40):
        rated = parties_rate_all(actor=SYSTEM, batch_size=10)
    assert rated == 30
    assert KycProfile.objects.filter(party__in=parties, risk_band="low").count() == 30
    assert RiskRatingHistory.objects.count() == 30
    # A second run finds nothing changed and writes no history.
    parties_rate_all(actor=SYSTEM, batch_size=10)
    assert RiskRatingHistory.objects.count() == 30
    # Adverse media on three of them: only those are written again (bulk update), medium.
    changed = [p.pk for p in parties[:3]]
    KycProfile.objects.filter(party_id__in=changed).update(adverse_media=True)
    parties_rate_all(actor=SYSTEM, batch_size=10)
    assert RiskRatingHistory.objects.count() == 33
    assert set(
        KycProfile.objects.filter(risk_band="medium").values_list("party_id", flat=True)
    ) == set(changed)
    profile = KycProfile.objects.get(party_id=changed[0])
    assert {f["code"]: f["key"] for f in profile.risk_factors}["adverse_media"] == "true"
    assert profile.next_review_on is not None
