"""My work: the signed-in person's place in the bank, their approvals and their activity."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.audit.services import audit_record
from bankcrm.core.approvals import register_approval_action, unregister_approval_action
from bankcrm.core.services import approval_request

from .conftest import person

pytestmark = pytest.mark.django_db

ACTION = "web_test.limit_change"


@pytest.fixture
def limit_change_action():
    def apply(*, actor, payload, approval):
        return None

    register_approval_action(
        ACTION,
        handler=apply,
        permission="web_test.approve_limit",
        description="Change a credit limit",
    )
    yield ACTION
    unregister_approval_action(ACTION)


def test_home_needs_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/access/login/")


def test_home_shows_name_unit_trail_and_roles(rm_client):
    html = rm_client.get("/").content.decode()
    assert "Welcome, Lena Fischer" in html
    assert "Head office › <strong>Riverside branch</strong>" in html
    assert "Relationship manager" in html
    assert "Own portfolio" in html
    assert 'href="/help/relationship-manager/"' in html


def test_home_without_unit_or_role_says_what_to_do(client):
    lonely = person("relationship_manager", org_unit=None)
    lonely.roles.clear()
    client.force_login(lonely)
    html = client.get("/").content.decode()
    assert "No organisation unit" in html
    assert "No role yet" in html


def test_home_lists_approvals_to_decide_and_own_requests(client, limit_change_action):
    maker = person("relationship_manager", first_name="Mia", last_name="Maker")
    checker = person("branch_manager", first_name="Carl", last_name="Checker")
    checker_role = checker.roles.get()
    checker_role.permissions = [*checker_role.permissions, "web_test.approve_limit"]
    checker_role.save()
    approval_request(
        actor=maker, action=ACTION, payload={"limit": "5000"}, reason="Salary increase confirmed"
    )

    client.force_login(checker)
    html = client.get("/").content.decode()
    assert 'id="home-to-decide-list"' in html
    assert "Change a credit limit" in html
    assert "Requested by Mia Maker" in html
    assert "Salary increase confirmed" in html
    assert 'id="home-my-requests-list"' not in html

    client.force_login(maker)
    html = client.get("/").content.decode()
    assert 'id="home-to-decide-list"' not in html
    assert 'id="home-my-requests-list"' in html
    assert "Change a credit limit" in html
    assert "Nothing waits for your decision." in html


def test_a_person_without_the_permission_sees_nothing_to_decide(client, limit_change_action):
    maker = person("relationship_manager")
    approval_request(actor=maker, action=ACTION, payload={}, reason="Needed")
    bystander = person("relationship_manager")
    client.force_login(bystander)
    html = client.get("/").content.decode()
    assert "Change a credit limit" not in html
    assert "Nothing waits for your decision." in html


def test_home_shows_only_my_own_activity(rm_client, relationship_manager):
    other = person("auditor")
    audit_record(
        actor=relationship_manager,
        action="customer.update",
        object_type="customers.party",
        object_pk=7,
        object_repr="Wang Fang",
    )
    audit_record(
        actor=other,
        action="customer.delete",
        object_type="customers.party",
        object_pk=8,
        object_repr="Someone Else",
    )
    html = rm_client.get("/").content.decode()
    assert "customer.update" in html
    assert "Wang Fang" in html
    assert "customer.delete" not in html
    assert "Someone Else" not in html


def test_home_query_count_does_not_grow_with_rows(client, limit_change_action):
    maker = person("relationship_manager")
    checker = person("branch_manager")
    granted = checker.roles.get()
    granted.permissions = ["web_test.approve_limit"]
    granted.save()
    client.force_login(checker)

    def add_rows(count: int) -> None:
        for number in range(count):
            approval_request(actor=maker, action=ACTION, payload={}, reason=f"Request {number}")
            audit_record(actor=checker, action="customer.view", object_repr=f"Customer {number}")

    def queries_for_home() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            html = client.get("/").content.decode()
        return len(captured), html

    add_rows(1)
    client.get("/")  # warm up the session
    with_one, _ = queries_for_home()
    add_rows(7)
    with_eight, html = queries_for_home()
    assert with_eight == with_one
    assert html.count("Requested by") == 8


def test_role_label_follows_the_language(rm_client):
    rm_client.post("/language/", {"language": "zh-hans", "next": "/"})
    html = rm_client.get("/").content.decode()
    assert "客户经理" in html
