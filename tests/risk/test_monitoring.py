"""Monitoring a model in use: score PSI and feature CSI against the development sample with
their levels and events, back-testing by grade, outcomes from loan history, overrides."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.events.models import OutboxEvent
from bankcrm.lending.models import DelinquencyChange, Loan
from bankcrm.risk import services_monitoring
from bankcrm.risk.models import MonitoringReport, Score
from tests.factories import UserFactory
from tests.factories.banking import AccountFactory
from tests.factories.lending import LoanApplicationFactory
from tests.lending import conftest as lending_fixtures
from tests.risk.test_scoring import make_version

# The lending fixtures: a two-branch bank, its staff, customers and products.
bank = lending_fixtures.bank
lending_bank = lending_fixtures.lending_bank


BASELINE = {
    "score": {"edges": [500, 600], "shares": [0.2, 0.5, 0.3]},
    "features": {
        # < 25, [25, 35), ≥ 35, missing
        "age": {"kind": "numeric", "edges": [25, 35], "shares": [0.2, 0.3, 0.5, 0.0]},
        # own, rent or free, other or missing
        "housing": {
            "kind": "categorical",
            "categories": [["own"], ["rent", "free"]],
            "shares": [0.6, 0.4, 0.0],
        },
    },
}


def psi_by_hand(expected, actual):
    """Σ (a − e) · ln(a / e), shares floored at 0.0001."""
    total = 0.0
    for e, a in zip(expected, actual, strict=True):
        e, a = max(e, 1e-4), max(a, 1e-4)
        total += (a - e) * math.log(a / e)
    return total


@pytest.fixture
def model_risk_officer(lending_bank):
    return UserFactory(
        username="mro",
        org_unit=lending_bank.head_office,
        roles=[Role.objects.get(code="model_risk_officer")],
    )


@pytest.fixture
def today():
    return timezone.localdate(timezone.now(), timezone=dt.UTC)


def add_scores(version, rows, *, shadow=False):
    """Scores of ``version`` given now: rows of (score, age, housing[, outcome_bad, grade])."""
    made = []
    for position, row in enumerate(rows):
        score, age, housing = row[:3]
        outcome = row[3] if len(row) > 3 else None
        grade = row[4] if len(row) > 4 else ("A" if score >= 600 else "B" if score >= 540 else "C")
        made.append(
            Score(
                model_version=version,
                subject_kind="record",
                subject_id=f"r{position}",
                score=score,
                probability_of_default=Decimal(
                    str(round(1 / (1 + 50 * 2 ** ((score - 600) / 20)), 6))
                ),
                grade=grade,
                inputs={"age": age, "housing": housing},
                shadow=shadow,
                outcome_bad=outcome,
            )
        )
    return Score.objects.bulk_create(made)


def period(today):
    return {
        "period_start": today - dt.timedelta(days=1),
        "period_end": today + dt.timedelta(days=1),
    }


def test_a_shifted_score_distribution_acts_and_raises_the_event(model_risk_officer, today):
    version = make_version(baseline=BASELINE)
    # Scores: 5 below 500, 3 in [500, 600), 2 from 600 → 0.5, 0.3, 0.2.
    # Ages: 2 young, 3 middle, 5 older; housing: 6 own, 4 rent → as in development.
    add_scores(
        version,
        [(450, 22, "own"), (460, 23, "own"), (470, 30, "own"), (480, 31, "own"),
         (490, 32, "own"), (520, 40, "own"), (550, 41, "rent"), (580, 50, "rent"),
         (610, 60, "rent"), (650, 45, "free")],
    )  # fmt: skip
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    expected_psi = psi_by_hand([0.2, 0.5, 0.3], [0.5, 0.3, 0.2])
    assert round(expected_psi, 6) == 0.417599
    assert report.psi == pytest.approx(expected_psi, abs=1e-6)
    assert (report.level, report.scored, report.created_by) == ("act", 10, model_risk_officer)
    score = report.details["score"]
    assert score["level"] == "act"
    assert score["bins"] == [
        {"bin": "< 500", "expected": 0.2, "actual": 0.5},
        {"bin": "[500, 600)", "expected": 0.5, "actual": 0.3},
        {"bin": "≥ 600", "expected": 0.3, "actual": 0.2},
    ]
    features = report.details["features"]
    assert (features["age"]["csi"], features["age"]["level"]) == (0.0, "ok")
    assert (features["housing"]["csi"], features["housing"]["level"]) == (0.0, "ok")
    assert [row["bin"] for row in features["housing"]["bins"]] == [
        "own",
        "rent, free",
        "other or missing",
    ]
    event = OutboxEvent.objects.get(type="risk.stability_act")
    assert event.object_pk == str(report.pk)
    assert event.payload["psi"] == report.psi
    assert event.payload["model"] == "retail"
    assert not OutboxEvent.objects.filter(type="risk.stability_watch").exists()
    audit = AuditEvent.objects.get(action="risk.monitoring_run")
    assert (audit.after["level"], audit.after["scored"]) == ("act", 10)
    assert bytes(report.pdf).startswith(b"%PDF")


def test_a_drifting_feature_raises_watch(model_risk_officer, today):
    version = make_version(baseline=BASELINE)
    # Scores as developed (2 / 5 / 3); housing 8 own, 2 rent against 6 / 4.
    add_scores(
        version,
        [(450, 22, "own"), (460, 23, "own"), (520, 30, "own"), (530, 31, "own"),
         (540, 32, "own"), (550, 40, "own"), (560, 41, "own"), (610, 50, "own"),
         (620, 60, "rent"), (650, 45, "rent")],
    )  # fmt: skip
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    assert report.psi == 0.0
    housing = report.details["features"]["housing"]
    expected = psi_by_hand([0.6, 0.4, 0.0], [0.8, 0.2, 0.0])
    assert round(expected, 6) == 0.196166
    assert housing["csi"] == pytest.approx(expected, abs=1e-6)
    assert housing["level"] == "watch"
    assert report.level == "watch"
    event = OutboxEvent.objects.get(type="risk.stability_watch")
    assert event.payload["features"] == {"housing": housing["csi"]}
    assert not OutboxEvent.objects.filter(type="risk.stability_act").exists()


def test_a_stable_period_raises_nothing_and_counts_only_the_models_own_scores(
    model_risk_officer, today
):
    version = make_version(baseline=BASELINE)
    other = make_version("other", status="approved", baseline=BASELINE)
    stable = [(450, 22, "own"), (460, 23, "own"), (520, 30, "own"), (530, 31, "own"),
              (540, 32, "own"), (550, 40, "own"), (560, 41, "rent"), (610, 50, "rent"),
              (620, 60, "rent"), (650, 45, "free")]  # fmt: skip
    add_scores(version, stable)
    # A shadow score, another model's scores and last month's scores do not count.
    add_scores(version, [(300, 19, "boat")] * 5, shadow=True)
    add_scores(other, [(300, 19, "boat")] * 5)
    old = add_scores(version, [(300, 19, "boat")] * 5)
    Score.objects.filter(pk__in=[row.pk for row in old]).update(
        scored_at=timezone.now() - dt.timedelta(days=40)
    )
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    assert (report.scored, report.psi, report.level) == (10, 0.0, "ok")
    assert not OutboxEvent.objects.filter(type__startswith="risk.stability").exists()


def test_without_scores_or_baseline_the_report_says_so(model_risk_officer, today):
    version = make_version()
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    assert (report.scored, report.psi, report.level) == (0, None, "ok")
    assert report.details["notes"] == [
        "The model gave no scores in the period.",
        "The model has no development distribution to compare with.",
    ]


def test_back_testing_compares_observed_bad_rates_by_grade(model_risk_officer, today):
    version = make_version(baseline=BASELINE)
    add_scores(
        version,
        [(620, 40, "own", False), (640, 40, "own", True), (610, 40, "own", False),
         (650, 40, "own", False), (560, 30, "rent", None), (470, 22, "rent", True),
         (480, 22, "rent", True)],
    )  # fmt: skip
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    backtest = report.details["backtest"]
    assert [
        (row["grade"], row["rows"], row["bads"], row["observed_bad_rate"], row["min_score"],
         row["max_score"])
        for row in backtest
    ] == [("A", 4, 1, 0.25, 610, 650), ("C", 2, 2, 1.0, 470, 480)]  # fmt: skip
    mean_a = sum(1 / (1 + 50 * 2 ** ((s - 600) / 20)) for s in (620, 640, 610, 650)) / 4
    assert backtest[0]["mean_pd"] == pytest.approx(mean_a, abs=1e-5)


def test_monitoring_needs_the_permission_and_a_proper_period(lending_bank, today):
    version = make_version()
    with pytest.raises(PermissionDenied):
        services_monitoring.monitoring_run(
            actor=lending_bank.officer_a, version=version, **period(today)
        )
    with pytest.raises(ValidationError) as exc:
        services_monitoring.monitoring_run(
            actor=lending_bank.analyst,
            version=version,
            period_start=today,
            period_end=today - dt.timedelta(days=1),
        )
    assert exc.value.message_dict == {
        "period_end": ["The end of the period cannot be before its start."]
    }
    assert not MonitoringReport.objects.exists()


def _loan(application, account, **values):
    defaults = {
        "reference": f"LN-{application.reference}",
        "application": application,
        "product": application.product,
        "borrower": application.applicant,
        "account": account,
        "branch": application.branch,
        "principal": Decimal("10000.00"),
        "currency": application.currency,
        "annual_rate": Decimal("6"),
        "term_months": 12,
        "method": "annuity",
        "day_count": "act365",
        "disbursed_on": dt.date(2024, 1, 10),
        "maturity_date": dt.date(2025, 1, 10),
        "outstanding_principal": Decimal("0"),
    }
    defaults.update(values)
    return Loan.objects.create(**defaults)


def test_outcomes_come_from_the_loans_history(lending_bank, model_risk_officer, today):
    version = make_version()
    account = AccountFactory(owner=lending_bank.customer_a, branch=lending_bank.branch_a)
    product, branch, applicant = (
        lending_bank.product,
        lending_bank.branch_a,
        lending_bank.customer_a,
    )

    def application():
        return LoanApplicationFactory(product=product, branch=branch, applicant=applicant)

    written_off, closed, was_90, running, matured, unscored = (application() for _ in range(6))
    _loan(written_off, account, status="written_off")
    _loan(closed, account, status="closed", closed_on=dt.date(2025, 1, 10))
    cured = _loan(was_90, account, status="closed")
    DelinquencyChange.objects.create(
        loan=cured, as_of=dt.date(2024, 7, 1), from_bucket="61-90", to_bucket="90+",
        days_past_due=91, is_deterioration=True,
    )  # fmt: skip
    _loan(running, account, maturity_date=dt.date(2030, 1, 10), outstanding_principal=5000)
    _loan(matured, account, maturity_date=dt.date(2025, 1, 10))
    _loan(unscored, account, status="written_off")
    for position, app in enumerate((written_off, closed, was_90, running, matured)):
        Score.objects.create(
            model_version=version,
            subject_kind="application",
            subject_id=str(app.pk),
            score=500 + position,
            probability_of_default=Decimal("0.1"),
        )
    changed = services_monitoring.score_outcomes_update(as_of=dt.date(2025, 6, 30))
    assert changed == 4
    outcome = {
        row.subject_id: row.outcome_bad for row in Score.objects.filter(subject_kind="application")
    }
    assert outcome == {
        str(written_off.pk): True,
        str(closed.pk): False,
        str(was_90.pk): True,
        str(running.pk): None,
        str(matured.pk): False,
    }
    assert services_monitoring.score_outcomes_update(as_of=dt.date(2025, 6, 30)) == 0
    audit = AuditEvent.objects.filter(action="risk.score_outcomes").order_by("pk").first()
    assert (audit.after["bad"], audit.after["good"], audit.after["scores_changed"]) == (3, 2, 4)


def test_the_application_models_report_carries_the_override_rates(
    lending_bank, model_risk_officer, today
):
    version = make_version(baseline=BASELINE)
    add_scores(version, [(600, 40, "own")])
    now = timezone.now()
    for overridden in (True, False, False, False):
        LoanApplicationFactory(
            product=lending_bank.product,
            branch=lending_bank.branch_a,
            applicant=lending_bank.customer_a,
            decision="approved",
            decided_by=lending_bank.manager_a,
            decided_at=now,
            model_recommendation="decline" if overridden else "approve",
            model_overridden=overridden,
            override_reason="Known customer." if overridden else "",
        )
    report = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=version, **period(today)
    )
    overrides = report.details["overrides"]
    assert (overrides["decisions"], overrides["overrides"], overrides["override_rate"]) == (
        4,
        1,
        0.25,
    )
    assert [(line["officer_name"], line["override_rate"]) for line in overrides["by_officer"]] == [
        (lending_bank.manager_a.get_full_name() or "manager_a", 0.25)
    ]
    assert [(line["branch_name"], line["overrides"]) for line in overrides["by_branch"]] == [
        ("Branch A", 1)
    ]
    behaviour = make_version("behave", purpose="behaviour")
    other = services_monitoring.monitoring_run(
        actor=model_risk_officer, version=behaviour, **period(today)
    )
    assert "overrides" not in other.details
