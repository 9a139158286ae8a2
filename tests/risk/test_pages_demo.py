"""The demo bank's credit risk: a scorecard trained on synthetic past applications with the
CRM's own features, validated, approved and promoted by different people through the
registry; the demo's applications in underwriting are then scored with it, and a second run
changes nothing."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from django.core.management.base import OutputWrapper

from bankcrm.audit.models import AuditEvent
from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.integrations import demo_risk
from bankcrm.integrations.demo import seed_customers
from bankcrm.integrations.demo_lending import seed_lending
from bankcrm.lending.models import LoanApplication
from bankcrm.risk import services as risk_services
from bankcrm.risk.models import ModelVersion, MonitoringReport, Score

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2025, 6, 30)


def demo_bank(customers: int = 80) -> DemoRun:
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=customers,
        seed=7,
        as_of=AS_OF,
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    seed_customers(actor=actor, demo=demo)
    return demo


def test_the_demo_model_goes_through_governance_and_scores_the_applications(monkeypatch):
    # Smaller learning data and a stand-in PDF keep this test quick (the real card PDF is
    # tested in test_card; `make demo` trains on 3,000 rows).
    monkeypatch.setattr(demo_risk, "ROWS", 1200)
    monkeypatch.setattr(risk_services, "model_card_pdf", lambda html: b"%PDF-1.7 stand-in")
    demo = demo_bank()
    actor = SystemActor("demo")
    counts = demo_risk.seed_risk(actor=actor, demo=demo)
    assert counts["credit models"] == 1
    version = ModelVersion.objects.get(name=demo_risk.MODEL_NAME)
    assert version.status == "production"
    assert version.created_by.username == "ca.zhao"
    assert version.validated_by.username == "mr.wang"
    assert version.approved_by.username == "mr.liu"
    promotion = PendingApproval.objects.get(action="risk.promote_model")
    assert (promotion.maker.username, promotion.checker.username, promotion.status) == (
        "ca.zhao", "mr.wang", "approved",
    )  # fmt: skip
    assert version.metrics["cv"] == "3x1 stratified"
    assert version.metrics["auc_cv_mean"] > 0.6
    assert version.fingerprint["rows"] == 1200
    assert "Binning tables" in version.card_html
    selected = set(version.card["selected"])
    assert "instalment_to_inflow" in selected and len(selected) >= 4
    assert set(
        AuditEvent.objects.filter(object_pk=str(version.pk), object_type="risk.modelversion")
        .values_list("action", flat=True)
    ) >= {"risk.model_register", "risk.model_validate", "risk.model_approve",
          "risk.model_promote_request", "risk.model_promote"}  # fmt: skip
    # Lending scores its applications with it.
    seed_lending(actor=actor, demo=demo)
    scored = LoanApplication.objects.exclude(underwriting={}).exclude(
        underwriting__credit_score=None
    )
    assert scored.exists()
    sample = scored.first().underwriting["credit_score"]
    assert sample["model"] == demo_risk.MODEL_NAME
    assert sample["grade"] and sample["reasons"]
    scores = list(Score.objects.filter(model_version=version).values_list("score", flat=True))
    assert len(set(scores)) > 3  # the demo's applicants do not all land in one bin
    assert demo_risk.seed_risk_monitoring(actor=actor, demo=demo) == {"monitoring reports": 1}
    assert MonitoringReport.objects.get().scored == len(scores)
    # A second run changes nothing.
    assert demo_risk.seed_risk(actor=actor, demo=demo) == {}
    assert demo_risk.seed_risk_monitoring(actor=actor, demo=demo) == {}


def test_the_outcomes_follow_the_known_relationship():
    import pandas as pd

    rng = np.random.default_rng(3)
    parties = pd.DataFrame(
        {
            "age": rng.integers(20, 70, 400).astype(float),
            "customer_years": rng.uniform(0, 10, 400),
            "accounts_count": rng.integers(1, 4, 400).astype(float),
            "avg_balance_6m": rng.lognormal(10, 1, 400),
            "min_balance_6m": rng.lognormal(8, 1.5, 400),
            "balance_volatility_6m": rng.lognormal(8, 1, 400),
            "negative_balance_days_6m": np.zeros(400),
            "inflow_months_6m": rng.integers(0, 7, 400).astype(float),
            "salary_months_6m": rng.integers(0, 7, 400).astype(float),
            "card_payments_6m": rng.integers(0, 60, 400).astype(float),
            "worst_days_past_due": np.zeros(400),
            "avg_monthly_inflow_6m": rng.lognormal(9, 0.5, 400),
        }
    )
    frame = demo_risk.learning_data(parties, rows=2000, seed=11)
    assert list(frame.columns) == [*demo_risk.FEATURES, demo_risk.TARGET]
    assert len(frame) == 2000
    assert abs(frame[demo_risk.TARGET].mean() - demo_risk.BAD_RATE) < 0.03
    # Bads have lower minimum balances and fewer months with money coming in.
    bads, goods = frame[frame.turned_bad == 1], frame[frame.turned_bad == 0]
    assert bads.min_balance_6m.median() < goods.min_balance_6m.median()
    assert bads.inflow_months_6m.mean() < goods.inflow_months_6m.mean()
    # The same seed gives the same rows.
    again = demo_risk.learning_data(parties, rows=2000, seed=11)
    assert again.equals(frame)


def test_the_instalments_follow_each_products_repayment():
    assert round(demo_risk.largest_instalment("personal", 120_000, 12), 2) == 10237.19
    assert round(demo_risk.largest_instalment("mortgage", 1_200_000, 240), 2) == 8800.0
    assert round(demo_risk.largest_instalment("sme", 1_000_000, 12), 2) == 1003208.33
    assert round(demo_risk.largest_instalment("credit_line", 60_000, 12), 2) == 63300.0
