import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.access import services
from bankcrm.access.models import Portfolio, Role, User
from bankcrm.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, UserFactory

from .conftest import SYSTEM, role, staff

pytestmark = pytest.mark.django_db

GOOD_PASSWORD = "Ledger-Balance-77"


def test_create_user_with_roles_as_system(bank):
    user = services.user_create(
        actor=SYSTEM,
        username="li.na",
        password=GOOD_PASSWORD,
        org_unit=bank.branch_a,
        roles=[role(Role.Code.LOAN_OFFICER)],
        email="li.na@bank.example",
        first_name="Na",
        last_name="Li",
        language="zh-hans",
        timezone="Asia/Shanghai",
    )
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD) is True
    assert user.password_changed_at is not None
    assert user.must_change_password is True
    assert list(user.roles.values_list("code", flat=True)) == ["loan_officer"]
    created = AuditEvent.objects.get(action="access.user_create")
    assert created.changed_secrets == ["password"]
    assert GOOD_PASSWORD not in str(created.after)
    assert created.after["org_unit"] == "BR-A"
    granted = AuditEvent.objects.get(action="access.user_roles_set")
    assert (granted.before, granted.after) == ({"roles": []}, {"roles": ["loan_officer"]})


@pytest.mark.parametrize(
    ("password", "codes"),
    [
        ("short1A!", {"password_too_short"}),
        ("alllowercaseletters", {"password_too_simple"}),
        (
            "123456789012345",
            {"password_entirely_numeric", "password_too_simple"},
        ),
        ("password1234", {"password_too_common", "password_too_simple"}),
    ],
)
def test_password_policy_errors_are_named(bank, password, codes):
    with pytest.raises(ValidationError) as exc:
        services.user_create(actor=SYSTEM, username="x", password=password, org_unit=bank.branch_a)
    assert list(exc.value.error_dict) == ["password"]
    assert {error.code for error in exc.value.error_dict["password"]} == codes
    assert not User.objects.filter(username="x").exists()


def test_bad_fields_are_each_named_and_nothing_created(bank):
    UserFactory(username="taken")
    with pytest.raises(ValidationError) as exc:
        services.user_create(
            actor=SYSTEM,
            username="TAKEN",
            password=GOOD_PASSWORD,
            org_unit=bank.branch_a,
            email="not-an-email",
            language="fr",
            timezone="Mars/Olympus",
        )
    assert sorted(exc.value.message_dict) == ["email", "language", "timezone", "username"]
    assert User.objects.count() == 1


def test_people_cannot_set_roles_directly(bank):
    admin = staff("admin", bank.head_office, Role.Code.ADMINISTRATOR)
    target = staff("target", bank.branch_a)
    with pytest.raises(PermissionDenied):
        services.user_roles_set(
            actor=admin, user=target, roles=[role(Role.Code.AUDITOR)], reason="x"
        )
    assert target.roles.count() == 0


def test_preferences_validated_and_audited(bank):
    user = staff("pref", bank.branch_a)
    with pytest.raises(ValidationError) as exc:
        services.user_preferences_update(actor=user, language="xx", timezone="Nowhere/City")
    assert exc.value.message_dict == {"language": ["xx is not a language of bankcrm."]}
    with pytest.raises(ValidationError) as exc:
        services.user_preferences_update(actor=user, timezone="Nowhere/City")
    assert exc.value.message_dict == {"timezone": ["Nowhere/City is not a known time zone."]}
    services.user_preferences_update(actor=user, language="zh-hans", timezone="Asia/Shanghai")
    stored = User.objects.get(pk=user.pk)
    assert (stored.language, stored.timezone) == ("zh-hans", "Asia/Shanghai")
    event = AuditEvent.objects.get(action="access.user_preferences_update")
    assert event.after == {"language": "zh-hans", "timezone": "Asia/Shanghai"}


def test_password_set_records_date_and_rejects_reuse(bank):
    user = staff("pw", bank.branch_a)
    with pytest.raises(ValidationError) as exc:
        services.user_password_set(actor=user, user=user, password=DEFAULT_PASSWORD)
    assert "password" in exc.value.message_dict
    services.user_password_set(actor=user, user=user, password=GOOD_PASSWORD)
    stored = User.objects.get(pk=user.pk)
    assert stored.check_password(GOOD_PASSWORD) is True
    assert stored.password_changed_at is not None
    event = AuditEvent.objects.get(action="access.user_password_set")
    assert event.changed_secrets == ["password"]
    assert event.actor == "pw"


def test_someone_else_cannot_set_a_password_without_permission(bank):
    user = staff("victim", bank.branch_a)
    other = staff("other", bank.branch_a, Role.Code.BRANCH_MANAGER)
    with pytest.raises(PermissionDenied):
        services.user_password_set(actor=other, user=user, password=GOOD_PASSWORD)
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD) is True


def test_portfolio_create_and_reassign(bank):
    bm = staff("bm", bank.branch_a, Role.Code.BRANCH_MANAGER)
    rm1 = staff("rm1", bank.branch_a, Role.Code.RELATIONSHIP_MANAGER)
    rm2 = staff("rm2", bank.branch_a, Role.Code.RELATIONSHIP_MANAGER)
    rm_b = staff("rmb", bank.branch_b, Role.Code.RELATIONSHIP_MANAGER)
    portfolio = services.portfolio_create(actor=bm, code="PF1", name="Retail A", manager=rm1)
    assert (portfolio.org_unit, portfolio.manager) == (bank.branch_a, rm1)
    with pytest.raises(PermissionDenied):
        services.portfolio_create(actor=bm, code="PF2", name="Retail B", manager=rm_b)
    assert not Portfolio.objects.filter(code="PF2").exists()
    services.portfolio_reassign(actor=bm, portfolio=portfolio, manager=rm2, reason="rm1 on leave")
    assert Portfolio.objects.get(code="PF1").manager == rm2
    event = AuditEvent.objects.get(action="access.portfolio_reassign")
    assert (event.before["manager"], event.after["manager"], event.reason) == (
        "rm1",
        "rm2",
        "rm1 on leave",
    )
