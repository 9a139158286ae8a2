"""The pipeline selectors: the board (columns from the workflow, counts, amounts per
currency, SLA breaches, oldest cards, filters, scope, a fixed number of queries), a
customer's lending summary for the customer 360 and a loan officer's own applications."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bankcrm.core.actor import SystemActor
from bankcrm.core.workflow import workflow_definition_create_from_dict
from bankcrm.lending.models import ApplicationParty, LoanApplication
from bankcrm.lending.selectors_pipeline import (
    application_states,
    officer_applications,
    party_lending_summary,
    pipeline_board,
)
from tests.factories import OrgUnitFactory
from tests.factories.customers import PersonFactory
from tests.factories.lending import LoanApplicationFactory, LoanProductFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2025, 6, 16, 9, 0, tzinfo=dt.UTC)
OPEN = [
    "draft",
    "submitted",
    "documents_collected",
    "underwriting",
    "referred",
    "approved",
    "offer_accepted",
    "contract_signed",
    "disbursed",
    "servicing",
]
FINAL = ["closed", "declined", "withdrawn", "cancelled"]


def make(lb, state: str, amount: str = "50000.00", *, hours_in_state: int = 1, **extra):
    """An application of branch A (customer A) in ``state`` since ``hours_in_state`` hours
    before NOW, due ``due_in`` hours after NOW when given."""
    due_in = extra.pop("due_in", None)
    entered = NOW - dt.timedelta(hours=hours_in_state)
    return LoanApplicationFactory(
        product=extra.pop("product", lb.product),
        branch=extra.pop("branch", lb.branch_a),
        applicant=extra.pop("applicant", lb.customer_a),
        state=state,
        amount=Decimal(amount),
        state_entered_at=entered,
        state_due_at=None if due_in is None else NOW + dt.timedelta(hours=due_in),
        **extra,
    )


def test_columns_follow_the_workflow_order(lending_bank):
    board = pipeline_board(actor=lending_bank.manager_a, now=NOW)
    assert [c.code for c in board.open_columns] == OPEN
    assert [c.code for c in board.closed_columns] == FINAL
    assert board.column("submitted").name == "Submitted"
    assert board.column("submitted").sla_hours == 8
    assert board.total == 0


def test_counts_amounts_per_currency_and_breaches(lending_bank):
    lb = lending_bank
    usd = LoanProductFactory(code="usd01", currency="USD")
    make(lb, "submitted", "50000.00", due_in=-2)  # breached
    make(lb, "submitted", "30000.00", due_in=5)
    make(lb, "submitted", "1000.50", product=usd, due_in=-1)  # breached, in USD
    make(lb, "underwriting", "200000.00", due_in=3)
    make(lb, "declined", "70000.00")
    board = pipeline_board(actor=lb.manager_a, now=NOW)

    submitted = board.column("submitted")
    assert submitted.count == 3
    assert submitted.breached == 2
    assert [(a.currency, a.amount) for a in submitted.amounts] == [
        ("CNY", Decimal("80000.00")),
        ("USD", Decimal("1000.50")),
    ]
    underwriting = board.column("underwriting")
    assert (underwriting.count, underwriting.breached) == (1, 0)
    assert [(a.currency, a.amount) for a in underwriting.amounts] == [("CNY", Decimal("200000.00"))]
    declined = board.column("declined")
    assert declined.count == 1 and declined.cards == []
    assert board.column("draft").count == 0
    assert (board.total, board.open_total, board.breached) == (5, 4, 2)
    breached_refs = sorted(c.reference for c in submitted.cards if c.is_breached)
    assert len(breached_refs) == 2


def test_cards_are_the_oldest_first_and_the_rest_is_counted(lending_bank):
    lb = lending_bank
    old = make(lb, "submitted", hours_in_state=50)
    middle = make(lb, "submitted", hours_in_state=30)
    make(lb, "submitted", hours_in_state=2)
    board = pipeline_board(actor=lb.manager_a, cards_per_column=2, now=NOW)
    column = board.column("submitted")
    assert [card.reference for card in column.cards] == [old.reference, middle.reference]
    assert column.hidden == 1
    card = column.cards[0]
    assert card.days_in_state == 2
    assert card.applicant_name == "王小明"
    assert card.product_code == "pl01"
    assert card.amount == Decimal("50000.00")


def test_a_step_added_by_an_administrator_gets_its_column(lending_bank):
    """A new version of the workflow with a site visit between underwriting and the
    decision: the board shows it in its place, without code."""
    from bankcrm.lending.services_applications import WORKFLOW_KEY  # noqa: F401

    spec = {
        "key": "loan_application",
        "name": "Loan application",
        "initial_state": "draft",
        "states": [
            {"code": "draft", "name": "Draft"},
            {"code": "submitted", "name": "Submitted", "sla_hours": 8},
            {"code": "underwriting", "name": "Underwriting", "sla_hours": 24},
            {"code": "site_visit", "name": "Site visit", "sla_hours": 16},
            {"code": "approved", "name": "Approved"},
            {"code": "declined", "name": "Declined", "is_terminal": True},
        ],
        "transitions": [
            {"code": "submit", "source": "draft", "target": "submitted"},
            {"code": "visit", "source": "underwriting", "target": "site_visit"},
        ],
    }
    workflow_definition_create_from_dict(actor=SystemActor("test"), spec=spec)
    make(lending_bank, "site_visit", "120000.00", due_in=-1)
    board = pipeline_board(actor=lending_bank.manager_a, now=NOW)
    codes = [c.code for c in board.open_columns]
    # The active version's states first, in its order; then the states only the first
    # version has (applications started on it may still be in them).
    assert codes[:5] == ["draft", "submitted", "underwriting", "site_visit", "approved"]
    assert "documents_collected" in codes[5:]
    visit = board.column("site_visit")
    assert (visit.name, visit.count, visit.breached) == ("Site visit", 1, 1)
    assert visit.amounts[0].amount == Decimal("120000.00")


def test_filters(lending_bank):
    lb = lending_bank
    other_product = LoanProductFactory(code="pl99")
    make(lb, "submitted", "10000.00", officer=lb.officer_a, hours_in_state=24 * 5)
    make(lb, "submitted", "20000.00", officer=lb.officer_a2, hours_in_state=5)
    make(lb, "submitted", "40000.00", product=other_product, hours_in_state=24 * 3)
    sub_branch = OrgUnitFactory(code="BRA1", name="Branch A sub", parent=lb.branch_a)
    make(
        lb,
        "submitted",
        "80000.00",
        branch=sub_branch,
        applicant=PersonFactory(owning_unit=sub_branch),
    )

    def total(**filters) -> Decimal:
        column = pipeline_board(actor=lb.manager_a, now=NOW, **filters).column("submitted")
        return sum((a.amount for a in column.amounts), Decimal(0))

    assert total() == Decimal("150000.00")
    assert total(product=other_product) == Decimal("40000.00")
    assert total(product=other_product.pk) == Decimal("40000.00")
    assert total(officer=lb.officer_a) == Decimal("10000.00")
    assert total(branch=sub_branch.pk) == Decimal("80000.00")
    assert total(branch=lb.branch_a) == Decimal("70000.00")
    assert total(min_age_days=3) == Decimal("50000.00")
    assert total(min_age_days=4) == Decimal("10000.00")


def test_scope(lending_bank):
    lb = lending_bank
    make(lb, "submitted", "10000.00")
    make(
        lb,
        "submitted",
        "20000.00",
        branch=lb.branch_b,
        applicant=lb.customer_b,
    )
    # Branch B's manager sees branch B only; the bank-wide analyst both; RM A its portfolio.
    assert pipeline_board(actor=lb.manager_b, now=NOW).column("submitted").count == 1
    assert pipeline_board(actor=lb.manager_b, now=NOW).column("submitted").amounts[
        0
    ].amount == Decimal("20000.00")
    assert pipeline_board(actor=lb.analyst, now=NOW).column("submitted").count == 2
    rm_board = pipeline_board(actor=lb.rm_a, now=NOW)
    assert rm_board.column("submitted").count == 1
    assert rm_board.column("submitted").cards[0].branch_name == "Branch A"
    # A role without lending rights sees nothing at all.
    from bankcrm.access.models import Role
    from tests.factories import UserFactory

    agent = UserFactory(org_unit=lb.branch_a, roles=[Role.objects.get(code="service_agent")])
    assert pipeline_board(actor=agent, now=NOW).total == 0


def _board_queries(actor) -> int:
    with CaptureQueriesContext(connection) as queries:
        pipeline_board(actor=actor, now=NOW)
    return len(queries)


def test_the_board_is_a_fixed_number_of_queries(lending_bank):
    """The states, one GROUP BY, the keys of the oldest cards, the cards: four queries
    however many applications there are (the actor's roles are read once, before)."""
    lb = lending_bank
    pipeline_board(actor=lb.manager_a, now=NOW)  # the actor's grants are cached
    for state in OPEN[:3]:
        make(lb, state)
    assert _board_queries(lb.manager_a) == 4
    for state in OPEN:
        for _ in range(3):
            make(lb, state, due_in=-1)
    assert _board_queries(lb.manager_a) == 4
    # An empty board reads no cards: two queries.
    assert _board_queries(lb.manager_b) <= 3


@pytest.mark.postgres
def test_the_board_query_plan_stays_small_on_postgresql(lending_bank):
    """PostgreSQL builds the cards from one UNION ALL of per-state LIMITed selects."""
    lb = lending_bank
    for state in OPEN:
        make(lb, state)
    pipeline_board(actor=lb.manager_a, now=NOW)
    with CaptureQueriesContext(connection) as queries:
        board = pipeline_board(actor=lb.manager_a, now=NOW)
    assert sum(1 for q in queries if "UNION ALL" in q["sql"]) == 1
    assert all(len(c.cards) == 1 for c in board.open_columns)


# --- The customer 360 -----------------------------------------------------------------------


def test_party_lending_summary(lending_bank):
    lb = lending_bank
    now = timezone.now()
    open_app = make(lb, "submitted", "30000.00")
    LoanApplication.objects.filter(pk=open_app.pk).update(state_due_at=now - dt.timedelta(hours=1))
    closed = make(lb, "declined", "10000.00")
    # Customer A guarantees someone else's application.
    other = make(lb, "underwriting", "90000.00", applicant=lb.co_applicant_a)
    ApplicationParty.objects.create(
        application=other, party=lb.customer_a, role=ApplicationParty.Role.GUARANTOR
    )
    # An application of branch B is out of RM A's and manager A's reach.
    make(lb, "submitted", branch=lb.branch_b, applicant=lb.customer_b)

    summary = party_lending_summary(actor=lb.manager_a, party=lb.customer_a)
    assert [(line.application.reference, line.role, line.state_name, line.is_breached)
            for line in summary.open_applications] == [
        (other.reference, "guarantor", "Underwriting", False),
        (open_app.reference, "applicant", "Submitted", True),
    ]  # fmt: skip
    assert [line.application.reference for line in summary.closed_applications] == [
        closed.reference
    ]
    assert summary.loans == []
    assert not summary.is_empty
    assert party_lending_summary(actor=lb.manager_b, party=lb.customer_a).is_empty


def test_party_lending_summary_query_count(lending_bank):
    lb = lending_bank
    for _ in range(5):
        make(lb, "submitted")
    party_lending_summary(actor=lb.manager_a, party=lb.customer_a)
    with CaptureQueriesContext(connection) as queries:
        party_lending_summary(actor=lb.manager_a, party=lb.customer_a)
    # States, applications, loans (no party roles to read: the customer applies alone).
    assert len(queries) == 3


# --- My applications ------------------------------------------------------------------------


def test_officer_applications(lending_bank):
    lb = lending_bank
    late = make(lb, "submitted", officer=lb.officer_a, due_in=-3)
    make(lb, "submitted", officer=lb.officer_a, due_in=5)
    make(lb, "underwriting", officer=lb.officer_a)
    make(lb, "declined", officer=lb.officer_a)  # finished: not counted
    make(lb, "submitted", officer=lb.officer_a2, due_in=-1)  # someone else's
    mine = officer_applications(actor=lb.officer_a, now=NOW)
    assert [(line.code, line.count, line.breached) for line in mine.lines] == [
        ("submitted", 2, 1),
        ("underwriting", 1, 0),
    ]
    assert (mine.total, mine.breached) == (3, 1)
    assert [card.reference for card in mine.breached_cards] == [late.reference]
    assert officer_applications(actor=lb.manager_a).lines == []


def test_application_states_are_in_definition_order(lending_bank):
    assert [state.code for state in application_states()] == OPEN + FINAL
