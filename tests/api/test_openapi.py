"""The OpenAPI document is part of the contract: problems declared, docs served offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

PROBLEM = "application/problem+json"

pytestmark = pytest.mark.django_db


@pytest.fixture
def spec() -> dict:
    response = Client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_title_version_and_security(spec):
    assert spec["info"]["title"] == "bankcrm API"
    assert spec["info"]["version"] == "1"
    schemes = spec["components"]["securitySchemes"]
    assert schemes["BearerTokenAuth"] == {"type": "http", "scheme": "bearer"}
    assert schemes["SessionCsrfAuth"]["in"] == "cookie"


def test_every_operation_declares_its_problem_responses(spec):
    checked = 0
    for path, method, operation in operations(spec):
        responses = operation["responses"]
        expected = {"403", "404", "429", "500"}
        if operation.get("security"):
            expected.add("401")
        if operation.get("parameters") or operation.get("requestBody"):
            expected |= {"400", "422"}
        if operation.get("requestBody"):
            expected |= {"413", "415"}
        declared = {str(status) for status in responses}
        assert expected <= declared, (method, path, expected - declared)
        for status in expected:
            content = responses[int(status) if int(status) in responses else status]["content"]
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
        if path.startswith("/api/v1/customization/"):
            assert operation["security"] == [{"BearerTokenAuth": []}, {"SessionCsrfAuth": []}]
        checked += 1
    assert checked >= 6  # the customization router alone has six operations
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "instance",
        "errors",
        "request_id",
    }


def test_customization_operations_are_published(spec):
    published = {(method, path) for path, method, _op in operations(spec)}
    assert {
        ("get", "/api/v1/customization/custom-fields"),
        ("post", "/api/v1/customization/custom-fields"),
        ("get", "/api/v1/customization/custom-fields/{pk}"),
        ("patch", "/api/v1/customization/custom-fields/{pk}"),
        ("delete", "/api/v1/customization/custom-fields/{pk}"),
        ("post", "/api/v1/customization/custom-fields/validate"),
    } <= published


def test_docs_page_loads_nothing_from_outside():
    response = Client().get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"(?:https?:)?//[^\s\"'<>]+", html) == []
    assert '"validatorUrl": null' in html
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert sorted(assets) == [
        "/static/ninja/favicon.png",
        "/static/ninja/favicon.svg",
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ]
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset
