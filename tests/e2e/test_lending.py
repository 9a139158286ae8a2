"""The loan journey in a real browser: a loan officer opens an application for a customer
found by name, uploads and verifies the documents and takes it to underwriting; the branch
manager approves it; the pipeline board shows it among the approved ones. At desktop and
phone sizes, screenshots kept; at 375 px the board never widens the page."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.lending.models import LoanApplication
from tests.factories import OrgUnitFactory, PortfolioFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory
from tests.factories.customers import PersonFactory
from tests.factories.lending import LoanApplicationFactory, LoanProductFactory

from .conftest import screenshot
from .test_shell import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _seed_roles_and_workflow() -> None:
    """The seeded roles and loan workflow (a browser test's database is flushed between
    tests, seeds included): the migrations' own seed functions put them back."""
    roles = importlib.import_module("bankcrm.access.migrations.0003_seed_bank_roles")
    roles.seed_roles(django_apps, None)
    narrowed = importlib.import_module("bankcrm.access.migrations.0004_lending_role_permissions")
    narrowed.narrow(django_apps, None)
    workflow = importlib.import_module("bankcrm.lending.migrations.0002_loan_application_workflow")
    workflow.seed(django_apps, None)


@pytest.fixture
def lending_world(transactional_db):
    _seed_roles_and_workflow()
    import bankcrm.lending.guards  # noqa: F401  (the workflow's conditions)

    branch = OrgUnitFactory(code="BR-A", name="Branch A")
    other = OrgUnitFactory(code="BR-B", name="Branch B")

    def staff(username: str, role: str, unit=branch):
        first, last = username.split(".")
        return UserFactory(
            username=username,
            first_name=first.title(),
            last_name=last.title(),
            org_unit=unit,
            roles=[Role.objects.get(code=role)],
            password_changed_at=timezone.now(),
        )

    officer = staff("fang.wang", "loan_officer")
    manager = staff("na.li", "branch_manager")
    rm = staff("wei.zhang", "relationship_manager")
    portfolio = PortfolioFactory(manager=rm, org_unit=branch)
    customer = PersonFactory(display_name="王小明", owning_unit=branch, portfolio=portfolio)
    current = ProductFactory(code="CUR", name="Current account", category="current")
    AccountFactory(product=current, branch=branch, owner=customer)
    product = LoanProductFactory(code="pl01", name="Personal loan")
    # Something already on the board, one of them past its SLA.
    LoanApplicationFactory(
        product=product,
        branch=branch,
        applicant=customer,
        state="submitted",
        amount=Decimal("30000.00"),
        state_entered_at=timezone.now() - dt.timedelta(days=2),
        state_due_at=timezone.now() - dt.timedelta(hours=3),
    )
    LoanApplicationFactory(
        product=product,
        branch=other,
        applicant=PersonFactory(display_name="李大伟", owning_unit=other),
        state="underwriting",
        amount=Decimal("90000.00"),
    )
    return {"officer": officer, "manager": manager, "customer": customer, "product": product}


def _sign_out(page) -> None:
    page.context.clear_cookies()


