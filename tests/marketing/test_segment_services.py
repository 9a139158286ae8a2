"""Segment services, selectors, API and command: creation and changes audited, reach by
owning unit, live counts scoped to the actor, dynamic and static evaluation in SQL, the
scheduled refresh, problem+json naming the rule, and 403/404 with nothing changed."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Party
from bankcrm.marketing import selectors_segments, services_segments
from bankcrm.marketing.models import Segment, SegmentMember
from tests.factories.customers import PersonFactory

from .conftest import MarketingBank

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
PRIVATE = {"all": [{"field": "party.segment", "op": "eq", "value": "private"}]}


def client_for(user: Any) -> Client:
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.save(update_fields=["mfa_enabled"])
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def privates(marketing_bank: MarketingBank) -> dict[str, Party]:
    m = marketing_bank
    return {
        "a1": PersonFactory(display_name="A1", owning_unit=m.branch_a, segment="private"),
        "a2": PersonFactory(display_name="A2", owning_unit=m.branch_a, segment="private"),
        "b1": PersonFactory(display_name="B1", owning_unit=m.branch_b, segment="private"),
    }


def members(segment: Segment) -> set[Any]:
    return set(selectors_segments.segment_member_ids(segment=segment))


def test_create_is_audited_and_validated(marketing_bank: MarketingBank) -> None:
    m = marketing_bank
    segment = services_segments.segment_create(
        actor=m.marketer, name=" Private ", definition=PRIVATE, kind="dynamic"
    )
    assert segment.name == "Private"
    assert segment.owning_unit == m.head_office
    assert segment.definition == {
        "all": [{"field": "party.segment", "op": "eq", "value": "private"}]
    }
    assert AuditEvent.objects.filter(
        action="marketing.segment.create", object_pk=str(segment.pk)
    ).exists()
    before = Segment.objects.count()
    with pytest.raises(ValidationError) as caught:
        services_segments.segment_create(
            actor=m.marketer,
            name="Bad",
            definition={"all": [{"field": "party.colour", "op": "eq", "value": 1}]},
            kind="dynamic",
        )
    assert caught.value.message_dict == {"definition": ["rule 1: unknown field 'party.colour'"]}
    with pytest.raises(ValidationError) as caught:
        services_segments.segment_create(
            actor=m.marketer_a, name="B", definition=PRIVATE, kind="dynamic",
            owning_unit=m.branch_b,
        )  # fmt: skip
    assert list(caught.value.message_dict) == ["owning_unit"]
    with pytest.raises(PermissionDenied):
        services_segments.segment_create(
            actor=m.rm_a, name="RM", definition=PRIVATE, kind="dynamic"
        )
    assert Segment.objects.count() == before


def test_live_count_is_scoped_to_the_actor(
    marketing_bank: MarketingBank, privates: dict[str, Party]
) -> None:
    m = marketing_bank
    assert services_segments.segment_count(actor=m.marketer, definition=PRIVATE) == 3
    assert services_segments.segment_count(actor=m.marketer_a, definition=PRIVATE) == 2


def test_reach_by_owning_unit(marketing_bank: MarketingBank) -> None:
    m = marketing_bank
    in_a = services_segments.segment_create(
        actor=m.marketer, name="A", definition=PRIVATE, kind="dynamic", owning_unit=m.branch_a
    )
    in_b = services_segments.segment_create(
        actor=m.marketer, name="B", definition=PRIVATE, kind="dynamic", owning_unit=m.branch_b
    )
    assert [s.name for s in selectors_segments.segment_list(actor=m.marketer)] == ["A", "B"]
    assert [s.name for s in selectors_segments.segment_list(actor=m.marketer_a)] == ["A"]
    assert selectors_segments.segment_get(actor=m.marketer_a, pk=in_a.pk) == in_a
    with pytest.raises(Segment.DoesNotExist):
        selectors_segments.segment_get(actor=m.marketer_a, pk=in_b.pk)
    with pytest.raises(PermissionDenied):
        services_segments.segment_update(actor=m.marketer_a, segment=in_b, name="Mine")
    in_b.refresh_from_db()
    assert in_b.name == "B"


def test_dynamic_evaluation_replaces_members(
    marketing_bank: MarketingBank, privates: dict[str, Party]
) -> None:
    m = marketing_bank
    segment = services_segments.segment_create(
        actor=m.marketer, name="P", definition=PRIVATE, kind="dynamic", owning_unit=m.branch_a
    )
    now = timezone.now()
    assert services_segments.segment_evaluate(actor=m.marketer, segment=segment, now=now) == 2
    segment.refresh_from_db()
    assert members(segment) == {privates["a1"].pk, privates["a2"].pk}
    assert segment.member_count == 2
    assert segment.last_evaluated_at == now
    assert segment.evaluation_seconds is not None and segment.evaluation_seconds >= 0
    Party.objects.filter(pk=privates["a1"].pk).update(segment="mass")
    a3 = PersonFactory(display_name="A3", owning_unit=m.branch_a, segment="private")
    assert services_segments.segment_evaluate(actor=m.marketer, segment=segment) == 2
    assert members(segment) == {privates["a2"].pk, a3.pk}
    assert AuditEvent.objects.filter(action="marketing.segment.evaluate").count() == 2
    assert [p.display_name for p in selectors_segments.segment_preview(
        actor=m.marketer, segment=segment)] == ["A2", "A3"]  # fmt: skip


def test_static_snapshot_kept_until_resnapshot(
    marketing_bank: MarketingBank, privates: dict[str, Party]
) -> None:
    m = marketing_bank
    segment = services_segments.segment_create(
        actor=m.marketer, name="S", definition=PRIVATE, kind="static"
    )
    assert services_segments.segment_evaluate(actor=m.marketer, segment=segment) == 3
    first = members(segment)
    PersonFactory(display_name="New", owning_unit=m.branch_b, segment="private")
    assert services_segments.segment_evaluate(actor=m.marketer, segment=segment) == 3
    assert members(segment) == first
    assert (
        services_segments.segment_evaluate(actor=m.marketer, segment=segment, resnapshot=True) == 4
    )


def test_evaluate_needs_change_permission(
    marketing_bank: MarketingBank, privates: dict[str, Party]
) -> None:
    m = marketing_bank
    segment = services_segments.segment_create(
        actor=m.marketer, name="P", definition=PRIVATE, kind="dynamic", owning_unit=m.branch_a
    )
    with pytest.raises(PermissionDenied):
        services_segments.segment_evaluate(actor=m.rm_a, segment=segment)
    segment.refresh_from_db()
    assert segment.last_evaluated_at is None
    assert not SegmentMember.objects.filter(segment=segment).exists()


def test_refresh_due_evaluates_due_dynamic_segments_only(
    marketing_bank: MarketingBank, privates: dict[str, Party]
) -> None:
    m = marketing_bank
    now = timezone.now()
    due = services_segments.segment_create(
        actor=m.marketer, name="due", definition=PRIVATE, kind="dynamic", refresh_hours=24
    )
    fresh = services_segments.segment_create(
        actor=m.marketer, name="fresh", definition=PRIVATE, kind="dynamic", refresh_hours=24
    )
    Segment.objects.filter(pk=fresh.pk).update(last_evaluated_at=now - dt.timedelta(hours=2))
    services_segments.segment_create(
        actor=m.marketer, name="manual", definition=PRIVATE, kind="dynamic", refresh_hours=0
    )
    services_segments.segment_create(
        actor=m.marketer, name="static", definition=PRIVATE, kind="static"
    )
    archived = services_segments.segment_create(
        actor=m.marketer, name="archived", definition=PRIVATE, kind="dynamic"
    )
    services_segments.segment_archive(actor=m.marketer, segment=archived)
    assert services_segments.segments_refresh_due(now=now) == 1
    due.refresh_from_db()
    assert (due.member_count, due.last_evaluated_at) == (3, now)
    assert services_segments.segments_refresh_due(now=now) == 0


def test_command_segment_refresh(marketing_bank: MarketingBank, privates: dict[str, Party]) -> None:
    m = marketing_bank
    segment = services_segments.segment_create(
        actor=m.marketer, name="P", definition=PRIVATE, kind="static", owning_unit=m.branch_b
    )
    out = io.StringIO()
    call_command("marketing", "segment-refresh", "--segment", str(segment.pk), stdout=out)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert line["segment"] == segment.pk and line["members"] == 1
    out = io.StringIO()
    call_command("marketing", "segment-refresh", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["evaluated"] == 0


def test_api_segments(marketing_bank: MarketingBank, privates: dict[str, Party]) -> None:
    m = marketing_bank
    head = client_for(m.marketer)
    branch = client_for(m.marketer_a)
    answer = post(head, "/api/v1/marketing/segments/count", {"definition": PRIVATE})
    assert answer.status_code == 200 and answer.json() == {"count": 3}
    answer = post(branch, "/api/v1/marketing/segments/count", {"definition": PRIVATE})
    assert answer.json() == {"count": 2}
    bad = {"all": [PRIVATE["all"][0], {"any": [{"field": "x", "op": "eq", "value": 1}]}]}
    answer = post(head, "/api/v1/marketing/segments/count", {"definition": bad})
    assert answer.status_code == 422 and answer["Content-Type"].startswith(PROBLEM)
    assert answer.json()["errors"][0]["field"] == "body.definition"
    assert answer.json()["errors"][0]["message"] == "rule 2.1: unknown field 'x'"
    before = Segment.objects.count()
    answer = post(head, "/api/v1/marketing/segments", {"name": "Bad", "definition": bad})
    assert answer.status_code == 422
    assert Segment.objects.count() == before
    answer = post(
        head,
        "/api/v1/marketing/segments",
        {"name": "B privates", "definition": PRIVATE, "owning_unit": m.branch_b.code},
    )
    assert answer.status_code == 201
    pk = answer.json()["id"]
    assert answer.json()["owning_unit"] == m.branch_b.code
    answer = post(head, f"/api/v1/marketing/segments/{pk}/evaluate", {})
    assert answer.status_code == 200 and answer.json()["member_count"] == 1
    # Another branch's segment is not there for the branch marketer; nothing changes.
    assert branch.get(f"/api/v1/marketing/segments/{pk}").status_code == 404
    assert post(branch, f"/api/v1/marketing/segments/{pk}/evaluate", {}).status_code == 404
    assert post(branch, f"/api/v1/marketing/segments/{pk}/archive", {}).status_code == 404
    answer = branch.patch(
        f"/api/v1/marketing/segments/{pk}", json.dumps({"name": "x"}),
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 404
    segment = Segment.objects.get(pk=pk)
    assert (segment.name, segment.is_archived, segment.member_count) == ("B privates", False, 1)
    # A relationship manager may read segments but not change them.
    rm = client_for(m.rm_b)
    assert rm.get(f"/api/v1/marketing/segments/{pk}").status_code == 200
    assert post(rm, f"/api/v1/marketing/segments/{pk}/archive", {}).status_code == 403
    assert not Segment.objects.get(pk=pk).is_archived
    answer = head.patch(
        f"/api/v1/marketing/segments/{pk}", json.dumps({"name": "Renamed"}),
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["name"] == "Renamed"
    answer = post(head, f"/api/v1/marketing/segments/{pk}/archive", {})
    assert answer.status_code == 200 and answer.json()["is_archived"] is True
    listed = head.get("/api/v1/marketing/segments").json()
    assert pk not in [item["id"] for item in listed]
    listed = head.get("/api/v1/marketing/segments?include_archived=true").json()
    assert pk in [item["id"] for item in listed]
