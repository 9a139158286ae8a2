"""The registry's API (/api/v1/risk/models): reading, the card, governance steps, grades and
the feature mapping; permissions (403 on the list, 404 on a version), problem+json errors,
and that a refused request changes nothing."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.risk.models import ModelVersion
from tests.risk import test_registry as registry
from tests.risk.test_registry import BANDS

# The registry's fixtures, shared.
risk_staff = registry.risk_staff
register = registry.register
approved = registry.approved
quick_pdf = registry.quick_pdf

pytestmark = pytest.mark.django_db

API = "/api/v1/risk"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def put(client, url, body):
    return client.put(url, json.dumps(body), content_type="application/json")


def test_list_and_detail(register, approved, risk_staff):
    draft = register()
    approved(name="behaviour", purpose="behaviour")
    client = client_for(risk_staff.officer)

    response = client.get(f"{API}/models")
    assert response.status_code == 200
    body = response.json()
    assert [(item["name"], item["version"], item["status"]) for item in body] == [
        ("behaviour", 1, "approved"),
        ("german", 1, "draft"),
    ]
    assert body[1]["auc_cv_mean"] == 0.8012
    assert body[1]["created_by"] == risk_staff.analyst.get_full_name()

    filtered = client.get(f"{API}/models", {"status": ["approved", "production"]}).json()
    assert [item["name"] for item in filtered] == ["behaviour"]
    assert [i["name"] for i in client.get(f"{API}/models", {"purpose": "application"}).json()] == [
        "german"
    ]

    detail = client.get(f"{API}/models/{draft.pk}").json()
    assert detail["grade_bands"] == BANDS
    assert detail["features"] == ["duration", "savings"]
    assert detail["metrics"]["cv"] == "5x5 stratified"
    assert detail["fingerprint"]["rows"] == 1000
    assert detail["pending_promotion"] is None
    assert [row["action"] for row in detail["history"]] == ["register"]
    assert detail["card_url"] == f"{API}/models/{draft.pk}/card"


def test_the_list_reads_a_fixed_number_of_rows(register, risk_staff):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    register()
    client = client_for(risk_staff.officer)
    client.get(f"{API}/models")  # the session and the roles, once
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(f"{API}/models").json()) == 1
    register(name="second", actor=risk_staff.analyst2)
    register(name="third")
    with CaptureQueriesContext(connection) as three:
        assert len(client.get(f"{API}/models").json()) == 3
    assert len(three.captured_queries) == len(one.captured_queries)


def test_the_card_as_html_and_pdf(register, risk_staff):
    version = register()
    client = client_for(risk_staff.analyst)
    html = client.get(f"{API}/models/{version.pk}/card")
    assert html.status_code == 200
    assert html["Content-Type"] == "text/html; charset=utf-8"
    assert b"german" in html.content
    pdf = client.get(f"{API}/models/{version.pk}/card.pdf")
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content == b"%PDF-1.7 card"


def test_people_without_the_risk_role_get_403_and_404(register, risk_staff):
    version = register()
    client = client_for(risk_staff.rm)
    listing = client.get(f"{API}/models")
    assert listing.status_code == 403
    assert listing["Content-Type"].startswith("application/problem+json")
    assert listing.json()["code"] == "permission_denied"
    for url in (
        f"/models/{version.pk}",
        f"/models/{version.pk}/card",
        f"/models/{version.pk}/card.pdf",
    ):
        response = client.get(f"{API}{url}")
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    response = post(client, f"{API}/models/{version.pk}/validate", {"note": "fine"})
    assert response.status_code == 404
    assert client_for(risk_staff.officer).get(f"{API}/models/999999").status_code == 404
    assert ModelVersion.objects.get().status == "draft"


def test_signed_out_callers_get_401(register):
    version = register()
    response = Client().get(f"{API}/models/{version.pk}")
    assert response.status_code == 401


def test_governance_through_the_api(register, risk_staff):
    version = register()
    officer, officer2, analyst = (
        client_for(risk_staff.officer),
        client_for(risk_staff.officer2),
        client_for(risk_staff.analyst),
    )
    url = f"{API}/models/{version.pk}"

    response = post(officer, f"{url}/validate", {"note": "Independent review passed"})
    assert response.status_code == 200
    assert response.json()["status"] == "validated"
    assert response.json()["validated_by"] == risk_staff.officer.get_full_name()
    response = post(officer2, f"{url}/approve", {"note": "Fit for use"})
    assert response.json()["status"] == "approved"

    response = post(analyst, f"{url}/promote", {"reason": "Beats the current model"})
    assert response.status_code == 200
    body = response.json()
    assert body["result"] == "pending_approval"
    assert body["model"]["status"] == "approved"
    assert analyst.get(url).json()["pending_promotion"] == body["approval"]

    response = post(analyst, f"{url}/promote", {"reason": "Please"})
    assert response.status_code == 403
    assert "You asked for this promotion yourself" in response.json()["detail"]

    response = post(officer, f"{url}/promote", {"reason": "Agreed"})
    assert response.json()["result"] == "promoted"
    assert response.json()["model"]["status"] == "production"
    history = [row["action"] for row in officer.get(url).json()["history"]]
    assert history == ["register", "validate", "approve", "promote_request", "promote"]

    response = post(officer, f"{url}/retire", {"reason": "Drift"})
    assert response.json()["status"] == "retired"


def test_self_validation_is_refused_with_a_clear_problem(register, risk_staff):
    version = register(actor=risk_staff.dual)
    response = post(
        client_for(risk_staff.dual), f"{API}/models/{version.pk}/validate", {"note": "ok"}
    )
    assert response.status_code == 403
    problem = response.json()
    assert problem["code"] == "permission_denied"
    assert "independent validation" in problem["detail"]
    assert ModelVersion.objects.get().status == "draft"
    assert not AuditEvent.objects.filter(action="risk.model_validate").exists()


def test_refusals_are_problems_naming_the_field(register, approved, risk_staff):
    draft = register()
    officer = client_for(risk_staff.officer)
    response = post(officer, f"{API}/models/{draft.pk}/validate", {"note": " "})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["note"]

    response = post(officer, f"{API}/models/{draft.pk}/validate", {})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.note"]

    response = post(
        client_for(risk_staff.analyst), f"{API}/models/{draft.pk}/promote", {"reason": "x"}
    )
    assert response.status_code == 422
    assert "Only an approved version can be promoted" in response.json()["detail"]

    response = post(officer, f"{API}/models/{draft.pk}/shadow", {"on": True, "reason": "try"})
    assert response.status_code == 422
    assert "Only an approved version can score in shadow" in response.json()["detail"]
    assert not PendingApproval.objects.exists()

    challenger = approved(name="german-gbm", method="gbm")
    response = post(officer, f"{API}/models/{challenger.pk}/shadow", {"on": True, "reason": "A/B"})
    assert response.status_code == 200
    assert response.json()["shadow"] is True


def test_grade_bands_and_feature_map(register, risk_staff):
    version = register()
    analyst = client_for(risk_staff.analyst)
    url = f"{API}/models/{version.pk}"
    bands = [
        {"grade": "A", "min_score": 620, "recommendation": "approve"},
        {"grade": "B", "min_score": 640, "recommendation": "refer"},
        {"grade": "C", "min_score": None, "recommendation": "decline"},
    ]
    response = put(analyst, f"{url}/grade-bands", {"bands": bands})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["bands.1.min_score"]
    assert ModelVersion.objects.get().grade_bands == BANDS

    bands[1]["min_score"] = 560
    response = put(analyst, f"{url}/grade-bands", {"bands": bands})
    assert response.status_code == 200
    assert response.json()["grade_bands"][1] == {
        "grade": "B",
        "min_score": 560,
        "recommendation": "refer",
    }

    response = put(analyst, f"{url}/feature-map", {"mapping": {"age": "age"}})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["mapping.age"]
    response = put(client_for(risk_staff.rm), f"{url}/grade-bands", {"bands": bands})
    assert response.status_code == 404


# --- Training ---------------------------------------------------------------------------------


def upload(path, name="loans.csv"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, path.read_bytes(), content_type="text/csv")


def test_training_from_an_upload(risk_staff, tmp_path):
    from tests.risk.test_cli import loans_csv

    data = loans_csv(tmp_path / "loans.csv", rows=200)
    response = client_for(risk_staff.analyst).post(
        f"{API}/models/train",
        {
            "file": upload(data),
            "target": "outcome",
            "bad": ["bad"],
            "folds": "3",
            "repeats": "1",
            "monotone": ["duration=ascending"],
            "exclude": ["savings"],
            "method": "both",
            "name": "personal-loans",
        },
    )
    assert response.status_code == 201, response.content
    scorecard, challenger = response.json()
    assert [
        (v["name"], v["version"], v["method"], v["status"]) for v in (scorecard, challenger)
    ] == [
        ("personal-loans", 1, "scorecard", "draft"),
        ("personal-loans-gbm", 1, "gbm", "draft"),
    ]
    assert scorecard["created_by"] == risk_staff.analyst.get_full_name()
    version = ModelVersion.objects.get(name="personal-loans")
    assert version.dataset_name == "loans.csv"
    assert version.fingerprint["source"] == "loans.csv"
    assert version.training_settings["monotone"] == {"duration": "ascending"}
    assert scorecard["auc_cv_mean"] == version.metrics["auc_cv_mean"]
    assert "savings" not in {feature["name"] for feature in version.spec["features"]}
    assert AuditEvent.objects.filter(action="risk.model_register").count() == 2


def test_training_refusals(risk_staff, tmp_path, settings):
    from tests.risk.test_cli import loans_csv

    data = loans_csv(tmp_path / "loans.csv", rows=40)
    analyst = client_for(risk_staff.analyst)
    form = {"target": "klass", "bad": ["bad"], "folds": "3", "repeats": "1"}

    response = analyst.post(f"{API}/models/train", {"file": upload(data), **form})
    assert response.status_code == 422
    problem = response.json()
    assert [error["field"] for error in problem["errors"]] == ["data"]
    assert "target column 'klass' is not in the data" in problem["detail"]

    response = analyst.post(f"{API}/models/train", {"file": upload(data), **form, "folds": "1"})
    assert response.status_code == 422
    assert [error["field"] for error in response.json()["errors"]] == ["folds"]

    response = client_for(risk_staff.officer).post(
        f"{API}/models/train", {"file": upload(data), **form}
    )
    assert response.status_code == 403

    settings.RISK_TRAIN_UPLOAD_MAX_BYTES = 100
    response = analyst.post(f"{API}/models/train", {"file": upload(data), **form})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert "bankcrm risk train" in response.json()["detail"]
    assert not ModelVersion.objects.exists()
