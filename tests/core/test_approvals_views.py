# Fixtures are imported from test_approvals and re-declared as test arguments.
# ruff: noqa: F811
"""Approval pages: the queue, the detail page and its decision forms."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from bankcrm.access.models import Role
from bankcrm.core.models import PendingApproval
from bankcrm.web.navigation import nav_entries

from .test_approvals import (  # noqa: F401 - fixtures
    ACTION,
    _request,
    checker,
    limit_action,
    maker,
    outsider,
    role,
)

pytestmark = pytest.mark.django_db


def test_navigation_entry_is_registered():
    entry = next(entry for entry in nav_entries() if entry.key == "approvals")
    assert (entry.url_name, entry.order, entry.url) == ("core:approval_list", 50, "/approvals/")


def test_list_shows_to_decide_and_my_requests(client, maker, checker, role):
    approval = _request(maker, role)
    client.force_login(checker)
    response = client.get(reverse("core:approval_list"))
    assert response.status_code == 200
    assert response.context["to_decide"] == [approval]
    assert response.context["mine"] == []
    assert b"Change a role&#x27;s limit" in response.content
    client.force_login(maker)
    response = client.get(reverse("core:approval_list"))
    assert (response.context["to_decide"], response.context["mine"]) == ([], [approval])


def test_checker_approves_from_the_detail_page(client, maker, checker, role):
    approval = _request(maker, role)
    client.force_login(checker)
    url = reverse("core:approval_detail", args=[approval.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'<label class="form-label" for="reject-reason">Reason for rejecting</label>' in (
        page.content
    )
    response = client.post(
        reverse("core:approval_approve", args=[approval.pk]), {"comment": "fine"}
    )
    assert response.status_code == 302 and response["Location"] == url
    approval.refresh_from_db()
    role.refresh_from_db()
    assert (approval.status, approval.decision_comment) == ("approved", "fine")
    assert role.approval_limit == Decimal("5000.00")


def test_reject_without_reason_shows_the_error_in_place(client, maker, checker, role):
    approval = _request(maker, role)
    client.force_login(checker)
    response = client.post(reverse("core:approval_reject", args=[approval.pk]), {"reason": ""})
    assert response.status_code == 200
    assert b'id="reject-reason-error">Say why you reject this request.</div>' in response.content
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_maker_sees_no_decision_form_and_cannot_post_one(client, maker, role):
    approval = _request(maker, role)
    client.force_login(maker)
    page = client.get(reverse("core:approval_detail", args=[approval.pk]))
    assert b"approval-approve-button" not in page.content
    assert b"approval-cancel-button" in page.content
    response = client.post(reverse("core:approval_approve", args=[approval.pk]), {})
    assert response.status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert Role.objects.get(pk=role.pk).approval_limit == Decimal("1000.00")


def test_outsider_gets_404_and_nothing_changes(client, maker, outsider, role):
    approval = _request(maker, role)
    client.force_login(outsider)
    assert client.get(reverse("core:approval_detail", args=[approval.pk])).status_code == 404
    for name in ("core:approval_approve", "core:approval_reject", "core:approval_cancel"):
        response = client.post(reverse(name, args=[approval.pk]), {"reason": "x"})
        assert response.status_code == 404
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert PendingApproval.objects.count() == 1


def test_maker_withdraws(client, maker, role):
    approval = _request(maker, role)
    client.force_login(maker)
    response = client.post(reverse("core:approval_cancel", args=[approval.pk]), {"reason": "dup"})
    assert response.status_code == 302
    approval.refresh_from_db()
    assert (approval.status, approval.decision_comment) == ("cancelled", "dup")
    assert approval.action == ACTION
