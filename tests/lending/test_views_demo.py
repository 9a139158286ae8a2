"""The demo bank's lending: products, rates, applications in every state, loans in every
delinquency bucket, made through the services; the same seed gives the same bank; a second
run changes nothing."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter

import pytest
from django.core.management.base import OutputWrapper

from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.integrations.demo import seed_customers
from bankcrm.integrations.demo_lending import seed_lending
from bankcrm.lending.models import (
    DelinquencyChange,
    Loan,
    LoanApplication,
    LoanProduct,
    ReferenceRate,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2025, 6, 30)


def demo_bank(customers: int = 80) -> DemoRun:
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=customers,
        seed=7,
        as_of=AS_OF,
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    seed_customers(actor=actor, demo=demo)
    return demo


def test_the_demo_lending_book():
    demo = demo_bank()
    counts = seed_lending(actor=SystemActor("demo"), demo=demo)
    assert counts["loan products"] == 5
    assert counts["reference rates"] == 2
    assert ReferenceRate.objects.get(code="lpr5y").rate == 3.5
    mortgage = LoanProduct.objects.get(code="home-mortgage")
    assert (mortgage.method, mortgage.rate_type, mortgage.reference_rate_code) == (
        "equal_principal",
        "floating",
        "lpr5y",
    )
    sme = LoanProduct.objects.get(code="sme-working-capital")
    assert sme.authority_limits[-1]["approvers"] == 2
    states = Counter(LoanApplication.objects.values_list("state", flat=True))
    for state in (
        "draft", "submitted", "documents_collected", "underwriting", "referred", "approved",
        "offer_accepted", "contract_signed", "disbursed", "servicing", "closed", "declined",
        "withdrawn", "cancelled",
    ):  # fmt: skip
        assert states[state] >= 1, state
    buckets = Counter(Loan.objects.values_list("bucket", flat=True))
    for bucket in ("current", "1-30", "31-60", "61-90", "90+"):
        assert buckets[bucket] >= 1, bucket
    assert Loan.objects.filter(status="closed").exists()
    # Run a month ago and on the day: the loans that fell behind since are early warnings.
    assert DelinquencyChange.objects.filter(is_deterioration=True, as_of=AS_OF).exists()
    assert Loan.objects.filter(application__isnull=False).count() >= 20
    # A second run adds nothing.
    assert seed_lending(actor=SystemActor("demo"), demo=demo) == {}
