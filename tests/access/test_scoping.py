"""Row-level scope: branch A's people never see branch B through a queryset or a page."""

import pytest
from django.urls import reverse

from bankcrm.access import selectors, services
from bankcrm.access.models import ApiToken, OrgUnit, Portfolio, Role, User
from bankcrm.audit.models import AuditEvent
from tests.factories import PortfolioFactory, RoleFactory, UserFactory

from .conftest import SYSTEM, role, staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(bank):
    return {
        "bm_a": staff("bm.a", bank.branch_a, Role.Code.BRANCH_MANAGER),
        "rm_a": staff("rm.a", bank.branch_a, Role.Code.RELATIONSHIP_MANAGER),
        "rm_a2": staff("rm.a2", bank.branch_a, Role.Code.RELATIONSHIP_MANAGER),
        "bm_b": staff("bm.b", bank.branch_b, Role.Code.BRANCH_MANAGER),
        "rm_b": staff("rm.b", bank.branch_b, Role.Code.RELATIONSHIP_MANAGER),
        "regional": staff("bm.east", bank.region, Role.Code.BRANCH_MANAGER),
        "ho_admin": staff("admin.ho", bank.head_office, Role.Code.ADMINISTRATOR),
    }


def usernames(queryset):
    return sorted(queryset.values_list("username", flat=True))


def test_branch_manager_sees_own_branch_users_only(people):
    assert usernames(User.objects.visible_to(people["bm_a"])) == ["bm.a", "rm.a", "rm.a2"]
    assert usernames(User.objects.visible_to(people["bm_b"])) == ["bm.b", "rm.b"]


def test_regional_manager_sees_the_whole_subtree(people):
    assert usernames(User.objects.visible_to(people["regional"])) == [
        "bm.a",
        "bm.b",
        "bm.east",
        "rm.a",
        "rm.a2",
        "rm.b",
    ]


def test_bank_scope_sees_everyone(people):
    assert User.objects.visible_to(people["ho_admin"]).count() == User.objects.count()


def test_units_are_scoped_by_their_own_path(bank, people):
    def codes(actor):
        return sorted(OrgUnit.objects.visible_to(actor).values_list("code", flat=True))

    assert codes(people["bm_a"]) == ["BR-A"]
    assert codes(people["regional"]) == ["BR-A", "BR-B", "EAST"]
    assert codes(people["ho_admin"]) == ["BR-A", "BR-B", "EAST", "HO"]
    assert sorted(
        u.code for u in selectors.org_unit_subtree(actor=people["ho_admin"], unit=bank.region)
    ) == ["BR-A", "BR-B", "EAST"]


def test_permission_missing_means_no_rows_at_all(people):
    # A relationship manager holds no access.view_user.
    assert User.objects.visible_to(people["rm_a"]).count() == 0
    assert User.objects.restrict(people["bm_a"], "change").count() == 0


def test_portfolio_scope(bank, people):
    mine = PortfolioFactory(code="PA1", manager=people["rm_a"])
    PortfolioFactory(code="PA2", manager=people["rm_a2"])
    PortfolioFactory(code="PB1", manager=people["rm_b"])
    viewer = RoleFactory(
        code="portfolio_viewer",
        permissions=["access.view_portfolio", "access.view_user"],
        data_scope=Role.DataScope.PORTFOLIO,
    )
    people["rm_a"].roles.add(viewer)
    rm = User.objects.get(pk=people["rm_a"].pk)
    assert [p.code for p in Portfolio.objects.visible_to(rm)] == [mine.code]
    # A model with a unit but no portfolio: a portfolio-scoped actor sees their own unit only.
    assert usernames(User.objects.visible_to(rm)) == ["bm.a", "rm.a", "rm.a2"]
    # The branch manager sees every portfolio of branch A, none of B.
    assert sorted(p.code for p in Portfolio.objects.visible_to(people["bm_a"])) == ["PA1", "PA2"]


def test_portfolio_scope_fallback_is_own_unit_not_subtree(bank):
    viewer = RoleFactory(
        code="unit_reader", permissions=["access.view_user"], data_scope=Role.DataScope.PORTFOLIO
    )
    regional = UserFactory(username="pv.east", org_unit=bank.region, roles=[viewer])
    UserFactory(username="someone.a", org_unit=bank.branch_a)
    assert usernames(User.objects.visible_to(regional)) == ["pv.east"]


def test_unit_scoped_actor_without_unit_sees_nothing(bank):
    user = UserFactory(org_unit=None, roles=[role(Role.Code.BRANCH_MANAGER)])
    assert User.objects.visible_to(user).count() == 0


def test_api_tokens_follow_their_users_unit(people):
    reader = RoleFactory(
        code="token_reader", permissions=["access.view_apitoken"], data_scope=Role.DataScope.UNIT
    )
    people["bm_a"].roles.add(reader)
    bm_a = User.objects.get(pk=people["bm_a"].pk)
    token_a, _raw = services.api_token_create(actor=SYSTEM, user=people["rm_a"], name="A")
    services.api_token_create(actor=SYSTEM, user=people["rm_b"], name="B")
    assert list(ApiToken.objects.visible_to(bm_a)) == [token_a]


# --- Pages --------------------------------------------------------------------------------


def test_user_list_page_shows_own_branch_only(client, people):
    client.force_login(people["bm_a"])
    response = client.get(reverse("access:user_list"))
    assert response.status_code == 200
    assert [u.username for u in response.context["users"]] == ["bm.a", "rm.a", "rm.a2"]
    assert b"rm.b" not in response.content


def test_user_list_page_forbidden_without_permission(client, people):
    client.force_login(people["rm_a"])
    assert client.get(reverse("access:user_list")).status_code == 403


def test_other_branch_user_page_is_404(client, people):
    client.force_login(people["bm_a"])
    assert client.get(reverse("access:user_detail", args=[people["rm_b"].pk])).status_code == 404
    assert client.get(reverse("access:user_detail", args=[people["rm_a"].pk])).status_code == 200


def test_deactivating_outside_scope_is_404_and_changes_nothing(client, people):
    before = AuditEvent.objects.count()
    client.force_login(people["bm_a"])
    url = reverse("access:user_deactivate", args=[people["rm_b"].pk])
    assert client.post(url, {"reason": "leaving"}).status_code == 404
    # Branch managers may view but not change users: 404 on their own branch too.
    url_a = reverse("access:user_deactivate", args=[people["rm_a"].pk])
    assert client.post(url_a, {"reason": "leaving"}).status_code == 404
    assert User.objects.filter(username__in=["rm.a", "rm.b"], is_active=True).count() == 2
    assert AuditEvent.objects.count() == before


def test_administrator_deactivates_with_reason(client, people):
    admin = people["ho_admin"]
    admin.mfa_enabled = True
    admin.save()
    client.force_login(admin)
    url = reverse("access:user_deactivate", args=[people["rm_b"].pk])
    response = client.post(url, {"reason": ""})
    assert response.status_code == 400
    assert "reason" in response.context["form"].errors
    assert User.objects.get(pk=people["rm_b"].pk).is_active is True
    response = client.post(url, {"reason": "Left the bank"})
    assert response.status_code == 302
    assert User.objects.get(pk=people["rm_b"].pk).is_active is False
    event = AuditEvent.objects.filter(action="access.user_deactivate").get()
    assert (event.actor, event.object_pk, event.reason) == (
        "admin.ho",
        str(people["rm_b"].pk),
        "Left the bank",
    )
    assert (event.before["is_active"], event.after["is_active"]) == (True, False)


def test_unit_page_is_scoped(client, people):
    client.force_login(people["bm_a"])
    response = client.get(reverse("access:org_unit_list"))
    assert [u.code for u in response.context["units"]] == ["BR-A"]


def test_service_refuses_out_of_scope_change(people):
    from django.core.exceptions import PermissionDenied

    manager_role = RoleFactory(
        code="user_admin_unit",
        permissions=["access.change_user", "access.view_user"],
        data_scope=Role.DataScope.UNIT,
    )
    people["bm_a"].roles.add(manager_role)
    bm_a = User.objects.get(pk=people["bm_a"].pk)
    with pytest.raises(PermissionDenied):
        services.user_deactivate(actor=bm_a, user=people["rm_b"], reason="x")
    assert User.objects.get(pk=people["rm_b"].pk).is_active is True
    services.user_deactivate(actor=bm_a, user=people["rm_a"], reason="moved away")
    assert User.objects.get(pk=people["rm_a"].pk).is_active is False
