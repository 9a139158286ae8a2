"""The segment pages and the rule builder: list, detail, create, edit, the live count, "Evaluate
now" and the builder's row partial; who may see and change what (403 without the permission,
404 for another branch's segment, nothing changed either way), the list's query count pinned,
and the count of the rules exact and within the viewer's reach."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bankcrm.customers.models import Party
from bankcrm.marketing.models import Segment, SegmentMember
from bankcrm.marketing.segments.catalogue import field_catalogue
from tests.factories.customers import PersonFactory
from tests.factories.marketing import SegmentFactory

from .conftest import MarketingBank

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PRIVATE_ACTIVE = {
    "all": [
        {"field": "party.segment", "op": "eq", "value": "private"},
        {"field": "party.status", "op": "eq", "value": "active"},
    ]
}


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def people(marketing_bank: MarketingBank) -> dict[str, Party]:
    """Private-banking customers: two active and one dormant in branch A, one active in B."""
    a, b = marketing_bank.branch_a, marketing_bank.branch_b
    return {
        "a1": PersonFactory(display_name="Alice Private", owning_unit=a, segment="private"),
        "a2": PersonFactory(display_name="Bob Private", owning_unit=a, segment="private"),
        "a3": PersonFactory(
            display_name="Carol Dormant", owning_unit=a, segment="private", status="dormant"
        ),
        "b1": PersonFactory(display_name="Dan Private", owning_unit=b, segment="private"),
    }


@pytest.fixture
def segments(marketing_bank: MarketingBank) -> dict[str, Segment]:
    m = marketing_bank
    return {
        "a": SegmentFactory(
            name="Private A", owning_unit=m.branch_a, created_by=m.marketer_a,
            definition=PRIVATE_ACTIVE,
        ),
        "b": SegmentFactory(
            name="Private B", owning_unit=m.branch_b, created_by=m.marketer,
            definition=PRIVATE_ACTIVE,
        ),
        "bank": SegmentFactory(
            name="Private bank-wide", owning_unit=m.head_office, created_by=m.marketer,
            definition=PRIVATE_ACTIVE, kind=Segment.Kind.STATIC,
        ),
        "old": SegmentFactory(
            name="Old A", owning_unit=m.branch_a, created_by=m.marketer_a, is_archived=True
        ),
    }  # fmt: skip


def _snapshot(segment: Segment) -> tuple[Any, ...]:
    segment.refresh_from_db()
    return (
        segment.name,
        segment.kind,
        segment.definition,
        segment.is_archived,
        segment.member_count,
        segment.last_evaluated_at,
        SegmentMember.objects.filter(segment=segment).count(),
    )


# --- List --------------------------------------------------------------------------------------


def test_the_list_shows_the_segments_within_reach(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    page = client_for(marketing_bank.marketer).get(reverse("marketing:segment_list"))
    assert page.status_code == 200
    assert [s.name for s in page.context["segments"]] == [
        "Private A",
        "Private B",
        "Private bank-wide",
    ]
    html = page.content.decode()
    assert 'id="segment-new"' in html
    assert "Branch B" in html and "Static (snapshot)" in html
    branch = client_for(marketing_bank.marketer_a).get(reverse("marketing:segment_list"))
    assert [s.name for s in branch.context["segments"]] == ["Private A"]
    archived = client_for(marketing_bank.marketer_a).get(
        reverse("marketing:segment_list"), {"archived": "on"}
    )
    assert [s.name for s in archived.context["segments"]] == ["Old A", "Private A"]
    assert "archived</span>" in archived.content.decode()


def test_the_list_needs_the_view_permission(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    # A relationship manager may look (marketing.view_*) but not create.
    rm = client_for(marketing_bank.rm_a).get(reverse("marketing:segment_list"))
    assert rm.status_code == 200
    assert 'id="segment-new"' not in rm.content.decode()
    analyst = client_for(marketing_bank.bank.analyst).get(reverse("marketing:segment_list"))
    assert analyst.status_code == 403


def test_the_list_query_count_does_not_grow_with_the_segments(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    client = client_for(marketing_bank.marketer)
    client.get(reverse("marketing:segment_list"))  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("marketing:segment_list"))
    for number in range(6):
        SegmentFactory(
            name=f"More {number}",
            owning_unit=[marketing_bank.branch_a, marketing_bank.branch_b][number % 2],
            created_by=marketing_bank.marketer,
        )
    with CaptureQueriesContext(connection) as many:
        page = client.get(reverse("marketing:segment_list"))
    assert len(page.context["segments"]) == 9
    assert len(many) == len(few)
    assert len(many) == 8, [query["sql"] for query in many.captured_queries]


# --- Detail ------------------------------------------------------------------------------------


def test_the_detail_tells_the_rules_and_previews_the_members(
    marketing_bank: MarketingBank, segments: dict[str, Segment], people: dict[str, Party]
) -> None:
    client = client_for(marketing_bank.marketer_a)
    url = reverse("marketing:segment_detail", args=[segments["a"].pk])
    before = client.get(url)
    assert before.status_code == 200
    html = before.content.decode()
    assert "Customers for whom all of these are true:" in html
    assert "Customer segment is Private banking" in html
    assert "Status is Active" in html
    assert 'id="segment-evaluate"' in html and 'id="segment-edit"' in html
    assert before.context["preview"] == []

    evaluated = client.post(reverse("marketing:segment_evaluate", args=[segments["a"].pk]))
    assert evaluated.status_code == 302 and evaluated["Location"] == url
    segments["a"].refresh_from_db()
    assert segments["a"].member_count == 2
    assert segments["a"].last_evaluated_at is not None
    assert segments["a"].evaluation_seconds is not None
    after = client.get(url)
    assert [party.display_name for party in after.context["preview"]] == [
        "Alice Private",
        "Bob Private",
    ]
    html = after.content.decode()
    assert reverse("customers:detail", args=[people["a1"].pk]) in html
    assert 'id="segment-members">2<' in html
    assert "The segment was evaluated: 2 customers." in html


def test_a_static_segment_keeps_its_snapshot_until_asked_again(
    marketing_bank: MarketingBank, segments: dict[str, Segment], people: dict[str, Party]
) -> None:
    client = client_for(marketing_bank.marketer)
    static = segments["bank"]
    url = reverse("marketing:segment_evaluate", args=[static.pk])
    assert client.post(url).status_code == 302
    static.refresh_from_db()
    assert static.member_count == 3
    PersonFactory(
        display_name="Eve Private", owning_unit=marketing_bank.branch_b, segment="private"
    )
    page = client.get(reverse("marketing:segment_detail", args=[static.pk]))
    html = page.content.decode()
    assert "Take a new snapshot" in html and 'name="resnapshot"' in html
    assert client.post(url).status_code == 302
    static.refresh_from_db()
    assert static.member_count == 3
    assert client.post(url, {"resnapshot": "1"}).status_code == 302
    static.refresh_from_db()
    assert static.member_count == 4


def test_the_detail_speaks_the_viewers_language(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    page = client_for(marketing_bank.marketer_a).get(
        reverse("marketing:segment_detail", args=[segments["a"].pk]),
        headers={"Accept-Language": "zh-hans"},
    )
    labels = {field["key"]: field["label"] for field in field_catalogue("zh-hans")}
    assert page.status_code == 200
    assert '<html lang="zh-hans">' in page.content.decode()
    sentence = page.context["rules"]["children"][1]["text"]
    assert sentence.lower().startswith(labels["party.status"].lower())


def test_the_detail_of_another_branchs_segment_is_404(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    client = client_for(marketing_bank.marketer_a)
    for name in ("b", "bank"):
        page = client.get(reverse("marketing:segment_detail", args=[segments[name].pk]))
        assert page.status_code == 404
    assert client.get(reverse("marketing:segment_detail", args=[999999])).status_code == 404


def test_a_viewer_without_change_sees_no_actions(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    page = client_for(marketing_bank.rm_a).get(
        reverse("marketing:segment_detail", args=[segments["a"].pk])
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="segment-evaluate"' not in html and 'id="segment-edit"' not in html


# --- Create and edit ---------------------------------------------------------------------------


def _form(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "Salary customers",
        "description": "Salary in each of the last 3 months",
        "kind": "dynamic",
        "owning_unit": "",
        "refresh_hours": "12",
        "definition": json.dumps(PRIVATE_ACTIVE),
    }
    data.update(changes)
    return data


def test_the_create_page_draws_the_builder(marketing_bank: MarketingBank) -> None:
    page = client_for(marketing_bank.marketer_a).get(reverse("marketing:segment_create"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="segment-builder"' in html and 'data-rule="group"' in html
    assert 'hx-trigger="change delay:400ms, keyup delay:600ms' in html
    assert f'hx-post="{reverse("marketing:segment_count")}"' in html
    assert "marketing/segments.js" in html
    # Every input of the page has its label.
    ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\sid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html))
    assert ids and ids <= labelled, ids - labelled


def test_a_segment_is_created_from_the_posted_rules(
    marketing_bank: MarketingBank, people: dict[str, Party]
) -> None:
    response = client_for(marketing_bank.marketer_a).post(
        reverse("marketing:segment_create"), _form()
    )
    assert response.status_code == 302
    segment = Segment.objects.get(name="Salary customers")
    assert response["Location"] == reverse("marketing:segment_detail", args=[segment.pk])
    assert segment.owning_unit == marketing_bank.branch_a
    assert segment.refresh_hours == 12
    assert segment.kind == "dynamic"
    assert segment.created_by == marketing_bank.marketer_a
    assert segment.definition == PRIVATE_ACTIVE


def test_bad_rules_are_shown_with_their_path_and_nothing_is_saved(
    marketing_bank: MarketingBank,
) -> None:
    client = client_for(marketing_bank.marketer_a)
    bad = {"all": [PRIVATE_ACTIVE["all"][0], {"field": "party.shoe_size", "op": "eq", "value": 1}]}
    response = client.post(reverse("marketing:segment_create"), _form(definition=json.dumps(bad)))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="segment-definition-errors"' in html
    assert "rule 2" in html and "party.shoe_size" in html
    # The posted JSON comes back as it was, for correcting.
    assert "party.shoe_size" in response.context["form"]["definition"].value()
    broken = client.post(reverse("marketing:segment_create"), _form(definition='{"all": ['))
    assert broken.status_code == 400
    assert "not valid JSON" in broken.content.decode()
    # The builder steps aside rather than overwrite the JSON being corrected.
    assert "data-builder-unsupported" in broken.content.decode()
    nameless = client.post(reverse("marketing:segment_create"), _form(name=""))
    assert nameless.status_code == 400
    assert "Give the segment a name." in nameless.content.decode()
    assert Segment.objects.count() == 0


def test_create_needs_the_add_permission(marketing_bank: MarketingBank) -> None:
    client = client_for(marketing_bank.rm_a)
    assert client.get(reverse("marketing:segment_create")).status_code == 403
    assert client.post(reverse("marketing:segment_create"), _form()).status_code == 403
    assert Segment.objects.count() == 0


def test_a_segment_is_edited(marketing_bank: MarketingBank, segments: dict[str, Segment]) -> None:
    client = client_for(marketing_bank.marketer_a)
    url = reverse("marketing:segment_edit", args=[segments["a"].pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    # The builder shows both conditions as rows, with their values selected.
    assert html.count('data-rule="condition"') == 2
    assert '<option value="private" selected>' in html
    rules = {"any": [{"field": "party.segment", "op": "in", "value": ["private", "affluent"]}]}
    response = client.post(
        url,
        _form(name="Private or affluent A", kind="dynamic", definition=json.dumps(rules)),
    )
    assert response.status_code == 302
    segments["a"].refresh_from_db()
    assert segments["a"].name == "Private or affluent A"
    assert segments["a"].definition == rules
    assert segments["a"].refresh_hours == 12


def test_edit_refuses_bad_rules_and_changes_nothing(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    before = _snapshot(segments["a"])
    bad = {"all": [{"field": "person.age", "op": "between", "value": [60]}]}
    response = client_for(marketing_bank.marketer_a).post(
        reverse("marketing:segment_edit", args=[segments["a"].pk]),
        _form(name="Renamed", definition=json.dumps(bad)),
    )
    assert response.status_code == 400
    assert "rule 1" in response.content.decode()
    assert _snapshot(segments["a"]) == before


def test_edit_is_403_without_change_and_404_out_of_reach(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    before = {name: _snapshot(segment) for name, segment in segments.items()}
    rm = client_for(marketing_bank.rm_a)
    edit_a = reverse("marketing:segment_edit", args=[segments["a"].pk])
    assert rm.get(edit_a).status_code == 403
    assert rm.post(edit_a, _form(name="Hijacked")).status_code == 403
    evaluate_a = reverse("marketing:segment_evaluate", args=[segments["a"].pk])
    assert rm.post(evaluate_a).status_code == 403
    assert rm.post(reverse("marketing:segment_archive", args=[segments["a"].pk])).status_code == 403
    branch = client_for(marketing_bank.marketer_a)
    edit_b = reverse("marketing:segment_edit", args=[segments["b"].pk])
    assert branch.get(edit_b).status_code == 404
    assert branch.post(edit_b, _form(name="Hijacked")).status_code == 404
    evaluate_b = reverse("marketing:segment_evaluate", args=[segments["b"].pk])
    assert branch.post(evaluate_b).status_code == 404
    assert (
        branch.post(reverse("marketing:segment_archive", args=[segments["b"].pk])).status_code
        == 404
    )
    assert branch.get(evaluate_b).status_code == 405
    assert {name: _snapshot(segment) for name, segment in segments.items()} == before


def test_a_segment_is_archived(marketing_bank: MarketingBank, segments: dict[str, Segment]) -> None:
    response = client_for(marketing_bank.marketer_a).post(
        reverse("marketing:segment_archive", args=[segments["a"].pk])
    )
    assert response.status_code == 302
    segments["a"].refresh_from_db()
    assert segments["a"].is_archived is True


# --- The live count ----------------------------------------------------------------------------


def _count(user: Any, definition: Any) -> Any:
    text = definition if isinstance(definition, str) else json.dumps(definition)
    return client_for(user).post(
        reverse("marketing:segment_count"), {"definition": text, "name": "x"}, headers=HTMX
    )


def test_the_count_is_exact_and_within_the_viewers_reach(
    marketing_bank: MarketingBank, people: dict[str, Party]
) -> None:
    bank_wide = _count(marketing_bank.marketer, PRIVATE_ACTIVE)
    assert bank_wide.status_code == 200
    assert bank_wide.context["count"] == 3
    assert 'data-count="3">3 customers</strong>' in bank_wide.content.decode()
    branch = _count(marketing_bank.marketer_a, PRIVATE_ACTIVE)
    assert branch.context["count"] == 2
    assert 'data-count="2">2 customers</strong>' in branch.content.decode()
    one = {"all": [{"field": "party.owning_unit", "op": "in", "value": ["BRB"]}, PRIVATE_ACTIVE]}
    assert _count(marketing_bank.marketer, one).context["count"] == 1
    assert _count(marketing_bank.marketer_a, one).context["count"] == 0
    dormant = {"not": {"any": [{"field": "party.status", "op": "eq", "value": "active"}]}}
    assert _count(marketing_bank.marketer_a, dormant).context["count"] == 1


def test_the_count_names_the_bad_rule(marketing_bank: MarketingBank) -> None:
    bad = {"all": [PRIVATE_ACTIVE["all"][0], {"any": [{"field": "party.status", "op": "gt"}]}]}
    response = _count(marketing_bank.marketer_a, bad)
    assert response.status_code == 200
    assert response.context["count"] is None
    assert any(message.startswith("rule 2.1") for message in response.context["errors"])
    assert 'id="segment-count-errors"' in response.content.decode()
    broken = _count(marketing_bank.marketer_a, "[1, 2")
    assert "not valid JSON" in broken.content.decode()
    empty = _count(marketing_bank.marketer_a, "")
    assert empty.context["errors"] == ["Add at least one condition."]


def test_the_count_needs_the_view_permission(marketing_bank: MarketingBank) -> None:
    response = _count(marketing_bank.bank.analyst, PRIVATE_ACTIVE)
    assert response.status_code == 403
    assert (
        client_for(marketing_bank.marketer).get(reverse("marketing:segment_count")).status_code
        == 405
    )


# --- The builder's partials --------------------------------------------------------------------


def _row(user: Any, **params: str) -> str:
    response = client_for(user).get(reverse("marketing:segment_rule_row"), params, headers=HTMX)
    assert response.status_code == 200
    return response.content.decode()


def _labelled(html: str) -> None:
    ids = set(re.findall(r'<(?:input|select)[^>]*\sid="([^"]+)"', html))
    labelled = set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html))
    assert ids and ids <= labelled, ids - labelled


def test_the_rule_row_renders_every_field_of_the_catalogue(
    marketing_bank: MarketingBank, segments: dict[str, Segment]
) -> None:
    kinds = {}
    for field in field_catalogue("en"):
        html = _row(marketing_bank.marketer_a, field=field["key"])
        _labelled(html)
        assert f'<option value="{field["key"]}" selected>' in html
        assert html.count('data-rule="condition"') == 1
        for param in field["params"]:
            assert f'data-key="{param["name"]}"' in html
        kinds[field["value_type"]] = html
    assert set(kinds) >= {"choice", "number", "date", "text", "bool", "unit", "none"}
    assert 'type="number"' in kinds["number"] and 'data-key="value"' in kinds["number"]
    assert 'type="date"' in kinds["date"]
    assert 'type="text"' in kinds["text"]
    assert '<option value="true">' in kinds["bool"] and 'data-type="bool"' in kinds["bool"]
    assert 'data-key="value"' not in kinds["none"]
    # Units are chosen among those within the marketer's reach, several at once.
    assert 'data-type="multi-text"' in kinds["unit"] and "BRA · Branch A" in kinds["unit"]
    assert "BRB" not in kinds["unit"]
    # A segment parameter lists the segments within reach.
    member = _row(marketing_bank.marketer_a, field="segment.member")
    assert f'<option value="{segments["a"].pk}">Private A</option>' in member
    assert "Private B" not in member and 'data-type="int"' in member
    # A product parameter lists the products.
    holds = _row(marketing_bank.marketer_a, field="holdings.holds")
    assert '<option value="TD12">' in holds


def test_the_rule_row_keeps_a_redrawn_condition(marketing_bank: MarketingBank) -> None:
    rule = {
        "field": "transactions.months_with",
        "kind": "salary",
        "months": 3,
        "op": "between",
        "value": [2, 3],
    }
    html = _row(marketing_bank.marketer_a, rule=json.dumps(rule), row="rabc123")
    assert 'id="rabc123"' in html
    assert '<option value="salary" selected>' in html
    assert 'id="rabc123-months"' in html and 'value="3"' in html
    assert 'id="rabc123-value-0"' in html and 'id="rabc123-value-1"' in html
    listed = _row(
        marketing_bank.marketer_a,
        rule=json.dumps({"field": "person.nationality", "op": "in", "value": ["CN", "HK"]}),
    )
    assert 'value="CN, HK"' in listed and 'data-type="list-text"' in listed
    # A made-up row id is not echoed into the page.
    assert 'id="r<x>' not in _row(marketing_bank.marketer_a, row="r<x>")


def test_the_rule_row_draws_groups_and_whole_builders(marketing_bank: MarketingBank) -> None:
    group = _row(marketing_bank.marketer_a, group="1")
    assert 'data-rule="group"' in group and group.count('data-rule="condition"') == 1
    assert "Add group" not in group and "Remove group" in group
    _labelled(group)
    nested = {"all": [PRIVATE_ACTIVE, {"not": {"any": PRIVATE_ACTIVE["all"]}}]}
    whole = _row(marketing_bank.marketer_a, definition=json.dumps(nested))
    assert whole.count('data-rule="group"') == 3 and whole.count('data-rule="condition"') == 4
    assert 'data-group="not" checked' in whole
    too_deep = {"all": [{"all": [{"all": [PRIVATE_ACTIVE["all"][0]]}]}]}
    deep = _row(marketing_bank.marketer_a, definition=json.dumps(too_deep))
    assert "data-builder-unsupported" in deep
    assert (
        client_for(marketing_bank.bank.analyst)
        .get(reverse("marketing:segment_rule_row"))
        .status_code
        == 403
    )
