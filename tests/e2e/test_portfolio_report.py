"""The portfolio quality report in Chromium: the page opens with its three sections, the
vintage chart is drawn, a figure opens its loans, and the page fits a phone (375 px)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.analytics.test_portfolio import AS_OF, book  # noqa: F401  (fixture)
from tests.customers.conftest import bank  # noqa: F401  (fixture)
from tests.marketing.conftest import access_seeds  # noqa: F401  (fixture)

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

QUERY = f"?as_of={AS_OF.isoformat()}&months=4"
TOTAL_CNY = "#portfolio-quality tr[data-group='total'][data-currency='CNY']"


@pytest.fixture
def world(access_seeds: None, request: Any) -> Any:  # noqa: F811
    """The loan book of the report's tests (the roles seeded again after the flush of the
    transactional test before)."""
    return request.getfixturevalue("bank"), request.getfixturevalue("book")


def _sign_in(page: Any, live_server: Any, user: Any) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.clear_cookies()
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.mark.parametrize("viewport", [(1280, 900), (375, 800)])
def test_the_report_opens_and_fits_the_screen(
    browser_page: Any,
    live_server: Any,
    world: Any,
    viewport: Any,
) -> None:
    staff, _book = world
    page = browser_page
    _sign_in(page, live_server, staff.analyst)
    page.goto(reverse("analytics:report_portfolio") + QUERY)
    assert page.locator(f"{TOTAL_CNY} [data-figure='npl_ratio']").inner_text() == "59.46 %"
    assert page.locator("#portfolio-vintage-chart svg polyline").count() == 4
    assert page.locator("details[open] table.portfolio-roll").count() == 2  # June: CNY, USD
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport[0]
    width = viewport[0]
    screenshot(page, f"analytics-report-portfolio-{width}")
    page.locator(f"{TOTAL_CNY} [data-figure='npl_loans'] a").click()
    page.wait_for_url("**/reports/portfolio/loans/**")
    rows = page.locator("#portfolio-loans tbody tr")
    assert sorted(rows.nth(i).get_attribute("data-reference") for i in range(rows.count())) == [
        "L10",
        "L2",
        "L4",
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
