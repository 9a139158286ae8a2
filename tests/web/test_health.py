"""/health/live and /health/ready: probes that need no sign-in."""

from __future__ import annotations

import pytest
from django.db import connections
from django.db.utils import OperationalError

from bankcrm.web import health

pytestmark = pytest.mark.django_db


def test_live_answers_ok_without_sign_in(client):
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_ready_checks_the_database(client, settings):
    settings.BROKER_URL = ""
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert list(body["checks"]) == ["database"]
    assert body["checks"]["database"]["status"] == "ok"
    assert "failed" not in body


def test_ready_runs_a_real_query(client, settings, django_assert_num_queries):
    settings.BROKER_URL = ""
    with django_assert_num_queries(len(list(connections))):
        client.get("/health/ready")


def test_ready_fails_naming_an_unreachable_broker(client, settings):
    settings.BROKER_URL = "redis://127.0.0.1:1/0"
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"]["status"] == "fail"
    assert body["checks"]["database"]["status"] == "ok"
    # Never the address or credentials of the broker.
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.broker
def test_ready_passes_with_a_reachable_broker(client, settings):
    settings.BROKER_URL = "redis://127.0.0.1:6379/15"
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"]["status"] == "ok"


def test_ready_fails_naming_the_database(client, settings, monkeypatch):
    settings.BROKER_URL = ""

    def broken() -> None:
        raise OperationalError("database is down")

    monkeypatch.setattr(health, "check_database", broken)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]
    assert response.json()["checks"]["database"]["error"] == "OperationalError"


def test_probes_only_answer_reads(client):
    assert client.post("/health/live").status_code == 405
    assert client.post("/health/ready").status_code == 405
