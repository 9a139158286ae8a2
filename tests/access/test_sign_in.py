"""Sign-in: lockout, two-factor enrolment and verification, password expiry, idle sessions."""

import datetime as dt

import pyotp
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from bankcrm.access import services
from bankcrm.access.models import MfaDevice, Role, User
from bankcrm.audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD

from .conftest import frozen_now, staff

pytestmark = pytest.mark.django_db

LOGIN = "/access/login/"
GENERIC = (
    "Sign-in failed. Check your username and password; after repeated failures the "
    "account is locked for a while."
)


def sign_in(client, username, password=DEFAULT_PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password, **extra})


def actions_for(user):
    return list(
        AuditEvent.objects.filter(object_type="access.user", object_pk=str(user.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )


def is_signed_in(client):
    return "_auth_user_id" in client.session


def enrol(user):
    """Give ``user`` a confirmed authenticator; returns its secret."""
    secret = services.user_mfa_enrollment_begin(actor=user)
    # Confirm with a code of two steps ago, so the current code is still unused in the test.
    earlier = timezone.now() - dt.timedelta(seconds=60)
    with frozen_now(earlier):
        services.user_mfa_enrollment_confirm(actor=user, code=pyotp.TOTP(secret).at(earlier))
    return secret


def test_successful_sign_in_is_audited(client, bank):
    user = staff("rm", bank.branch_a, Role.Code.RELATIONSHIP_MANAGER)
    response = sign_in(client, "rm")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    assert is_signed_in(client)
    event = AuditEvent.objects.filter(action="auth.login").get()
    assert (event.actor, event.object_pk, event.after) == ("rm", str(user.pk), {"mfa": False})


def test_wrong_password_and_unknown_user_get_the_same_message(client, bank):
    staff("rm", bank.branch_a, first_name="", last_name="")
    wrong = sign_in(client, "rm", "Not-The-Password-1")
    unknown = sign_in(client, "nobody", "Not-The-Password-1")
    assert wrong.status_code == unknown.status_code == 200
    assert wrong.context["form"].non_field_errors() == [GENERIC]
    assert unknown.context["form"].non_field_errors() == [GENERIC]
    assert not is_signed_in(client)
    failed = AuditEvent.objects.filter(action="auth.login_failed").order_by("id")
    assert [(e.object_repr, e.after["reason"]) for e in failed] == [
        ("rm", "password"),
        ("nobody", "unknown_user"),
    ]


def test_lockout_after_repeated_failures_then_unlock_after_time(client, bank, settings, now):
    settings.LOGIN_MAX_FAILURES = 3
    settings.LOGIN_LOCKOUT_MINUTES = 15
    user = staff("teller", bank.branch_a)
    with frozen_now(now):
        for _attempt in range(3):
            response = sign_in(client, "teller", "Wrong-Password-99")
            assert response.context["form"].non_field_errors() == [GENERIC]
        locked = User.objects.get(pk=user.pk)
        assert locked.locked_until == now + dt.timedelta(minutes=15)
        # The right password does not open a locked account, and the message stays generic.
        response = sign_in(client, "teller")
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [GENERIC]
        assert not is_signed_in(client)
    with frozen_now(now + dt.timedelta(minutes=14, seconds=59)):
        assert sign_in(client, "teller").status_code == 200
        assert not is_signed_in(client)
    with frozen_now(now + dt.timedelta(minutes=15, seconds=1)):
        response = sign_in(client, "teller")
        assert response.status_code == 302
        assert is_signed_in(client)
    user.refresh_from_db()
    assert (user.failed_login_count, user.locked_until) == (0, None)
    assert actions_for(user) == [
        "auth.login_failed",
        "auth.login_failed",
        "auth.login_failed",
        "auth.locked",
        "auth.login_failed",
        "auth.login_failed",
        "auth.login",
    ]


def test_inactive_account_gets_the_generic_message(client, bank):
    staff("gone", bank.branch_a, is_active=False)
    response = sign_in(client, "gone")
    assert response.context["form"].non_field_errors() == [GENERIC]
    assert not is_signed_in(client)


def test_next_must_stay_on_this_site(client, bank):
    staff("rm", bank.branch_a)
    response = sign_in(client, "rm", next="https://evil.example/")
    assert response["Location"] == reverse("web:home")
    client.logout()
    response = sign_in(client, "rm", next="/access/profile/")
    assert response["Location"] == "/access/profile/"


def test_sign_out_is_audited_and_needs_post(client, bank):
    user = staff("rm", bank.branch_a)
    client.force_login(user)
    assert client.get(reverse("access:logout")).status_code == 200
    assert is_signed_in(client)
    response = client.post(reverse("access:logout"))
    assert response.status_code == 302
    assert not is_signed_in(client)
    assert actions_for(user) == ["auth.logout"]


# --- Two-factor authentication ------------------------------------------------------------


def test_administrator_is_forced_to_enrol_before_anything_else(client, bank):
    admin = staff("admin", bank.head_office, Role.Code.ADMINISTRATOR)
    assert sign_in(client, "admin").status_code == 302
    setup = reverse("access:mfa_setup") + "?required=1"
    for url in (reverse("web:home"), reverse("access:profile"), reverse("access:user_list")):
        response = client.get(url)
        assert (response.status_code, response["Location"]) == (302, setup)
    # HTMX requests are told to navigate instead of swapping the page into a fragment.
    response = client.get(reverse("access:profile"), headers={"HX-Request": "true"})
    assert (response.status_code, response["HX-Redirect"]) == (204, setup)
    # API paths are never redirected by the sign-in policy.
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200

    page = client.get(setup)
    assert page.status_code == 200
    assert page.context["forced"] is True
    assert b'src="data:image/svg+xml' in page.content
    secret = MfaDevice.objects.get(user=admin).secret
    assert "".join(page.context["secret_groups"]) == secret
    # The same pending secret on reload.
    client.get(setup)
    assert MfaDevice.objects.get(user=admin).secret == secret

    response = client.post(reverse("access:mfa_setup"), {"code": "000000"})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "The code is not correct. Enter the current code."
    ]
    assert User.objects.get(pk=admin.pk).mfa_enabled is False

    response = client.post(reverse("access:mfa_setup"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    assert User.objects.get(pk=admin.pk).mfa_enabled is True
    assert client.get(reverse("access:profile")).status_code == 200
    assert "auth.mfa_enabled" in actions_for(admin)


def test_totp_secret_is_encrypted_at_rest(bank):
    user = staff("co", bank.head_office, Role.Code.COMPLIANCE_OFFICER)
    secret = services.user_mfa_enrollment_begin(actor=user)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT secret FROM {MfaDevice._meta.db_table} WHERE user_id = %s", [user.pk]
        )
        (stored,) = cursor.fetchone()
    assert secret not in stored
    assert len(secret) == 32
    event = AuditEvent.objects.get(action="auth.mfa_enrollment_begin")
    assert secret not in str(event.after) and event.changed_secrets == ["mfa_secret"]


def test_enrolled_user_needs_the_code_and_a_code_works_once(client, bank):
    user = staff("au", bank.head_office, Role.Code.AUDITOR)
    secret = enrol(user)

    response = sign_in(client, "au")
    assert response["Location"] == reverse("access:mfa_verify")
    assert not is_signed_in(client)
    # Half-signed-in: pages still ask for sign-in.
    assert client.get(reverse("access:profile"))["Location"].startswith(LOGIN)

    code = pyotp.TOTP(secret).now()
    response = client.post(reverse("access:mfa_verify"), {"code": code})
    assert response.status_code == 302
    assert is_signed_in(client)
    assert AuditEvent.objects.filter(action="auth.login").get().after == {"mfa": True}

    # Replaying the same code (same 30-second step) is refused.
    client.post(reverse("access:logout"))
    sign_in(client, "au")
    response = client.post(reverse("access:mfa_verify"), {"code": code})
    assert response.status_code == 200
    assert response.context["form"].errors["code"] == [
        "The code is not correct, or it was already used."
    ]
    assert not is_signed_in(client)

    # The next step's code is accepted.
    later = timezone.now() + dt.timedelta(seconds=60)
    with frozen_now(later):
        response = client.post(reverse("access:mfa_verify"), {"code": pyotp.TOTP(secret).at(later)})
    assert response.status_code == 302
    assert is_signed_in(client)


def test_wrong_codes_count_towards_lockout(client, bank, settings):
    settings.LOGIN_MAX_FAILURES = 2
    user = staff("co", bank.head_office, Role.Code.COMPLIANCE_OFFICER)
    secret = enrol(user)
    sign_in(client, "co")
    client.post(reverse("access:mfa_verify"), {"code": "000000"})
    client.post(reverse("access:mfa_verify"), {"code": "000001"})
    assert User.objects.get(pk=user.pk).locked_until is not None
    response = client.post(reverse("access:mfa_verify"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    assert not is_signed_in(client)


def test_mfa_reset_by_administrator(bank):
    admin = staff("admin", bank.head_office, Role.Code.ADMINISTRATOR)
    user = staff("co", bank.head_office, Role.Code.COMPLIANCE_OFFICER)
    enrol(user)
    services.user_mfa_reset(actor=admin, user=user, reason="Lost phone")
    assert User.objects.get(pk=user.pk).mfa_enabled is False
    assert not MfaDevice.objects.filter(user=user).exists()


# --- Passwords ----------------------------------------------------------------------------


def test_expired_password_forces_a_change(client, bank, now):
    user = staff(
        "old",
        bank.branch_a,
        password_changed_at=now - dt.timedelta(days=settings.PASSWORD_MAX_AGE_DAYS + 1),
    )
    sign_in(client, "old")
    response = client.get(reverse("access:profile"))
    assert (response.status_code, response["Location"]) == (302, reverse("access:password_change"))
    page = client.get(reverse("access:password_change"))
    assert page.context["reason"] == (
        "Your password has expired. Choose a new one before you continue."
    )
    response = client.post(
        reverse("access:password_change"),
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password1": "Fresh-Vault-2468",
            "new_password2": "Fresh-Vault-2468",
        },
    )
    assert response.status_code == 302
    # Still signed in after the change, and free to go on.
    assert client.get(reverse("access:profile")).status_code == 200
    assert User.objects.get(pk=user.pk).check_password("Fresh-Vault-2468")


def test_must_change_password_forces_a_change(client, bank):
    staff("new", bank.branch_a, must_change_password=True)
    sign_in(client, "new")
    response = client.get(reverse("web:home"))
    assert response["Location"] == reverse("access:password_change")


def test_password_change_shows_policy_errors_in_place(client, bank):
    user = staff("pw", bank.branch_a)
    client.force_login(user)
    response = client.post(
        reverse("access:password_change"),
        {"old_password": "wrong", "new_password1": "short", "new_password2": "short"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["old_password"] == [
        "The current password is not correct."
    ]
    response = client.post(
        reverse("access:password_change"),
        {"old_password": DEFAULT_PASSWORD, "new_password1": "short", "new_password2": "short"},
    )
    errors = response.context["form"].errors["new_password1"]
    assert "This password is too short. It must contain at least 12 characters." in errors
    assert b'aria-invalid="true"' in response.content
    assert User.objects.get(pk=user.pk).check_password(DEFAULT_PASSWORD)


def test_preferences_page_saves_and_sets_language(client, bank):
    user = staff("pref", bank.branch_a)
    client.force_login(user)
    response = client.post(
        reverse("access:profile"), {"language": "zh-hans", "timezone": "Asia/Shanghai"}
    )
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    stored = User.objects.get(pk=user.pk)
    assert (stored.language, stored.timezone) == ("zh-hans", "Asia/Shanghai")
    response = client.post(reverse("access:profile"), {"language": "en", "timezone": "Moon/Base"})
    assert response.status_code == 200
    assert "timezone" in response.context["form"].errors
    assert User.objects.get(pk=user.pk).timezone == "Asia/Shanghai"


# --- Idle sessions ------------------------------------------------------------------------


def test_idle_session_expires_and_active_one_slides(client, bank, now):
    idle = dt.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    user = staff("idle", bank.branch_a)
    profile = reverse("access:profile")
    with frozen_now(now):
        client.force_login(user)
        assert client.get(profile).status_code == 200
    # Active: a request before the idle limit pushes the expiry forward.
    with frozen_now(now + idle - dt.timedelta(minutes=1)):
        assert client.get(profile).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    assert session.expire_date == now + 2 * idle - dt.timedelta(minutes=1)
    with frozen_now(now + idle + dt.timedelta(minutes=5)):
        assert client.get(profile).status_code == 200
    # Idle: nothing for longer than the limit, and the session is gone.
    with frozen_now(now + 3 * idle + dt.timedelta(minutes=10)):
        response = client.get(profile)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
