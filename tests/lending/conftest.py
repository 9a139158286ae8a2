"""Shared fixtures of the lending tests: a bank with two branches and its lending staff,
customers with current accounts, a personal loan and a mortgage product, and helpers that
make applications and move them through the workflow the way staff do.

Fixture names are stable (other lending test modules import them):

* ``bank`` — the customers' two-branch bank (``tests/customers/conftest.py``);
* ``lending_bank`` — :class:`LendingBank`: that bank plus loan officers, a second branch
  manager, a second analyst, accounts and the products;
* ``product`` (personal loan ``pl01``) and ``mortgage_product`` (``mg01``);
* ``make_application(**overrides)`` — an application created by ``loan_application_create``;
* ``advance_application(application, state)`` — moves it (through the real services) to
  ``state``: submitted, documents_collected, underwriting, approved, offer_accepted or
  contract_signed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

import bankcrm.lending.guards  # noqa: F401  (workflow conditions and maker-checker action)
from bankcrm.access.models import Role
from bankcrm.lending.models import LoanApplication, LoanProduct, ReferenceRate
from tests.customers.conftest import Bank, bank  # noqa: F401  (re-exported fixture)
from tests.factories import UserFactory
from tests.factories.banking import AccountFactory, ProductFactory
from tests.factories.customers import OrganisationFactory, PersonFactory
from tests.factories.lending import (
    LoanProductFactory,
    MortgageProductFactory,
    ReferenceRateFactory,
)

# A small PDF: the magic bytes the upload check looks for, and a body.
PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class LendingBank:
    """The two-branch bank, its lending staff, customers, accounts and products."""

    bank: Bank
    head_office: Any
    branch_a: Any
    branch_b: Any
    rm_a: Any
    rm_b: Any
    manager_a: Any  # branch manager of A (approval limit 500,000)
    manager_a2: Any  # a second branch manager of A (the checker of 2-approver decisions)
    manager_b: Any
    officer_a: Any  # loan officer of A (approval limit 100,000)
    officer_a2: Any
    officer_b: Any
    admin: Any  # administrator at head office: defines products and reference rates
    analyst: Any  # credit analyst at head office (bank-wide, masked)
    analyst2: Any
    customer_a: Any  # a person in branch A, RM A's portfolio, born 1985-03-14
    customer_b: Any  # a person in branch B, RM B's portfolio
    co_applicant_a: Any  # another person in branch A
    company_a: Any  # an organisation in branch A (no date of birth)
    account_a: Any  # customer A's CNY current account
    account_b: Any
    company_account_a: Any
    product: LoanProduct
    mortgage: LoanProduct
    lpr: ReferenceRate


def _user(username: str, unit: Any, role: str) -> Any:
    return UserFactory(username=username, org_unit=unit, roles=[Role.objects.get(code=role)])


@pytest.fixture
def lending_bank(bank: Bank) -> LendingBank:  # noqa: F811
    current = ProductFactory(code="CUR001", name="Current account", category="current")
    co_applicant = PersonFactory(
        display_name="王丽", owning_unit=bank.branch_a, portfolio=bank.portfolio_a
    )
    company = OrganisationFactory(
        display_name="Acme Trading Ltd", owning_unit=bank.branch_a, portfolio=bank.portfolio_a
    )
    return LendingBank(
        bank=bank,
        head_office=bank.head_office,
        branch_a=bank.branch_a,
        branch_b=bank.branch_b,
        rm_a=bank.rm_a,
        rm_b=bank.rm_b,
        manager_a=bank.manager_a,
        manager_a2=_user("manager_a2", bank.branch_a, "branch_manager"),
        manager_b=_user("manager_b", bank.branch_b, "branch_manager"),
        officer_a=_user("officer_a", bank.branch_a, "loan_officer"),
        officer_a2=_user("officer_a2", bank.branch_a, "loan_officer"),
        officer_b=_user("officer_b", bank.branch_b, "loan_officer"),
        admin=UserFactory(
            username="lending_admin",
            org_unit=bank.head_office,
            roles=[Role.objects.get(code="administrator")],
            mfa_enabled=True,  # the administrator role requires two-factor sign-in
        ),
        analyst=bank.analyst,
        analyst2=_user("analyst2", bank.head_office, "credit_analyst"),
        customer_a=bank.customer_a,
        customer_b=bank.customer_b,
        co_applicant_a=co_applicant,
        company_a=company,
        account_a=AccountFactory(product=current, branch=bank.branch_a, owner=bank.customer_a),
        account_b=AccountFactory(product=current, branch=bank.branch_b, owner=bank.customer_b),
        company_account_a=AccountFactory(product=current, branch=bank.branch_a, owner=company),
        product=LoanProductFactory(code="pl01", name="Personal loan"),
        mortgage=MortgageProductFactory(code="mg01", name="Home mortgage"),
        lpr=ReferenceRateFactory(
            code="lpr5y", effective_from=dt.date(2020, 1, 1), rate=Decimal("3.600000")
        ),
    )


@pytest.fixture
def product(lending_bank: LendingBank) -> LoanProduct:
    return lending_bank.product


@pytest.fixture
def mortgage_product(lending_bank: LendingBank) -> LoanProduct:
    return lending_bank.mortgage


@pytest.fixture
def make_application(lending_bank: LendingBank) -> Callable[..., LoanApplication]:
    """``make_application(**overrides)``: customer A asks the personal loan for CNY 50,000
    over 24 months, income 20,000, obligations 1,000, expenses 3,000, paid into account A;
    created by loan officer A (``actor=`` to change who creates it)."""
    from bankcrm.lending.services_applications import loan_application_create

    def make(*, actor: Any = None, **overrides: Any) -> LoanApplication:
        data: dict[str, Any] = {
            "product": lending_bank.product,
            "applicant": lending_bank.customer_a,
            "amount": Decimal("50000.00"),
            "term_months": 24,
            "purpose": "Home renovation",
            "monthly_income": Decimal("20000.00"),
            "monthly_obligations": Decimal("1000.00"),
            "monthly_expenses": Decimal("3000.00"),
            "settlement_account": lending_bank.account_a,
        }
        data.update(overrides)
        return loan_application_create(actor=actor or lending_bank.officer_a, data=data)

    return make


STEPS = [
    "submitted",
    "documents_collected",
    "underwriting",
    "approved",
    "offer_accepted",
    "contract_signed",
]


@pytest.fixture
def advance_application(lending_bank: LendingBank) -> Callable[..., LoanApplication]:
    """``advance_application(application, state)``: take the application, through the real
    services, from where it is to ``state`` (one of :data:`STEPS`).

    Loan officer A submits, uploads and verifies every missing document, completes the
    documents and starts underwriting; branch manager A underwrites and approves (the
    amount must fall in a one-approver tier the manager belongs to); officer A records the
    accepted offer and the signed contract.
    """
    from bankcrm.lending import services_applications as services

    def advance(application: LoanApplication, state: str) -> LoanApplication:
        if state not in STEPS:
            raise ValueError(f"advance_application goes to one of {STEPS}, not {state!r}")
        officer, manager = lending_bank.officer_a, lending_bank.manager_a
        target = STEPS.index(state)
        while True:
            application.refresh_from_db()
            current = application.state
            if current == state:
                return application
            if current in STEPS and STEPS.index(current) > target:
                raise ValueError(f"The application is already past {state!r} ({current}).")
            if current == "draft":
                services.loan_application_transition(
                    actor=officer, application=application, transition="submit"
                )
            elif current == "submitted":
                for document in application.documents.exclude(status="verified"):
                    services.application_document_upload(
                        actor=officer,
                        document=document,
                        file_name=f"{document.code}.pdf",
                        content=PDF_BYTES,
                        content_type="application/pdf",
                    )
                    document.refresh_from_db()
                    services.application_document_verify(actor=officer, document=document)
                services.loan_application_transition(
                    actor=officer, application=application, transition="complete_documents"
                )
            elif current == "documents_collected":
                services.loan_application_transition(
                    actor=officer, application=application, transition="start_underwriting"
                )
            elif current == "underwriting":
                services.loan_application_underwrite(actor=manager, application=application)
                services.loan_application_decide(
                    actor=manager,
                    application=application,
                    decision="approved",
                    reason="Affordable; documents in order.",
                )
            elif current == "approved":
                services.loan_application_transition(
                    actor=officer, application=application, transition="accept_offer"
                )
            elif current == "offer_accepted":
                services.loan_application_transition(
                    actor=officer, application=application, transition="sign_contract"
                )
            else:
                raise ValueError(f"Cannot advance an application in state {current!r}.")

    return advance


TODAY = dt.date(2025, 6, 16)


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """Fix "today" of the application services and workflow conditions at 16 June 2025
    (a Monday), so dates, ages and expiries in assertions are exact."""
    from bankcrm.lending import guards, services_applications

    monkeypatch.setattr(services_applications, "_today", lambda: TODAY)
    monkeypatch.setattr(guards, "_today", lambda: TODAY)
    return TODAY
