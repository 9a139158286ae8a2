"""The role dashboards: the daily aggregates' refresh (figures, incremental, idempotent,
audited), the figures each viewer sees (scoped), who may open which dashboard, and the
links from every figure to its list."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role
from bankcrm.analytics import selectors_dashboards as selectors
from bankcrm.analytics.services_dashboards import (
    CATCH_UP_DAYS,
    dashboard_aggregates_refresh,
    dashboard_days_due,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import DailyBalance, DailyCustomerCount, Product
from bankcrm.core.actor import SystemActor
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory, TransactionFactory
from tests.factories.customers import PersonFactory

SYSTEM = SystemActor("test")
DAY = dt.date(2026, 6, 10)


def staff(username: str, role: str, unit: Any, **extra: Any) -> Any:
    return UserFactory(
        username=username,
        org_unit=unit,
        roles=[Role.objects.get(code=role)],
        password_changed_at=timezone.now(),
        **extra,
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def books(bank):
    """Branch A: customer A (portfolio A) holds a current account of 10,000 (1,000 of it
    booked on DAY), savings of 5,000 and a loan of 3,000 owed; branch B: customer B holds a
    current account of 7,000. Customer A joined 5 days before DAY, B long ago; a closed
    customer of branch A has no account."""
    current = ProductFactory(code="CUR", category=Product.Category.CURRENT)
    savings = ProductFactory(code="SAV", category=Product.Category.SAVINGS)
    loan = ProductFactory(code="LN", category=Product.Category.LOAN, is_liability=True)
    bank.customer_a.customer_since = DAY - dt.timedelta(days=5)
    bank.customer_a.save(update_fields=["customer_since"])
    bank.customer_b.customer_since = dt.date(2015, 3, 1)
    bank.customer_b.save(update_fields=["customer_since"])
    a_current = AccountFactory(
        product=current, branch=bank.branch_a, owner=bank.customer_a, balance=Decimal("10000")
    )
    AccountFactory(
        product=savings, branch=bank.branch_a, owner=bank.customer_a, balance=Decimal("5000")
    )
    AccountFactory(product=loan, branch=bank.branch_a, owner=bank.customer_a, balance=-3000)
    AccountFactory(
        product=current, branch=bank.branch_b, owner=bank.customer_b, balance=Decimal("7000")
    )
    TransactionFactory(account=a_current, booking_date=DAY, amount=Decimal("1000"))
    PersonFactory(
        display_name="赵关闭",
        owning_unit=bank.branch_a,
        status="closed",
        customer_since=dt.date(2016, 1, 1),
    )
    return bank


def balances_of(unit: Any, day: dt.date = DAY) -> dict[str, tuple[Decimal, int, int]]:
    return {
        row.category: (row.balance_total, row.account_count, row.customer_count)
        for row in DailyBalance.objects.filter(day=day, unit=unit)
    }


# --- The refresh -------------------------------------------------------------------------------


def test_refresh_sums_balances_per_branch_category_and_portfolio(books):
    result = dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    assert result.days == [DAY]
    assert balances_of(books.branch_a) == {
        "current": (Decimal("10000"), 1, 1),
        "savings": (Decimal("5000"), 1, 1),
        "loan": (Decimal("-3000"), 1, 1),
    }
    assert balances_of(books.branch_b) == {"current": (Decimal("7000"), 1, 1)}
    assert set(DailyBalance.objects.filter(day=DAY).values_list("unit_id", "portfolio_id")) == {
        (books.branch_a.pk, books.portfolio_a.pk),
        (books.branch_b.pk, books.portfolio_b.pk),
    }
    assert result.balance_rows == 4
    counts = {
        (row.unit_id, row.status): (row.customer_count, row.joined_30d_count)
        for row in DailyCustomerCount.objects.filter(day=DAY)
    }
    assert counts == {
        (books.branch_a.pk, "active"): (1, 1),
        (books.branch_a.pk, "closed"): (1, 0),
        (books.branch_b.pk, "active"): (1, 0),
    }


def test_a_past_day_takes_off_the_bookings_after_it(books):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY - dt.timedelta(days=1), today=DAY)
    # The 1,000 booked on DAY was not there the evening before; customer A had not joined
    # 30 days earlier either way, but had joined by then (5 days before DAY).
    assert balances_of(books.branch_a, DAY - dt.timedelta(days=1))["current"] == (
        Decimal("9000"),
        1,
        1,
    )


def test_refresh_is_idempotent_and_audited(books):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    first = sorted(
        DailyBalance.objects.filter(day=DAY).values_list(
            "unit_id", "category", "balance_total", "account_count"
        )
    )
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    again = sorted(
        DailyBalance.objects.filter(day=DAY).values_list(
            "unit_id", "category", "balance_total", "account_count"
        )
    )
    assert again == first
    assert DailyBalance.objects.count() == 4
    events = list(AuditEvent.objects.filter(action="analytics.dashboards_refresh").order_by("id"))
    assert len(events) == 2
    assert events[-1].object_type == "banking.dailybalance"
    assert events[-1].object_pk == DAY.isoformat()
    assert events[-1].actor == "system:test"
    assert events[-1].after == {"day": DAY.isoformat(), "balance_rows": 4, "customer_rows": 3}


def test_refresh_without_a_day_is_incremental(books):
    assert dashboard_days_due(today=DAY) == [DAY]
    dashboard_aggregates_refresh(actor=SYSTEM, today=DAY)
    later = DAY + dt.timedelta(days=2)
    assert dashboard_days_due(today=later) == [DAY + dt.timedelta(days=1), later]
    result = dashboard_aggregates_refresh(actor=SYSTEM, today=later)
    assert result.days == [DAY + dt.timedelta(days=1), later]
    # Caught up: only today is taken again.
    assert dashboard_aggregates_refresh(actor=SYSTEM, today=later).days == [later]
    assert sorted(set(DailyBalance.objects.values_list("day", flat=True))) == [
        DAY,
        DAY + dt.timedelta(days=1),
        later,
    ]
    # A job stopped for months catches up the last CATCH_UP_DAYS days only.
    far = later + dt.timedelta(days=200)
    due = dashboard_days_due(today=far)
    assert len(due) == CATCH_UP_DAYS
    assert due[-1] == far


def test_refresh_refuses_people_without_the_permission(books):
    with pytest.raises(PermissionDenied):
        dashboard_aggregates_refresh(actor=books.rm_a, day=DAY, today=DAY)
    assert not DailyBalance.objects.exists()


def test_command_refreshes_a_day_and_prints_json(books):
    out = StringIO()
    call_command("analytics", "refresh-dashboards", "--day", DAY.isoformat(), stdout=out)
    printed = json.loads(out.getvalue())
    assert printed["days"] == [DAY.isoformat()]
    assert printed["balance_rows"] == 4
    assert printed["customer_rows"] == 3


# --- Figures and scope -------------------------------------------------------------------------


def test_branch_manager_adds_up_their_branch_only(books):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY - dt.timedelta(days=30), today=DAY)
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    figures = selectors.balance_figures(actor=books.manager_a)
    assert figures.day == DAY
    assert figures.totals.deposits == Decimal("15000.00")
    assert figures.totals.aum == Decimal("15000.00")
    assert figures.totals.loans == Decimal("3000.00")
    assert figures.totals.accounts == 3
    # 30 days earlier the current account held 9,000 (the 1,000 came on DAY).
    assert figures.previous_day == DAY - dt.timedelta(days=30)
    assert figures.previous is not None
    assert figures.previous.aum == Decimal("14000.00")
    assert figures.aum_growth == Decimal("7.1")
    bank_wide = selectors.balance_figures(actor=books.analyst)
    assert bank_wide.totals.aum == Decimal("22000.00")
    movement = selectors.customer_movement(actor=books.manager_a)
    assert (movement.active, movement.joined, movement.lost) == (1, 1, 0)


def test_relationship_manager_sees_their_portfolio_only(books):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    assert selectors.balance_figures(actor=books.rm_a).totals.aum == Decimal("15000.00")
    assert selectors.balance_figures(actor=books.rm_b).totals.aum == Decimal("7000.00")


def test_executive_lines_and_drill_down(books):
    region = OrgUnitFactory(
        code="RN", name="North region", kind=OrgUnit.Kind.REGION, parent=books.head_office
    )
    branch_c = OrgUnitFactory(code="BRC", name="Branch C", parent=region)
    customer_c = PersonFactory(display_name="孙北方", owning_unit=branch_c)
    AccountFactory(
        product=ProductFactory(code="CUR", category=Product.Category.CURRENT),
        branch=branch_c,
        owner=customer_c,
        balance=Decimal("4000"),
    )
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    executive = staff("exec", "executive", books.head_office, mfa_enabled=True)
    figures = selectors.balance_figures(actor=executive, by_unit=True)
    lines = {
        line.unit.name: line.totals.aum
        for line in selectors.executive_lines(actor=executive, figures=figures)
    }
    # Branches A and B sit under no region: shown beside the regions.
    assert lines == {
        "Branch A": Decimal("15000.00"),
        "North region": Decimal("4000.00"),
        "Branch B": Decimal("7000.00"),
    }
    in_region = selectors.balance_figures(actor=executive, units=[region.pk], by_unit=True)
    assert in_region.totals.aum == Decimal("4000.00")
    branches = selectors.executive_lines(actor=executive, figures=in_region, region=region)
    assert [(line.unit.name, line.totals.aum) for line in branches] == [
        ("Branch C", Decimal("4000.00"))
    ]
    page = selectors.unit_customers(actor=executive, unit=region)
    assert [party.display_name for party in page.rows] == ["孙北方"]


# --- Pages -------------------------------------------------------------------------------------


def test_branch_dashboard_page_shows_branch_a_only(books):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    response = client_for(books.manager_a).get(reverse("analytics:dashboard_branch"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="kpi-aum"' in body
    assert "15,000" in body
    assert "22,000" not in body
    # Each product bar opens the account list filtered to it.
    assert f"{reverse('banking:account_list')}?category=savings" in body
    assert f"{reverse('lending:loan_list')}?bucket=90%2B" in body
    assert f"{reverse('support:case_list')}?breached=on" in body


def test_index_opens_the_dashboard_of_the_main_role(books):
    response = client_for(books.manager_a).get(reverse("analytics:dashboards"))
    assert response.status_code == 302
    assert response["Location"] == reverse("analytics:dashboard_branch")
    response = client_for(books.rm_a).get(reverse("analytics:dashboards"))
    assert response["Location"] == reverse("analytics:dashboard_relationship")
    executive = staff("exec", "executive", books.head_office, mfa_enabled=True)
    response = client_for(executive).get(reverse("analytics:dashboards"))
    assert response["Location"] == reverse("analytics:dashboard_executive")


@pytest.mark.parametrize(
    "name", ["dashboard_relationship", "dashboard_branch", "dashboard_executive"]
)
def test_every_page_renders_for_an_executive(books, name):
    dashboard_aggregates_refresh(actor=SYSTEM, day=DAY, today=DAY)
    executive = staff("exec", "executive", books.head_office, mfa_enabled=True)
    response = client_for(executive).get(reverse(f"analytics:{name}"))
    assert response.status_code == 200


def test_people_without_the_dashboard_permission_get_403(books):
    agent = staff("agent", "service_agent", books.branch_a)
    client = client_for(agent)
    for name in (
        "dashboards",
        "dashboard_relationship",
        "dashboard_branch",
        "dashboard_executive",
        "dashboard_compliance",
    ):
        assert client.get(reverse(f"analytics:{name}")).status_code == 403
    assert (
        client.get(
            reverse("analytics:dashboard_unit_customers", args=[books.branch_a.pk])
        ).status_code
        == 403
    )


def test_the_compliance_dashboard_says_it_is_counted_now(books):
    officer = staff("officer", "compliance_officer", books.head_office, mfa_enabled=True)
    html = client_for(officer).get(reverse("analytics:dashboard_compliance")).content.decode()
    assert 'id="live-at"' in html and "Counted now, as of" in html


def test_a_relationship_manager_may_not_open_the_compliance_dashboard(books):
    client = client_for(books.rm_a)
    assert client.get(reverse("analytics:dashboard_compliance")).status_code == 403
    assert client.get(reverse("analytics:dashboard_relationship")).status_code == 200


def test_branch_manager_cannot_drill_into_another_branch(books):
    client = client_for(books.manager_a)
    url = reverse("analytics:dashboard_unit_customers", args=[books.branch_b.pk])
    assert client.get(url).status_code == 404
    own = client.get(reverse("analytics:dashboard_unit_customers", args=[books.branch_a.pk]))
    assert own.status_code == 200
    assert books.customer_a.display_name in own.content.decode()
    assert books.customer_b.display_name not in own.content.decode()
    joined = client.get(
        reverse("analytics:dashboard_unit_customers", args=[books.branch_a.pk]) + "?joined=30"
    )
    assert "赵关闭" not in joined.content.decode()


def test_the_celery_task_refreshes_a_day(books):
    from bankcrm.analytics.tasks_dashboards import dashboards_refresh
    from bankcrm.config.celery import app

    assert app.conf.beat_schedule["analytics-dashboards-refresh"]["task"] == (
        "analytics.dashboards_refresh"
    )
    assert "analytics.dashboards_refresh" in app.tasks
    result = dashboards_refresh.delay(DAY.isoformat()).get()
    assert result == {"days": [DAY.isoformat()], "balance_rows": 4, "customer_rows": 3}
    assert AuditEvent.objects.filter(
        action="analytics.dashboards_refresh", actor="system:analytics.dashboards_refresh"
    ).exists()