def _journey(page, world, size: str) -> None:
    sign_in(page, "fang.wang")
    page.goto("/lending/applications/new/")
    page.get_by_label("Customer name, pinyin, phone, document or account number").fill("王小明")
    choice = page.get_by_label("王小明", exact=False).first
    choice.wait_for(state="visible")
    choice.check()
    account = page.locator("#id_settlement_account")
    page.wait_for_function("document.querySelectorAll('#id_settlement_account option').length > 1")
    account.select_option(index=1)
    page.get_by_label("Product").select_option(label="Personal loan (pl01)")
    page.get_by_label("Amount requested").fill("60,000")
    page.get_by_label("Term (months)").fill("36")
    page.get_by_label("Purpose", exact=False).fill("Car purchase")
    page.get_by_label("Monthly income").fill("25000")
    page.get_by_label("Monthly living expenses").fill("4000")
    screenshot(page, f"lending-application-form-{size}")
    page.locator("#application-save").click()
    page.wait_for_url("**/lending/applications/*/")
    application = LoanApplication.objects.get(purpose="Car purchase")
    assert page.locator("#application-title").inner_text() == application.reference
    assert page.locator("#application-state-name").inner_text() == "Draft"
    assert "王**" in page.locator("#application-applicant").inner_text()

    page.locator("#step-submit button").click()
    page.wait_for_function(
        "document.querySelector('#application-state-name').innerText === 'Submitted'"
    )
    blocked = page.locator("#step-complete_documents-blocked")
    assert "Documents missing" in blocked.inner_text()
    assert page.locator("#step-complete_documents button").is_disabled()

    for document in application.documents.order_by("code"):
        item = f"#document-{document.pk}"
        page.set_input_files(
            f"{item}-file",
            files=[{"name": f"{document.code}.pdf", "mimeType": "application/pdf", "buffer": PDF}],
        )
        page.locator(f"{item}-upload button").click()
        page.locator(f"{item}-verify button").wait_for(state="visible")
        page.locator(f"{item}-verify button").click()
        page.wait_for_function(
            f"document.querySelector('{item} .bc-document-status').innerText === 'Verified'"
        )
    page.locator("#documents").scroll_into_view_if_needed()
    screenshot(page, f"lending-checklist-{size}")

    page.locator("#step-complete_documents button").click()
    page.wait_for_function(
        "document.querySelector('#application-state-name').innerText === 'Documents collected'"
    )
    page.locator("#step-start_underwriting button").click()
    page.wait_for_function(
        "document.querySelector('#application-state-name').innerText === 'Underwriting'"
    )
    page.locator("#underwrite-form button").click()
    page.locator("#underwriting-recommendation").wait_for(state="visible")
    assert page.locator("#credit-score").inner_text().strip() == (
        "Credit score: No credit model is registered."
    )
    # The officer submitted it: another person must decide.
    assert "another person must decide" in page.locator("#decision-you").inner_text()

    _sign_out(page)
    sign_in(page, "na.li")
    page.goto(f"/lending/applications/{application.pk}/")
    assert page.locator("#decision-you").inner_text().strip() == "You may approve this amount."
    page.locator("#decision-approved").check()
    page.get_by_label("Reason", exact=False).last.fill("Affordable; documents in order.")
    page.locator("#decision-submit").click()
    page.wait_for_function(
        "document.querySelector('#application-state-name').innerText.startsWith('Approved')"
    )
    page.locator("#offer").scroll_into_view_if_needed()
    screenshot(page, f"lending-approved-{size}")

    page.goto("/lending/")
    column = page.locator("#column-approved")
    assert application.reference in column.inner_text()
    assert column.locator(".bc-column-count").inner_text() == "1"
    assert "CNY 60,000.00" in column.inner_text()
    # The application past its SLA says so in words, not only in colour.
    assert "SLA breached" in page.locator("#column-submitted").inner_text()
    # Branch B's application is not on branch A's board.
    assert page.locator("#column-underwriting .bc-column-count").inner_text() == "0"
    width = 375 if size == "375" else 1920
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"lending-board-{size}")

    # The filters refresh the columns in place.
    page.get_by_label("Loan officer").select_option(label="Fang Wang")
    page.wait_for_function(
        "document.querySelector('#column-submitted .bc-column-count').innerText === '0'"
    )
    assert page.locator("#column-approved .bc-column-count").inner_text() == "1"
    application.refresh_from_db()
    assert (application.state, application.decided_by.username) == ("approved", "na.li")


def test_loan_officer_to_approval_on_the_board(browser_page, lending_world):
    _journey(browser_page, lending_world, "1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_same_journey_on_a_phone(browser_page, lending_world):
    _journey(browser_page, lending_world, "375")


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_calculator_on_a_phone(browser_page, lending_world):
    page = browser_page
    sign_in(page, "fang.wang")
    page.goto("/lending/calculator/")
    page.get_by_label("Amount (required)", exact=True).fill("120000")
    page.get_by_label("Rate (% a year)").fill("6")
    page.get_by_label("Term (months)").fill("12")
    page.get_by_label("Day count").select_option("30360")
    page.get_by_label("Disbursement date").fill("2025-01-15")
    page.locator("#calculator-submit").click()
    page.locator("#calculator-first").wait_for(state="visible")
    assert page.locator("#calculator-first").inner_text() == "CNY 10,327.97"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "lending-calculator-375")
