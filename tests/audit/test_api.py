"""GET /api/v1/audit/events: filters, keyset pagination, one event; only for permitted roles."""

from __future__ import annotations

import pytest

from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor

from .conftest import record_sample_events

pytestmark = pytest.mark.django_db

EVENTS_URL = "/api/v1/audit/events"


def test_list_pages_by_keyset(auditor_client):
    for number in range(7):
        audit_record(actor=SystemActor("bulk"), action="bulk.item", object_pk=number)
    first = auditor_client.get(EVENTS_URL, {"limit": 3})
    assert first.status_code == 200
    body = first.json()
    assert [item["id"] for item in body["items"]] == [7, 6, 5]
    assert body["next_before"] == 5
    second = auditor_client.get(EVENTS_URL, {"limit": 3, "before": body["next_before"]}).json()
    assert [item["id"] for item in second["items"]] == [4, 3, 2]
    last = auditor_client.get(EVENTS_URL, {"limit": 3, "before": second["next_before"]}).json()
    assert ([item["id"] for item in last["items"]], last["next_before"]) == ([1], None)


def test_list_default_page_is_fifty(auditor_client):
    for number in range(55):
        audit_record(actor=SystemActor("bulk"), action="bulk.item", object_pk=number)
    body = auditor_client.get(EVENTS_URL).json()
    assert (len(body["items"]), body["next_before"]) == (50, 6)


def test_list_filters_and_item_shape(auditor_client):
    events = record_sample_events(4)
    body = auditor_client.get(EVENTS_URL, {"actor": "system:nightly", "q": "李伟"}).json()
    assert [item["id"] for item in body["items"]] == [4, 2]
    item = body["items"][1]
    assert item == {
        "id": 2,
        "occurred_at": item["occurred_at"],
        "actor": "system:nightly",
        "actor_user_id": None,
        "channel": "command",
        "action": "customer.update.2",
        "object_type": "customers.party",
        "object_pk": "c-2",
        "object_repr": "李伟 2",
        "before": {"limit": "1000.10"},
        "after": {"limit": "1002.10", "reviewed": "2026-03-02"},
        "changed_secrets": [],
        "reason": "annual review 2",
        "request_id": events[1].request_id,
        "ip": "",
        "prev_hash": events[0].row_hash,
        "row_hash": events[1].row_hash,
    }
    assert item["occurred_at"].startswith(events[1].occurred_at.strftime("%Y-%m-%dT%H:%M:%S"))
    action = auditor_client.get(EVENTS_URL, {"action": "customer.update.3"}).json()
    assert [item["id"] for item in action["items"]] == [3]


def test_get_one_event(auditor_client):
    record_sample_events(2)
    response = auditor_client.get(f"{EVENTS_URL}/2")
    assert response.status_code == 200
    assert response.json()["action"] == "customer.update.2"
    missing = auditor_client.get(f"{EVENTS_URL}/99")
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")


def test_bad_filter_is_a_named_field_error(auditor_client):
    response = auditor_client.get(EVENTS_URL, {"limit": 0, "date_from": "yesterday"})
    assert response.status_code == 422
    fields = sorted(error["field"] for error in response.json()["errors"])
    assert fields == ["query.date_from", "query.limit"]


def test_relationship_manager_gets_403_and_nothing_is_written(client, relationship_manager):
    record_sample_events(1)
    client.force_login(relationship_manager)
    for url in (EVENTS_URL, f"{EVENTS_URL}/1"):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert AuditEvent.objects.count() == 1


def test_anonymous_caller_gets_401(client):
    record_sample_events(1)
    response = client.get(EVENTS_URL)
    assert response.status_code == 401
    assert "items" not in response.json()


def test_api_token_of_an_auditor_reads_the_trail(client, auditor):
    from bankcrm.access.services import api_token_create
    from bankcrm.core.actor import SYSTEM

    _token, raw = api_token_create(actor=SYSTEM, user=auditor, name="audit export job")
    response = client.get(EVENTS_URL, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert [item["action"] for item in response.json()["items"]] == ["access.api_token_create"]
