"""The model registry's governance: registering, validating, approving, promoting (maker-
checker), shadow challengers, retiring, risk grades and the feature mapping; each refusal
changes nothing, each change is audited and evented.

The fixtures here (``risk_staff``, ``register``, ``approved``) are shared by the registry's
API and command-line tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.events.models import OutboxEvent
from bankcrm.risk import selectors, services
from bankcrm.risk.features import FEATURE_CATALOGUE, FeatureDef
from bankcrm.risk.models import ModelVersion
from tests.factories import OrgUnitFactory, UserFactory

pytestmark = pytest.mark.django_db

BANDS = [
    {"grade": "A", "min_score": 640, "recommendation": "approve"},
    {"grade": "B", "min_score": 580, "recommendation": "refer"},
    {"grade": "C", "min_score": None, "recommendation": "decline"},
]


def scorecard_spec() -> dict[str, Any]:
    """A two-feature points table (the intercept folded into the bins)."""
    return {
        "kind": "scorecard",
        "format": 1,
        "scaling": {"base_score": 600, "base_odds": 50, "pdo": 20},
        "features": [
            {
                "name": "duration",
                "type": "numerical",
                "code": "R01",
                "reason": {"en": "Long loan duration", "zh": "贷款期限较长"},
                "splits": [12],
                "labels": ["< 12", ">= 12"],
                "points": [320, 280],
                "missing_points": 280,
            },
            {
                "name": "savings",
                "type": "categorical",
                "code": "R02",
                "reason": {"en": "Little savings", "zh": "储蓄较少"},
                "categories": [["high"], ["low"]],
                "labels": ["high", "low"],
                "points": [330, 290],
                "missing_points": 290,
                "other_points": 290,
            },
        ],
    }


@dataclass
class Trained:
    """What training hands to the registry (the shape of pipeline.train.TrainedModel)."""

    method: str = "scorecard"
    spec: dict[str, Any] = field(default_factory=scorecard_spec)
    metrics: dict[str, Any] = field(
        default_factory=lambda: {
            "auc_cv_mean": 0.8012,
            "auc_cv_std": 0.031,
            "gini": 0.6024,
            "ks": 0.47,
            "brier": 0.17,
            "rows": 1000,
            "bad_rate": 0.3,
            "cv": "5x5 stratified",
        }
    )
    card: dict[str, Any] = field(default_factory=lambda: {"target": "class"})
    baseline: dict[str, Any] = field(
        default_factory=lambda: {"score": {"edges": [560, 600, 640], "shares": [0.2, 0.5, 0.3]}}
    )


@dataclass
class LearningData:
    """What the registry reads of a dataset: its fingerprint."""

    fingerprint: dict[str, Any] = field(
        default_factory=lambda: {
            "sha256": "ab" * 32,
            "rows": 1000,
            "columns": 21,
            "bad_count": 300,
            "bad_rate": 0.3,
            "source": "/data/german-credit/german.csv",
        }
    )


@dataclass
class Settings:
    """The training settings the registry stores (a TrainingSettings stand-in)."""

    method: str = "scorecard"
    base_score: float = 600
    base_odds: float = 50
    pdo: float = 20
    folds: int = 5
    repeats: int = 5
    grade_bands: list[dict[str, Any]] | None = field(default_factory=lambda: list(BANDS))


@dataclass
class RiskStaff:
    analyst: Any  # credit analyst: develops and trains
    analyst2: Any
    officer: Any  # model risk officer: validates and approves
    officer2: Any
    dual: Any  # holds both roles: may never validate what they developed
    rm: Any  # relationship manager: no access to models


@pytest.fixture(autouse=True)
def quick_pdf(monkeypatch):
    """Governance steps render the card again; a stand-in PDF keeps these tests fast (the
    real rendering is tested once, in ``test_registration_stores_everything``)."""
    monkeypatch.setattr(services, "model_card_pdf", lambda html: b"%PDF-1.7 card")


@pytest.fixture
def risk_staff(db) -> RiskStaff:
    head = OrgUnitFactory(code="HQ", name="Head office")
    analyst_role = Role.objects.get(code="credit_analyst")
    officer_role = Role.objects.get(code="model_risk_officer")

    def user(username: str, *roles: Role) -> Any:
        return UserFactory(username=username, org_unit=head, roles=list(roles), mfa_enabled=True)

    return RiskStaff(
        analyst=user("analyst", analyst_role),
        analyst2=user("analyst2", analyst_role),
        officer=user("mro", officer_role),
        officer2=user("mro2", officer_role),
        dual=user("dual", analyst_role, officer_role),
        rm=user("rm", Role.objects.get(code="relationship_manager")),
    )


@pytest.fixture
def register(risk_staff):
    """``register(name="german", purpose="application", actor=analyst, **trained)``."""

    def make(
        name: str = "german", purpose: str = "application", actor: Any = None, **trained: Any
    ) -> ModelVersion:
        return services.model_register(
            actor=actor or risk_staff.analyst,
            name=name,
            purpose=purpose,
            trained=Trained(**trained),
            dataset=LearningData(),
            settings=Settings(),
            description="Application scorecard for personal loans",
        )

    return make


@pytest.fixture
def approved(register, risk_staff):
    """``approved(name=…, purpose=…)``: a version validated by one officer, approved by
    the other."""

    def make(**kwargs: Any) -> ModelVersion:
        version = register(**kwargs)
        services.model_validate(actor=risk_staff.officer, version=version, note="Sound")
        return services.model_approve(actor=risk_staff.officer2, version=version, note="Use it")

    return make


def promote(version: ModelVersion, maker: Any, checker: Any) -> PendingApproval:
    services.model_promote(actor=maker, version=version, reason="Better than the old one")
    return services.model_promote(actor=checker, version=version, reason="Agreed")


def actions_on(version: ModelVersion) -> list[str]:
    return list(
        AuditEvent.objects.filter(object_type="risk.modelversion", object_pk=str(version.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )


def events_on(version: ModelVersion) -> list[str]:
    return list(
        OutboxEvent.objects.filter(object_type="risk.modelversion", object_pk=str(version.pk))
        .order_by("occurred_at", "pk")
        .values_list("type", flat=True)
    )


# --- Registration -----------------------------------------------------------------------------


def test_registration_stores_everything(risk_staff, monkeypatch):
    from bankcrm.risk import card

    monkeypatch.setattr(services, "model_card_pdf", card.model_card_pdf)
    version = services.model_register(
        actor=risk_staff.analyst,
        name="german",
        purpose="application",
        trained=Trained(),
        dataset=LearningData(),
        settings=Settings(),
    )
    version.refresh_from_db()
    assert (version.name, version.version, version.status, version.method) == (
        "german",
        1,
        "draft",
        "scorecard",
    )
    assert version.created_by == risk_staff.analyst
    assert version.dataset_name == "german.csv"
    assert version.fingerprint["sha256"] == "ab" * 32
    assert version.grade_bands == BANDS
    assert version.training_settings["pdo"] == 20
    assert version.metrics["auc_cv_mean"] == 0.8012
    assert version.baseline["score"]["shares"] == [0.2, 0.5, 0.3]
    assert "german" in version.card_html
    assert bytes(version.card_pdf).startswith(b"%PDF")
    event = AuditEvent.objects.get(action="risk.model_register")
    assert event.actor == "analyst"
    assert event.after["metrics"]["auc_cv_mean"] == 0.8012
    assert events_on(version) == ["risk.model_registered"]


def test_versions_count_per_name(register):
    assert [register().version, register().version, register(name="other").version] == [1, 2, 1]


def test_registration_needs_the_training_permission(risk_staff):
    with pytest.raises(PermissionDenied):
        services.model_register(
            actor=risk_staff.officer,
            name="german",
            purpose="application",
            trained=Trained(),
            dataset=LearningData(),
            settings=Settings(),
        )
    assert not ModelVersion.objects.exists()


@pytest.mark.parametrize(
    ("name", "purpose", "field_name"),
    [
        ("", "application", "name"),
        ("german credit", "application", "name"),
        ("x" * 61, "application", "name"),
        ("german", "mortgage", "purpose"),
    ],
)
def test_registration_refuses_bad_names_and_purposes(risk_staff, name, purpose, field_name):
    with pytest.raises(ValidationError) as caught:
        services.model_register(
            actor=risk_staff.analyst,
            name=name,
            purpose=purpose,
            trained=Trained(),
            dataset=LearningData(),
            settings=Settings(),
        )
    assert list(caught.value.message_dict) == [field_name]
    assert not ModelVersion.objects.exists()


# --- Validation and approval ------------------------------------------------------------------


def test_validation_and_approval_record_who_and_why(register, risk_staff):
    version = register()
    services.model_validate(actor=risk_staff.officer, version=version, note="Backtest fine")
    services.model_approve(actor=risk_staff.officer2, version=version, note="Fit for use")
    version.refresh_from_db()
    assert version.status == "approved"
    assert (version.validated_by, version.approved_by) == (risk_staff.officer, risk_staff.officer2)
    assert version.status_note == "Fit for use"
    assert actions_on(version) == [
        "risk.model_register",
        "risk.model_validate",
        "risk.model_approve",
    ]
    validate = AuditEvent.objects.get(action="risk.model_validate")
    assert (validate.before["status"], validate.after["status"]) == ("draft", "validated")
    assert validate.reason == "Backtest fine"
    assert events_on(version) == [
        "risk.model_registered",
        "risk.model_validated",
        "risk.model_approved",
    ]
    history = selectors.model_version_history(actor=risk_staff.analyst, version=version)
    assert [(row["action"], row["status_to"]) for row in history] == [
        ("register", "draft"),
        ("validate", "validated"),
        ("approve", "approved"),
    ]


def test_the_developer_cannot_validate_their_own_model(register, risk_staff):
    version = register(actor=risk_staff.dual)
    with pytest.raises(PermissionDenied, match="independent validation"):
        services.model_validate(actor=risk_staff.dual, version=version, note="Looks good to me")
    version.refresh_from_db()
    assert version.status == "draft" and version.validated_by is None
    assert actions_on(version) == ["risk.model_register"]


def test_the_developer_cannot_approve_their_own_model(register, risk_staff):
    version = register(actor=risk_staff.dual)
    services.model_validate(actor=risk_staff.officer, version=version, note="Sound")
    with pytest.raises(PermissionDenied, match="a second person must approve it"):
        services.model_approve(actor=risk_staff.dual, version=version, note="Mine, approved")
    version.refresh_from_db()
    assert version.status == "validated" and version.approved_by is None


def test_developers_may_not_validate_at_all(register, risk_staff):
    version = register()
    with pytest.raises(PermissionDenied):
        services.model_validate(actor=risk_staff.analyst2, version=version, note="Fine")
    assert ModelVersion.objects.get().status == "draft"


def test_steps_go_in_order_and_need_a_note(register, risk_staff):
    version = register()
    with pytest.raises(ValidationError, match="Only a validated version can be approved"):
        services.model_approve(actor=risk_staff.officer, version=version, note="Skip ahead")
    with pytest.raises(ValidationError) as caught:
        services.model_validate(actor=risk_staff.officer, version=version, note="  ")
    assert list(caught.value.message_dict) == ["note"]
    assert ModelVersion.objects.get().status == "draft"
    assert actions_on(version) == ["risk.model_register"]


# --- Promotion (maker-checker) ----------------------------------------------------------------


def test_promotion_needs_a_second_person(approved, risk_staff):
    version = approved()
    request = services.model_promote(
        actor=risk_staff.analyst, version=version, reason="Beats the old one"
    )
    assert request.status == "pending" and request.action == "risk.promote_model"
    assert ModelVersion.objects.get().status == "approved"

    with pytest.raises(PermissionDenied, match="You asked for this promotion yourself"):
        services.model_promote(actor=risk_staff.analyst, version=version, reason="Go on")
    with pytest.raises(PermissionDenied, match="permission to approve"):
        services.model_promote(actor=risk_staff.analyst2, version=version, reason="Go on")
    assert ModelVersion.objects.get().status == "approved"

    done = services.model_promote(actor=risk_staff.officer, version=version, reason="Agreed")
    assert done.status == "approved" and done.checker == risk_staff.officer
    version.refresh_from_db()
    assert version.status == "production" and version.promoted_at is not None
    assert selectors.production_model("application") == version
    assert actions_on(version)[-2:] == ["risk.model_promote_request", "risk.model_promote"]
    assert events_on(version)[-1] == "risk.model_promoted"


def test_the_developer_cannot_be_the_checker_of_a_promotion(register, risk_staff):
    version = register(actor=risk_staff.dual)
    services.model_validate(actor=risk_staff.officer, version=version, note="Sound")
    services.model_approve(actor=risk_staff.officer2, version=version, note="Use it")
    services.model_promote(actor=risk_staff.officer, version=version, reason="Ready")
    with pytest.raises(PermissionDenied, match="You developed german v1"):
        services.model_promote(actor=risk_staff.dual, version=version, reason="Agreed")
    assert ModelVersion.objects.get().status == "approved"
    assert PendingApproval.objects.get().status == "pending"


def test_a_draft_cannot_be_promoted(register, risk_staff):
    version = register()
    with pytest.raises(ValidationError, match="Only an approved version can be promoted"):
        services.model_promote(actor=risk_staff.analyst, version=version, reason="Hurry")
    assert not PendingApproval.objects.exists()
    assert ModelVersion.objects.get().status == "draft"


def test_promotion_retires_the_purposes_production_version(approved, risk_staff):
    first = approved()
    promote(first, risk_staff.analyst, risk_staff.officer)
    other_purpose = approved(name="behaviour", purpose="behaviour")
    promote(other_purpose, risk_staff.analyst, risk_staff.officer)
    second = approved()
    promote(second, risk_staff.analyst2, risk_staff.officer2)
    first.refresh_from_db()
    second.refresh_from_db()
    other_purpose.refresh_from_db()
    assert (first.status, second.status, other_purpose.status) == (
        "retired",
        "production",
        "production",
    )
    assert first.status_note == "Replaced in production by german v2."
    assert actions_on(first)[-1] == "risk.model_retire"
    assert events_on(first)[-1] == "risk.model_retired"
    assert selectors.production_model("application") == second


def test_the_database_refuses_two_production_versions_per_purpose(approved, risk_staff):
    first = approved()
    promote(first, risk_staff.analyst, risk_staff.officer)
    second = approved()
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=second.pk).update(status="production")


def test_a_promotion_approved_after_the_version_was_retired_fails(approved, risk_staff):
    version = approved()
    services.model_promote(actor=risk_staff.analyst, version=version, reason="Ready")
    services.model_retire(actor=risk_staff.officer2, version=version, reason="Data issue")
    with pytest.raises(ValidationError, match="german v1 is retired"):
        services.model_promote(actor=risk_staff.officer, version=version, reason="Agreed")
    assert ModelVersion.objects.get().status == "retired"
    assert PendingApproval.objects.get().status == "failed"


# --- Shadow challengers and retirement --------------------------------------------------------


def test_only_an_approved_version_scores_in_shadow(register, approved, risk_staff):
    draft = register()
    with pytest.raises(ValidationError, match="Only an approved version can score in shadow"):
        services.model_shadow_set(actor=risk_staff.officer, version=draft, on=True, reason="Try")
    challenger = approved(name="german-gbm", method="gbm")
    services.model_shadow_set(actor=risk_staff.officer, version=challenger, on=True, reason="A/B")
    assert selectors.shadow_model("application") == challenger
    another = approved(name="german-gbm2", method="gbm")
    with pytest.raises(ValidationError, match="german-gbm v1 already scores in shadow"):
        services.model_shadow_set(actor=risk_staff.officer, version=another, on=True, reason="B")
    with pytest.raises(PermissionDenied):
        services.model_shadow_set(
            actor=risk_staff.analyst, version=challenger, on=False, reason="x"
        )
    shadow_event = AuditEvent.objects.get(action="risk.model_shadow")
    assert (shadow_event.before, shadow_event.after) == ({"shadow": False}, {"shadow": True})
    assert events_on(challenger)[-1] == "risk.model_shadow"

    promote(challenger, risk_staff.analyst, risk_staff.officer2)
    challenger.refresh_from_db()
    assert (challenger.status, challenger.shadow) == ("production", False)
    assert selectors.shadow_model("application") is None


def test_retiring(approved, register, risk_staff):
    production = approved()
    promote(production, risk_staff.analyst, risk_staff.officer)
    with pytest.raises(PermissionDenied):
        services.model_retire(actor=risk_staff.analyst, version=production, reason="Old")
    services.model_retire(actor=risk_staff.officer, version=production, reason="Drifted (PSI 0.3)")
    production.refresh_from_db()
    assert production.status == "retired" and production.retired_at is not None
    assert selectors.production_model("application") is None
    with pytest.raises(ValidationError, match="already retired"):
        services.model_retire(actor=risk_staff.officer, version=production, reason="Again")
    draft = register()
    services.model_retire(actor=risk_staff.analyst, version=draft, reason="Superseded")
    assert ModelVersion.objects.get(pk=draft.pk).status == "retired"


# --- Risk grades and the feature mapping ------------------------------------------------------


def test_grade_bands_change_while_draft_or_validated(register, risk_staff):
    version = register()
    bands = [
        {"grade": "A", "min_score": "650", "recommendation": "approve"},
        {"grade": "B", "min_score": None, "recommendation": "refer"},
    ]
    services.model_grade_bands_update(actor=risk_staff.analyst, version=version, bands=bands)
    version.refresh_from_db()
    assert version.grade_bands == [
        {"grade": "A", "min_score": 650, "recommendation": "approve"},
        {"grade": "B", "min_score": None, "recommendation": "refer"},
    ]
    event = AuditEvent.objects.get(action="risk.model_grade_bands")
    assert event.after == {"grade_bands": version.grade_bands}
    services.model_validate(actor=risk_staff.officer, version=version, note="ok")
    services.model_approve(actor=risk_staff.officer, version=version, note="ok")
    with pytest.raises(ValidationError, match="change only while a version is draft or validated"):
        services.model_grade_bands_update(actor=risk_staff.analyst, version=version, bands=BANDS)
    assert ModelVersion.objects.get().grade_bands[0]["min_score"] == 650


@pytest.mark.parametrize(
    ("bands", "fields"),
    [
        ([], ["bands"]),
        (
            [
                {"grade": "A", "min_score": 600, "recommendation": "approve"},
                {"grade": "B", "min_score": 620, "recommendation": "refer"},
                {"grade": "C", "min_score": None, "recommendation": "decline"},
            ],
            ["bands.1.min_score"],
        ),
        (
            [
                {"grade": "A", "min_score": 600, "recommendation": "approve"},
                {"grade": "A", "min_score": None, "recommendation": "decline"},
            ],
            ["bands.1.grade"],
        ),
        (
            [
                {"grade": "A", "min_score": 600, "recommendation": "accept"},
                {"grade": "B", "min_score": 500, "recommendation": "decline"},
            ],
            ["bands.0.recommendation", "bands.1.min_score"],
        ),
        (
            [
                {"grade": "A", "min_score": None, "recommendation": "approve"},
                {"grade": "B", "min_score": None, "recommendation": "decline"},
            ],
            ["bands.0.min_score"],
        ),
        (
            [
                {"grade": "A", "min_score": 6.5, "recommendation": "approve", "colour": "red"},
                {"grade": "B", "min_score": None, "recommendation": "decline"},
            ],
            ["bands.0.colour", "bands.0.min_score"],
        ),
    ],
)
def test_bad_grade_bands_are_refused_naming_each_field(register, risk_staff, bands, fields):
    version = register()
    with pytest.raises(ValidationError) as caught:
        services.model_grade_bands_update(actor=risk_staff.analyst, version=version, bands=bands)
    assert sorted(caught.value.message_dict) == sorted(fields)
    assert ModelVersion.objects.get().grade_bands == BANDS
    assert "risk.model_grade_bands" not in actions_on(version)


def test_feature_map_points_model_features_at_crm_features(register, risk_staff, monkeypatch):
    monkeypatch.setitem(
        FEATURE_CATALOGUE,
        "term_months",
        FeatureDef("term_months", "Term", "期限", "Long loan term", "贷款期限较长"),
    )
    version = register()
    with pytest.raises(ValidationError) as caught:
        services.model_feature_map_update(
            actor=risk_staff.analyst,
            version=version,
            mapping={"duration": "shoe_size", "income": "term_months"},
        )
    assert sorted(caught.value.message_dict) == ["mapping.duration", "mapping.income"]
    assert ModelVersion.objects.get().feature_map == {}
    services.model_feature_map_update(
        actor=risk_staff.analyst, version=version, mapping={"duration": "term_months"}
    )
    assert ModelVersion.objects.get().feature_map == {"duration": "term_months"}
    assert AuditEvent.objects.get(action="risk.model_feature_map").after == {
        "feature_map": {"duration": "term_months"}
    }


# --- Reading ----------------------------------------------------------------------------------


def test_reading_needs_the_view_permission(register, risk_staff):
    version = register()
    register(name="behaviour", purpose="behaviour")
    assert [v.name for v in selectors.model_versions(actor=risk_staff.officer)] == [
        "behaviour",
        "german",
    ]
    assert list(selectors.model_versions(actor=risk_staff.officer, purpose="behaviour")) == [
        ModelVersion.objects.get(name="behaviour")
    ]
    assert not selectors.model_versions(actor=risk_staff.rm).exists()
    from django.http import Http404

    with pytest.raises(Http404):
        selectors.model_version_get(actor=risk_staff.rm, pk=version.pk)
    with pytest.raises(Http404):
        selectors.model_version_get(actor=risk_staff.officer, pk="nope")
    assert selectors.model_version_history(actor=risk_staff.rm, version=version) == []


def test_compiled_models_are_cached_until_the_version_changes(register, risk_staff):
    version = register()
    model = selectors.compiled(version)
    assert selectors.compiled(ModelVersion.objects.get(pk=version.pk)) is model
    assert model.score({"duration": 6, "savings": "high"}).score == 650
    assert model.score({"duration": 24, "savings": None}).score == 570
    services.model_grade_bands_update(actor=risk_staff.analyst, version=version, bands=BANDS[1:])
    changed = ModelVersion.objects.get(pk=version.pk)
    assert selectors.compiled(changed) is not model


def test_an_unusable_specification_is_refused(register):
    spec = scorecard_spec()
    spec["features"][0]["points"] = [320]
    with pytest.raises(ValidationError) as caught:
        register(spec=spec)
    assert caught.value.message_dict == {
        "spec": ["feature 'duration': 1 splits need 2 points, not 1"]
    }
    assert not ModelVersion.objects.exists()


def test_by_name_prefers_the_production_version(approved, register, risk_staff):
    first = approved()
    promote(first, risk_staff.analyst, risk_staff.officer)
    register()
    found = selectors.model_version_by_name(actor=risk_staff.officer, name="german")
    assert found == first
    newest = selectors.model_version_by_name(actor=risk_staff.officer, name="german", version=2)
    assert newest.version == 2
