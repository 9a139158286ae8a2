"""Granting roles is maker-checker: a second administrator approves, then the roles apply."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access import services
from bankcrm.access.models import Role, User
from bankcrm.audit.models import AuditEvent
from bankcrm.core.services import approval_approve

from .conftest import role, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(bank):
    return (
        staff("maker", bank.head_office, Role.Code.ADMINISTRATOR),
        staff("checker", bank.head_office, Role.Code.ADMINISTRATOR),
    )


def test_roles_apply_only_after_a_second_person_approves(bank, admins):
    maker, checker = admins
    target = staff("new.rm", bank.branch_a)
    approval = services.user_roles_change_request(
        actor=maker,
        user=target,
        roles=[role(Role.Code.RELATIONSHIP_MANAGER)],
        reason="Joined branch A",
    )
    assert target.roles.count() == 0
    with pytest.raises(PermissionDenied):
        approval_approve(actor=maker, approval_pk=approval.pk)
    assert target.roles.count() == 0
    approval_approve(actor=checker, approval_pk=approval.pk)
    assert list(User.objects.get(pk=target.pk).roles.values_list("code", flat=True)) == [
        "relationship_manager"
    ]
    event = AuditEvent.objects.get(action="access.user_roles_set")
    assert (event.actor, event.after, event.reason) == (
        "checker",
        {"roles": ["relationship_manager"]},
        "Joined branch A",
    )


def test_user_created_by_a_person_gets_roles_through_approval(bank, admins):
    maker, checker = admins
    user = services.user_create(
        actor=maker,
        username="li.na",
        password="Ledger-Balance-77",
        org_unit=bank.branch_a,
        roles=[role(Role.Code.LOAN_OFFICER)],
    )
    assert user.roles.count() == 0
    request = AuditEvent.objects.get(action="approval.request")
    approval_approve(actor=checker, approval_pk=int(request.object_pk))
    assert list(user.roles.values_list("code", flat=True)) == ["loan_officer"]


def test_only_role_granters_may_ask(bank, admins):
    manager = staff("bm", bank.branch_a, Role.Code.BRANCH_MANAGER)
    target = staff("x", bank.branch_a)
    with pytest.raises(PermissionDenied):
        services.user_roles_change_request(
            actor=manager, user=target, roles=[role(Role.Code.AUDITOR)], reason="please"
        )


def test_reason_is_required(bank, admins):
    target = staff("x", bank.branch_a)
    with pytest.raises(ValidationError) as exc:
        services.user_roles_change_request(
            actor=admins[0], user=target, roles=[role(Role.Code.AUDITOR)], reason=" "
        )
    assert exc.value.error_dict["reason"][0].code == "reason_required"
