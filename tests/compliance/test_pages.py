"""The compliance pages: each renders for a compliance officer with its key facts; alerts,
hits and cases stay hidden from relationship and branch managers (403 on a list, 404 on a
record); decisions go through the services (a refusal shows its reason and changes nothing);
the customer page shows the KYC panel, its alert and screening parts to compliance only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import OrgUnit, Role
from bankcrm.audit.models import AuditEvent
from bankcrm.compliance import services_kyc, services_screening
from bankcrm.compliance.models import (
    Alert,
    Case,
    KycReview,
    Scenario,
    ScreeningHit,
    ScreeningWhitelist,
)
from bankcrm.compliance.screening import registry
from bankcrm.compliance.services_cases import case_open
from bankcrm.core.actor import SYSTEM
from tests.factories import OrgUnitFactory, PortfolioFactory, UserFactory
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import OrganisationFactory, PersonFactory

from .test_alerts import raise_alert

pytestmark = pytest.mark.django_db

HEADER = "id,name,aliases,schema,birth_date,country,identifier,gender,program\n"
XI = "1,XI Jinping,,person,1953-06-15,CN,,male,PEP\n"
ACME = "2,Evil Shipping Holdings Ltd,,organisation,,,,,SDGT\n"


@dataclass
class World:
    officer: Any
    auditor: Any
    rm_a: Any
    rm_b: Any
    manager_b: Any
    customer: Any  # branch A, RM A's portfolio; on the PEP list
    account: Any
    hit: ScreeningHit
    alert: Alert  # a monitoring alert of the customer
    case: Case  # opened on a second monitoring alert
    review: KycReview


def staff(username: str, role: str, unit: Any, **extra: Any) -> Any:
    first, _, last = username.partition(".")
    return UserFactory(
        username=username,
        first_name=first.title(),
        last_name=last.title(),
        org_unit=unit,
        roles=[Role.objects.get(code=role)],
        password_changed_at=timezone.now(),
        **extra,
    )


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def load_list(tmp_path: Path, rows: str = XI + ACME) -> Any:
    path = tmp_path / "pep.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return services_screening.watch_list_load(
        actor=SYSTEM, source="csv", path=path, code="pep-test", name="PEP test list",
        kind="pep", rescreen=False,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh_index():
    registry.reset()
    yield
    registry.reset()


@pytest.fixture
def world(tmp_path: Path) -> World:
    head = OrgUnitFactory(code="HO", name="Head office", kind=OrgUnit.Kind.HEAD_OFFICE)
    branch_a = OrgUnitFactory(code="BRA", name="Branch A", parent=head)
    branch_b = OrgUnitFactory(code="BRB", name="Branch B", parent=head)
    officer = staff("mei.chen", "compliance_officer", head, mfa_enabled=True)
    auditor = staff("tom.audit", "auditor", head, mfa_enabled=True)
    rm_a = staff("ann.rm", "relationship_manager", branch_a)
    rm_b = staff("bob.rm", "relationship_manager", branch_b)
    manager_b = staff("bea.manager", "branch_manager", branch_b)
    portfolio_a = PortfolioFactory(code="PA", manager=rm_a, org_unit=branch_a)
    customer = PersonFactory(
        display_name="习近平",
        owning_unit=branch_a,
        portfolio=portfolio_a,
        person__family_name="Xi",
        person__given_name="Jinping",
        person__native_name="习近平",
        person__native_name_pinyin="Xi Jinping",
        person__date_of_birth=dt.date(1953, 6, 15),
        person__nationality="CN",
    )
    account = AccountFactory(owner=customer, branch=branch_a)
    load_list(tmp_path)
    hits = services_screening.party_screen(actor=SYSTEM, party=customer, origin="onboarding")
    assert len(hits) == 1
    evidence = [
        TransactionFactory(
            account=account,
            booking_date=dt.date(2024, 6, 3),
            amount=Decimal("9000.00"),
            counterparty_name="Shell A Ltd",
            counterparty_account="HK0001",
            counterparty_country="HK",
        )
    ]
    alert = raise_alert(account, score=85.0, transactions=[t.pk for t in evidence])
    for_case = raise_alert(account, scenario="test_cycle", score=60.0)
    case = case_open(actor=officer, alerts=[for_case], title="Round trip through Hong Kong")
    services_kyc.party_rate(actor=SYSTEM, party=customer, trigger="manual")
    review = services_kyc.kyc_review_open(
        actor=SYSTEM, party=customer, kind=KycReview.Kind.PERIODIC, reason="Annual review"
    )
    return World(
        officer, auditor, rm_a, rm_b, manager_b, customer, account, hits[0], alert, case, review
    )


def text(response: Any) -> str:
    return response.content.decode()


# --- Every page renders for a compliance officer ------------------------------------------------


def test_dashboard_figures_link_to_their_lists(world: World) -> None:
    response = client_for(world.officer).get(reverse("compliance:dashboard"))
    assert response.status_code == 200
    body = text(response)
    assert "Open alerts by age" in body
    assert 'id="chart-age-table"' in body and 'id="chart-risk-table"' in body
    # Three open alerts (two monitoring, one from the screening hit), all new today.
    assert response.context["alerts_open"] == 3
    assert response.context["hits_awaiting"] == 1
    age = response.context["age_chart"]
    assert [bar.value for bar in age.bars] == [3, 0, 0, 0]
    assert age.bars[0].url == reverse("compliance:alert_list") + "?age=0-2d"
    scenarios = {
        bar.url.rsplit("=", 1)[1]: (bar.label, bar.value)
        for bar in response.context["scenario_chart"].bars
    }
    assert scenarios == {
        "screening": ("Sanctions and PEP screening", 1),
        "test_cycle": ("Test fan-in", 1),  # the test helper names every scenario so
        "test_fan_in": ("Test fan-in", 1),
    }
    risk = {bar.label: bar.value for bar in response.context["risk_chart"].bars}
    assert risk == {"Low": 1, "Medium": 0, "High": 0}
    assert f'href="{reverse("compliance:hit_list")}?status=open"' in body


def test_alert_list_filters_and_alert_page_shows_evidence(world: World) -> None:
    client = client_for(world.officer)
    response = client.get(reverse("compliance:alert_list"))
    assert response.status_code == 200
    assert len(response.context["alerts"]) == 3
    only_screening = client.get(reverse("compliance:alert_list"), {"scenario": "screening"})
    assert [a.source for a in only_screening.context["alerts"]] == ["screening"]
    nobody = client.get(reverse("compliance:alert_list"), {"assigned": "me"})
    assert nobody.context["alerts"] == []
    partial = client.get(
        reverse("compliance:alert_list"), {"age": "0-2d"}, HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="alert-table",
    )  # fmt: skip
    assert partial.status_code == 200
    assert text(partial).startswith('<section id="alert-table"')

    page = client.get(reverse("compliance:alert_detail", args=[world.alert.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'data-rule="distinct_payers_7d"' in body
    assert "Shell A Ltd" in body
    assert 'id="flow-svg"' in body and "<svg" in body
    assert 'id="close-alert"' in body and 'id="open-case"' in body


def test_alert_list_reads_a_fixed_number_of_rows(world: World) -> None:
    client = client_for(world.officer)
    client.get(reverse("compliance:alert_list"))
    with CaptureQueriesContext(connection) as first:
        client.get(reverse("compliance:alert_list"))
    for _ in range(3):
        raise_alert(AccountFactory(owner=PersonFactory(owning_unit=world.customer.owning_unit)))
    with CaptureQueriesContext(connection) as more:
        response = client.get(reverse("compliance:alert_list"))
    assert len(response.context["alerts"]) == 6
    assert len(more) == len(first)


def test_assign_close_and_open_case_through_the_services(world: World) -> None:
    client = client_for(world.officer)
    url = reverse("compliance:alert_detail", args=[world.alert.pk])
    response = client.post(reverse("compliance:alert_assign", args=[world.alert.pk]), {})
    assert response.status_code == 302 and response["Location"] == url
    world.alert.refresh_from_db()
    assert world.alert.assigned_to == world.officer
    colleague = staff("li.wang", "compliance_officer", world.officer.org_unit, mfa_enabled=True)
    client.post(
        reverse("compliance:alert_assign", args=[world.alert.pk]), {"assignee": colleague.pk}
    )
    world.alert.refresh_from_db()
    assert world.alert.assigned_to == colleague
    # Only compliance officers are offered: the relationship manager is refused.
    refused_rm = client.post(
        reverse("compliance:alert_assign", args=[world.alert.pk]), {"assignee": world.rm_a.pk}
    )
    assert refused_rm.status_code == 400
    world.alert.refresh_from_db()
    assert world.alert.assigned_to == colleague

    # Closing without a reason changes nothing.
    refused = client.post(reverse("compliance:alert_close", args=[world.alert.pk]), {"reason": ""})
    assert refused.status_code == 400
    world.alert.refresh_from_db()
    assert world.alert.status in Alert.OPEN_STATUSES

    opened = client.post(
        reverse("compliance:alert_case_open", args=[world.alert.pk]), {"title": "Fan-in"}
    )
    case = Case.objects.get(title="Fan-in")
    assert opened.status_code == 302
    assert opened["Location"] == reverse("compliance:case_detail", args=[case.pk])
    world.alert.refresh_from_db()
    assert world.alert.case_id == case.pk


def test_close_alert_records_the_reason(world: World) -> None:
    client = client_for(world.officer)
    response = client.post(
        reverse("compliance:alert_close", args=[world.alert.pk]),
        {"reason": "Salary from a known employer"},
    )
    assert response.status_code == 302
    world.alert.refresh_from_db()
    assert world.alert.status == Alert.Status.CLOSED_FALSE_POSITIVE
    assert world.alert.close_reason == "Salary from a known employer"
    assert AuditEvent.objects.filter(object_pk=str(world.alert.pk)).exists()


def test_case_pages_notes_and_steps(world: World) -> None:
    client = client_for(world.officer)
    listing = client.get(reverse("compliance:case_list"))
    assert listing.status_code == 200
    assert world.case.reference in text(listing)
    url = reverse("compliance:case_detail", args=[world.case.pk])
    page = client.get(url)
    assert page.status_code == 200
    body = text(page)
    assert "Round trip through Hong Kong" in body
    assert 'id="step-buttons"' in body
    # Closing or reporting is the decision form's, not a bare workflow button.
    steps = [button["code"] for button in page.context["buttons"]]
    assert steps and not any(code.startswith(("close", "report")) for code in steps), steps
    assert 'id="decide-case"' in body and 'id="export-report"' in body

    noted = client.post(
        reverse("compliance:case_note_add", args=[world.case.pk]), {"text": "Called the RM"}
    )
    assert noted.status_code == 302
    assert "Called the RM" in text(client.get(url))

    empty = client.post(reverse("compliance:case_decide", args=[world.case.pk]), {})
    assert empty.status_code == 400
    world.case.refresh_from_db()
    assert world.case.decision == ""

    decided = client.post(
        reverse("compliance:case_decide", args=[world.case.pk]),
        {"decision": "no_suspicion", "narrative": "Family money returning from abroad."},
    )
    assert decided.status_code == 302
    world.case.refresh_from_db()
    assert world.case.decision == Case.Decision.NO_SUSPICION


def test_case_report_export_downloads_a_file(world: World) -> None:
    response = client_for(world.officer).post(
        reverse("compliance:case_report", args=[world.case.pk]),
        {"kind": "str_generic", "fmt": "json"},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="str_generic-')
    assert world.case.reference.encode() in response.content


def test_hit_list_and_side_by_side_comparison(world: World) -> None:
    client = client_for(world.officer)
    listing = client.get(reverse("compliance:hit_list"), {"status": "open"})
    assert listing.status_code == 200
    assert [hit.pk for hit in listing.context["hits"]] == [world.hit.pk]
    other = PersonFactory(owning_unit=world.customer.owning_unit)
    mine = client.get(reverse("compliance:hit_list"), {"customer": str(other.pk)})
    assert mine.context["hits"] == []
    page = client.get(reverse("compliance:hit_detail", args=[world.hit.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'id="comparison-table"' in body
    assert "XI Jinping" in body and "习近平" in body
    assert "1953-**-**" in body  # the customer's date of birth stays masked
    assert "1953-06-15" in body  # the list's date of birth
    assert 'data-field="birth_date"' in body
    assert 'id="hit-decision-form"' in body
    explanation = page.context["explanation"]
    assert explanation["parts"], "the name parts of the match are shown"


def test_hit_decision_false_positive_round_trip(world: World) -> None:
    client = client_for(world.officer)
    refused = client.post(
        reverse("compliance:hit_decide", args=[world.hit.pk]), {"decision": "false_positive"}
    )
    assert refused.status_code == 400
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.OPEN

    response = client.post(
        reverse("compliance:hit_decide", args=[world.hit.pk]),
        {"decision": "false_positive", "reason": "Different person: born 1985 in Shanghai"},
    )
    assert response.status_code == 302
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.FALSE_POSITIVE
    assert ScreeningWhitelist.objects.filter(party=world.customer).count() == 1
    body = text(client.get(reverse("compliance:hit_detail", args=[world.hit.pk])))
    assert 'id="hit-decided"' in body and "born 1985 in Shanghai" in body


def test_true_match_waits_for_four_eyes(world: World) -> None:
    client = client_for(world.officer)
    client.post(
        reverse("compliance:hit_decide", args=[world.hit.pk]),
        {"decision": "true_match", "reason": "Same name, date of birth and nationality"},
    )
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.TRUE_MATCH_PENDING
    body = text(client.get(reverse("compliance:hit_detail", args=[world.hit.pk])))
    assert 'id="hit-pending"' in body


def test_watch_lists_and_a_version(world: World) -> None:
    client = client_for(world.officer)
    response = client.get(reverse("compliance:watch_lists"))
    assert response.status_code == 200
    assert "PEP test list" in text(response)
    snapshot = response.context["rows"][0]["snapshots"][0]
    page = client.get(reverse("compliance:snapshot_detail", args=[snapshot.pk]))
    assert page.status_code == 200
    added = page.context["sections"][0]
    assert (added["key"], added["count"]) == ("added", 2)
    assert sorted(row["entry_id"] for row in added["rows"]) == ["1", "2"]


def test_screening_check_shows_hits_with_explanations(world: World) -> None:
    client = client_for(world.officer)
    page = client.get(reverse("compliance:screening_check"))
    assert page.status_code == 200 and page.context["results"] is None
    response = client.get(
        reverse("compliance:screening_check"), {"name": "习近平", "birth_date": "1953"}
    )
    assert response.status_code == 200
    results = response.context["results"]
    assert results[0]["entry_id"] == "1"
    assert 'id="m1-name-parts"' in text(response)
    bad = client.get(reverse("compliance:screening_check"), {"name": "x", "birth_date": "June"})
    assert bad.status_code == 400


def test_review_list_and_page_with_checklist(world: World) -> None:
    client = client_for(world.officer)
    listing = client.get(reverse("compliance:review_list"))
    assert listing.status_code == 200
    assert [r.pk for r in listing.context["reviews"]] == [world.review.pk]
    page = client.get(reverse("compliance:review_detail", args=[world.review.pk]))
    assert page.status_code == 200
    checklist = page.context["checklist"]
    assert checklist, "the review has its evidence checklist"
    code = checklist[0]["code"]
    ticked = client.post(
        reverse("compliance:review_check_item", args=[world.review.pk]),
        {"item": code, "done": "on", "note": "Seen in branch"},
    )
    assert ticked.status_code == 302
    world.review.refresh_from_db()
    item = next(i for i in world.review.checklist if i["code"] == code)
    assert item["done"] is True


def test_rm_of_the_branch_sees_the_review_but_another_branch_gets_404(world: World) -> None:
    url = reverse("compliance:review_detail", args=[world.review.pk])
    assert client_for(world.rm_a).get(url).status_code == 200
    assert client_for(world.rm_b).get(url).status_code == 404
    assert client_for(world.manager_b).get(url).status_code == 404


def test_edd_page_and_submission(world: World) -> None:
    client = client_for(world.officer)
    url = reverse("compliance:edd", args=[world.customer.pk])
    page = client.get(url)
    assert page.status_code == 200 and 'id="edd-none"' in text(page)
    missing = client.post(url, {"source_of_wealth": "", "source_of_funds": ""})
    assert missing.status_code == 400
    response = client.post(
        url, {"source_of_wealth": "Family business", "source_of_funds": "Dividends"}
    )
    assert response.status_code == 302
    body = text(client.get(url))
    assert "Family business" in body and 'data-status="pending"' in body


def test_scenarios_listed_with_their_rules_and_switched_with_a_reason(world: World) -> None:
    client = client_for(world.officer)
    listing = client.get(reverse("compliance:scenario_list"))
    assert listing.status_code == 200
    assert 'data-scenario="test_fan_in"' in text(listing)
    assert 'data-scenario="large_cash"' in text(listing)  # shipped with the module
    scenario = Scenario.objects.get(code="large_cash")
    page = client.get(reverse("compliance:scenario_detail", args=[scenario.pk]))
    assert page.status_code == 200
    body = text(page)
    assert 'id="scenario-spec"' in body and 'data-rule="cash_cny_day"' in body
    assert 'id="scenario-switch"' in body
    url = reverse("compliance:scenario_active", args=[scenario.pk])
    refused = client.post(url, {"is_active": "", "reason": ""})
    assert refused.status_code == 400
    scenario.refresh_from_db()
    assert scenario.is_active
    switched = client.post(url, {"is_active": "", "reason": "Tuning after a false-positive review"})
    assert switched.status_code == 302
    scenario.refresh_from_db()
    assert not scenario.is_active
    assert 'id="scenario-switch"' not in text(
        client_for(world.auditor).get(reverse("compliance:scenario_detail", args=[scenario.pk]))
    )


def test_auditor_reads_but_does_not_decide(world: World) -> None:
    client = client_for(world.auditor)
    assert client.get(reverse("compliance:dashboard")).status_code == 200
    page = client.get(reverse("compliance:hit_detail", args=[world.hit.pk]))
    assert page.status_code == 200 and 'id="hit-decision-form"' not in text(page)
    refused = client.post(
        reverse("compliance:hit_decide", args=[world.hit.pk]),
        {"decision": "false_positive", "reason": "no"},
    )
    assert refused.status_code == 403
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.OPEN


# --- Tipping-off: alerts, hits and cases stay with compliance ----------------------------------


@pytest.mark.parametrize("who", ["rm_a", "rm_b", "manager_b"])
def test_managers_get_403_on_lists_and_404_or_403_on_records(world: World, who: str) -> None:
    client = client_for(getattr(world, who))
    for name in ("dashboard", "alert_list", "case_list", "hit_list", "screening_check"):
        assert client.get(reverse(f"compliance:{name}")).status_code == 403, name
    for name, pk in (
        ("alert_detail", world.alert.pk),
        ("case_detail", world.case.pk),
        ("hit_detail", world.hit.pk),
    ):
        assert client.get(reverse(f"compliance:{name}", args=[pk])).status_code in (403, 404)
    response = client.post(
        reverse("compliance:hit_decide", args=[world.hit.pk]),
        {"decision": "false_positive", "reason": "not him"},
    )
    assert response.status_code in (403, 404)
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.OPEN


def test_navigation_shows_compliance_pages_by_role(world: World) -> None:
    officer = text(client_for(world.officer).get(reverse("web:home")))
    assert 'data-nav-key="compliance.alerts"' in officer
    assert 'data-nav-key="compliance.hits"' in officer
    rm = text(client_for(world.rm_a).get(reverse("web:home")))
    assert 'data-nav-key="compliance.reviews"' in rm
    assert 'data-nav-key="compliance.alerts"' not in rm
    assert 'data-nav-key="compliance.hits"' not in rm


# --- The customer page ---------------------------------------------------------------------------


def test_customer_page_panel_for_compliance(world: World) -> None:
    response = client_for(world.officer).get(reverse("customers:detail", args=[world.customer.pk]))
    assert response.status_code == 200
    body = text(response)
    assert 'id="compliance"' in body
    assert 'id="compliance-factors"' in body
    assert 'id="compliance-screening"' in body and 'id="compliance-alerts"' in body
    panel = response.context["compliance"]
    assert panel["open_alerts"] == 3
    factors = {factor["code"]: factor for factor in panel["factors"]}
    assert factors["pep"]["label"] == "Politically exposed person"
    assert (factors["screening"]["value"], factors["screening"]["points"]) == ("potential", "60")
    assert 'data-factor="screening"' in body


def test_customer_page_panel_for_the_rm_hides_alerts_and_hits(world: World) -> None:
    response = client_for(world.rm_a).get(reverse("customers:detail", args=[world.customer.pk]))
    assert response.status_code == 200
    body = text(response)
    assert 'id="compliance"' in body and 'id="compliance-band"' in body
    assert 'id="compliance-screening"' not in body
    assert 'id="compliance-alerts"' not in body
    assert "XI Jinping" not in body
    # The rating's screening factor would tell of a possible hit: compliance only.
    factors = {f["code"]: f for f in response.context["compliance"]["factors"]}
    assert factors["screening"]["is_hidden"] is True
    assert (factors["screening"]["value"], factors["screening"]["contribution"]) == (None, None)
    assert "potential" not in body


def test_customer_page_shows_the_ownership_graph_of_an_organisation(world: World) -> None:
    from bankcrm.customers.models import Relationship

    company = OrganisationFactory(owning_unit=world.customer.owning_unit)
    Relationship.objects.create(
        party_from=world.customer,
        party_to=company,
        type="beneficial_owner",
        ownership_pct=Decimal("60"),
    )
    response = client_for(world.officer).get(reverse("customers:detail", args=[company.pk]))
    assert response.status_code == 200
    body = text(response)
    assert 'id="compliance-ubo"' in body and 'id="compliance-ubo-table"' in body
    assert "60" in body


def test_pages_render_in_chinese(world: World) -> None:
    client = client_for(world.officer)
    client.cookies["django_language"] = "zh-hans"
    for url in (
        reverse("compliance:dashboard"),
        reverse("compliance:hit_detail", args=[world.hit.pk]),
        reverse("compliance:case_detail", args=[world.case.pk]),
        reverse("compliance:review_detail", args=[world.review.pk]),
        reverse("customers:detail", args=[world.customer.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Language"] == "zh-hans", url
