"""The role dashboards in a real browser: each dashboard opens for the person it is meant
for, draws its charts (SVG, no script, nothing from outside the bank), repeats them as
tables, and the executive drills down from the bank to a branch's customers. A screenshot
of each dashboard is kept as a test artefact for a person to read."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db.migrations import RunPython
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role
from bankcrm.analytics.services_dashboards import dashboard_aggregates_refresh
from bankcrm.banking.models import Product
from bankcrm.core.actor import SystemActor
from tests.customers.conftest import bank  # noqa: F401  (fixture)
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.banking import AccountFactory, ProductFactory
from tests.factories.customers import PersonFactory
from tests.marketing.conftest import access_seeds  # noqa: F401  (fixture)

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dashboard_world(access_seeds: None, request: Any) -> Any:  # noqa: F811
    """The customers' two-branch bank under a region, with balances snapshotted a month
    apart and the executive and compliance roles (the executive role's seed put back after
    the flush of the transactional test before)."""
    module = importlib.import_module("bankcrm.access.migrations.0009_analytics_roles")
    for operation in module.Migration.operations:
        if isinstance(operation, RunPython):
            operation.code(django_apps, None)
    world = request.getfixturevalue("bank")
    region = OrgUnitFactory(
        code="RE", name="East region", kind=OrgUnit.Kind.REGION, parent=world.head_office
    )
    branch_c = OrgUnitFactory(code="BRC", name="Branch C", parent=region)
    current = ProductFactory(code="CUR", name="Current account", category="current")
    savings = ProductFactory(code="SAV", name="Savings account", category="savings")
    card = ProductFactory(
        code="CARD", name="Credit card", category=Product.Category.CREDIT_CARD, is_liability=True
    )
    AccountFactory(product=current, branch=world.branch_a, owner=world.customer_a, balance=12000)
    AccountFactory(product=savings, branch=world.branch_a, owner=world.customer_a, balance=30000)
    AccountFactory(product=card, branch=world.branch_a, owner=world.customer_a, balance=-2500)
    AccountFactory(product=current, branch=world.branch_b, owner=world.customer_b, balance=8000)
    east = PersonFactory(display_name="周东方", owning_unit=branch_c)
    AccountFactory(product=savings, branch=branch_c, owner=east, balance=Decimal("21000"))
    today = timezone.localdate()
    for day in (today - dt.timedelta(days=30), today - dt.timedelta(days=15), today):
        dashboard_aggregates_refresh(actor=SystemActor("e2e"), day=day, today=today)
    world.region = region
    world.branch_c = branch_c
    world.executive = _staff("exec.li", "executive", world.head_office)
    world.officer = _staff("mei.chen", "compliance_officer", world.head_office)
    return world


def _staff(username: str, role: str, unit: Any) -> Any:
    return UserFactory(
        username=username,
        org_unit=unit,
        roles=[Role.objects.get(code=role)],
        password_changed_at=timezone.now(),
        mfa_enabled=True,
    )


def _sign_in(page: Any, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_each_dashboard_opens_with_charts_and_tables(
    browser_page: Any, live_server: Any, dashboard_world: Any
) -> None:
    world = dashboard_world
    page = browser_page

    _sign_in(page, live_server, world.rm_a)
    page.goto(reverse("analytics:dashboards"))
    page.wait_for_url("**/analytics/dashboards/relationship/")
    assert page.locator("#kpi-aum .bc-dash-figure").inner_text() == "42,000"
    assert page.locator("#chart-trend svg polyline").count() == 1
    screenshot(page, "analytics-dashboard-relationship")

    _sign_in(page, live_server, world.manager_a)
    page.goto(reverse("analytics:dashboards"))
    page.wait_for_url("**/analytics/dashboards/branch/")
    assert page.locator("#kpi-loans .bc-dash-figure").inner_text() == "2,500"
    rows = page.locator("#chart-category-table tbody tr")
    assert rows.count() == 3
    screenshot(page, "analytics-dashboard-branch")

    _sign_in(page, live_server, world.executive)
    page.goto(reverse("analytics:dashboards"))
    page.wait_for_url("**/analytics/dashboards/executive/")
    assert page.locator("#kpi-aum .bc-dash-figure").inner_text() == "71,000"
    screenshot(page, "analytics-dashboard-executive")
    page.locator("#units-table").get_by_role("link", name="East region").click()
    page.wait_for_url(f"**/analytics/dashboards/executive/?region={world.region.pk}")
    assert page.locator("#kpi-aum .bc-dash-figure").inner_text() == "21,000"
    screenshot(page, "analytics-dashboard-executive-region")
    page.locator("#units-table").get_by_role("link", name="Branch C").click()
    page.wait_for_url(f"**/analytics/dashboards/units/{world.branch_c.pk}/customers/")
    assert page.locator("#customer-table tbody tr").count() == 1
    assert "周东方" in page.locator("#customer-table").inner_text()

    _sign_in(page, live_server, world.officer)
    page.goto(reverse("analytics:dashboards"))
    page.wait_for_url("**/analytics/dashboards/compliance/")
    assert page.locator("#chart-age-table").count() == 1
    screenshot(page, "analytics-dashboard-compliance")


@pytest.mark.parametrize("viewport", [(375, 800)])
def test_the_branch_dashboard_fits_a_phone(
    browser_page: Any, live_server: Any, dashboard_world: Any, viewport: Any
) -> None:
    page = browser_page
    _sign_in(page, live_server, dashboard_world.manager_a)
    page.goto(reverse("analytics:dashboard_branch"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "analytics-dashboard-branch-375")


def test_an_analyst_builds_saves_runs_and_exports_a_report(
    browser_page: Any, live_server: Any, dashboard_world: Any
) -> None:
    """The report builder in a browser: pick the records, group and sum, preview, save with a
    name, run the saved report and download it as CSV; the figures are the hand sums of the
    fixture's balances by product category (the whole bank: the analyst works at head
    office)."""
    world = dashboard_world
    analyst = _staff("ana.wu", "credit_analyst", world.head_office)
    page = browser_page
    _sign_in(page, live_server, analyst)
    page.goto(reverse("analytics:builder"))
    page.select_option("#id_entity", "accounts")
    page.click("#builder-entity")
    page.select_option("#id_group_0_field", "product.category")
    page.select_option("#id_group_1_field", "currency")
    page.select_option("#id_agg_0_fn", "count")
    page.select_option("#id_agg_1_fn", "sum")
    page.select_option("#id_agg_1_field", "balance")
    page.click("#builder-preview")
    table = page.locator("#report-table")
    table.wait_for()
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [cell.strip() for cell in row.split("\t")]
            for row in table.locator("tbody tr").all_inner_texts()
        )
    }
    assert len(rows) == 3
    screenshot(page, "analytics-builder-preview")

    page.fill("#id_name", "Balances by category")
    page.click("#builder-save")
    page.wait_for_url("**/analytics/my-reports/*/")
    assert page.locator("h1").inner_text().strip() == "Balances by category"
    body = page.locator("#report-table tbody").inner_text()
    # Savings: 30,000 + 21,000 in two accounts; current: 12,000 + 8,000; card: −2,500.
    assert "51,000.00" in body and "20,000.00" in body and "-2,500.00" in body
    screenshot(page, "analytics-builder-saved")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").first.click()
    content = Path(download_info.value.path()).read_text(encoding="utf-8-sig")
    assert content.splitlines()[0].split(",")[0]
    assert len(content.strip().splitlines()) == 4  # the header and the three categories
