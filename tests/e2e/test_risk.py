"""The model registry in a real browser: a credit analyst opens Credit risk › Models, opens
an approved scorecard, reads its model card (binning tables, points, evaluation) and asks
for its promotion to production, which then waits for a model risk officer. At desktop and
phone sizes, screenshots kept; at 375 px the model page never widens the window."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.risk import services
from bankcrm.risk.models import ModelVersion
from tests.factories import OrgUnitFactory, UserFactory
from tests.risk.test_pages import LearningData, Settings, Trained

from .conftest import screenshot
from .test_shell import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = (375, 812)


def _seed_roles() -> None:
    """The seeded roles, the model risk officer among them (a browser test's database is
    flushed between tests, seeds included): the migrations' own seed functions."""
    for module, function in (
        ("bankcrm.access.migrations.0003_seed_bank_roles", "seed_roles"),
        ("bankcrm.access.migrations.0004_lending_role_permissions", "narrow"),
        ("bankcrm.access.migrations.0005_model_risk_role", "forwards"),
    ):
        getattr(importlib.import_module(module), function)(django_apps, None)


@pytest.fixture
def risk_world(transactional_db, monkeypatch) -> dict[str, Any]:
    _seed_roles()
    # Registration renders the card's PDF; the browser reads the HTML card.
    monkeypatch.setattr(services, "model_card_pdf", lambda html: b"%PDF-1.7 stand-in")
    head = OrgUnitFactory(code="HQ", name="Head office")

    def staff(username: str, role: str, **extra: Any) -> Any:
        first, last = username.split(".")
        return UserFactory(
            username=username,
            first_name=first.title(),
            last_name=last.title(),
            org_unit=head,
            roles=[Role.objects.get(code=role)],
            password_changed_at=timezone.now(),
            **extra,
        )

    analyst = staff("lei.zhao", "credit_analyst")
    validator = staff("hui.wang", "model_risk_officer", mfa_enabled=True)
    approver = staff("min.liu", "model_risk_officer", mfa_enabled=True)
    version = services.model_register(
        actor=analyst,
        name="retail-scorecard",
        purpose="application",
        trained=Trained(),
        dataset=LearningData(),
        settings=Settings(),
        description="Application scorecard for personal loans",
    )
    services.model_validate(actor=validator, version=version, note="Sound data and binning")
    services.model_approve(actor=approver, version=version, note="Fit for use")
    services.model_register(
        actor=analyst,
        name="behaviour-scorecard",
        purpose="behaviour",
        trained=Trained(),
        dataset=LearningData(),
        settings=Settings(),
    )
    return {"analyst": analyst, "version": version}


def _journey(page, world: dict[str, Any], size: str) -> None:
    version = world["version"]
    sign_in(page, "lei.zhao")
    if size == "375":
        page.locator("#bc-nav-toggle").click()
    page.locator('#bc-sidenav a[data-nav-key="risk.models"]').click()
    page.wait_for_url("**/risk/models/")
    table = page.locator("#model-table")
    assert "retail-scorecard v1" in table.inner_text()
    assert "behaviour-scorecard v1" in table.inner_text()
    # Filter to the approved versions: the table refreshes in place.
    page.get_by_label("Status").select_option("approved")
    page.wait_for_function(
        "!document.querySelector('#model-table').innerText.includes('behaviour-scorecard')"
    )
    width = 375 if size == "375" else 1920
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"risk-models-{size}")

    page.get_by_role("link", name="retail-scorecard v1").first.click()
    page.wait_for_url(f"**/risk/models/{version.pk}/")
    assert page.locator("#model-title").inner_text() == "retail-scorecard v1"
    assert page.locator("#model-status").inner_text().startswith("Approved")
    # The model card, inline: identity, a binning table, the points and the evaluation.
    card = page.locator("#model-card")
    assert "Validated by\nHui Wang" in card.locator("#mc-identity").inner_text()
    bins = card.locator('table.mc-bins[data-feature="duration"] tbody tr')
    assert bins.count() == 4
    assert bins.first.inner_text().split("\t")[:4] == ["1", "< 12", "300", "30.0 %"]
    assert card.locator("#mc-metrics").inner_text().splitlines()[1].split("\t") == [
        "AUC", "0.8012", "0.0213",
    ]  # fmt: skip
    assert card.locator("#mc-bins-duration svg rect").count() == 4
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    screenshot(page, f"risk-model-card-{size}")

    form = page.locator("#step-promote")
    form.scroll_into_view_if_needed()
    assert form.locator("h3").inner_text() == "Request promotion to production"
    form.get_by_label("Reason").fill("Beats the judgemental rules on every fold.")
    form.locator("#step-promote-submit").click()
    page.locator("#promotion-pending").wait_for(state="visible")
    assert (
        "Lei Zhao asked for this version to go into production"
        in page.locator("#promotion-pending").inner_text()
    )
    assert page.locator("#step-promote").count() == 0
    assert (
        "waits for a second person with the model risk role"
        in page.locator(".alert-success, .alert-info").first.inner_text()
    )
    screenshot(page, f"risk-promotion-requested-{size}")

    request = PendingApproval.objects.get(action="risk.promote_model")
    assert (request.maker.username, request.status, request.maker_reason) == (
        "lei.zhao", "pending", "Beats the judgemental rules on every fold.",
    )  # fmt: skip
    assert ModelVersion.objects.get(pk=version.pk).status == "approved"


def test_a_credit_analyst_requests_a_models_promotion(browser_page, risk_world):
    _journey(browser_page, risk_world, "1920")


@pytest.mark.parametrize("viewport", [PHONE])
def test_the_same_on_a_phone(browser_page, risk_world):
    _journey(browser_page, risk_world, "375")
