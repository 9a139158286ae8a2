"""The cases API: round trips through the services (open, read, change, step, assign,
note, reply, link, merge, customer), keyset pages, masking and audited unmasking, RFC 9457
problems naming each bad field, and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.support.models import CaseLink, CaseMessage, ServiceCase
from tests.factories.banking import AccountFactory

from .conftest_cases import case_setup, make_case, stored  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1/support"
PROBLEM = "application/problem+json"


def client_for(user: Any) -> Client:
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.save(update_fields=["mfa_enabled"])
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def problem_fields(answer: Any) -> dict[str, str]:
    assert answer["Content-Type"].startswith(PROBLEM)
    return {error["field"]: error["message"] for error in answer.json()["errors"]}


def test_open_read_and_work_a_case(service_bank: Any, case_setup: None) -> None:  # noqa: F811
    bank = service_bank
    client = client_for(bank.agent_a)
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a, number="6222000011112222")
    opened = send(
        client,
        "post",
        f"{API}/cases",
        {
            "case_type": "service_request",
            "channel": "branch",
            "subject": "补办借记卡",
            "description": "客户借记卡磁条损坏，申请补办。",
            "party": str(bank.customer_a.pk),
            "queue": "branch_a",
            "contact_name": "王小明",
            "contact_email": "wang.xm@example.cn",
            "contact_phone": "13812345678",
            "links": [{"kind": "account", "object_pk": str(account.pk)}],
        },
    )
    assert opened.status_code == 201, opened.content
    body = opened.json()
    pk = body["id"]
    case = ServiceCase.objects.get(pk=pk)
    assert body["reference"] == case.reference
    assert (body["case_type"], body["channel"], body["state"]) == (
        "service_request",
        "branch",
        "new",
    )
    assert body["party"] == {"id": str(bank.customer_a.pk), "display_name": "王小明"}
    assert body["queue"] == {"code": "branch_a", "name": "Branch A desk"}
    assert body["assigned_to"]["id"] == bank.agent_a.pk
    assert body["description"] == "客户借记卡磁条损坏，申请补办。"
    # Contact details masked by default.
    assert (body["contact_name"], body["contact_email"], body["contact_phone"]) == (
        "王**",
        "w***@example.cn",
        "138****5678",
    )
    assert body["is_masked"] is True
    assert body["links"][0]["label"].endswith("**** 2222")
    assert body["transitions"] == ["triage", "start", "cancel"]
    assert set(body["sla"]) == {"first_response", "resolution"}
    assert body["sla"]["resolution"]["state"] == "running"

    changed = send(client, "patch", f"{API}/cases/{pk}", {"priority": 3})
    assert (changed.status_code, changed.json()["priority"]) == (200, 3)
    assert changed.json()["subject"] == "补办借记卡"  # fields not sent stay

    started = send(client, "post", f"{API}/cases/{pk}/transition", {"transition": "start"})
    assert (started.status_code, started.json()["state"]) == (200, "in_progress")
    unresolved = send(client, "post", f"{API}/cases/{pk}/transition", {"transition": "resolve"})
    assert unresolved.status_code == 422
    assert problem_fields(unresolved) == {"body.reason": "Say why you take the step “Resolve”."}

    note = send(client, "post", f"{API}/cases/{pk}/notes", {"text": "Card ordered."})
    assert (note.status_code, note.json()["direction"], note.json()["body"]) == (
        201,
        "note",
        "Card ordered.",
    )
    reply = send(client, "post", f"{API}/cases/{pk}/replies", {"body": "您的新卡已寄出。"})
    assert reply.status_code == 201, reply.content
    assert reply.json()["direction"] == "outbound"
    assert reply.json()["to_address"] == "w***@example.cn"
    messages = client.get(f"{API}/cases/{pk}/messages").json()
    assert [m["direction"] for m in messages] == ["note", "outbound"]
    detail = client.get(f"{API}/cases/{pk}").json()
    assert detail["first_responded_at"] is not None
    sla = client.get(f"{API}/cases/{pk}/sla").json()
    assert sla["first_response"]["state"] in {"met", "missed"}

    taken = send(client, "post", f"{API}/cases/{pk}/assign", {"take": True})
    assert taken.json()["assigned_to"]["id"] == bank.agent_a.pk
    unassigned = send(client, "post", f"{API}/cases/{pk}/assign", {"assignee": None})
    assert unassigned.json()["assigned_to"] is None
    nobody = send(client, "post", f"{API}/cases/{pk}/assign", {"assignee": 999999})
    assert (nobody.status_code, problem_fields(nobody)) == (
        422,
        {"body.assignee": "No such member of staff."},
    )
    resolved = send(
        client,
        "post",
        f"{API}/cases/{pk}/transition",
        {"transition": "resolve", "reason": "新卡已由客户领取。"},
    )
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["resolution_note"] == "新卡已由客户领取。"
    assert resolved.json()["is_open"] is False


def test_unmasking_needs_a_role_and_a_reason_and_is_audited(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    case = make_case(
        actor=service_bank.agent_a,
        party=service_bank.customer_a,
        contact_email="wang.xm@example.cn",
        first_message={"from_address": "wang.xm@example.cn", "body": "hello"},
    )
    url = f"{API}/cases/{case.pk}"
    agent = client_for(service_bank.agent_a)
    refused = agent.get(url, {"unmask": "true", "reason": "Customer on the phone"})
    assert refused.status_code == 403
    no_reason = client_for(service_bank.manager_a).get(url, {"unmask": "true"})
    assert (no_reason.status_code, problem_fields(no_reason)) == (
        422,
        {"reason": "Give a reason to unmask."},
    )
    shown = client_for(service_bank.manager_a).get(
        url, {"unmask": "true", "reason": "Customer on the phone"}
    )
    assert shown.status_code == 200
    assert (shown.json()["contact_email"], shown.json()["is_masked"]) == (
        "wang.xm@example.cn",
        False,
    )
    audit = AuditEvent.objects.get(action="pii.unmask")
    assert (audit.object_pk, audit.reason) == (str(case.pk), "Customer on the phone")
    messages = client_for(service_bank.manager_a).get(
        f"{url}/messages", {"unmask": "true", "reason": "Customer on the phone"}
    )
    assert messages.json()[0]["from_address"] == "wang.xm@example.cn"
    assert agent.get(f"{url}/messages").json()[0]["from_address"] == "w***@example.cn"


def test_bad_input_names_each_field_and_writes_nothing(
    service_bank: Any,
    case_setup: None,  # noqa: F811
) -> None:
    client = client_for(service_bank.agent_a)
    before = (ServiceCase.objects.count(), AuditEvent.objects.count())
    schema = send(
        client,
        "post",
        f"{API}/cases",
        {"case_type": "inquiry", "channel": "fax", "subject": "x", "priority": 9, "colour": 1},
    )
    assert schema.status_code == 422
    assert set(problem_fields(schema)) == {"body.channel", "body.priority", "body.colour"}
    service = send(
        client,
        "post",
        f"{API}/cases",
        {
            "case_type": "nope",
            "channel": "phone",
            "subject": " ",
            "contact_email": "nobody",
            "party": str(service_bank.customer_b.pk),
        },
    )
    assert service.status_code == 422
    assert service.json()["code"] == "validation_error"
    assert problem_fields(service) == {
        "body.case_type": "Choose an active case type (“nope” is none).",
        "body.subject": "Write the subject.",
        "body.contact_email": "Enter a valid e-mail address.",
        "body.party": "This customer does not exist or is outside your reach.",
    }
    codes = {error["field"]: error["code"] for error in service.json()["errors"]}
    assert codes["body.case_type"] == "case_type_unknown"
    assert (ServiceCase.objects.count(), AuditEvent.objects.count()) == before
    bad_cursor = client.get(f"{API}/cases", {"cursor": "%%%"})
    assert (bad_cursor.status_code, problem_fields(bad_cursor)) == (
        422,
        {"cursor": "This page cursor is not valid."},
    )


def test_keyset_pages_and_queue_pages(service_bank: Any, make_case: Any) -> None:  # noqa: F811
    bank = service_bank
    made = [make_case(actor=bank.agent_a, queue="branch_a", priority=p) for p in (1, 4, 2)]
    client = client_for(bank.agent_a)
    first = client.get(f"{API}/cases", {"limit": 2}).json()
    assert [row["reference"] for row in first["items"]] == [made[2].reference, made[1].reference]
    assert first["next_cursor"]
    second = client.get(f"{API}/cases", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert ([row["reference"] for row in second["items"]], second["next_cursor"]) == (
        [made[0].reference],
        None,
    )
    urgent = client.get(f"{API}/cases", {"priority": 4}).json()
    assert [row["reference"] for row in urgent["items"]] == [made[1].reference]

    queue = client.get(f"{API}/queues/branch_a/cases", {"limit": 2}).json()
    # The most urgent due first: the urgent case's SLA is the tightest.
    assert queue["items"][0]["reference"] == made[1].reference
    rest = client.get(
        f"{API}/queues/branch_a/cases", {"limit": 2, "cursor": queue["next_cursor"]}
    ).json()
    assert {row["reference"] for row in queue["items"] + rest["items"]} == {
        case.reference for case in made
    }
    assert rest["next_cursor"] is None
    queues = client.get(f"{API}/queues").json()
    assert [(q["code"], q["is_member"]) for q in queues] == [("branch_a", True)]
    found = client.get(f"{API}/cases/search", {"q": made[0].reference}).json()
    assert [row["reference"] for row in found] == [made[0].reference]


def test_merge_party_and_links_through_the_api(
    service_bank: Any,
    make_case: Any,  # noqa: F811
) -> None:
    bank = service_bank
    client = client_for(bank.agent_a)
    anonymous = make_case(actor=bank.agent_a, queue="branch_a", contact_email="w@example.cn")
    linked = send(
        client, "post", f"{API}/cases/{anonymous.pk}/party", {"party": str(bank.customer_a.pk)}
    )
    assert linked.json()["party"]["id"] == str(bank.customer_a.pk)
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    link = send(
        client,
        "post",
        f"{API}/cases/{anonymous.pk}/links",
        {"kind": "account", "object_pk": str(account.pk)},
    )
    assert link.status_code == 201
    again = send(
        client,
        "post",
        f"{API}/cases/{anonymous.pk}/links",
        {"kind": "account", "object_pk": str(account.pk)},
    )
    assert problem_fields(again) == {"body.object_pk": "This record is already linked to the case."}
    removed = client.delete(f"{API}/cases/{anonymous.pk}/links/{link.json()['id']}")
    assert removed.status_code == 204
    assert CaseLink.objects.count() == 0

    other = make_case(actor=bank.agent_a, party=bank.customer_a, queue="branch_a")
    merged = send(
        client,
        "post",
        f"{API}/cases/{other.pk}/merge",
        {"into": str(anonymous.pk), "reason": "Same request"},
    )
    assert merged.status_code == 200
    assert merged.json()["reference"] == anonymous.reference
    duplicate = client.get(f"{API}/cases/{other.pk}").json()
    assert (duplicate["merged_into"], duplicate["state"], duplicate["transitions"]) == (
        anonymous.reference,
        "closed",
        [],
    )
    unknown = send(
        client,
        "post",
        f"{API}/cases/{anonymous.pk}/merge",
        {"into": "00000000-0000-0000-0000-000000000000", "reason": "x"},
    )
    assert problem_fields(unknown) == {"body.into": "No such case within your reach."}
    assert CaseMessage.objects.count() == 0
    assert stored(ServiceCase, anonymous.pk)["merged_into_id"] is None


def test_every_cases_operation_is_published_with_its_problems() -> None:
    spec = Client().get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    expected = {
        ("get", "/api/v1/support/cases"),
        ("post", "/api/v1/support/cases"),
        ("get", "/api/v1/support/cases/search"),
        ("get", "/api/v1/support/cases/{pk}"),
        ("patch", "/api/v1/support/cases/{pk}"),
        ("post", "/api/v1/support/cases/{pk}/transition"),
        ("post", "/api/v1/support/cases/{pk}/assign"),
        ("post", "/api/v1/support/cases/{pk}/merge"),
        ("post", "/api/v1/support/cases/{pk}/party"),
        ("post", "/api/v1/support/cases/{pk}/links"),
        ("delete", "/api/v1/support/cases/{pk}/links/{link_pk}"),
        ("get", "/api/v1/support/cases/{pk}/messages"),
        ("post", "/api/v1/support/cases/{pk}/notes"),
        ("post", "/api/v1/support/cases/{pk}/replies"),
        ("get", "/api/v1/support/cases/{pk}/sla"),
        ("get", "/api/v1/support/queues"),
        ("get", "/api/v1/support/queues/{code}/cases"),
    }
    published = {(method, path) for path, item in paths.items() for method in item}
    assert expected <= published
    for method, path in expected:
        responses = paths[path][method]["responses"]
        assert {"401", "403", "404", "429", "500"} <= {str(code) for code in responses}
