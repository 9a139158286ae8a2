"""The compliance API: who may read what (alerts, hits and cases are for compliance roles and
auditors; a record out of reach is 404), decisions through the audited services with a
round trip (read, decide, read again), RFC 9457 problems for bad input, and the OpenAPI
document declaring each operation's problems."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from bankcrm.audit.models import AuditEvent
from bankcrm.compliance.models import Alert, Case, ScreeningHit, ScreeningWhitelist

# The pages' bank, customer, hit, alerts, case and review, shared; and the fresh index.
from .test_pages import World, _fresh_index, client_for, world  # noqa: F401

pytestmark = pytest.mark.django_db

API = "/api/v1/compliance"


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_alert_list_get_and_close_round_trip(world: World) -> None:  # noqa: F811
    client = client_for(world.officer)
    listing = client.get(f"{API}/alerts", {"status": "open"})
    assert listing.status_code == 200
    assert {row["id"] for row in listing.json()} == set(Alert.objects.values_list("pk", flat=True))
    screening = client.get(f"{API}/alerts", {"source": "screening"}).json()
    assert [row["hit"] for row in screening] == [world.hit.pk]
    detail = client.get(f"{API}/alerts/{world.alert.pk}").json()
    assert detail["evidence"]["rules"][0]["code"] == "distinct_payers_7d"
    assert detail["party"]["display_name"] == "习近平"

    assigned = post(client, f"{API}/alerts/{world.alert.pk}/assign", {})
    assert assigned.json()["assigned_to"] == "Mei Chen"
    nobody = post(client, f"{API}/alerts/{world.alert.pk}/assign", {"assignee": 999999})
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["field"] == "body.assignee"

    closed = post(client, f"{API}/alerts/{world.alert.pk}/close", {"reason": "Known payroll"})
    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["close_reason"]) == (
        "closed_fp",
        "Known payroll",
    )
    assert AuditEvent.objects.filter(object_pk=str(world.alert.pk)).exists()


def test_hit_decision_round_trip(world: World) -> None:  # noqa: F811
    client = client_for(world.officer)
    hits = client.get(f"{API}/screening/hits", {"status": "open"}).json()
    assert [hit["id"] for hit in hits] == [world.hit.pk]
    before = client.get(f"{API}/screening/hits/{world.hit.pk}").json()
    assert before["entry"]["name"] == "XI Jinping"
    assert (before["entry"]["entry_id"], before["entry"]["watch_list"]) == ("1", "pep-test")
    assert before["explanation"]["parts"]
    audits = AuditEvent.objects.count()

    decided = post(
        client,
        f"{API}/screening/hits/{world.hit.pk}/decide",
        {"decision": "false_positive", "reason": "Born 1985, not the listed person"},
    )
    assert decided.status_code == 200
    body = decided.json()
    assert body["status"] == "false_positive"
    assert body["decided_by"] == "Mei Chen"
    assert body["decision_reason"] == "Born 1985, not the listed person"
    assert client.get(f"{API}/screening/hits/{world.hit.pk}").json()["status"] == "false_positive"
    assert ScreeningWhitelist.objects.filter(party=world.customer).count() == 1
    assert AuditEvent.objects.count() > audits

    again = post(
        client,
        f"{API}/screening/hits/{world.hit.pk}/decide",
        {"decision": "true_match", "reason": "changed my mind"},
    )
    assert again.status_code in (400, 409, 422)
    assert again["Content-Type"].startswith("application/problem+json")
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.FALSE_POSITIVE


def test_bad_decision_is_a_validation_problem_and_changes_nothing(world: World) -> None:  # noqa: F811
    client = client_for(world.officer)
    response = post(
        client, f"{API}/screening/hits/{world.hit.pk}/decide", {"decision": "maybe", "reason": ""}
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert {error["field"] for error in problem["errors"]} == {"body.decision", "body.reason"}
    world.hit.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.OPEN


def test_screening_check(world: World) -> None:  # noqa: F811
    response = post(client_for(world.officer), f"{API}/screening/check", {"name": "Xi Jinping"})
    assert response.status_code == 200
    first = response.json()[0]
    assert (first["watch_list"], first["entry_id"], first["kind"], first["is_alert"]) == (
        "pep-test", "1", "person", True,
    )  # fmt: skip
    assert 0.5 <= first["score"] <= 1


@pytest.mark.parametrize("who", ["rm_a", "rm_b", "manager_b"])
def test_managers_cannot_read_or_decide_alerts_hits_and_cases(world: World, who: str) -> None:  # noqa: F811
    client = client_for(getattr(world, who))
    for path in ("/alerts", "/screening/hits", "/cases"):
        response = client.get(f"{API}{path}")
        assert response.status_code == 403, path
        assert response.json()["code"] == "permission_denied"
    for path in (
        f"/alerts/{world.alert.pk}",
        f"/screening/hits/{world.hit.pk}",
        f"/cases/{world.case.pk}",
    ):
        assert client.get(f"{API}{path}").status_code in (403, 404), path
    decided = post(
        client,
        f"{API}/screening/hits/{world.hit.pk}/decide",
        {"decision": "false_positive", "reason": "not him"},
    )
    assert decided.status_code in (403, 404)
    closed = post(client, f"{API}/alerts/{world.alert.pk}/close", {"reason": "fine"})
    assert closed.status_code in (403, 404)
    world.hit.refresh_from_db()
    world.alert.refresh_from_db()
    assert world.hit.status == ScreeningHit.Status.OPEN
    assert world.alert.status in Alert.OPEN_STATUSES
    assert post(client, f"{API}/screening/check", {"name": "Xi"}).status_code == 403


def test_rating_and_reviews_follow_the_customer_scope(world: World) -> None:  # noqa: F811
    url = f"{API}/ratings/{world.customer.pk}"
    mine = client_for(world.rm_a).get(url)
    assert mine.status_code == 200
    rating = mine.json()
    assert rating["is_rated"] is True and rating["risk_band"] == "low"
    screening = next(f for f in rating["factors"] if f["code"] == "screening")
    assert (screening["value"], screening["points"]) == (None, None)  # tipping-off
    assert rating["screening_status"] == ""
    assert client_for(world.rm_b).get(url).status_code == 404
    officer = client_for(world.officer).get(url).json()
    assert officer["screening_status"] == "potential"
    assert next(f for f in officer["factors"] if f["code"] == "screening")["value"] == "potential"

    reviews = client_for(world.rm_a).get(f"{API}/reviews").json()
    assert [r["id"] for r in reviews] == [str(world.review.pk)]
    assert client_for(world.rm_b).get(f"{API}/reviews").json() == []
    assert client_for(world.rm_b).get(f"{API}/reviews/{world.review.pk}").status_code == 404


def test_review_checklist_and_transition_through_the_api(world: World) -> None:  # noqa: F811
    client = client_for(world.rm_a)
    detail = client.get(f"{API}/reviews/{world.review.pk}").json()
    code = detail["checklist"][0]["code"]
    ticked = post(client, f"{API}/reviews/{world.review.pk}/checklist", {"code": code})
    assert ticked.status_code == 200
    assert next(i for i in ticked.json()["checklist"] if i["code"] == code)["done"] is True
    unknown = post(client, f"{API}/reviews/{world.review.pk}/transition", {"transition": "nope"})
    assert unknown.status_code in (400, 403, 422)
    assert unknown["Content-Type"].startswith("application/problem+json")


def test_recalculating_needs_the_permission(world: World) -> None:  # noqa: F811
    url = f"{API}/ratings/{world.customer.pk}/recalc"
    assert post(client_for(world.rm_a), url, {}).status_code == 403
    response = post(client_for(world.officer), url, {})
    assert response.status_code == 200
    assert response.json()["history"][0]["trigger"] == "manual"


def test_case_open_note_and_decide_round_trip(world: World) -> None:  # noqa: F811
    client = client_for(world.officer)
    opened = post(client, f"{API}/cases", {"alerts": [world.alert.pk], "title": "Fan-in"})
    assert opened.status_code == 201
    case = opened.json()
    assert case["title"] == "Fan-in" and [a["id"] for a in case["alerts"]] == [world.alert.pk]
    assert case["flow_graph"]["edges"], "the evidence transaction is drawn"
    noted = post(client, f"{API}/cases/{case['id']}/notes", {"text": "Asked for payslips"})
    assert noted.status_code == 201
    assert [n["text"] for n in noted.json()["notes"]] == ["Asked for payslips"]
    decided = post(
        client,
        f"{API}/cases/{case['id']}/decide",
        {"decision": "no_suspicion", "narrative": "Payroll of the family business."},
    )
    assert decided.status_code == 200
    assert decided.json()["result"] == "decided"
    assert Case.objects.get(pk=case["id"]).decision == "no_suspicion"
    listing = client.get(f"{API}/cases", {"is_open": "false"}).json()
    assert case["id"] in [c["id"] for c in listing]
    missing = post(client, f"{API}/cases", {"alerts": [999999]})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.alerts"


def test_scenarios(world: World) -> None:  # noqa: F811
    client = client_for(world.auditor)
    codes = [s["code"] for s in client.get(f"{API}/scenarios").json()]
    assert "test_fan_in" in codes
    detail = client.get(f"{API}/scenarios/test_fan_in")
    assert detail.status_code == 200 and "spec" in detail.json()
    assert client.get(f"{API}/scenarios/no-such-scenario").status_code == 404


def test_openapi_declares_the_problems(world: World) -> None:  # noqa: F811
    schema = client_for(world.officer).get("/api/v1/openapi.json").json()
    decide = schema["paths"][f"{API}/screening/hits/{{pk}}/decide"]["post"]
    assert {"403", "404", "422"} <= set(map(str, decide["responses"]))
    assert "application/problem+json" in decide["responses"]["422"]["content"]
