"""The lending panels other pages include: the customer 360's loans and applications, the
home page's "My applications" and "Early warnings", and the lending help topic."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone, translation

from bankcrm.core.actor import SystemActor
from bankcrm.lending.selectors_loans import loan_early_warnings
from bankcrm.lending.selectors_pipeline import officer_applications, party_lending_summary
from bankcrm.lending.services_loans import delinquency_recalculate, loan_book
from tests.factories.lending import LoanApplicationFactory

pytestmark = pytest.mark.django_db


def visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def render(template: str, user, **context) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return render_to_string(template, {"user": user, **context}, request=request)


def late_loan(lb):
    loan = loan_book(
        actor=lb.officer_a,
        product=lb.product,
        borrower=lb.customer_a,
        account=lb.account_a,
        branch=lb.branch_a,
        principal=Decimal("12000.00"),
        currency="CNY",
        annual_rate=Decimal("12"),
        term_months=12,
        method="annuity",
        day_count="30360",
        frequency="monthly",
        disbursed_on=dt.date(2024, 1, 15),
    )
    system = SystemActor("test")
    delinquency_recalculate(actor=system, as_of=dt.date(2024, 2, 1))
    delinquency_recalculate(actor=system, as_of=dt.date(2024, 3, 20))
    loan.refresh_from_db()
    return loan


def test_customer_360_panel(lending_bank):
    lb = lending_bank
    loan = late_loan(lb)
    application = LoanApplicationFactory(
        product=lb.product,
        branch=lb.branch_a,
        applicant=lb.customer_a,
        state="underwriting",
        amount=Decimal("80000.00"),
        state_due_at=timezone.now() - dt.timedelta(hours=1),
    )
    summary = party_lending_summary(actor=lb.rm_a, party=lb.customer_a)
    html = render(
        "lending/partials/customer_lending.html",
        lb.rm_a,
        lending=summary,
        party=lb.customer_a,
        may_add_application=True,
    )
    text = visible_text(html)
    # 12,000 lent mid-January; nothing paid by 20 March: 34 days past due.
    assert (
        f"{loan.reference} Personal loan Performing 31–60 days past due 34 days past due "
        "CNY 12,000.00 CNY 2,132.38"
    ) in text
    assert "Outstanding on open loans CNY 12,000.00 CNY 2,132.38" in text
    assert f"{application.reference} · Underwriting SLA breached · CNY 80,000.00" in text
    assert f'href="/lending/applications/new/?applicant={lb.customer_a.pk}"' in html
    empty = render(
        "lending/partials/customer_lending.html",
        lb.manager_b,
        lending=party_lending_summary(actor=lb.manager_b, party=lb.customer_a),
        party=lb.customer_a,
        may_add_application=False,
    )
    assert "No loans or loan applications." in visible_text(empty)
    assert "New loan application" not in visible_text(empty)


def test_home_panels(lending_bank):
    lb = lending_bank
    loan = late_loan(lb)
    LoanApplicationFactory(
        product=lb.product,
        branch=lb.branch_a,
        applicant=lb.customer_a,
        officer=lb.officer_a,
        state="submitted",
        state_due_at=timezone.now() - dt.timedelta(hours=2),
    )

    class Work:
        early_warnings = loan_early_warnings(actor=lb.rm_a)
        my_applications = officer_applications(actor=lb.officer_a)

    text = visible_text(render("lending/partials/home_lending.html", lb.officer_a, work=Work))
    assert "My applications 1 1 past SLA" in text
    assert "Submitted 1 · 1 late" in text
    assert (
        f"Early warnings 1 {loan.reference} · 王** From “Current” to "
        "“31–60 days past due” 34 days past due on 20 Mar 2024 · CNY 2,132.38 overdue"
    ) in text

    class Nothing:
        early_warnings = None
        my_applications = None

    assert render("lending/partials/home_lending.html", lb.officer_a, work=Nothing).strip() == ""


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("en", ["No credit model is registered", "Equal principal", "APR", "31–60"]),
        ("zh-hans", ["未注册信用评分模型", "等额本金", "APR", "31–60"]),
    ],
)
def test_lending_help_topic(language, words):
    with translation.override(language):
        folder = "zh_hans" if language == "zh-hans" else "en"
        html = render_to_string(f"web/help/{folder}/lending.html")
    for word in words:
        assert word in html
