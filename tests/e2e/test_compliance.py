"""Screening hits in a real browser: a compliance officer opens Compliance › Screening hits,
opens the hit of a customer against a PEP list entry, compares the two side by side and reads
why they were matched, decides "false positive" with a reason and sees the hit closed (and
gone from the hits awaiting a decision). At desktop and phone sizes, screenshots kept; at
375 px the hit page never widens the window."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.test import Client
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role
from bankcrm.compliance import services_screening
from bankcrm.compliance.models import ScreeningHit, ScreeningWhitelist
from bankcrm.compliance.screening import registry
from bankcrm.core.actor import SYSTEM
from tests.factories import OrgUnitFactory, UserFactory
from tests.factories.customers import PersonFactory

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)
LIST = (
    "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
    "1,XI Jinping,,person,1953-06-15,CN,,male,PEP\n"
)


def _seed_roles() -> None:
    """The seeded roles (a browser test's database is flushed between tests, seeds
    included): the migrations' own seed functions."""
    for module, function in (
        ("bankcrm.access.migrations.0003_seed_bank_roles", "seed_roles"),
        ("bankcrm.access.migrations.0004_lending_role_permissions", "narrow"),
        ("bankcrm.access.migrations.0005_model_risk_role", "forwards"),
        ("bankcrm.access.migrations.0006_compliance_permissions", "forwards"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


@pytest.fixture
def screening_world(transactional_db, tmp_path: Path) -> dict[str, Any]:
    _seed_roles()
    registry.reset()
    head = OrgUnitFactory(code="HO", name="Head office", kind=OrgUnit.Kind.HEAD_OFFICE)
    officer = UserFactory(
        username="mei.chen",
        first_name="Mei",
        last_name="Chen",
        org_unit=head,
        roles=[Role.objects.get(code="compliance_officer")],
        mfa_enabled=True,
        password_changed_at=timezone.now(),
    )
    customer = PersonFactory(
        display_name="习近平",
        owning_unit=head,
        person__family_name="Xi",
        person__given_name="Jinping",
        person__native_name="习近平",
        person__native_name_pinyin="Xi Jinping",
        person__date_of_birth=dt.date(1985, 2, 1),
        person__nationality="CN",
    )
    path = tmp_path / "pep.csv"
    path.write_text(LIST, encoding="utf-8")
    services_screening.watch_list_load(
        actor=SYSTEM, source="csv", path=path, code="pep-test", name="PEP test list",
        kind="pep", rescreen=False,
    )  # fmt: skip
    (hit,) = services_screening.party_screen(actor=SYSTEM, party=customer, origin="onboarding")
    yield {"officer": officer, "customer": customer, "hit": hit}
    registry.reset()


def _sign_in(page, user: Any, url: str) -> None:
    """Sign in through a session (the officer's role signs in with a one-time code, which
    the sign-in tests cover)."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": url}])


def _journey(page, world: dict[str, Any], size: str, live_url: str) -> None:
    hit = world["hit"]
    _sign_in(page, world["officer"], live_url)
    page.goto("/")
    if size == "375":
        page.locator("#bc-nav-toggle").click()
    page.locator('#bc-sidenav a[data-nav-key="compliance.hits"]').click()
    page.wait_for_url("**/compliance/hits/")
    row = page.locator(f'#hit-table tr[data-hit="{hit.pk}"]')
    assert "XI Jinping" in row.inner_text()
    assert row.locator('[data-status="open"]').count() == 1
    width = 375 if size == "375" else 1920
    screenshot(page, f"compliance-hits-{size}")

    row.get_by_role("link", name="习近平").click()
    page.wait_for_url(f"**/compliance/hits/{hit.pk}/")
    compare = page.locator("#comparison-table")
    name_row = compare.locator('tr[data-row="name"]').inner_text().split("\t")
    assert name_row == ["Name", "习近平", "XI Jinping"]
    birth_row = compare.locator('tr[data-row="birth"]').inner_text().split("\t")
    assert birth_row == ["Date of birth", "1985-**-**", "1953-06-15"]
    # Why: the name parts and the conflicting date of birth.
    assert page.locator("#hit-name-parts tbody tr").count() >= 2
    birth = page.locator('#hit-attributes tr[data-field="birth_date"]')
    assert birth.get_attribute("data-result") == "mismatch"
    # The customer's date of birth stays masked, in the explanation too.
    assert "1985-**-**" in birth.inner_text()
    assert "1985-02-01" not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"compliance-hit-{size}")

    form = page.locator("#hit-decision-form")
    form.scroll_into_view_if_needed()
    form.get_by_label("False positive: not this person or organisation").check()
    form.get_by_label("Reason").fill("Born in 1985, 32 years after the listed person.")
    page.locator("#decide-hit").click()
    page.locator("#hit-decided").wait_for(state="visible")
    assert page.locator("#hit-status").inner_text() == "False positive"
    assert "32 years after" in page.locator("#hit-reason").inner_text()
    assert "The hit is closed" in page.locator(".alert-success").first.inner_text()
    assert page.locator("#hit-decision-form").count() == 0
    screenshot(page, f"compliance-hit-decided-{size}")

    hit.refresh_from_db()
    assert hit.status == ScreeningHit.Status.FALSE_POSITIVE
    assert hit.decided_by == world["officer"]
    assert ScreeningWhitelist.objects.filter(party=world["customer"], entry=hit.entry).exists()
    page.goto("/compliance/hits/?status=open")
    assert page.locator("#hits-empty").is_visible()
    # The dashboard: nothing awaits a decision any more; its charts are links and tables.
    page.goto("/compliance/dashboard/")
    assert page.locator("#figure-hits .bc-cmp-figure").inner_text() == "0"
    assert page.locator("#chart-age-table tbody tr").count() == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"compliance-dashboard-{size}")


def test_a_compliance_officer_closes_a_false_positive(browser_page, screening_world, live_server):
    _journey(browser_page, screening_world, "1920", live_server.url)


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_same_on_a_phone(browser_page, screening_world, live_server):
    _journey(browser_page, screening_world, "375", live_server.url)
