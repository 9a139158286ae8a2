"""POST /api/v1/marketing/delivery-reports: providers' delivered / bounced / failed reports by
provider reference; permission (403) and unknown references (404) change nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.marketing.models import CampaignMessage
from bankcrm.marketing.services_sending import campaign_send_batch

from .conftest import reachable_customer
from .test_sending_helpers import client_for, queue_message, running_campaign, sending_settings

pytestmark = pytest.mark.django_db

URL = "/api/v1/marketing/delivery-reports"
PROBLEM = "application/problem+json"


@pytest.fixture
def setup(settings: Any, tmp_path: Any) -> None:
    sending_settings(settings, tmp_path)


def _sent(marketing: Any, name: str = "王小明") -> CampaignMessage:
    customer = reachable_customer(marketing, marketing.branch_a, name)
    message = queue_message(running_campaign(marketing), customer)
    campaign_send_batch(campaign_id=message.campaign_id)
    message.refresh_from_db()
    assert message.status == "sent" and message.provider_ref
    return message


def _post(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, json.dumps(body), content_type="application/json")


def test_delivered_then_bounced_reports(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    client = client_for(marketing_bank.marketer)

    # Providers often drop the angle brackets of the Message-ID.
    answer = _post(
        client, {"provider_ref": message.provider_ref.strip("<>"), "status": "delivered"}
    )

    assert answer.status_code == 200, answer.content
    body = answer.json()
    message.refresh_from_db()
    assert (body["id"], body["status"], body["campaign"]) == (
        message.pk,
        "delivered",
        message.campaign_id,
    )
    assert message.status == "delivered" and message.delivered_at is not None
    delivered_at = message.delivered_at
    # The same report again changes nothing.
    assert (
        _post(client, {"provider_ref": message.provider_ref, "status": "delivered"}).status_code
        == 200
    )
    message.refresh_from_db()
    assert message.delivered_at == delivered_at
    assert (
        AuditEvent.objects.filter(
            action="campaign_message.delivered", object_pk=str(message.pk)
        ).count()
        == 1
    )

    bounced = _post(
        client,
        {"provider_ref": message.provider_ref, "status": "bounced", "detail": "552 mailbox full"},
    )
    assert bounced.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.detail) == ("bounced", "552 mailbox full")
    assert message.bounced_at is not None and message.delivered_at == delivered_at
    # Final: a later delivered report does not bring it back.
    _post(client, {"provider_ref": message.provider_ref, "status": "delivered"})
    message.refresh_from_db()
    assert message.status == "bounced"


def test_bounce_after_an_open_only_records_its_time(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    CampaignMessage.objects.filter(pk=message.pk).update(status="opened")
    answer = _post(
        client_for(marketing_bank.marketer),
        {"provider_ref": message.provider_ref, "status": "bounced"},
    )
    assert answer.status_code == 200
    message.refresh_from_db()
    assert message.status == "opened" and message.bounced_at is not None


def test_failed_report(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    answer = _post(
        client_for(marketing_bank.marketer),
        {"provider_ref": message.provider_ref, "status": "failed", "detail": "carrier rejected"},
    )
    assert answer.status_code == 200
    message.refresh_from_db()
    assert (message.status, message.detail, message.bounced_at) == (
        "failed",
        "carrier rejected",
        None,
    )


def test_unknown_reference_is_404_problem(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    answer = _post(
        client_for(marketing_bank.marketer),
        {"provider_ref": "<nope@bank.example>", "status": "delivered"},
    )
    assert answer.status_code == 404
    assert answer["Content-Type"].startswith(PROBLEM)
    problem = answer.json()
    assert (problem["status"], problem["code"]) == (404, "not_found")
    message.refresh_from_db()
    assert message.status == "sent"


def test_without_permission_403_and_nothing_changes(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    for user in (marketing_bank.rm_a, marketing_bank.manager_a):
        answer = _post(
            client_for(user), {"provider_ref": message.provider_ref, "status": "delivered"}
        )
        assert answer.status_code == 403
        assert answer["Content-Type"].startswith(PROBLEM)
        assert answer.json()["code"] == "permission_denied"
    message.refresh_from_db()
    assert (message.status, message.delivered_at) == ("sent", None)
    assert not AuditEvent.objects.filter(action__startswith="campaign_message.").exists()
    assert _post(Client(), {"provider_ref": "x", "status": "delivered"}).status_code == 401


def test_branch_marketer_cannot_report_on_another_branchs_message(
    marketing_bank: Any, setup: None
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_b, "李大伟")
    message = queue_message(running_campaign(marketing_bank), customer)
    campaign_send_batch(campaign_id=message.campaign_id)
    message.refresh_from_db()
    answer = _post(
        client_for(marketing_bank.marketer_a),
        {"provider_ref": message.provider_ref, "status": "delivered"},
    )
    assert answer.status_code == 404
    message.refresh_from_db()
    assert message.status == "sent"


def test_bad_input_names_the_field(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    client = client_for(marketing_bank.marketer)
    answer = _post(client, {"provider_ref": message.provider_ref, "status": "opened"})
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["body.status"]
    answer = _post(
        client, {"provider_ref": message.provider_ref, "status": "delivered", "extra": 1}
    )
    assert answer.status_code == 422
    message.refresh_from_db()
    assert message.status == "sent"
