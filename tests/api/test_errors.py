"""Bad input at the API: RFC 9457 problem+json with a stable code, every bad field named,
and nothing changed in the database."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from bankcrm.access.services import api_token_create
from bankcrm.core.actor import SystemActor

from .conftest import MODEL, row_counts

CREATE = "/api/v1/customization/custom-fields"
VALIDATE = "/api/v1/customization/custom-fields/validate"
PROBLEM = "application/problem+json; charset=utf-8"

pytestmark = pytest.mark.django_db


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:bankcrm:problem:{code}"
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == response["X-Request-ID"]
    return body


def fields(body: dict) -> dict[str, str]:
    return {item["field"]: item["code"] for item in body["errors"]}


def post_json(client: Client, url: str, data, **extra):
    raw = data if isinstance(data, str | bytes) else json.dumps(data)
    return client.post(url, raw, content_type="application/json", **extra)


def test_malformed_json_is_a_400_and_changes_nothing(admin_client, definitions):
    before = row_counts()
    response = post_json(admin_client, CREATE, '{"model": "testapp.customisedrecord", "key":')
    body = assert_problem(response, 400, "malformed_json")
    assert body["errors"] == []
    assert (
        body["detail"] == "The body could not be read as JSON: Expecting value (line 1, column 45)"
    )
    assert row_counts() == before


@pytest.mark.parametrize(
    "raw",
    ['{"model": NaN}', '{"model": Infinity}', b'{"model": "\xff\xfe"}', "[" * 100_000],
    ids=["nan", "infinity", "not-utf8", "deeply-nested"],
)
def test_bodies_that_are_not_json_are_malformed_json(admin_client, definitions, raw):
    before = row_counts()
    assert_problem(post_json(admin_client, CREATE, raw), 400, "malformed_json")
    assert row_counts() == before


def test_wrong_types_name_each_field(admin_client, definitions):
    before = row_counts()
    response = post_json(
        admin_client,
        CREATE,
        {
            "model": 5,
            "key": ["a"],
            "label": "Risk",
            "field_type": "colour",
            "is_required": "perhaps",
            "order": "first",
            "choices": [{"value": "a b", "label": "A"}],
        },
    )
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == {
        "body.model": "invalid_type",
        "body.key": "invalid_type",
        "body.field_type": "invalid_choice",
        "body.is_required": "invalid_type",
        "body.order": "invalid_type",
        "body.choices.0.value": "invalid_format",
    }
    assert row_counts() == before


def test_missing_fields_and_missing_body(admin_client, definitions):
    before = row_counts()
    body = assert_problem(post_json(admin_client, CREATE, {}), 422, "validation_error")
    assert fields(body) == {
        "body.model": "required",
        "body.key": "required",
        "body.label": "required",
        "body.field_type": "required",
    }
    assert {item["message"] for item in body["errors"]} == {"This field is required."}
    body = assert_problem(post_json(admin_client, CREATE, ""), 422, "validation_error")
    assert fields(body) == {"body": "required"}
    assert row_counts() == before


def test_unknown_fields_are_refused_not_ignored(admin_client, definitions):
    before = row_counts()
    response = post_json(
        admin_client,
        CREATE,
        {"model": MODEL, "key": "risk", "label": "Risk", "field_type": "text", "lable": "x"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == {"body.lable": "unknown_field"}
    assert row_counts() == before


def test_oversize_body_is_413(admin_client, definitions, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    before = row_counts()
    payload = {"model": MODEL, "values": {"nickname": "x" * 2048, "turnover": "1"}}
    body = assert_problem(post_json(admin_client, VALIDATE, payload), 413, "payload_too_large")
    assert body["detail"] == "Send at most 1024 bytes in one request."
    assert row_counts() == before


def test_wrong_content_type_is_415(admin_client, definitions):
    before = row_counts()
    response = admin_client.post(
        VALIDATE, json.dumps({"model": MODEL, "values": {}}), content_type="text/plain"
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert row_counts() == before


def test_form_encoded_body_is_415(admin_client, definitions):
    response = admin_client.post(VALIDATE, {"model": MODEL})
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nowhere",
        "/api/v1/customization/nowhere/",
        "/api/v1/customization/custom-fields/999",
    ],
)
def test_unknown_route_or_object_is_404_problem(admin_client, definitions, path):
    body = assert_problem(admin_client.get(path), 404, "not_found")
    assert body["instance"] == path


def test_wrong_method_is_405_problem(admin_client, definitions):
    response = admin_client.put(CREATE, "{}", content_type="application/json")
    assert_problem(response, 405, "method_not_allowed")
    assert set(response["Allow"].split(", ")) == {"GET", "POST"}


def test_unauthenticated_is_401_and_changes_nothing(definitions):
    before = row_counts()
    client = Client()
    response = post_json(
        client, CREATE, {"model": MODEL, "key": "x", "label": "X", "field_type": "text"}
    )
    assert_problem(response, 401, "authentication_required")
    assert response["WWW-Authenticate"] == 'Bearer realm="bankcrm"'
    assert_problem(client.get(CREATE), 401, "authentication_required")
    assert row_counts() == before


def test_bad_token_is_401_invalid_token(definitions):
    client = Client(HTTP_AUTHORIZATION="Bearer bk_nothing.wrong")
    assert_problem(client.get(CREATE), 401, "invalid_token")


def test_token_authenticates_without_csrf(admin_user, definitions):
    _token, raw = api_token_create(actor=SystemActor("test"), user=admin_user, name="core banking")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = post_json(client, VALIDATE, {"model": MODEL, "values": {"turnover": "12.50"}})
    assert response.status_code == 200
    assert response.json() == {"model": MODEL, "values": {"turnover": "12.5"}}


def test_session_without_csrf_token_is_403(admin_user, definitions):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    before = row_counts()
    response = post_json(
        client, CREATE, {"model": MODEL, "key": "x", "label": "X", "field_type": "text"}
    )
    assert_problem(response, 403, "csrf_failed")
    assert row_counts() == before
    assert client.get(CREATE).status_code == 200  # reading needs no token


def test_forbidden_is_403_and_changes_nothing(clerk_client, definitions):
    before = row_counts()
    response = post_json(
        clerk_client, CREATE, {"model": MODEL, "key": "x", "label": "X", "field_type": "text"}
    )
    assert_problem(response, 403, "permission_denied")
    pk = definitions["nickname"].pk
    response = clerk_client.patch(
        f"{CREATE}/{pk}", json.dumps({"label": "Changed"}), content_type="application/json"
    )
    assert_problem(response, 403, "permission_denied")
    assert_problem(clerk_client.delete(f"{CREATE}/{pk}"), 403, "permission_denied")
    assert row_counts() == before
    definitions["nickname"].refresh_from_db()
    assert (definitions["nickname"].label, definitions["nickname"].is_active) == ("Nickname", True)


def test_custom_field_values_name_every_bad_key(admin_client, definitions):
    before = row_counts()
    response = post_json(
        admin_client,
        VALIDATE,
        {
            "model": MODEL,
            "values": {
                "nickname": "much too long a name",
                "employees": -3,
                "segment": "vip",
                "colour": "red",
            },
        },
    )
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == {
        "body.values.nickname": "too_long",
        "body.values.employees": "out_of_range",
        "body.values.segment": "invalid_choice",
        "body.values.colour": "unknown_field",
        "body.values.turnover": "required",
    }
    messages = {item["field"]: item["message"] for item in body["errors"]}
    assert messages["body.values.employees"] == "Employees must be at least 0; -3 is less."
    assert messages["body.values.colour"] == "colour is not a custom field of this record."
    assert row_counts() == before


def test_validate_unknown_record_type(admin_client, definitions):
    response = post_json(admin_client, VALIDATE, {"model": "customers.nothing", "values": {}})
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == {"body.model": "unknown_record_type"}


def test_service_validation_error_names_fields(admin_client, definitions):
    before = row_counts()
    response = post_json(
        admin_client,
        CREATE,
        {
            "model": MODEL,
            "key": "nickname",
            "label": "Again",
            "field_type": "number",
            "min_value": 10,
            "max_value": 5,
        },
    )
    body = assert_problem(response, 422, "validation_error")
    assert fields(body) == {"body.key": "duplicate_key", "body.max_value": "out_of_range"}
    assert row_counts() == before


def test_unexpected_exception_is_500_problem_without_internals(
    admin_client, definitions, monkeypatch, caplog
):
    from bankcrm.customization import selectors

    def explode(**kwargs):
        raise RuntimeError("secret connection string postgres://u:p@db")

    monkeypatch.setattr(selectors, "custom_field_definition_list", explode)
    response = admin_client.get(CREATE)
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert "RuntimeError" not in response.content.decode()
    assert body["errors"] == []
    assert "unhandled API error" in caplog.text


def test_problem_messages_follow_the_language(admin_client, definitions):
    response = post_json(admin_client, CREATE, {}, HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = assert_problem(response, 422, "validation_error")
    # The code stays stable whatever the language.
    assert fields(body)["body.model"] == "required"
