"""Maker-checker: a change proposed by one person is applied only when another approves."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.audit.services import audit_record
from bankcrm.core import approvals as approval_registry
from bankcrm.core.actor import SystemActor
from bankcrm.core.approvals import approval_get, approval_list, register_approval_action
from bankcrm.core.models import PendingApproval
from bankcrm.core.services import (
    approval_approve,
    approval_cancel,
    approval_reject,
    approval_request,
)
from bankcrm.events.models import OutboxEvent
from tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

ACTION = "access.role_limit_change"
PERMISSION = "access.approve_role_limit"


def _limit_change(*, actor, payload, approval):
    role = Role.objects.select_for_update().get(pk=payload["role_pk"])
    if Decimal(payload["limit"]) < 0:
        # A partial write before the refusal: must be undone with it.
        Role.objects.filter(pk=role.pk).update(name="half-applied")
        raise ValidationError({"limit": "The limit cannot be negative."})
    before = {"approval_limit": role.approval_limit}
    role.approval_limit = Decimal(payload["limit"])
    role.save(update_fields=["approval_limit"])
    audit_record(
        actor=actor,
        action="role.limit_change",
        target=role,
        before=before,
        after={"approval_limit": role.approval_limit},
    )


@pytest.fixture(autouse=True)
def limit_action(monkeypatch):
    monkeypatch.setattr(approval_registry, "_ACTIONS", {})
    return register_approval_action(
        ACTION, handler=_limit_change, permission=PERMISSION, description="Change a role's limit"
    )


@pytest.fixture
def role():
    return RoleFactory(code="limit_probe", name="Limit probe", approval_limit=Decimal("1000.00"))


@pytest.fixture
def maker():
    return UserFactory(
        username="maker", roles=[RoleFactory(code="rm", permissions=["access.view_role"])]
    )


@pytest.fixture
def checker():
    return UserFactory(
        username="checker", roles=[RoleFactory(code="head", permissions=[PERMISSION])]
    )


@pytest.fixture
def outsider():
    return UserFactory(username="outsider", roles=[RoleFactory(code="agent", permissions=[])])


def _request(maker, role, limit="5000.00"):
    return approval_request(
        actor=maker,
        action=ACTION,
        payload={"role_pk": role.pk, "limit": limit},
        reason="New authority matrix",
        target=role,
    )


def _actions():
    return list(AuditEvent.objects.order_by("pk").values_list("action", "actor"))


def _events():
    return list(OutboxEvent.objects.order_by("occurred_at").values_list("type", flat=True))


def test_request_then_approve_applies_the_change(maker, checker, role):
    approval = _request(maker, role)
    assert (approval.status, approval.object_type, approval.object_pk, approval.object_repr) == (
        "pending",
        "access.role",
        str(role.pk),
        "Limit probe",
    )
    role.refresh_from_db()
    assert role.approval_limit == Decimal("1000.00")  # nothing applied yet

    approval = approval_approve(actor=checker, approval_pk=approval.pk, comment="ok per policy")
    assert (approval.status, approval.checker, approval.decision_comment) == (
        "approved",
        checker,
        "ok per policy",
    )
    assert approval.decided_at is not None
    role.refresh_from_db()
    assert role.approval_limit == Decimal("5000.00")
    assert _actions() == [
        ("approval.request", "maker"),
        ("role.limit_change", "checker"),
        ("approval.approve", "checker"),
    ]
    request_audit = AuditEvent.objects.get(action="approval.request")
    assert request_audit.reason == "New authority matrix"
    assert request_audit.after["payload"] == {"role_pk": role.pk, "limit": "5000.00"}
    assert _events() == ["approval.requested", "approval.approved"]
    event = OutboxEvent.objects.get(type="approval.approved")
    assert event.payload["checker_pk"] == checker.pk and event.payload["action"] == ACTION


def test_maker_cannot_approve_own_request(maker, role):
    approval = _request(maker, role)
    maker.roles.add(RoleFactory(code="also_checker", permissions=[PERMISSION]))
    with pytest.raises(PermissionDenied, match="cannot approve your own request"):
        approval_approve(actor=maker, approval_pk=approval.pk)
    approval.refresh_from_db()
    role.refresh_from_db()
    assert (approval.status, approval.checker) == ("pending", None)
    assert role.approval_limit == Decimal("1000.00")
    assert _actions() == [("approval.request", "maker")]


def test_database_refuses_checker_equal_to_maker(maker, role):
    approval = _request(maker, role)
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingApproval.objects.filter(pk=approval.pk).update(
            checker=maker, status="approved", decided_at=timezone.now()
        )
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_database_refuses_decision_without_checker(maker, role):
    approval = _request(maker, role)
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingApproval.objects.filter(pk=approval.pk).update(status="approved")


def test_checker_needs_the_permission(maker, outsider, role):
    approval = _request(maker, role)
    with pytest.raises(PermissionDenied, match="do not have the permission"):
        approval_approve(actor=outsider, approval_pk=approval.pk)
    with pytest.raises(PermissionDenied):
        approval_reject(actor=outsider, approval_pk=approval.pk, reason="no")
    approval.refresh_from_db()
    role.refresh_from_db()
    assert approval.status == "pending"
    assert role.approval_limit == Decimal("1000.00")
    assert _actions() == [("approval.request", "maker")]


def test_the_system_is_never_a_checker(maker, role):
    approval = _request(maker, role)
    with pytest.raises(PermissionDenied, match="signed-in person"):
        approval_approve(actor=SystemActor("nightly"), approval_pk=approval.pk)
    with pytest.raises(PermissionDenied):
        approval_request(actor=SystemActor("nightly"), action=ACTION, payload={}, reason="x")
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_reject_needs_a_reason_and_applies_nothing(maker, checker, role):
    approval = _request(maker, role)
    with pytest.raises(ValidationError) as caught:
        approval_reject(actor=checker, approval_pk=approval.pk, reason="   ")
    assert caught.value.message_dict == {"reason": ["Say why you reject this request."]}
    approval.refresh_from_db()
    assert approval.status == "pending"

    approval = approval_reject(actor=checker, approval_pk=approval.pk, reason="Over policy")
    assert (approval.status, approval.checker, approval.decision_comment) == (
        "rejected",
        checker,
        "Over policy",
    )
    role.refresh_from_db()
    assert role.approval_limit == Decimal("1000.00")
    assert _actions() == [("approval.request", "maker"), ("approval.reject", "checker")]
    assert AuditEvent.objects.get(action="approval.reject").reason == "Over policy"
    assert _events() == ["approval.requested", "approval.rejected"]
    with pytest.raises(ValidationError, match="already rejected"):
        approval_approve(actor=checker, approval_pk=approval.pk)


def test_request_needs_reason_and_known_action(maker, role):
    with pytest.raises(ValidationError) as caught:
        approval_request(actor=maker, action=ACTION, payload={}, reason=" ")
    assert caught.value.message_dict == {"reason": ["Say why this change is needed."]}
    with pytest.raises(ValidationError) as caught:
        approval_request(actor=maker, action="nope", payload={}, reason="x")
    assert caught.value.message_dict == {"action": ["Unknown action “nope”."]}
    assert PendingApproval.objects.count() == 0
    assert AuditEvent.objects.count() == 0


def test_approving_twice_applies_once(maker, checker, role):
    approval = _request(maker, role)
    approval_approve(actor=checker, approval_pk=approval.pk)
    with pytest.raises(ValidationError, match="already approved"):
        approval_approve(actor=checker, approval_pk=approval.pk)
    assert [a for a, _ in _actions()].count("role.limit_change") == 1


def test_refused_handler_marks_failed_and_undoes_its_writes(maker, checker, role):
    approval = _request(maker, role, limit="-1")
    approval = approval_approve(actor=checker, approval_pk=approval.pk)
    assert (approval.status, approval.failure_reason) == ("failed", "The limit cannot be negative.")
    role.refresh_from_db()
    assert (role.name, role.approval_limit) == ("Limit probe", Decimal("1000.00"))
    assert _actions() == [("approval.request", "maker"), ("approval.fail", "checker")]
    assert _events() == ["approval.requested", "approval.failed"]


def test_cancel_by_the_maker_only(maker, checker, role):
    approval = _request(maker, role)
    with pytest.raises(PermissionDenied, match="Only the person who made a request"):
        approval_cancel(actor=checker, approval_pk=approval.pk)
    approval.refresh_from_db()
    assert approval.status == "pending"
    approval = approval_cancel(actor=maker, approval_pk=approval.pk, reason="Wrong role")
    assert approval.status == "cancelled"
    assert _actions()[-1] == ("approval.cancel", "maker")
    with pytest.raises(ValidationError, match="already cancelled"):
        approval_approve(actor=checker, approval_pk=approval.pk)


def test_approval_list_per_actor(maker, checker, outsider, role):
    mine = _request(maker, role)
    other_maker = UserFactory(username="other")
    theirs = approval_request(
        actor=other_maker, action=ACTION, payload={"role_pk": role.pk, "limit": "1"}, reason="r"
    )
    assert list(approval_list(actor=checker)) == [theirs, mine]
    assert list(approval_list(actor=maker)) == [mine]
    assert list(approval_list(actor=outsider)) == []
    assert list(approval_list(actor=SystemActor("x"))) == []
    approval_approve(actor=checker, approval_pk=mine.pk)
    # Decided by the checker: still listed for them, under its new status.
    assert list(approval_list(actor=checker, status="pending")) == [theirs]
    assert list(approval_list(actor=checker, status="approved")) == [mine]
    assert approval_get(actor=maker, pk=mine.pk) == mine
    from django.http import Http404

    with pytest.raises(Http404):
        approval_get(actor=outsider, pk=mine.pk)
