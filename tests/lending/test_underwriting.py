"""Underwriting: the figures of a hand-computed case, policy rules as data, unknown facts,
the credit score (none registered: said so, never a number) and the stored result."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.lending import scoring
from bankcrm.lending.services_applications import (
    application_party_add,
    collateral_add,
    loan_application_underwrite,
)
from bankcrm.lending.underwriting import underwriting_evaluate
from tests.factories.customers import PersonFactory
from tests.factories.lending import LoanProductFactory


def rule(code, fact, op, value, outcome="decline", when_unknown="refer", name=None):
    return {
        "code": code,
        "name": name or code,
        "fact": fact,
        "op": op,
        "value": value,
        "outcome": outcome,
        "when_unknown": when_unknown,
    }


def outcomes(result) -> dict[str, str]:
    return {item["code"]: item["outcome"] for item in result["rules"]}


@pytest.fixture
def submitted(make_application, advance_application):
    def make(**overrides):
        return advance_application(make_application(**overrides), "submitted")

    return make


def test_the_figures_of_a_hand_computed_case(lending_bank, submitted, today):
    """CNY 50,000 over 24 months at 6 % (30/360 annuity): the instalment is
    50,000 × 0.005 / (1 − 1.005^−24) = 2,216.03.

    Income 20,000 + co-applicant 5,000 = 25,000; obligations 1,000; expenses 3,000.
    DTI = (1,000 + 2,216.03) / 25,000 = 12.86 %; disposable = 25,000 − 1,000 − 3,000 −
    2,216.03 = 18,783.97. Collateral: a car of 80,000 with a 25 % haircut (60,000) and a
    deposit of 10,000 (no haircut): 70,000; LTV = 50,000 / 70,000 = 71.43 %; cover 140.00 %.
    """
    application = submitted()
    application_party_add(
        actor=lending_bank.officer_a,
        application=application,
        party=lending_bank.co_applicant_a,
        role="co_applicant",
        monthly_income="5000",
    )
    guarantor = PersonFactory(
        owning_unit=lending_bank.branch_a, portfolio=lending_bank.bank.portfolio_a
    )
    application_party_add(
        actor=lending_bank.officer_a,
        application=application,
        party=guarantor,
        role="guarantor",
        monthly_income="90000",  # a guarantor's income does not count
    )
    for description, value, haircut, kind in (
        ("Car", "80000", "25", "vehicle"),
        ("Term deposit", "10000", "0", "deposit"),
    ):
        collateral_add(
            actor=lending_bank.officer_a,
            application=application,
            data={
                "type": kind,
                "description": description,
                "value": value,
                "valuation_date": "2025-06-01",
                "haircut_percent": haircut,
            },
        )

    result = loan_application_underwrite(actor=lending_bank.analyst, application=application)

    assert result["as_of"] == "2025-06-16"
    assert result["rate"] == "6.000000"
    assert result["currency"] == "CNY"
    assert result["facts"] == {
        "applicant_age": 40,
        "monthly_income": "25000.00",
        "monthly_obligations": "1000.00",
        "new_instalment": "2216.03",
        "dti": "12.86",
        "ltv": "71.43",
        "collateral_cover": "140.00",
        "disposable_income": "18783.97",
        "requested_amount": "50000.00",
        "term_months": 24,
        "sanctions_hit": None,
        "credit_score": None,
    }
    assert result["unknown"] == {
        "sanctions_hit": "No sanctions or PEP list is loaded.",
        "credit_score": "No credit model is registered.",
    }
    assert result["rules"] == [
        {
            "code": "min_age",
            "name": "Applicant at least 18",
            "fact": "applicant_age",
            "op": ">=",
            "limit": "18",
            "value": 40,
            "outcome": "pass",
            "message": "Applicant's age (years) is 40, meeting >= 18.",
        },
        {
            "code": "dti_refer",
            "name": "Debt-to-income at most 40 %",
            "fact": "dti",
            "op": "<=",
            "limit": "40",
            "value": "12.86",
            "outcome": "pass",
            "message": "Debt-to-income (%) is 12.86, meeting <= 40.",
        },
        {
            "code": "dti_cap",
            "name": "Debt-to-income at most 60 %",
            "fact": "dti",
            "op": "<=",
            "limit": "60",
            "value": "12.86",
            "outcome": "pass",
            "message": "Debt-to-income (%) is 12.86, meeting <= 60.",
        },
    ]
    assert result["recommendation"] == "approve"
    assert result["credit_score"] is None
    assert result["credit_score_message"] == "No credit model is registered."

    application.refresh_from_db()
    assert application.underwriting == result
    assert application.underwritten_at is not None
    event = AuditEvent.objects.get(action="loan_application.underwrite")
    assert event.actor_user_id == lending_bank.analyst.pk
    assert event.after == {
        "recommendation": "approve",
        "rules": {"min_age": "pass", "dti_refer": "pass", "dti_cap": "pass"},
    }


def test_a_non_annuity_takes_the_largest_instalment(lending_bank, make_application, today):
    """Equal principal: the first instalment is the largest, 50,000 / 24 = 2,083.33 of
    principal plus 250.00 of interest (50,000 × 6 % × 30 / 360)."""
    product = LoanProductFactory(code="ep01", method="equal_principal")
    application = make_application(product=product)
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert result["facts"]["new_instalment"] == "2333.33"
    assert result["facts"]["dti"] == "16.67"  # (1,000 + 2,333.33) / 20,000


@pytest.mark.parametrize(
    ("born", "expected"),
    [(dt.date(2007, 6, 17), ("decline", 17)), (dt.date(2007, 6, 16), ("approve", 18))],
)
def test_an_applicant_under_18_is_declined(lending_bank, make_application, born, expected):
    teenager = PersonFactory(
        owning_unit=lending_bank.branch_a,
        portfolio=lending_bank.bank.portfolio_a,
        person__date_of_birth=born,
    )
    application = make_application(applicant=teenager, settlement_account=None)
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert (result["recommendation"], result["facts"]["applicant_age"]) == expected
    assert outcomes(result)["min_age"] == ("decline" if expected[1] < 18 else "pass")


@pytest.mark.parametrize(
    ("obligations", "dti", "refer", "cap", "recommendation"),
    [
        ("6000", "41.08", "refer", "pass", "refer"),
        ("10000", "61.08", "refer", "decline", "decline"),
        ("5783.97", "40.00", "pass", "pass", "approve"),
    ],
)
def test_the_dti_rules_refer_then_decline(
    make_application, obligations, dti, refer, cap, recommendation
):
    application = make_application(monthly_obligations=obligations)
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert result["facts"]["dti"] == dti
    assert (outcomes(result)["dti_refer"], outcomes(result)["dti_cap"]) == (refer, cap)
    assert result["recommendation"] == recommendation


def test_an_organisation_has_no_age_so_the_age_rule_refers(lending_bank, make_application):
    application = make_application(
        applicant=lending_bank.company_a, settlement_account=lending_bank.company_account_a
    )
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert result["facts"]["applicant_age"] is None
    assert result["unknown"]["applicant_age"] == "An organisation has no age."
    age_rule = result["rules"][0]
    assert (age_rule["outcome"], age_rule["message"]) == (
        "refer",
        "Applicant's age (years) is unknown: refer to a senior approver.",
    )
    assert result["recommendation"] == "refer"


def test_unknown_facts_follow_when_unknown(lending_bank, make_application):
    product = LoanProductFactory(
        code="pl99",
        policy_rules=[
            rule("no_sanctions", "sanctions_hit", "==", False, when_unknown="ignore"),
            rule("scored", "credit_score", ">=", "600", when_unknown="decline"),
            rule("ltv_cap", "ltv", "<=", "80", outcome="refer", when_unknown="ignore"),
        ],
    )
    application = make_application(product=product)
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert [(r["code"], r["outcome"], r["message"]) for r in result["rules"]] == [
        (
            "no_sanctions",
            "unknown",
            "Sanctions or PEP list match is unknown: the rule is not applied.",
        ),
        ("scored", "decline", "Credit score is unknown: the rule declines."),
        ("ltv_cap", "unknown", "Loan-to-value (%) is unknown: the rule is not applied."),
    ]
    assert result["recommendation"] == "decline"


def test_a_registered_credit_model_scores_the_application(
    lending_bank, make_application, monkeypatch
):
    # The scorer registered when Django started (the risk module's) comes back afterwards.
    monkeypatch.setattr(scoring, "_SCORER", list(scoring._SCORER))
    monkeypatch.setattr(scoring, "_AVAILABLE", list(scoring._AVAILABLE))
    product = LoanProductFactory(
        code="pl98", policy_rules=[rule("scored", "credit_score", ">=", "600")]
    )
    application = make_application(product=product)
    scoring.register_credit_scorer(
        lambda app: scoring.ScoreResult(
            score=642,
            model="retail_scorecard",
            model_version="3",
            grade="B",
            probability_of_default=Decimal("0.0310"),
            reason_codes=["short_history"],
        )
    )
    try:
        result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    finally:
        scoring.unregister_credit_scorer()
    assert result["facts"]["credit_score"] == 642
    assert result["credit_score"] == {
        "score": 642,
        "model": "retail_scorecard",
        "model_version": "3",
        "grade": "B",
        "probability_of_default": "0.0310",
        "reason_codes": ["short_history"],
    }
    assert result["credit_score_message"] == ""
    assert outcomes(result) == {"scored": "pass"}
    assert scoring.credit_score(application) is None


def test_without_income_the_dti_is_unknown(make_application):
    application = make_application(monthly_income="0")
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert result["facts"]["dti"] is None
    assert result["unknown"]["dti"] == "No income is declared."
    assert outcomes(result) == {"min_age": "pass", "dti_refer": "refer", "dti_cap": "refer"}


def test_collateral_short_of_the_product_cover_refers(lending_bank, make_application, today):
    application = make_application(
        product=lending_bank.mortgage, amount="400000", term_months=240, monthly_income="60000"
    )
    collateral_add(
        actor=lending_bank.officer_a,
        application=application,
        data={
            "type": "real_estate",
            "description": "Flat",
            "value": "450000",
            "valuation_date": "2025-06-01",
        },
    )
    result = underwriting_evaluate(application, on=dt.date(2025, 6, 16))
    assert result["rate"] == "4.100000"  # LPR 3.6 + 0.5
    assert (result["facts"]["ltv"], result["facts"]["collateral_cover"]) == ("88.89", "112.50")
    cover = result["rules"][-1]
    assert cover == {
        "code": "collateral_cover",
        "name": "Collateral cover at least 125 %",
        "fact": "collateral_cover",
        "op": ">=",
        "limit": "125",
        "value": "112.50",
        "outcome": "refer",
        "message": "Collateral cover (%) is 112.50, failing >= 125: refer.",
    }
    assert result["recommendation"] == "refer"


def test_a_floating_product_without_a_published_rate_cannot_be_underwritten(
    lending_bank, make_application
):
    application = make_application(
        product=lending_bank.mortgage, amount="400000", term_months=240, monthly_income="60000"
    )
    with pytest.raises(ValidationError) as exc:
        underwriting_evaluate(application, on=dt.date(2019, 1, 1))
    assert list(exc.value.message_dict) == ["rate"]


def test_underwriting_is_refused_in_draft(lending_bank, make_application):
    application = make_application()
    with pytest.raises(ValidationError) as exc:
        loan_application_underwrite(actor=lending_bank.analyst, application=application)
    assert exc.value.messages == ["Underwriting is not possible while the application is “draft”."]
    application.refresh_from_db()
    assert application.underwriting == {}
