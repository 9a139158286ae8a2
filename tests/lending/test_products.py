"""Loan products and reference rates: validation of every field (JSON items included),
permissions, audit, and pricing on a date."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.lending.models import LoanProduct, ReferenceRate
from bankcrm.lending.pricing import loan_product_rate, schedule_periods, upfront_fee
from bankcrm.lending.services_applications import (
    loan_product_create,
    loan_product_update,
    reference_rate_publish,
)
from tests.factories import UserFactory
from tests.factories.lending import ReferenceRateFactory


def valid_product(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": "auto01",
        "name": "Car loan",
        "name_zh": "汽车贷款",
        "type": "auto",
        "currency": "cny",
        "min_amount": "20000",
        "max_amount": "300000.00",
        "min_term_months": 12,
        "max_term_months": 60,
        "rate_type": "fixed",
        "nominal_rate": "5.25",
        "upfront_fee_percent": "1",
        "period_fee": "10",
        "frequency": "monthly",
        "method": "equal_principal",
        "day_count": "act365",
        "grace_periods": 2,
        "required_documents": [
            {"code": "id_card", "name": "Identity card", "name_zh": "身份证"},
            {"code": "invoice", "name": "Car invoice", "expires_after_days": 60},
        ],
        "collateral_cover_percent": "100",
        "authority_limits": [
            {"up_to": 100000, "roles": ["loan_officer", "branch_manager"], "approvers": 1},
            {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
        ],
        "policy_rules": [
            {
                "code": "min_age",
                "name": "Adult",
                "fact": "applicant_age",
                "op": ">=",
                "value": 18,
                "outcome": "decline",
                "when_unknown": "refer",
            },
            {
                "code": "no_sanctions",
                "name": "No sanctions match",
                "fact": "sanctions_hit",
                "op": "==",
                "value": "false",
                "outcome": "decline",
                "when_unknown": "ignore",
            },
        ],
        "offer_valid_days": 14,
    }
    data.update(overrides)
    return data


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return {field: list(messages) for field, messages in exc.value.message_dict.items()}


def codes_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return {
        field: [error.code for error in errors] for field, errors in exc.value.error_dict.items()
    }


@pytest.fixture
def service_agent(lending_bank):
    return UserFactory(
        username="agent_a",
        org_unit=lending_bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )


def test_an_administrator_creates_a_product_with_its_json_fields_normalised(lending_bank):
    product = loan_product_create(actor=lending_bank.admin, data=valid_product())

    product.refresh_from_db()
    assert product.code == "auto01"
    assert product.currency == "CNY"
    assert product.min_amount == Decimal("20000")
    assert product.nominal_rate == Decimal("5.25")
    assert product.required_documents == [
        {"code": "id_card", "name": "Identity card", "name_zh": "身份证"},
        {"code": "invoice", "name": "Car invoice", "expires_after_days": 60},
    ]
    assert product.authority_limits == [
        {"up_to": "100000", "roles": ["loan_officer", "branch_manager"], "approvers": 1},
        {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
    ]
    assert product.policy_rules == [
        {
            "code": "min_age",
            "name": "Adult",
            "fact": "applicant_age",
            "op": ">=",
            "value": "18",
            "outcome": "decline",
            "when_unknown": "refer",
        },
        {
            "code": "no_sanctions",
            "name": "No sanctions match",
            "fact": "sanctions_hit",
            "op": "==",
            "value": False,
            "outcome": "decline",
            "when_unknown": "ignore",
        },
    ]
    event = AuditEvent.objects.get(action="loan_product.create")
    assert event.object_pk == str(product.pk)
    assert event.actor_user_id == lending_bank.admin.pk
    assert event.after["code"] == "auto01"
    assert event.after["offer_valid_days"] == 14


def test_every_bad_scalar_field_is_named_and_nothing_is_saved(lending_bank):
    before = LoanProduct.objects.count()
    with pytest.raises(ValidationError) as exc:
        loan_product_create(
            actor=lending_bank.admin,
            data=valid_product(
                code="auto 01",
                type="boat",
                currency="XYZ",
                min_amount=20000.5,
                max_amount="abc",
                min_term_months=0,
                max_term_months="twelve",
                nominal_rate="120",
                upfront_fee_percent="-1",
                period_fee="-5",
                frequency="daily",
                method="balloon",
                day_count="actual",
                offer_valid_days=0,
                is_active="yes",
                colour="red",
            ),
        )
    assert sorted(errors_of(exc)) == [
        "code",
        "colour",
        "currency",
        "day_count",
        "frequency",
        "is_active",
        "max_amount",
        "max_term_months",
        "method",
        "min_amount",
        "min_term_months",
        "nominal_rate",
        "offer_valid_days",
        "period_fee",
        "type",
        "upfront_fee_percent",
    ]
    assert errors_of(exc)["min_amount"] == ["Enter a decimal number as text, e.g. “6.5”."]
    assert errors_of(exc)["currency"] == ["XYZ is not an ISO 4217 currency code."]
    assert errors_of(exc)["colour"] == ["This field is not allowed here."]
    assert LoanProduct.objects.count() == before
    assert not AuditEvent.objects.filter(action="loan_product.create").exists()


def test_cross_field_rules_are_named(lending_bank):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(
            actor=lending_bank.admin,
            data=valid_product(
                min_amount="50000",
                max_amount="40000",
                min_term_months=24,
                max_term_months=12,
                margin="0.5",
                reference_rate_code="lpr5y",
                grace_periods=24,
            ),
        )
    assert errors_of(exc) == {
        "max_amount": ["The largest amount must be at least the smallest amount."],
        "max_term_months": ["The longest term must be at least the shortest term."],
        "margin": ["Only a floating-rate product has a margin."],
        "reference_rate_code": ["Only a floating-rate product has a reference rate."],
        "grace_periods": ["Grace must leave at least one repayment within the shortest term."],
    }


def test_a_floating_product_needs_a_published_reference_rate(lending_bank):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(
            actor=lending_bank.admin,
            data=valid_product(rate_type="floating", nominal_rate="0", margin="0.3"),
        )
    assert errors_of(exc) == {
        "reference_rate_code": ["A floating-rate product needs the reference rate it floats over."]
    }
    with pytest.raises(ValidationError) as exc:
        loan_product_create(
            actor=lending_bank.admin,
            data=valid_product(
                rate_type="floating", nominal_rate="0", margin="0.3", reference_rate_code="shibor"
            ),
        )
    assert errors_of(exc) == {
        "reference_rate_code": ["No reference rate “shibor” has been published."]
    }


def test_required_document_items_are_checked_one_by_one(lending_bank):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(
            actor=lending_bank.admin,
            data=valid_product(
                required_documents=[
                    {"code": "id card", "name": ""},
                    {"code": "payslip", "name": "Payslip", "expires_after_days": 0},
                    {"code": "payslip", "name": "Payslip again", "pages": 3},
                    "passport",
                ]
            ),
        )
    assert errors_of(exc) == {
        "required_documents.0.code": ["Enter a code of letters, digits, - and _ (at most 64)."],
        "required_documents.0.name": ["Enter the document's name (at most 200)."],
        "required_documents.1.expires_after_days": [
            "Enter a whole number of days from 1 to 3650, or leave it empty."
        ],
        "required_documents.2.pages": ["This field is not allowed here."],
        "required_documents.2.code": ["This code is used twice."],
        "required_documents.3": ["Each document is an object with a code and a name."],
    }
    assert not LoanProduct.objects.filter(code="auto01").exists()


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        (
            [],
            {
                "authority_limits": [
                    "Give at least one approval tier: who may approve up to which amount."
                ]
            },
        ),
        (
            [
                {"up_to": "-5", "roles": ["teller"], "approvers": 3},
                {"up_to": None, "roles": [], "approvers": 1, "limit": 1},
            ],
            {
                "authority_limits.0.up_to": ["The amount must be above zero."],
                "authority_limits.0.roles": ["Unknown roles: teller."],
                "authority_limits.0.approvers": ["Enter 1 or 2 approvers."],
                "authority_limits.1.limit": ["This field is not allowed here."],
                "authority_limits.1.roles": ["Give the codes of the roles that decide."],
            },
        ),
        (
            [
                {"up_to": "200000", "roles": ["loan_officer"], "approvers": 1},
                {"up_to": "100000", "roles": ["branch_manager"], "approvers": 1},
                {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
            ],
            {
                "authority_limits": [
                    "List the tiers by their upper amount, smallest first, each above the "
                    "one before."
                ]
            },
        ),
        (
            [
                {"up_to": None, "roles": ["branch_manager"], "approvers": 1},
                {"up_to": "100000", "roles": ["branch_manager"], "approvers": 2},
            ],
            {"authority_limits": ["Exactly one tier, the last, has no upper amount (up_to null)."]},
        ),
        (
            [{"up_to": "100000", "roles": ["loan_officer"], "approvers": 1}],
            {"authority_limits": ["Exactly one tier, the last, has no upper amount (up_to null)."]},
        ),
        (
            [{"roles": ["branch_manager", "branch_manager"], "approvers": True}],
            {
                "authority_limits.0.up_to": [
                    "Give the largest amount of the tier, or null for no limit."
                ],
                "authority_limits.0.roles": ["A role is named twice."],
                "authority_limits.0.approvers": ["Enter 1 or 2 approvers."],
            },
        ),
    ],
)
def test_authority_tiers_are_checked(lending_bank, tiers, expected):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(actor=lending_bank.admin, data=valid_product(authority_limits=tiers))
    assert errors_of(exc) == expected
    assert not LoanProduct.objects.filter(code="auto01").exists()


def test_policy_rules_are_checked_against_the_known_facts(lending_bank):
    rules = [
        {
            "code": "r1",
            "name": "Bad fact",
            "fact": "shoe_size",
            "op": "=~",
            "value": "40",
            "outcome": "approve",
            "when_unknown": "maybe",
        },
        {
            "code": "r2",
            "name": "",
            "fact": "sanctions_hit",
            "op": "<",
            "value": "perhaps",
            "outcome": "decline",
        },
        {
            "code": "collateral_cover",
            "name": "Cover",
            "fact": "dti",
            "op": "<=",
            "value": 40.5,
            "outcome": "refer",
            "when_unknown": "refer",
            "severity": "high",
        },
    ]
    with pytest.raises(ValidationError) as exc:
        loan_product_create(actor=lending_bank.admin, data=valid_product(policy_rules=rules))
    assert errors_of(exc) == {
        "policy_rules.0.fact": [
            "Choose one of: applicant_age, monthly_income, monthly_obligations, new_instalment, "
            "dti, ltv, collateral_cover, disposable_income, requested_amount, term_months, "
            "sanctions_hit, credit_score."
        ],
        "policy_rules.0.op": ["Choose one of: < <= > >= == !=."],
        "policy_rules.0.outcome": ["Choose decline or refer."],
        "policy_rules.0.when_unknown": ["Choose decline, refer or ignore."],
        "policy_rules.1.name": ["Enter the rule's name (at most 200)."],
        "policy_rules.1.op": ["A yes/no fact is compared with == or != only."],
        "policy_rules.1.value": ["Enter true or false."],
        "policy_rules.1.when_unknown": ["Choose decline, refer or ignore."],
        "policy_rules.2.severity": ["This field is not allowed here."],
        "policy_rules.2.code": [
            "“collateral_cover” is kept for the product's collateral cover rule."
        ],
        "policy_rules.2.value": ["Enter a number as text, e.g. “40”."],
    }


def test_missing_required_fields_are_named(lending_bank):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(actor=lending_bank.admin, data={"name": "Nameless"})
    assert codes_of(exc) == {
        "code": ["required"],
        "type": ["required"],
        "min_amount": ["required"],
        "max_amount": ["required"],
        "min_term_months": ["required"],
        "max_term_months": ["required"],
        "authority_limits": ["required"],
    }


def test_a_duplicate_code_is_refused(lending_bank):
    with pytest.raises(ValidationError) as exc:
        loan_product_create(actor=lending_bank.admin, data=valid_product(code="pl01"))
    assert errors_of(exc) == {"code": ["Another product has this code."]}


def test_only_holders_of_the_product_permission_define_products(lending_bank, service_agent):
    # Products are bank configuration: front office and branch staff do not define them.
    for actor in (service_agent, lending_bank.rm_a, lending_bank.officer_a, lending_bank.manager_a):
        with pytest.raises(PermissionDenied):
            loan_product_create(actor=actor, data=valid_product())
    with pytest.raises(PermissionDenied):
        loan_product_update(
            actor=service_agent, product=lending_bank.product, changes={"name": "Hacked"}
        )
    assert not LoanProduct.objects.filter(code="auto01").exists()
    lending_bank.product.refresh_from_db()
    assert lending_bank.product.name == "Personal loan"


def test_update_changes_only_the_fields_given_and_audits_before_and_after(lending_bank):
    product = lending_bank.product
    loan_product_update(
        actor=lending_bank.admin,
        product=product,
        changes={
            "name": "Personal loan plus",
            "max_amount": "800000",
            "authority_limits": [
                {"up_to": "200000", "roles": ["loan_officer"], "approvers": 1},
                {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
            ],
        },
    )
    product.refresh_from_db()
    assert product.name == "Personal loan plus"
    assert product.max_amount == Decimal("800000")
    assert product.authority_limits[0] == {
        "up_to": "200000",
        "roles": ["loan_officer"],
        "approvers": 1,
    }
    event = AuditEvent.objects.get(action="loan_product.update")
    assert event.before["name"] == "Personal loan"
    assert event.after["name"] == "Personal loan plus"
    assert event.before["max_amount"] == "500000.0000"
    assert event.after["max_amount"] == "800000"
    assert set(event.after) == {"name", "max_amount", "authority_limits", "updated_at"}


def test_update_with_a_bad_field_changes_nothing(lending_bank):
    product = lending_bank.product
    with pytest.raises(ValidationError) as exc:
        loan_product_update(
            actor=lending_bank.admin,
            product=product,
            changes={"name": "New name", "min_amount": "600000"},
        )
    assert errors_of(exc) == {
        "max_amount": ["The largest amount must be at least the smallest amount."]
    }
    product.refresh_from_db()
    assert product.name == "Personal loan"
    assert product.min_amount == Decimal("10000")
    assert not AuditEvent.objects.filter(action="loan_product.update").exists()


def test_the_currency_cannot_change_once_applications_exist(lending_bank, make_application):
    make_application()
    with pytest.raises(ValidationError) as exc:
        loan_product_update(
            actor=lending_bank.admin, product=lending_bank.product, changes={"currency": "USD"}
        )
    assert errors_of(exc) == {
        "currency": ["The currency cannot change: applications in CNY exist."]
    }


def test_reference_rates_are_published_once_per_date(lending_bank):
    rate = reference_rate_publish(
        actor=lending_bank.admin,
        code="lpr1y",
        name="1-year Loan Prime Rate",
        effective_from=dt.date(2025, 5, 20),
        rate="3.0",
    )
    assert (rate.code, rate.effective_from, rate.rate) == (
        "lpr1y",
        dt.date(2025, 5, 20),
        Decimal("3.0"),
    )
    assert AuditEvent.objects.get(action="reference_rate.publish").after["rate"] == "3.0"
    with pytest.raises(ValidationError) as exc:
        reference_rate_publish(
            actor=lending_bank.admin,
            code="lpr1y",
            name="1-year Loan Prime Rate",
            effective_from=dt.date(2025, 5, 20),
            rate="2.9",
        )
    assert errors_of(exc) == {"effective_from": ["“lpr1y” already has a rate from this date."]}
    with pytest.raises(ValidationError) as exc:
        reference_rate_publish(
            actor=lending_bank.admin,
            code="lpr 1y",
            name="",
            effective_from="2025-05-21",
            rate=3.1,
        )
    assert sorted(errors_of(exc)) == ["code", "effective_from", "name", "rate"]
    assert ReferenceRate.objects.filter(code="lpr1y").count() == 1


def test_publishing_a_rate_needs_the_permission(lending_bank, service_agent):
    with pytest.raises(PermissionDenied):
        reference_rate_publish(
            actor=service_agent,
            code="lpr1y",
            name="LPR",
            effective_from=dt.date(2025, 5, 20),
            rate="3.0",
        )
    assert not ReferenceRate.objects.filter(code="lpr1y").exists()


def test_fixed_and_floating_rates_on_a_date(lending_bank):
    ReferenceRateFactory(code="lpr5y", effective_from=dt.date(2025, 5, 20), rate=Decimal("3.5"))
    assert loan_product_rate(lending_bank.product, dt.date(2025, 6, 16)) == Decimal("6.000000")
    mortgage = lending_bank.mortgage
    # The latest rate published on or before the date, plus the margin of 0.5.
    assert loan_product_rate(mortgage, dt.date(2025, 5, 19)) == Decimal("4.100000")
    assert loan_product_rate(mortgage, dt.date(2025, 5, 20)) == Decimal("4.000000")
    with pytest.raises(ValidationError) as exc:
        loan_product_rate(mortgage, dt.date(2019, 12, 31))
    assert exc.value.message_dict == {
        "rate": [
            "No reference rate “lpr5y” is published on or before Dec. 31, 2019, so the product "
            "“mg01” cannot be priced. Publish the rate first."
        ]
    }


def test_fees_and_periods(lending_bank):
    product = lending_bank.product
    product.upfront_fee_percent = Decimal("1.5")
    product.upfront_fee_amount = Decimal("200")
    assert upfront_fee(product, Decimal("33333.33")) == Decimal("700.00")
    assert schedule_periods(24, "monthly") == 24
    assert schedule_periods(24, "quarterly") == 8
    assert schedule_periods(18, "weekly") == 78
    with pytest.raises(ValidationError) as exc:
        schedule_periods(10, "quarterly")
    assert exc.value.message_dict == {
        "term_months": ["The term must be a whole number of repayment periods (3 months each)."]
    }
