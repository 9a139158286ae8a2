"""Key journeys through the shell in a real browser, at phone and desktop sizes."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bankcrm.access.models import Role
from tests.factories import DEFAULT_PASSWORD, OrgUnitFactory, RoleFactory, UserFactory

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)


@pytest.fixture
def relationship_manager(transactional_db):
    role = RoleFactory(
        code=Role.Code.RELATIONSHIP_MANAGER,
        name="Relationship manager",
        permissions=["customers.*", "banking.view_*"],
        data_scope=Role.DataScope.PORTFOLIO,
    )
    branch = OrgUnitFactory(name="Riverside branch")
    return UserFactory(
        username="lena.fischer",
        first_name="Lena",
        last_name="Fischer",
        org_unit=branch,
        roles=[role],
        password_changed_at=timezone.now(),
    )


def sign_in(page, username: str) -> None:
    page.goto("/")
    assert "/access/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.locator("#sign-in").click()
    page.wait_for_url("**/")


def nav_link(page, key: str):
    return page.locator(f'#bc-sidenav a[data-nav-key="{key}"]')


def test_sign_in_page_looks_right(browser_page):
    browser_page.goto("/access/login/")
    assert browser_page.get_by_label("Username").is_visible()
    assert browser_page.locator("#bc-sidenav").count() == 0
    screenshot(browser_page, "login-1920")


def test_sign_in_shows_name_and_side_navigation_on_a_wide_screen(
    browser_page, relationship_manager
):
    page = browser_page
    sign_in(page, "lena.fischer")
    assert page.get_by_role("heading", name="Welcome, Lena Fischer").is_visible()
    assert page.locator("#home-org-unit").inner_text().strip() == "Riverside branch"
    # From 992 px the navigation is a fixed column: no toggle, links visible at once.
    assert nav_link(page, "home").is_visible()
    assert nav_link(page, "help").is_visible()
    assert nav_link(page, "audit").count() == 0
    assert not page.locator("#bc-nav-toggle").is_visible()
    assert nav_link(page, "home").get_attribute("aria-current") == "page"
    box = page.locator("#bc-sidenav").bounding_box()
    assert box["x"] == 0 and box["width"] < 300
    screenshot(page, "home-1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_on_a_phone_the_navigation_opens_from_a_toggle(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    assert page.get_by_role("heading", name="Welcome, Lena Fischer").is_visible()
    toggle = page.locator("#bc-nav-toggle")
    assert toggle.is_visible()
    assert not nav_link(page, "help").is_visible()
    # Nothing is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    screenshot(page, "home-375")
    toggle.click()
    nav_link(page, "help").wait_for(state="visible")
    expect(page.locator("#bc-sidenav")).to_have_class(re.compile(r"\bshow\b"))
    screenshot(page, "home-375-navigation-open")
    page.locator("#bc-sidenav .btn-close").click()
    nav_link(page, "help").wait_for(state="hidden")


def test_language_switch_to_chinese(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.locator("#bc-language-menu").click()
    page.locator('button[name="language"][value="zh-hans"]').click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert nav_link(page, "home").inner_text().strip() == "我的工作"
    assert nav_link(page, "help").inner_text().strip() == "帮助"
    screenshot(page, "home-1920-zh-hans")
    # The choice follows the person to a new browser session.
    relationship_manager.refresh_from_db()
    assert relationship_manager.language == "zh-hans"


@pytest.mark.parametrize("viewport", [PHONE])
def test_language_switch_on_a_phone(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.locator("#bc-language-menu").click()
    page.locator('button[name="language"][value="zh-hans"]').click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="欢迎，Lena Fischer").is_visible()
    screenshot(page, "home-375-zh-hans")


def test_help_is_one_click_away(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.locator("#bc-help-link").click()
    page.wait_for_url("**/help/")
    assert page.get_by_role("heading", name="Help", exact=True).is_visible()
    page.get_by_role("link", name="Security and personal data").first.click()
    page.wait_for_url("**/help/security/")
    assert page.get_by_role("heading", name="Masking", exact=True).is_visible()
    screenshot(page, "help-security-1920")
    page.goto("/help/relationship-manager/")
    assert page.get_by_text("Your role").first.is_visible()
    screenshot(page, "help-relationship-manager-1920")


def test_keyboard_first_stop_is_skip_to_content(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.getAttribute('href')")
    assert focused == "#main"
    assert page.locator(".bc-skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_user_menu_signs_out(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.locator("#bc-user-menu").click()
    assert page.get_by_role("link", name="Profile and preferences").is_visible()
    screenshot(page, "user-menu-1920")
    page.locator("#bc-sign-out").click()
    page.wait_for_url("**/access/**")
    page.goto("/")
    assert "/access/login/" in page.url


def test_not_found_page_in_the_shell(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    response = page.goto("/no-such-page/")
    assert response.status == 404
    assert page.get_by_role("heading", name="Page not found").is_visible()
    # The 404 response itself is logged by the browser as a console error: expected here.
    page.watch.console_errors[:] = [
        error for error in page.watch.console_errors if "404" not in error
    ]
    screenshot(page, "not-found-1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_a_visitor_reaches_the_help_from_the_sign_in_page(browser_page):
    page = browser_page
    page.goto("/access/login/")
    page.locator("#bc-help-link").click()
    page.wait_for_url("**/help/")
    page.get_by_role("link", name="Getting started").click()
    page.wait_for_url("**/help/getting-started/")
    assert page.get_by_role("heading", name="Two-factor authentication").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE[0]
    screenshot(page, "help-visitor-375")


def test_a_branch_manager_sees_the_administration_section(browser_page):
    role = RoleFactory(
        code=Role.Code.BRANCH_MANAGER,
        name="Branch manager",
        permissions=["customers.*", "access.view_user", "access.view_orgunit"],
        data_scope=Role.DataScope.UNIT,
    )
    UserFactory(
        username="bo.manager",
        first_name="Bo",
        last_name="Manager",
        roles=[role],
        password_changed_at=timezone.now(),
    )
    page = browser_page
    sign_in(page, "bo.manager")
    section = page.locator("#bc-sidenav .bc-nav-section")
    assert section.all_inner_texts() == ["ADMINISTRATION"]
    assert nav_link(page, "access.users").is_visible()
    assert nav_link(page, "audit").count() == 0
    screenshot(page, "home-1920-branch-manager")


def test_a_failed_htmx_request_is_reported_to_the_person(browser_page, relationship_manager):
    page = browser_page
    sign_in(page, "lena.fischer")
    page.evaluate("htmx.ajax('GET', '/no-such-page/', {target: '#home-activity'})")
    alert = page.locator("#bc-live-messages .alert")
    alert.wait_for(state="visible")
    assert "no longer exists" in alert.inner_text()
    # The browser logs the 404 itself; that one is expected here.
    page.watch.console_errors[:] = [e for e in page.watch.console_errors if "404" not in e]
    screenshot(page, "htmx-error-1920")
