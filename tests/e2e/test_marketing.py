"""The marketer's segment builder in a real browser at phone size: the live count follows
the rules as they are chosen (scoped to the marketer's branch), the JSON stays in step with
the builder, a "Not" group is written as such, the page never scrolls sideways, and the
segment saves with the rules built. Screenshot kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from bankcrm.marketing.models import Segment
from tests.factories.customers import PersonFactory
from tests.marketing.conftest import (  # noqa: F401  (fixtures)
    access_seeds,
    bank,
    marketing_bank,
)

from .conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketing_world(transactional_db: Any, request: Any) -> Any:
    """The marketing tests' two-branch bank (its fixture puts the flushed seeds back)."""
    return request.getfixturevalue("marketing_bank")


@pytest.mark.parametrize("viewport", [(375, 800)])
def test_the_builder_writes_the_json_and_counts_live(
    browser_page: Any, live_server: Any, marketing_world: Any, viewport: Any
) -> None:
    world = marketing_world
    a = world.branch_a
    PersonFactory(display_name="Alice Private", owning_unit=a, segment="private")
    PersonFactory(display_name="Bob Private", owning_unit=a, segment="private")
    PersonFactory(display_name="Dan Private", owning_unit=world.branch_b, segment="private")
    client = Client()
    client.force_login(world.marketer_a)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page = browser_page
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])
    page.goto(reverse("marketing:segment_create"))
    count = page.locator("#segment-count-value")
    # No rule yet: every customer of branch A (customer_a and the two above).
    assert count.get_attribute("data-count", timeout=5000) == "3"
    page.get_by_role("button", name="Add condition").click()
    page.locator("[data-rule=condition] [data-key=field]").select_option("party.segment")
    page.wait_for_selector(
        "[data-rule=condition] [data-key=value] option[value=private]", state="attached"
    )
    page.locator("[data-rule=condition] [data-key=value]").select_option("private")
    page.wait_for_function(
        "document.querySelector('#segment-count-value')"
        " && document.querySelector('#segment-count-value').dataset.count === '2'"
    )
    rules = json.loads(page.locator("[data-segment-json]").input_value())
    assert rules == {"all": [{"field": "party.segment", "op": "eq", "value": "private"}]}
    page.get_by_role("button", name="Add group").click()
    page.locator(".seg-group-nested [data-group=not]").check()
    page.wait_for_function(
        "JSON.parse(document.querySelector('[data-segment-json]').value).all.length === 2"
    )
    rules = json.loads(page.locator("[data-segment-json]").input_value())
    assert rules["all"][1] == {"not": {"all": [{"field": "party.status", "op": "eq"}]}}
    page.locator(".seg-group-nested").get_by_role("button", name="Remove this group").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, "marketing-segment-builder-375")
    page.fill("#id_name", "Private customers A")
    page.locator("#segment-save").click()
    page.wait_for_url("**/marketing/segments/*/")
    segment = Segment.objects.get(name="Private customers A")
    assert segment.definition == {
        "all": [{"field": "party.segment", "op": "eq", "value": "private"}]
    }
