"""The churn model: training on the bank churn data (cross-validated AUC), registration with
purpose churn, the bankcrm-to-model mapping, bulk scoring of the customers, the audit trail,
and segment rules reading the stored scores."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.access.models import Role
from bankcrm.analytics.churn import churn_data_path, churn_learning_data, churn_train
from bankcrm.analytics.services_churn import churn_model_register, churn_score_customers
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.activity import party_activity_rebuild
from bankcrm.banking.models import AccountRole, Product
from bankcrm.core.actor import SystemActor
from bankcrm.customers.models import Party
from bankcrm.marketing.segments.compiler import segment_parties
from bankcrm.risk.models import ModelVersion, Score
from tests.conftest import in_ci
from tests.factories import RoleFactory, UserFactory
from tests.factories.banking import (
    AccountFactory,
    AccountRoleFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import OrganisationFactory, PersonFactory

AS_OF = dt.date(2026, 6, 30)


@pytest.fixture(scope="module")
def churn_csv():
    path = churn_data_path()
    if not path.exists():
        message = f"the bank churn data is not at {path} (set BANKCRM_DATA_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def trained_churn(churn_csv):
    """The churn model trained once for the module (no database needed)."""
    data = churn_learning_data(churn_csv)
    return data, churn_train(data)


@pytest.mark.django_db
def test_train_churn_command_reports_the_cross_validated_auc_and_registers(churn_csv):
    out, err = io.StringIO(), io.StringIO()
    call_command("analytics", "train-churn", "--data", str(churn_csv), stdout=out, stderr=err)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    # Measured 0.8651 ± 0.0071 (5 folds, seed 42; folds 0.871 0.851 0.865 0.869 0.870).
    assert result["auc_cv_mean"] >= 0.85
    assert 0 < result["auc_cv_std"] < 0.03
    assert len(result["auc_per_fold"]) == 5
    assert (result["rows"], result["positives"]) == (10000, 2037)
    assert result["excluded"] == ["RowNumber", "CustomerId", "Surname"]
    assert (result["purpose"], result["method"], result["name"]) == ("churn", "gbm", "churn")
    assert result["lift_top_decile"] > 3  # measured 3.75
    version = ModelVersion.objects.get(pk=result["model_version_pk"])
    assert (version.status, version.purpose) == ("draft", "churn")
    assert version.dataset_name == "Churn_Modelling.csv.gz"
    assert [item["name"] for item in version.card["features"][:2]] == ["Age", "NumOfProducts"]
    fill = version.card["crm_mapping"]["fill"]
    assert (fill["Geography"], fill["Gender"], fill["Tenure"], fill["CreditScore"]) == (
        "France",
        "Male",
        5.0,
        652.0,
    )
    register = AuditEvent.objects.get(action="risk.model_register", object_pk=str(version.pk))
    assert register.actor == "system:analytics.train_churn"
    assert register.after["purpose"] == "churn"
    assert "Training gbm" not in err.getvalue()  # progress is the trainer's own
    assert "cross-validated AUC" in err.getvalue()


@pytest.mark.django_db
def test_train_churn_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="--data"):
        call_command("analytics", "train-churn", "--data", str(tmp_path / "none.csv"))


@pytest.fixture
def churn_bank(bank):
    """People with hand-known figures as of 2026-06-30, a closed person and an organisation."""
    savings = ProductFactory(code="SAV", category=Product.Category.SAVINGS, currency="CNY")
    current = ProductFactory(code="CUR", category=Product.Category.CURRENT, currency="CNY")
    loan = ProductFactory(
        code="LOAN", category=Product.Category.LOAN, currency="CNY", is_liability=True
    )
    people = {}
    # Likely to leave: 52, a woman, one product, nothing booked lately.
    leaving = PersonFactory(
        display_name="Leaving", owning_unit=bank.branch_a, customer_since=dt.date(2024, 1, 1)
    )
    leaving.person.birth_year, leaving.person.gender = 1974, "female"
    leaving.person.income_band = "50k_150k"
    leaving.person.save()
    AccountFactory(owner=leaving, product=savings, branch=bank.branch_a, balance=Decimal("120000"))
    people["leaving"] = leaving
    # Likely to stay: 30, a man, two products, card holder, active. (Three or four products
    # mean leaving in the learning data: 83 and 100 per cent left.)
    staying = PersonFactory(
        display_name="Staying", owning_unit=bank.branch_a, customer_since=dt.date(2010, 3, 1)
    )
    staying.person.birth_year, staying.person.gender = 1996, "male"
    staying.person.income_band = "under_50k"
    staying.person.save()
    own = AccountFactory(owner=staying, product=savings, branch=bank.branch_a, balance=50000)
    AccountFactory(owner=staying, product=current, branch=bank.branch_a, balance=10000)
    AccountRoleFactory(account=own, party=staying, role=AccountRole.Role.CARD_HOLDER)
    TransactionFactory(account=own, booking_date=dt.date(2026, 6, 1), amount=Decimal("-80"))
    people["staying"] = staying
    # Little known: no birth year, gender or income; tenure from the account; a behaviour score.
    unknown = PersonFactory(display_name="Unknown", owning_unit=bank.branch_b)
    unknown.person.birth_year, unknown.person.gender = None, "unknown"
    unknown.person.save()
    bank_account = AccountFactory(owner=unknown, product=current, branch=bank.branch_b)
    # A loan is a product held, but its balance is owed to the bank: not a deposit.
    AccountFactory(owner=unknown, product=loan, branch=bank.branch_b, balance=-20000)
    # Only interest lately: not an active member.
    TransactionFactory(
        account=bank_account, booking_date=dt.date(2026, 6, 30), amount=1, kind="interest"
    )
    people["unknown"] = unknown
    behaviour = ModelVersion.objects.create(
        name="behaviour", version=1, purpose="behaviour", method="scorecard", spec={}
    )
    for points, day in ((580, 1), (640, 20)):
        score = Score.objects.create(
            model_version=behaviour,
            subject_kind="party",
            subject_id=str(unknown.pk),
            score=points,
            probability_of_default=Decimal("0.05"),
        )
        Score.objects.filter(pk=score.pk).update(scored_at=dt.datetime(2026, 6, day, tzinfo=dt.UTC))
    people["closed"] = PersonFactory(owning_unit=bank.branch_a, status=Party.Status.CLOSED)
    people["company"] = OrganisationFactory(owning_unit=bank.branch_a)
    party_activity_rebuild()
    return bank, people


@pytest.mark.django_db
def test_scoring_stores_one_score_per_customer_with_the_mapped_inputs(churn_bank, trained_churn):
    bank, people = churn_bank
    data, trained = trained_churn
    version = churn_model_register(
        actor=SystemActor("test"), name="churn-test", trained=trained, data=data
    )
    with CaptureQueriesContext(connection) as queries:
        figures = churn_score_customers(model_version=version, as_of=AS_OF, batch=2)
    in_three_batches = len(queries.captured_queries)
    assert figures["scored"] == 5
    assert figures["model"] == "churn-test v1"
    scores = {score.subject_id: score for score in Score.objects.filter(model_version=version)}
    people["customer_a"], people["customer_b"] = bank.customer_a, bank.customer_b
    expected = ("leaving", "staying", "unknown", "customer_a", "customer_b")
    assert set(scores) == {str(people[name].pk) for name in expected}

    leaving = scores[str(people["leaving"].pk)].inputs
    assert leaving == {
        "CreditScore": 652.0,
        "Geography": "France",
        "Gender": "Female",
        "Age": 52.0,
        "Tenure": 2.0,
        "Balance": 120000.0,
        "NumOfProducts": 1.0,
        "HasCrCard": 0.0,
        "IsActiveMember": 0.0,
        "EstimatedSalary": 100000.0,
        "filled": ["CreditScore", "Geography"],
    }
    staying = scores[str(people["staying"].pk)].inputs
    assert (staying["Age"], staying["Gender"], staying["Tenure"]) == (30.0, "Male", 10.0)
    assert (staying["Balance"], staying["NumOfProducts"]) == (60000.0, 2.0)
    assert (staying["HasCrCard"], staying["IsActiveMember"]) == (1.0, 1.0)
    assert staying["EstimatedSalary"] == 25000.0
    unknown = scores[str(people["unknown"].pk)].inputs
    assert unknown["CreditScore"] == 640.0  # the latest behaviour score
    assert unknown["Tenure"] == 6.0  # the account opened 2020-01-15
    assert unknown["IsActiveMember"] == 0.0  # interest is booked by the bank
    assert (unknown["Balance"], unknown["NumOfProducts"]) == (10000.0, 2.0)
    assert unknown["filled"] == ["Geography", "Gender", "Age", "EstimatedSalary"]

    p_leaving = scores[str(people["leaving"].pk)].probability_of_default
    p_staying = scores[str(people["staying"].pk)].probability_of_default
    assert p_leaving > 2 * p_staying
    # The points say the same on the registry's scale: higher is less likely to leave.
    assert scores[str(people["leaving"].pk)].score < scores[str(people["staying"].pk)].score
    assert all(not score.shadow and score.subject_kind == "party" for score in scores.values())

    audit = AuditEvent.objects.get(action="analytics.churn_score")
    assert audit.actor == "system:analytics.churn_score"
    assert audit.object_pk == str(version.pk)
    assert (audit.after["scored"], audit.after["as_of"]) == (5, "2026-06-30")

    # Segment rules read the stored scores.
    threshold = float((p_leaving + p_staying) / 2)
    rule = {"field": "score.probability", "purpose": "churn", "op": "gte", "value": threshold}
    found = set(segment_parties(definition=rule, actor=SystemActor("test")))
    assert people["leaving"] in found and people["staying"] not in found

    # A second run adds one more score each; segments read the latest.
    with CaptureQueriesContext(connection) as queries:
        churn_score_customers(model_version=version, as_of=AS_OF, batch=5)
    assert Score.objects.filter(model_version=version).count() == 10
    # Five people (the bank's two and three here): four statements per batch (keys,
    # figures, behaviour scores, insert), none per customer.
    assert in_three_batches - len(queries.captured_queries) == 2 * 4
    assert len(queries.captured_queries) <= 16


@pytest.mark.django_db
def test_scoring_is_scoped_and_needs_the_permission(churn_bank, trained_churn):
    bank, people = churn_bank
    data, trained = trained_churn
    version = churn_model_register(
        actor=SystemActor("test"), name="churn-test", trained=trained, data=data
    )
    with pytest.raises(PermissionDenied):
        churn_score_customers(actor=bank.rm_a, model_version=version, as_of=AS_OF)
    assert not Score.objects.filter(model_version=version).exists()
    assert not AuditEvent.objects.filter(action="analytics.churn_score").exists()
    # A branch B analyst who may score: only branch B's people are scored.
    role = RoleFactory(
        code="branch_scorer",
        permissions=["customers.view_*", "risk.score_modelversion"],
        data_scope=Role.DataScope.UNIT,
    )
    scorer = UserFactory(username="scorer", org_unit=bank.branch_b, roles=[role])
    figures = churn_score_customers(actor=scorer, model_version=version, as_of=AS_OF)
    assert figures["scored"] == 2
    assert set(Score.objects.values_list("subject_id", flat=True)) == {
        str(people["unknown"].pk),
        str(bank.customer_b.pk),
    }
    audit = AuditEvent.objects.get(action="analytics.churn_score")
    assert audit.actor == "scorer"


@pytest.mark.django_db
def test_score_churn_command_without_a_model_says_how_to_get_one():
    with pytest.raises(CommandError, match="train-churn"):
        call_command("analytics", "score-churn")


@pytest.mark.django_db
def test_score_churn_command_scores_with_the_newest_churn_model(churn_bank, trained_churn):
    data, trained = trained_churn
    churn_model_register(actor=SystemActor("test"), name="churn-test", trained=trained, data=data)
    out = io.StringIO()
    call_command("analytics", "score-churn", "--as-of", "2026-06-30", stdout=out)
    result = json.loads(out.getvalue())
    assert (result["model"], result["status"], result["scored"]) == ("churn-test v1", "draft", 5)
    assert 0 < result["mean_probability"] < 1
