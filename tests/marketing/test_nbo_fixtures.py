"""Fixtures of the next best offer tests: a customer of branch A with the profiling consent,
five offers (one of a product the customer holds), a propensity model registered directly
and the customer's propensity scores.

Expected values of the fixture: wealth 2000 × 0.25 = 500.00, deposit 800 × 0.30 = 240.00,
card 1000 × 0.10 = 100.00, loan (3000) not scored, current account held (left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankcrm.banking.models import Product
from bankcrm.marketing.models import PropensityScore
from bankcrm.risk.models import ModelVersion
from tests.factories.banking import AccountFactory, ProductFactory
from tests.factories.marketing import ProductOfferFactory

from .conftest import MarketingBank, reachable_customer


@dataclass
class Nbo:
    bank: MarketingBank
    customer: Any
    model: Any
    card: Any
    wealth: Any
    loan: Any
    offer_deposit: Any
    offer_card: Any
    offer_wealth: Any
    offer_loan: Any
    offer_current: Any


def client_for(user: Any) -> Client:
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.password_changed_at = timezone.now()
        user.save(update_fields=["mfa_enabled", "password_changed_at"])
    client = Client()
    client.force_login(user)
    return client


def register_model(name: str = "nbo-test", version: int = 1) -> ModelVersion:
    return ModelVersion.objects.create(
        name=name,
        version=version,
        purpose="propensity",
        method="gbm",
        spec={"features": ["age", "balance", "housing", "loan", "job", "marital"]},
    )


def score(party: Any, product: Any, probability: float, model: Any) -> PropensityScore:
    return PropensityScore.objects.create(
        party=party,
        product=product,
        model_version=model,
        probability=probability,
        scored_at=timezone.now(),
    )


@pytest.fixture
def nbo(marketing_bank: MarketingBank) -> Nbo:
    mb = marketing_bank
    customer = reachable_customer(
        mb,
        mb.branch_a,
        "张三",
        consents=("profiling", "email_marketing"),
        portfolio=mb.bank.portfolio_a,
    )
    card = ProductFactory(code="CARD", name="Credit card", category=Product.Category.CREDIT_CARD)
    wealth = ProductFactory(code="WM1", name="Wealth plan", category=Product.Category.WEALTH)
    loan = ProductFactory(
        code="LN1", name="Personal loan", category=Product.Category.LOAN, is_liability=True
    )
    AccountFactory(product=mb.current, owner=customer, branch=mb.branch_a)
    model = register_model()
    offers = {
        "deposit": ProductOfferFactory(code="td12", product=mb.deposit, value=Decimal(800)),
        "card": ProductOfferFactory(code="card", product=card, value=Decimal(1000)),
        "wealth": ProductOfferFactory(code="wealth", product=wealth, value=Decimal(2000)),
        "loan": ProductOfferFactory(code="loan", product=loan, value=Decimal(3000)),
        "current": ProductOfferFactory(code="current", product=mb.current, value=Decimal(500)),
    }
    score(customer, mb.deposit, 0.30, model)
    score(customer, card, 0.10, model)
    score(customer, wealth, 0.25, model)
    score(customer, mb.current, 0.90, model)
    return Nbo(
        bank=mb,
        customer=customer,
        model=model,
        card=card,
        wealth=wealth,
        loan=loan,
        offer_deposit=offers["deposit"],
        offer_card=offers["card"],
        offer_wealth=offers["wealth"],
        offer_loan=offers["loan"],
        offer_current=offers["current"],
    )


def test_fixture_scores_four_products(nbo: Nbo) -> None:
    assert PropensityScore.objects.filter(party=nbo.customer).count() == 4
    assert nbo.customer.portfolio == nbo.bank.bank.portfolio_a
