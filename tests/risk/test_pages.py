"""The credit risk pages: the model list and a version's page for the roles that use them
(403 for the others, 404 for a version that does not exist), every governance step through
the registry's services (a refusal shows its reason and changes nothing), the model card as
HTML and PDF, monitoring and the override report."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.timefmt import bank_today
from bankcrm.risk import services, views
from bankcrm.risk.card import CardRenderError
from bankcrm.risk.models import ModelVersion, MonitoringReport, Score
from tests.factories import OrgUnitFactory, UserFactory

from .test_card import BANDS, CARD, FINGERPRINT, METRICS, SPEC, section, table_rows, text

pytestmark = pytest.mark.django_db


@dataclass
class Trained:
    """What training hands the registry (pipeline.train.TrainedModel's shape)."""

    method: str = "scorecard"
    spec: dict[str, Any] = field(default_factory=lambda: dict(SPEC))
    metrics: dict[str, Any] = field(default_factory=lambda: dict(METRICS))
    card: dict[str, Any] = field(default_factory=lambda: dict(CARD))
    baseline: dict[str, Any] = field(
        default_factory=lambda: {
            "score": {"edges": [580, 640], "shares": [0.27, 0.52, 0.21]},
            "features": {"duration": {"edges": [12, 24], "shares": [0.3, 0.4, 0.28, 0.02]}},
        }
    )


@dataclass
class LearningData:
    fingerprint: dict[str, Any] = field(default_factory=lambda: dict(FINGERPRINT))


@dataclass
class Settings:
    method: str = "scorecard"
    base_score: float = 600
    base_odds: float = 50
    pdo: float = 20
    folds: int = 5
    repeats: int = 5
    grade_bands: list[dict[str, Any]] | None = field(default_factory=lambda: list(BANDS))


@dataclass
class Staff:
    analyst: Any  # credit analyst: develops models
    officer: Any  # model risk officer: validates, approves, monitors
    officer2: Any
    dual: Any  # both roles: may not validate what they developed
    loan_officer: Any  # reads models
    rm: Any  # relationship manager: no access
    manager: Any  # branch manager: no access


@pytest.fixture(autouse=True)
def quick_registration_pdf(monkeypatch):
    """Registration renders the card's PDF; a stand-in keeps these tests fast (the real PDF
    is made by the download test below and in test_card)."""
    monkeypatch.setattr(services, "model_card_pdf", lambda html: b"%PDF-1.7 stand-in")


@pytest.fixture
def staff(db) -> Staff:
    head = OrgUnitFactory(code="HQ", name="Head office")
    branch = OrgUnitFactory(code="BR1", name="Branch One", parent=head)
    roles = {role.code: role for role in Role.objects.all()}

    def user(username: str, *codes: str, unit: Any = head) -> Any:
        return UserFactory(
            username=username,
            first_name=username.split(".")[0].title(),
            last_name=username.split(".")[-1].title(),
            org_unit=unit,
            roles=[roles[code] for code in codes],
            mfa_enabled=True,
        )

    return Staff(
        analyst=user("lei.zhao", "credit_analyst"),
        officer=user("hui.wang", "model_risk_officer"),
        officer2=user("min.liu", "model_risk_officer"),
        dual=user("dual.role", "credit_analyst", "model_risk_officer"),
        loan_officer=user("fang.wang", "loan_officer", unit=branch),
        rm=user("wei.zhang", "relationship_manager", unit=branch),
        manager=user("na.li", "branch_manager", unit=branch),
    )


@pytest.fixture
def register(staff):
    def make(name: str = "german-credit", actor: Any = None, purpose: str = "application") -> Any:
        return services.model_register(
            actor=actor or staff.analyst,
            name=name,
            purpose=purpose,
            trained=Trained(),
            dataset=LearningData(),
            settings=Settings(),
            description="Application scorecard for personal loans",
        )

    return make


@pytest.fixture
def approved(register, staff):
    def make(**kwargs: Any) -> ModelVersion:
        version = register(**kwargs)
        services.model_validate(actor=staff.officer, version=version, note="Sound data")
        return services.model_approve(actor=staff.officer2, version=version, note="Use it")

    return make


def signed_in(client, user):
    client.force_login(user)
    return client


def url(name: str, *args: Any) -> str:
    return reverse(f"risk:{name}", args=args)


def snapshot(version: ModelVersion) -> tuple[Any, ...]:
    version.refresh_from_db()
    return (version.status, version.shadow, version.validated_by_id, version.approved_by_id,
            version.status_note, version.updated_at)  # fmt: skip


# --- Who may open the pages ------------------------------------------------------------------


@pytest.mark.parametrize("who", ["analyst", "officer", "loan_officer"])
def test_the_pages_open_for_the_roles_that_read_models(client, staff, register, who):
    version = register()
    signed_in(client, getattr(staff, who))
    for page in (url("model_list"), url("model_detail", version.pk), url("monitoring"),
                 url("overrides"), url("model_card_html", version.pk)):  # fmt: skip
        assert client.get(page).status_code == 200, page


@pytest.mark.parametrize("who", ["rm", "manager"])
def test_the_pages_are_closed_to_other_roles(client, staff, register, who):
    version = register()
    before = snapshot(version)
    signed_in(client, getattr(staff, who))
    for page in (url("model_list"), url("model_detail", version.pk), url("monitoring"),
                 url("overrides"), url("model_card_html", version.pk),
                 url("model_card_pdf", version.pk)):  # fmt: skip
        assert client.get(page).status_code == 403, page
    for step in ("validate", "approve", "promote", "retire"):
        response = client.post(url(f"model_{step}", version.pk), {"note": "x", "reason": "x"})
        assert response.status_code == 403, step
    assert snapshot(version) == before


def test_a_visitor_is_sent_to_sign_in(client, register):
    version = register()
    response = client.get(url("model_detail", version.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/access/login/")


def test_an_unknown_version_is_404(client, staff, register):
    register()
    signed_in(client, staff.officer)
    assert client.get(url("model_detail", 999_999)).status_code == 404
    assert client.get(url("model_card_pdf", 999_999)).status_code == 404
    assert client.post(url("model_validate", 999_999), {"note": "ok"}).status_code == 404
    assert client.get(url("monitoring_report", 999_999)).status_code == 404


def test_the_navigation_shows_credit_risk_to_those_who_read_models(client, staff):
    html = signed_in(client, staff.officer).get("/").content.decode()
    assert 'data-nav-key="risk.models"' in html and 'data-nav-key="risk.monitoring"' in html
    client.logout()
    html = signed_in(client, staff.rm).get("/").content.decode()
    assert "risk.models" not in html


# --- The model list -------------------------------------------------------------------------


def test_the_list_marks_production_and_shadow_and_filters(client, staff, register, approved):
    champion = approved(name="retail")
    services.model_promote(actor=staff.analyst, version=champion, reason="Replace rules")
    services.model_promote(actor=staff.officer, version=champion, reason="Agreed")
    challenger = approved(name="retail-gbm")
    services.model_shadow_set(actor=staff.officer, version=challenger, on=True, reason="Compare")
    draft = register(name="behaviour", purpose="behaviour")
    signed_in(client, staff.officer)
    html = client.get(url("model_list")).content.decode()
    assert section(html, "models-in-use") == (
        "In use retail v1 Production Application score retail-gbm v1 Approved Shadow "
        "Application score"
    )
    rows = table_rows(html, 'class="table table-sm table-hover')
    assert [row.split(" ")[0] + " " + row.split(" ")[1] for row in rows] == [
        "behaviour v1", "retail v1", "retail-gbm v1",
    ]  # fmt: skip
    assert "0.801 ± 0.021" in rows[1]
    assert '<tr data-model="retail v1" class="table-success">' in html
    # Filters, and the HTMX answer is the table alone.
    partial = client.get(
        url("model_list"), {"status": "draft"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="model-table"
    ).content.decode()
    assert partial.startswith('<section id="model-table"')
    assert f'href="{url("model_detail", draft.pk)}"' in partial
    assert "retail v1" not in partial
    by_purpose = client.get(url("model_list"), {"purpose": "behaviour"}).content.decode()
    assert "1 model version" in text(by_purpose) and "behaviour v1" in by_purpose
    bad = client.get(url("model_list"), {"status": "nonsense"})
    assert bad.status_code == 200
    assert "Select a valid choice." in bad.content.decode()


def test_the_list_query_count_does_not_grow(client, staff, register):
    signed_in(client, staff.officer)
    register(name="one")
    client.get(url("model_list"))
    with CaptureQueriesContext(connection) as few:
        client.get(url("model_list"))
    for name in ("two", "three", "four"):
        register(name=name, actor=staff.analyst)
    with CaptureQueriesContext(connection) as many:
        client.get(url("model_list"))
    assert len(many) == len(few)


# --- A version's page and its governance steps ------------------------------------------------


def test_the_page_shows_the_card_inline_and_the_steps_of_the_viewer(client, staff, register):
    version = register()
    html = signed_in(client, staff.officer).get(url("model_detail", version.pk)).content.decode()
    assert "german-credit v1" in section(html, "model-header")
    assert table_rows(html, 'class="mc-bins" data-feature="duration"')[0] == (
        "1 < 12 300 30.0 % 15.0 % 0.887 0.1780 48"
    )
    assert table_rows(html, 'id="mc-metrics"')[0] == "AUC 0.8012 0.0213"
    assert 'id="step-validate"' in html and 'id="step-approve"' not in html
    assert 'id="step-retire"' in html
    assert section(html, "model-history").startswith("History Registered")
    client.logout()
    # The developer may retire the draft but not validate it.
    html = signed_in(client, staff.analyst).get(url("model_detail", version.pk)).content.decode()
    assert 'id="step-validate"' not in html and 'id="step-retire"' in html


def test_a_developer_holding_both_roles_is_told_why_they_may_not_validate(client, staff, register):
    version = register(actor=staff.dual)
    html = signed_in(client, staff.dual).get(url("model_detail", version.pk)).content.decode()
    assert 'id="step-validate"' not in html
    assert "You developed this version: its validation must be done by someone else." in html
    # Posting anyway: the service refuses, nothing changes.
    before = snapshot(version)
    response = client.post(url("model_validate", version.pk), {"note": "Looks fine"})
    assert response.status_code == 403
    assert "You developed german-credit v1" in section(response.content.decode(), "governance")
    assert snapshot(version) == before


def test_validate_then_approve_through_the_pages(client, staff, register):
    version = register()
    signed_in(client, staff.officer)
    empty = client.post(url("model_validate", version.pk), {"note": "  "})
    assert empty.status_code == 400
    assert "Write the conclusion in the note." in section(empty.content.decode(), "step-validate")
    assert ModelVersion.objects.get(pk=version.pk).status == "draft"
    response = client.post(url("model_validate", version.pk), {"note": "Data and binning sound"})
    assert response.status_code == 302
    assert response["Location"] == url("model_detail", version.pk)
    version.refresh_from_db()
    assert (version.status, version.validated_by, version.status_note) == (
        "validated", staff.officer, "Data and binning sound",
    )  # fmt: skip
    assert (
        AuditEvent.objects.filter(action="risk.model_validate", object_pk=str(version.pk)).count()
        == 1
    )
    page = client.get(response["Location"]).content.decode()
    assert "german-credit v1 is validated." in page
    client.logout()
    signed_in(client, staff.officer2)
    assert client.post(url("model_approve", version.pk), {"note": "Fit for use"}).status_code == 302
    version.refresh_from_db()
    assert (version.status, version.approved_by) == ("approved", staff.officer2)


def test_a_step_the_status_no_longer_allows_shows_the_services_refusal(client, staff, approved):
    version = approved()
    before = snapshot(version)
    response = signed_in(client, staff.officer).post(
        url("model_validate", version.pk), {"note": "again"}
    )
    assert response.status_code == 400
    assert (
        "Only a draft can be validated; german-credit v1 is approved." in response.content.decode()
    )
    assert snapshot(version) == before


def test_promotion_is_requested_by_one_person_and_approved_by_another(client, staff, approved):
    version = approved()
    signed_in(client, staff.analyst)
    response = client.post(url("model_promote", version.pk), {"reason": "Beats the rules"})
    assert response.status_code == 302
    request = PendingApproval.objects.get(action="risk.promote_model")
    assert (request.maker, request.status) == (staff.analyst, "pending")
    page = client.get(url("model_detail", version.pk)).content.decode()
    assert f"Promotion request {request.pk} waits for a second person" in page
    assert "Lei Zhao asked for this version to go into production" in section(
        page, "promotion-pending"
    )
    assert 'id="step-promote"' not in page
    # The maker cannot approve it: the service refuses.
    refused = client.post(url("model_promote", version.pk), {"reason": "Approve it"})
    assert refused.status_code == 403
    assert "You asked for this promotion yourself" in section(
        refused.content.decode(), "step-refused"
    )
    assert ModelVersion.objects.get(pk=version.pk).status == "approved"
    client.logout()
    signed_in(client, staff.officer)
    page = client.get(url("model_detail", version.pk)).content.decode()
    assert "Approve the promotion" in section(page, "step-promote")
    response = client.post(url("model_promote", version.pk), {"reason": "Validated and approved"})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.status == "production"
    assert (
        "german-credit v1 is now in production."
        in client.get(response["Location"]).content.decode()
    )


def test_the_maker_of_a_promotion_is_refused_on_the_page(client, staff, approved):
    version = approved()
    services.model_promote(actor=staff.officer, version=version, reason="Ready")
    before = snapshot(version)
    signed_in(client, staff.officer)
    page = client.get(url("model_detail", version.pk)).content.decode()
    assert "You requested this promotion: a second person must approve it." in page
    response = client.post(url("model_promote", version.pk), {"reason": "Approve it myself"})
    assert response.status_code == 403
    assert "You asked for this promotion yourself" in section(
        response.content.decode(), "governance"
    )
    assert snapshot(version) == before


def test_shadow_scoring_on_and_off_and_retirement(client, staff, approved):
    version = approved()
    signed_in(client, staff.officer)
    missing = client.post(url("model_shadow", version.pk), {"on": "1", "reason": ""})
    assert missing.status_code == 400 and not ModelVersion.objects.get(pk=version.pk).shadow
    assert (
        client.post(url("model_shadow", version.pk), {"on": "1", "reason": "Compare"}).status_code
        == 302
    )
    version.refresh_from_db()
    assert version.shadow is True
    page = client.get(url("model_detail", version.pk)).content.decode()
    assert "Stop shadow scoring" in section(page, "step-shadow")
    assert (
        client.post(url("model_shadow", version.pk), {"on": "0", "reason": "Enough"}).status_code
        == 302
    )
    version.refresh_from_db()
    assert version.shadow is False
    assert client.post(url("model_retire", version.pk), {"reason": "Superseded"}).status_code == 302
    version.refresh_from_db()
    assert (version.status, version.status_note) == ("retired", "Superseded")
    page = client.get(url("model_detail", version.pk)).content.decode()
    assert "No governance step is open to you on this version." in page


# --- The card as a document --------------------------------------------------------------------


def test_the_card_downloads_as_html_and_pdf(client, staff, register):
    version = register()
    signed_in(client, staff.loan_officer)
    response = client.get(url("model_card_html", version.pk))
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Disposition"] == 'inline; filename="german-credit-v1-model-card.html"'
    html = response.content.decode()
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert table_rows(html, 'id="mc-points-table"')[0] == "duration < 12 48"
    pdf = client.get(url("model_card_pdf", version.pk))
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="german-credit-v1-model-card.pdf"'
    assert pdf.content.startswith(b"%PDF-")


def test_without_pdf_support_the_page_says_why(client, staff, register, monkeypatch):
    version = register()

    def missing(html: str) -> bytes:
        raise CardRenderError("PDF output needs WeasyPrint and the Pango library")

    monkeypatch.setattr(views, "model_card_pdf", missing)
    signed_in(client, staff.officer)
    response = client.get(url("model_card_pdf", version.pk))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "The PDF could not be made: PDF output needs WeasyPrint and the Pango library" in page


# --- Monitoring -----------------------------------------------------------------------------------


@pytest.fixture
def in_production(staff, approved):
    version = approved(name="retail")
    services.model_promote(actor=staff.analyst, version=version, reason="Replace the rules")
    services.model_promote(actor=staff.officer, version=version, reason="Agreed")
    version.refresh_from_db()
    return version


def test_monitoring_lists_the_models_in_use_and_runs_a_report(
    client, staff, in_production, monkeypatch
):
    monkeypatch.setattr(
        "bankcrm.risk.services_monitoring._render_pdf", lambda report: b"%PDF-1.7 stand-in"
    )
    today = bank_today()
    Score.objects.bulk_create(
        Score(model_version=in_production, subject_kind="record", subject_id=str(index),
              score=score, probability_of_default="0.100000", grade="B",
              inputs={"duration": duration})
        for index, (score, duration) in enumerate([(560, 6), (600, 18), (650, 30), (610, 30)])
    )  # fmt: skip
    signed_in(client, staff.officer)
    page = client.get(url("monitoring")).content.decode()
    assert "retail v1 Production Application score No monitoring report yet." in section(
        page, "monitoring-in-use"
    )
    assert 'id="monitoring-run-form"' in page
    bad = client.post(
        url("monitoring_run"),
        {"version": in_production.pk, "period_start": today.isoformat(),
         "period_end": (today - dt.timedelta(days=3)).isoformat()},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "The end of the period cannot be before its start." in bad.content.decode()
    assert not MonitoringReport.objects.exists()
    response = client.post(
        url("monitoring_run"),
        {"version": in_production.pk, "period_start": (today - dt.timedelta(days=30)).isoformat(),
         "period_end": today.isoformat()},
    )  # fmt: skip
    report = MonitoringReport.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("monitoring_report", report.pk)
    assert (report.created_by, report.scored) == (staff.officer, 4)
    page = client.get(response["Location"]).content.decode()
    assert "4 scores in the period" in text(page)
    assert table_rows(page, 'id="mr-psi-table"')[0].startswith("1 ")
    listing = client.get(url("monitoring")).content.decode()
    in_use = listing[
        listing.index('id="monitoring-in-use"') : listing.index('id="monitoring-recent"')
    ]
    assert f'href="{url("monitoring_report", report.pk)}"' in in_use
    pdf = client.get(url("monitoring_report_pdf", report.pk))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_a_reader_without_the_monitoring_permission_cannot_run_a_report(
    client, staff, in_production
):
    signed_in(client, staff.loan_officer)
    page = client.get(url("monitoring")).content.decode()
    assert 'id="monitoring-run-form"' not in page
    response = client.post(
        url("monitoring_run"),
        {"version": in_production.pk, "period_start": "2025-01-01", "period_end": "2025-01-31"},
    )
    assert response.status_code == 403
    assert not MonitoringReport.objects.exists()


def test_the_override_report_period(client, staff):
    signed_in(client, staff.officer)
    page = client.get(url("overrides"))
    assert page.status_code == 200
    html = page.content.decode()
    assert re.search(r"Override rates, .+ to .+", section(html, "override-rates-title"))
    assert 'id="overrides-none"' in html
    bad = client.get(url("overrides"), {"period_start": "2025-03-01", "period_end": "2025-01-01"})
    assert bad.status_code == 400
    assert "The end of the period cannot be before its start." in bad.content.decode()
