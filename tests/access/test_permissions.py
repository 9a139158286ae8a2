import pytest
from django.contrib.auth.models import AnonymousUser

from bankcrm.access.models import Role
from bankcrm.access.permissions import (
    actor_access_cache_clear,
    actor_data_scope,
    actor_has_perm,
    actor_perm_scope,
    actor_requires_mfa,
    actor_role_may_unmask,
    actor_unit_paths,
    permission_matches,
)
from bankcrm.core.actor import SystemActor
from tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("granted", "wanted", "expected"),
    [
        ("customers.view_party", "customers.view_party", True),
        ("customers.view_party", "customers.view_partyx", False),
        ("customers.view_party", "customers.change_party", False),
        ("customers.*", "customers.change_party", True),
        ("customers.*", "customersx.change_party", False),
        ("customers.*", "lending.view_loan", False),
        ("*", "lending.view_loan", True),
        ("*.view_*", "audit.view_auditevent", True),
        ("*.view_*", "audit.export_auditevent", False),
        ("lending.view_*", "lending.view_loan", True),
        ("lending.view_*", "lending.change_loan", False),
        # Regex metacharacters in a grant are literal.
        ("customers.view_p.rty", "customers.view_party", False),
    ],
)
def test_permission_patterns(granted, wanted, expected):
    assert permission_matches(granted, wanted) is expected


def test_union_of_active_roles_with_wildcards():
    reader = RoleFactory(code="reader", permissions=["customers.view_*"])
    writer = RoleFactory(code="writer", permissions=["lending.*"], is_active=False)
    user = UserFactory(roles=[reader, writer])
    assert actor_has_perm(user, "customers.view_party") is True
    assert actor_has_perm(user, "customers.change_party") is False
    # The inactive role grants nothing.
    assert actor_has_perm(user, "lending.view_loan") is False


def test_system_superuser_inactive_and_anonymous():
    role = RoleFactory(code="all", permissions=["*"])
    assert actor_has_perm(SystemActor("nightly"), "anything.at_all") is True
    assert actor_has_perm(UserFactory(is_superuser=True), "customers.delete_party") is True
    assert (
        actor_has_perm(UserFactory(is_active=False, roles=[role]), "customers.view_party") is False
    )
    assert actor_has_perm(AnonymousUser(), "customers.view_party") is False
    assert actor_has_perm(None, "customers.view_party") is False


def test_widest_scope_wins_per_permission():
    rm = RoleFactory(
        code="p", permissions=["customers.view_*"], data_scope=Role.DataScope.PORTFOLIO
    )
    mm = RoleFactory(
        code="u",
        permissions=["customers.view_party", "marketing.*"],
        data_scope=Role.DataScope.UNIT,
    )
    user = UserFactory(roles=[rm, mm])
    assert actor_perm_scope(user, "customers.view_party") == Role.DataScope.UNIT
    assert actor_perm_scope(user, "customers.view_account") == Role.DataScope.PORTFOLIO
    assert actor_perm_scope(user, "lending.view_loan") is None
    assert actor_data_scope(user) == Role.DataScope.UNIT
    assert actor_data_scope(UserFactory()) is None
    assert actor_data_scope(SystemActor("x")) == Role.DataScope.BANK


def test_roles_are_read_once_per_user_object(django_assert_num_queries):
    role = RoleFactory(code="r", permissions=["customers.view_party"])
    user = UserFactory(roles=[role])
    with django_assert_num_queries(1):
        assert actor_has_perm(user, "customers.view_party") is True
        assert actor_has_perm(user, "customers.change_party") is False
        assert actor_requires_mfa(user) is False
    role.permissions = ["customers.*"]
    role.save()
    # Cached for the life of the object (one request) until cleared.
    assert actor_has_perm(user, "customers.change_party") is False
    actor_access_cache_clear(user)
    assert actor_has_perm(user, "customers.change_party") is True


def test_unmask_and_mfa_flags_follow_roles():
    compliance = Role.objects.get(code=Role.Code.COMPLIANCE_OFFICER)
    analyst = Role.objects.get(code=Role.Code.CREDIT_ANALYST)
    assert (
        actor_role_may_unmask(UserFactory(roles=[compliance])),
        actor_requires_mfa(UserFactory(roles=[compliance])),
    ) == (True, True)
    assert (
        actor_role_may_unmask(UserFactory(roles=[analyst])),
        actor_requires_mfa(UserFactory(roles=[analyst])),
    ) == (False, False)


def test_unit_paths():
    user = UserFactory()
    assert actor_unit_paths(user) == [user.org_unit.path]
    assert actor_unit_paths(UserFactory(org_unit=None)) == []
    assert actor_unit_paths(SystemActor("x")) == []
