"""Alerts: deduplication per customer and scenario, scoring by risk band, screening hits,
assignment and closing, and the tipping-off rule (no alert for a relationship manager)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import (
    Alert,
    KycProfile,
    ListEntry,
    ListSnapshot,
    SanctionsList,
    Scenario,
    ScreeningHit,
)
from bankcrm.compliance.selectors_cases import (
    alert_get,
    alert_list,
    dashboard_counts,
)
from bankcrm.compliance.services_alerts import (
    EVIDENCE_TRANSACTIONS_CAP,
    alert_assign,
    alert_close,
    alert_from_hit,
    alert_score,
    alerts_from_detections,
)
from bankcrm.core.actor import SYSTEM
from bankcrm.events.models import OutboxEvent
from tests.factories import OrgUnitFactory, PortfolioFactory, UserFactory
from tests.factories.banking import AccountFactory
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db


# --- Shared helpers (imported by the other alert and case test files) ------------------------


def make_user(username: str, role: str, unit: Any = None) -> Any:
    return UserFactory(
        username=username,
        org_unit=unit or OrgUnitFactory(),
        roles=[Role.objects.get(code=role)],
    )


def make_detection(
    account_key: str,
    scenario: str = "test_fan_in",
    score: float = 60.0,
    transactions: list[int] | None = None,
    counterparties: list[str] | None = None,
    window: tuple[str, str] = ("2024-06-01", "2024-06-07"),
) -> Any:
    from bankcrm.compliance.aml.batch import Detection

    return Detection(
        scenario=scenario,
        account_key=account_key,
        score=score,
        rules=[{"code": "distinct_payers_7d", "value": 7, "threshold": 5, "fired": True}],
        transaction_ids=list(transactions or []),
        counterparties=list(counterparties or []),
        window=window,
    )


def make_scenario(code: str = "test_fan_in", name: str = "Test fan-in") -> Scenario:
    scenario, _created = Scenario.objects.get_or_create(
        code=code,
        defaults={"name": name, "name_zh": "测试：多对一", "typology": "fan_in", "spec": {}},
    )
    return scenario


def raise_alert(account: Any, **kwargs: Any) -> Alert:
    code = kwargs.get("scenario", "test_fan_in")
    make_scenario(code)
    alerts_from_detections(actor=SYSTEM, detections=[make_detection(str(account.pk), **kwargs)])
    return Alert.objects.get(
        party=account.owner, scenario__code=code, status__in=Alert.OPEN_STATUSES
    )


@pytest.fixture
def officer() -> Any:
    return make_user("officer1", "compliance_officer")


@pytest.fixture
def account() -> Any:
    owner = PersonFactory()
    return AccountFactory(owner=owner, branch=owner.owning_unit)


# --- Deduplication ----------------------------------------------------------------------------


def test_same_batch_twice_raises_nothing_new(account):
    make_scenario()
    detection = make_detection(
        str(account.pk), score=40.0, transactions=[1, 2], counterparties=["x"]
    )
    assert alerts_from_detections(actor=SYSTEM, detections=[detection]) == (1, 0)
    assert alerts_from_detections(actor=SYSTEM, detections=[detection]) == (0, 1)
    alert = Alert.objects.get()
    assert alert.occurrences == 2
    assert alert.dedup_key == f"test_fan_in:{account.owner_id}"
    assert alert.party_id == account.owner_id
    assert alert.account_id == account.pk
    assert alert.status == Alert.Status.NEW
    assert alert.evidence["transactions"] == [1, 2]
    assert alert.evidence["counterparties"] == ["x"]


def test_update_keeps_highest_score_and_merges_capped_evidence(account):
    make_scenario()
    first = make_detection(str(account.pk), score=70.0, transactions=list(range(150)))
    second = make_detection(
        str(account.pk),
        score=30.0,
        transactions=list(range(100, 300)),
        counterparties=["a", "b"],
        window=("2024-05-20", "2024-06-10"),
    )
    alerts_from_detections(actor=SYSTEM, detections=[first])
    alerts_from_detections(actor=SYSTEM, detections=[second])
    alert = Alert.objects.get()
    assert alert.score == Decimal("77.00")  # 70 × 1.10 (not rated), not lowered by 30
    assert len(alert.evidence["transactions"]) == EVIDENCE_TRANSACTIONS_CAP
    assert alert.evidence["transactions"][:3] == [0, 1, 2]
    assert alert.evidence["transactions"][-1] == EVIDENCE_TRANSACTIONS_CAP - 1
    assert alert.evidence["counterparties"] == ["a", "b"]
    assert alert.evidence["window"] == ["2024-05-20", "2024-06-10"]


def test_two_accounts_of_one_customer_fold_into_one_alert(account):
    make_scenario()
    other = AccountFactory(owner=account.owner, branch=account.branch)
    raised, updated = alerts_from_detections(
        actor=SYSTEM,
        detections=[make_detection(str(account.pk)), make_detection(str(other.pk))],
    )
    assert (raised, updated) == (1, 0)
    alert = Alert.objects.get()
    assert sorted(alert.evidence["accounts"]) == sorted([str(account.pk), str(other.pk)])


def test_other_scenario_is_another_alert_and_closed_alert_reopens_new(account):
    make_scenario()
    make_scenario("test_cycle", "Test cycle")
    alerts_from_detections(
        actor=SYSTEM,
        detections=[
            make_detection(str(account.pk)),
            make_detection(str(account.pk), scenario="test_cycle"),
        ],
    )
    assert Alert.objects.count() == 2
    alert = Alert.objects.get(scenario__code="test_cycle")
    alert_close(actor=SYSTEM, alert=alert, reason="Known salary pattern")
    raised, updated = alerts_from_detections(
        actor=SYSTEM, detections=[make_detection(str(account.pk), scenario="test_cycle")]
    )
    assert (raised, updated) == (1, 0)
    assert Alert.objects.filter(scenario__code="test_cycle").count() == 2


def test_source_id_account_key_and_unknown_account(account):
    make_scenario()
    account.source_system, account.source_id = "amlsim", "20K_test:17"
    account.save(update_fields=["source_system", "source_id"])
    alerts_from_detections(
        actor=SYSTEM,
        detections=[make_detection("20K_test:17"), make_detection("no-such-account")],
    )
    assert Alert.objects.get(party=account.owner).account_id == account.pk
    orphan = Alert.objects.get(party__isnull=True)
    assert orphan.dedup_key == "test_fan_in:account:no-such-account"


def test_raise_is_audited_and_announced(account):
    make_scenario()
    alerts_from_detections(actor=SYSTEM, detections=[make_detection(str(account.pk))])
    alert = Alert.objects.get()
    assert AuditEvent.objects.filter(action="alert.raise", object_pk=str(alert.pk)).count() == 1
    event = OutboxEvent.objects.get(type="alert.raised")
    assert event.payload["alert_pk"] == alert.pk
    assert event.payload["scenario"] == "test_fan_in"


# --- Scoring -----------------------------------------------------------------------------------


def test_score_is_boosted_by_risk_band(account):
    assert alert_score(50, "low") == Decimal("50.00")
    assert alert_score(50, "medium") == Decimal("57.50")
    assert alert_score(50, "high") == Decimal("65.00")
    assert alert_score(50, "") == Decimal("55.00")
    assert alert_score(90, "high") == Decimal("100.00")  # capped
    KycProfile.objects.create(party=account.owner, risk_band="high")
    alert = raise_alert(account, score=50.0)
    assert alert.score == Decimal("65.00")


# --- Screening hits ----------------------------------------------------------------------------


def _hit(party: Any, score: str = "0.93") -> ScreeningHit:
    watch_list = SanctionsList.objects.create(code="ofac-sdn", name="OFAC SDN", source="ofac")
    snapshot = ListSnapshot.objects.create(
        watch_list=watch_list, version=1, source_name="sdn.csv", sha256="0" * 64
    )
    entry = ListEntry.objects.create(
        watch_list=watch_list,
        entry_id="36",
        schema="person",
        name="XI Jinping",
        content_hash="1" * 64,
        first_snapshot=snapshot,
        last_snapshot=snapshot,
    )
    return ScreeningHit.objects.create(
        party=party,
        subject_name=party.display_name,
        entry=entry,
        score=Decimal(score),
        explanation={"summary_codes": ["name_strong"]},
        origin="onboarding",
    )


def test_alert_from_hit_dedups_per_list_entry_and_customer(account):
    hit = _hit(account.owner)
    alert = alert_from_hit(hit)
    assert alert is not None
    assert alert.source == Alert.Source.SCREENING
    assert alert.dedup_key == f"screening:ofac-sdn:36:{account.owner_id}"
    assert alert.score == Decimal("100.00")  # 93 × 1.10 capped
    # Screened again (after a list update): the same hit, a higher score.
    hit.score = Decimal("0.95")
    same = alert_from_hit(hit)
    assert same.pk == alert.pk
    assert same.occurrences == 2
    assert Alert.objects.count() == 1
    hit.status = ScreeningHit.Status.FALSE_POSITIVE
    assert alert_from_hit(hit) is None


# --- Assign and close ---------------------------------------------------------------------------


def test_assign_and_close_need_a_reason_and_are_audited(account, officer):
    alert = raise_alert(account)
    alert = alert_assign(actor=officer, alert=alert, assignee=officer)
    assert alert.status == Alert.Status.IN_REVIEW
    assert alert.assigned_to == officer
    with pytest.raises(ValidationError) as info:
        alert_close(actor=officer, alert=alert, reason="  ")
    assert "reason" in info.value.message_dict
    alert.refresh_from_db()
    assert alert.status == Alert.Status.IN_REVIEW
    closed = alert_close(actor=officer, alert=alert, reason="Payroll of a known employer")
    assert closed.status == Alert.Status.CLOSED_FALSE_POSITIVE
    assert closed.closed_by == officer
    assert AuditEvent.objects.filter(action="alert.close", object_pk=str(alert.pk)).exists()
    with pytest.raises(ValidationError):
        alert_close(actor=officer, alert=closed, reason="again")


def test_relationship_manager_may_not_close(account):
    alert = raise_alert(account)
    rm = make_user("rm1", "relationship_manager", unit=account.branch)
    with pytest.raises(PermissionDenied):
        alert_close(actor=rm, alert=alert, reason="looks fine")
    alert.refresh_from_db()
    assert alert.status == Alert.Status.NEW


# --- Selectors: compliance roles and auditors only -------------------------------------------


def test_relationship_manager_sees_no_alert_through_selectors(account):
    alert = raise_alert(account)
    # The customer's own relationship manager, in the customer's branch and portfolio.
    rm = make_user("rm2", "relationship_manager", unit=account.branch)
    portfolio = PortfolioFactory(manager=rm, org_unit=account.branch)
    account.owner.portfolio = portfolio
    account.owner.save(update_fields=["portfolio"])
    with pytest.raises(PermissionDenied):
        alert_list(actor=rm)
    with pytest.raises((PermissionDenied, Http404)):
        alert_get(actor=rm, pk=alert.pk)
    with pytest.raises(PermissionDenied):
        dashboard_counts(actor=rm)
    manager = make_user("bm1", "branch_manager", unit=account.branch)
    with pytest.raises(PermissionDenied):
        alert_list(actor=manager)


def test_officer_and_auditor_see_alerts(account, officer):
    alert = raise_alert(account)
    auditor = make_user("auditor1", "auditor")
    assert list(alert_list(actor=officer)) == [alert]
    assert alert_get(actor=auditor, pk=alert.pk) == alert
    assert list(alert_list(actor=officer, status="open", scenario="test_fan_in")) == [alert]
    assert list(alert_list(actor=officer, status="closed_fp")) == []
    with pytest.raises(Http404):
        alert_get(actor=officer, pk=alert.pk + 1000)
    counts = dashboard_counts(actor=officer)
    assert counts["alerts_open"] == 1
    assert counts["alerts_by_age"]["0-2d"] == 1
    assert counts["alerts_by_scenario"] == {"test_fan_in": 1}
    assert counts["hits_awaiting_decision"] == 0
