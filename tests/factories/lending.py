"""Factories of the lending module: reference rates, products, applications and their parts.

They write rows directly (fast, for listing and scoping tests). Tests of the application
services create applications through ``loan_application_create`` instead (the
``make_application`` fixture of ``tests/lending/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from bankcrm.core.models.workflow import WorkflowDefinition
from bankcrm.lending.models import (
    ApplicationDocument,
    ApplicationParty,
    Collateral,
    LoanApplication,
    LoanProduct,
    ReferenceRate,
)

from . import OrgUnitFactory
from .customers import PersonFactory

# The checklist of the personal loan the fixtures use: an identity document that does not
# expire and a proof of income valid for 90 days after it is verified.
PERSONAL_DOCUMENTS = [
    {"code": "id_card", "name": "Identity card", "name_zh": "身份证"},
    {
        "code": "income_proof",
        "name": "Proof of income",
        "name_zh": "收入证明",
        "expires_after_days": 90,
    },
]

PERSONAL_AUTHORITY = [
    {"up_to": "100000", "roles": ["loan_officer", "branch_manager"], "approvers": 1},
    {"up_to": "300000", "roles": ["branch_manager"], "approvers": 1},
    {"up_to": None, "roles": ["branch_manager"], "approvers": 2},
]

PERSONAL_RULES = [
    {
        "code": "min_age",
        "name": "Applicant at least 18",
        "fact": "applicant_age",
        "op": ">=",
        "value": "18",
        "outcome": "decline",
        "when_unknown": "refer",
    },
    {
        "code": "dti_refer",
        "name": "Debt-to-income at most 40 %",
        "fact": "dti",
        "op": "<=",
        "value": "40",
        "outcome": "refer",
        "when_unknown": "refer",
    },
    {
        "code": "dti_cap",
        "name": "Debt-to-income at most 60 %",
        "fact": "dti",
        "op": "<=",
        "value": "60",
        "outcome": "decline",
        "when_unknown": "refer",
    },
]


class ReferenceRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReferenceRate
        django_get_or_create = ("code", "effective_from")

    code = "lpr5y"
    name = "5-year Loan Prime Rate"
    effective_from = dt.date(2024, 10, 21)
    rate = Decimal("3.600000")


class LoanProductFactory(factory.django.DjangoModelFactory):
    """A fixed-rate personal loan: CNY 10,000–500,000 over 6–60 months at 6 % (annuity)."""

    class Meta:
        model = LoanProduct
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"pl{n:03d}")
    name = factory.Sequence(lambda n: f"Personal loan {n}")
    name_zh = "个人消费贷款"
    type = LoanProduct.Type.PERSONAL
    currency = "CNY"
    min_amount = Decimal("10000.00")
    max_amount = Decimal("500000.00")
    min_term_months = 6
    max_term_months = 60
    rate_type = LoanProduct.RateType.FIXED
    nominal_rate = Decimal("6.000000")
    method = "annuity"
    day_count = "30360"
    frequency = "monthly"
    required_documents = factory.LazyFunction(lambda: [dict(d) for d in PERSONAL_DOCUMENTS])
    authority_limits = factory.LazyFunction(lambda: [dict(t) for t in PERSONAL_AUTHORITY])
    policy_rules = factory.LazyFunction(lambda: [dict(r) for r in PERSONAL_RULES])
    offer_valid_days = 30


class MortgageProductFactory(LoanProductFactory):
    """A floating-rate mortgage: LPR 5Y + 0.5 %, collateral cover 125 %."""

    code = factory.Sequence(lambda n: f"mg{n:03d}")
    name = factory.Sequence(lambda n: f"Mortgage {n}")
    name_zh = "个人住房贷款"
    type = LoanProduct.Type.MORTGAGE
    min_amount = Decimal("100000.00")
    max_amount = Decimal("5000000.00")
    min_term_months = 60
    max_term_months = 360
    rate_type = LoanProduct.RateType.FLOATING
    nominal_rate = Decimal("0")
    reference_rate_code = "lpr5y"
    margin = Decimal("0.500000")
    collateral_cover_percent = Decimal("125")
    required_documents = factory.LazyFunction(
        lambda: [
            *[dict(d) for d in PERSONAL_DOCUMENTS],
            {"code": "valuation_report", "name": "Valuation report", "expires_after_days": 180},
        ]
    )


def _loan_application_workflow() -> WorkflowDefinition | None:
    return WorkflowDefinition.objects.filter(key="loan_application", is_active=True).first()


class LoanApplicationFactory(factory.django.DjangoModelFactory):
    """An application row in ``state`` (default draft) of the seeded workflow.

    No checklist rows, no workflow log: for lists, boards and scoping. Use the
    ``make_application`` fixture for an application made the way a loan officer makes one.
    """

    class Meta:
        model = LoanApplication

    reference = factory.Sequence(lambda n: f"LA-2099-{n:06d}")
    product = factory.SubFactory(LoanProductFactory)
    branch = factory.SubFactory(OrgUnitFactory)
    applicant = factory.SubFactory(PersonFactory, owning_unit=factory.SelfAttribute("..branch"))
    officer = None
    purpose = "Home renovation"
    amount = Decimal("50000.00")
    currency = factory.LazyAttribute(lambda o: o.product.currency)
    term_months = 24
    monthly_income = Decimal("20000.00")
    monthly_obligations = Decimal("1000.00")
    monthly_expenses = Decimal("3000.00")
    workflow = factory.LazyFunction(_loan_application_workflow)
    state = "draft"
    state_entered_at = factory.LazyFunction(timezone.now)


class ApplicationPartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApplicationParty

    application = factory.SubFactory(LoanApplicationFactory)
    party = factory.SubFactory(
        PersonFactory, owning_unit=factory.SelfAttribute("..application.branch")
    )
    role = ApplicationParty.Role.CO_APPLICANT
    monthly_income = Decimal("5000.00")


class CollateralFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collateral

    application = factory.SubFactory(LoanApplicationFactory)
    type = Collateral.Type.REAL_ESTATE
    description = "Flat, 3rd floor, 89 m²"
    value = Decimal("1000000.00")
    currency = factory.LazyAttribute(lambda o: o.application.currency)
    valuation_date = dt.date(2025, 1, 10)
    valuer = "Beijing Property Valuers Ltd"
    haircut_percent = Decimal("0")


class ApplicationDocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApplicationDocument

    application = factory.SubFactory(LoanApplicationFactory)
    code = factory.Sequence(lambda n: f"doc_{n}")
    name = factory.Sequence(lambda n: f"Document {n}")
    is_required = True


__all__ = [
    "PERSONAL_AUTHORITY",
    "PERSONAL_DOCUMENTS",
    "PERSONAL_RULES",
    "ApplicationDocumentFactory",
    "ApplicationPartyFactory",
    "CollateralFactory",
    "LoanApplicationFactory",
    "LoanProductFactory",
    "MortgageProductFactory",
    "ReferenceRateFactory",
]
