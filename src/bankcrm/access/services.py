"""Changes to users, roles, org units, portfolios, sign-in state and API tokens.

Every write is checked against the actor's permissions and scope, runs in one transaction
and is recorded in the audit trail. Secrets (passwords, TOTP secrets, API token secrets) are
named in ``changed_secrets`` and their values never stored in the trail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor, is_system

from . import mfa
from .models import ApiToken, MfaDevice, OrgUnit, Portfolio, Role, User
from .permissions import actor_access_cache_clear, actor_perm_scope

ROLES_SET_ACTION = "access.roles_set"
ROLES_GRANT_PERMISSION = "access.grant_role"
API_TOKEN_PREFIX = "bk_"
# last_used_at is refreshed at most this often, so busy integrations do not write per call.
API_TOKEN_TOUCH_INTERVAL = dt.timedelta(minutes=1)
_LANGUAGE_CODES = {code for code, _label in settings.LANGUAGES}


# --- Permission checks --------------------------------------------------------------------


def _require_perm(actor: Any, permission: str) -> str:
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        raise PermissionDenied(
            _("You do not have the permission %(permission)s.") % {"permission": permission}
        )
    return scope


def _require_in_scope(actor: Any, permission: str, obj: models.Model) -> None:
    """The actor holds ``permission`` and ``obj`` lies within the scope it is held under."""
    scope = _require_perm(actor, permission)
    manager = type(obj)._default_manager
    if not manager.all().within_scope(actor, scope).filter(pk=obj.pk).exists():  # type: ignore[attr-defined]
        raise PermissionDenied(_("This record is outside your part of the bank."))


def _require_unit_in_scope(actor: Any, permission: str, unit: OrgUnit) -> None:
    """The actor may place things under ``unit`` with ``permission``'s scope."""
    scope = _require_perm(actor, permission)
    if not OrgUnit.objects.all().within_scope(actor, scope).filter(pk=unit.pk).exists():
        raise PermissionDenied(_("This unit is outside your part of the bank."))


# --- Validation errors --------------------------------------------------------------------
# Each message carries a stable code, so the API's problem+json and the forms name it alike.


def _invalid(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


class _Errors:
    """Collects every bad field of one call, so the caller hears about all of them at once."""

    def __init__(self) -> None:
        self.by_field: dict[str, list[ValidationError]] = {}

    def add(self, field: str, message: str, code: str) -> None:
        self.by_field.setdefault(field, []).append(ValidationError(message, code=code))

    def merge(self, exc: ValidationError) -> None:
        for field, errors in exc.error_dict.items():
            self.by_field.setdefault(field, []).extend(errors)

    def raise_if_any(self) -> None:
        if self.by_field:
            raise ValidationError(self.by_field)


# --- Audit snapshots ----------------------------------------------------------------------


def _unit_snapshot(unit: OrgUnit) -> dict[str, Any]:
    return {
        "code": unit.code,
        "name": unit.name,
        "kind": unit.kind,
        "parent": unit.parent.code if unit.parent_id and unit.parent else None,
        "path": unit.path,
        "is_active": unit.is_active,
    }


def _user_snapshot(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "org_unit": user.org_unit.code if user.org_unit_id and user.org_unit else None,
        "is_active": user.is_active,
        "language": user.language,
        "timezone": user.timezone,
        "must_change_password": user.must_change_password,
        "mfa_enabled": user.mfa_enabled,
    }


def _portfolio_snapshot(portfolio: Portfolio) -> dict[str, Any]:
    return {
        "code": portfolio.code,
        "name": portfolio.name,
        "manager": portfolio.manager.username,
        "org_unit": portfolio.org_unit.code,
        "is_active": portfolio.is_active,
    }


def _role_codes(user: User) -> list[str]:
    return sorted(user.roles.values_list("code", flat=True))


# --- Org units ----------------------------------------------------------------------------


@transaction.atomic
def org_unit_create(
    *, actor: Any, code: str, name: str, kind: str, parent: OrgUnit | None = None
) -> OrgUnit:
    """Open a unit (head office, region, branch, department) under ``parent``."""
    if parent is None:
        _require_perm(actor, "access.add_orgunit")
        if actor_perm_scope(actor, "access.add_orgunit") != Role.DataScope.BANK:
            raise PermissionDenied(_("Only a bank-wide role may open a top-level unit."))
    else:
        _require_unit_in_scope(actor, "access.add_orgunit", parent)
    code = (code or "").strip()
    name = (name or "").strip()
    errors = _Errors()
    if not code:
        errors.add("code", _("Enter a code."), "required")
    elif OrgUnit.objects.filter(code=code).exists():
        errors.add(
            "code",
            _("A unit with the code %(code)s already exists.") % {"code": code},
            "org_unit_code_taken",
        )
    if not name:
        errors.add("name", _("Enter a name."), "required")
    if kind not in OrgUnit.Kind.values:
        errors.add("kind", _("Choose a valid kind of unit."), "org_unit_kind_invalid")
    errors.raise_if_any()
    unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent)
    # The path holds the unit's own key, known only after the insert.
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.save(update_fields=["path"])
    audit_record(
        actor=actor, action="access.org_unit_create", target=unit, after=_unit_snapshot(unit)
    )
    return unit


@transaction.atomic
def org_unit_update(
    *, actor: Any, unit: OrgUnit, name: str | None = None, is_active: bool | None = None
) -> OrgUnit:
    """Rename a unit or mark it (in)active."""
    _require_in_scope(actor, "access.change_orgunit", unit)
    unit = OrgUnit.objects.select_for_update().get(pk=unit.pk)
    before = _unit_snapshot(unit)
    if name is not None:
        if not name.strip():
            raise _invalid("name", _("Enter a name."), "required")
        unit.name = name.strip()
    if is_active is not None:
        unit.is_active = is_active
    unit.save(update_fields=["name", "is_active", "updated_at"])
    audit_record(
        actor=actor,
        action="access.org_unit_update",
        target=unit,
        before=before,
        after=_unit_snapshot(unit),
    )
    return unit


@transaction.atomic
def org_unit_move(*, actor: Any, unit: OrgUnit, new_parent: OrgUnit, reason: str = "") -> OrgUnit:
    """Move a unit and everything below it under ``new_parent``."""
    _require_in_scope(actor, "access.change_orgunit", unit)
    _require_unit_in_scope(actor, "access.change_orgunit", new_parent)
    unit = OrgUnit.objects.select_for_update().get(pk=unit.pk)
    new_parent = OrgUnit.objects.get(pk=new_parent.pk)
    if new_parent.path.startswith(unit.path):
        raise _invalid(
            "parent",
            _("A unit cannot be moved under itself or one of its own units."),
            "org_unit_move_cycle",
        )
    before = _unit_snapshot(unit)
    old_path = unit.path
    new_path = f"{new_parent.path}{unit.pk}/"
    # One UPDATE rewrites the prefix of the whole subtree (portable: Concat and Substr).
    OrgUnit.objects.filter(path__startswith=old_path).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1)),
        updated_at=timezone.now(),
    )
    OrgUnit.objects.filter(pk=unit.pk).update(parent=new_parent)
    unit.refresh_from_db()
    audit_record(
        actor=actor,
        action="access.org_unit_move",
        target=unit,
        before=before,
        after=_unit_snapshot(unit),
        reason=reason,
    )
    return unit


# --- Users --------------------------------------------------------------------------------


def _validate_language(language: str) -> None:
    if language and language not in _LANGUAGE_CODES:
        raise _invalid(
            "language",
            _("%(value)s is not a language of bankcrm.") % {"value": language},
            "language_unknown",
        )


def _validate_timezone(name: str) -> None:
    if not name:
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _invalid(
            "timezone",
            _("%(value)s is not a known time zone.") % {"value": name},
            "timezone_unknown",
        ) from None


def _validate_new_password(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from None


@transaction.atomic
def user_create(
    *,
    actor: Any,
    username: str,
    password: str,
    org_unit: OrgUnit,
    roles: Iterable[Role] = (),
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    language: str = "",
    timezone: str = "",
    must_change_password: bool = True,
    roles_reason: str = "",
) -> User:
    """Open a staff account in ``org_unit``.

    The system (bootstrap, commands) gives ``roles`` at once; when a person creates the
    account, the roles are requested for a second person's approval (maker-checker).
    """
    _require_unit_in_scope(actor, "access.add_user", org_unit)
    username = (username or "").strip()
    errors = _Errors()
    if not username:
        errors.add("username", _("Enter a username."), "required")
    elif User.objects.filter(username__iexact=username).exists():
        errors.add(
            "username",
            _("The username %(username)s is already taken.") % {"username": username},
            "username_taken",
        )
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.add("email", _("Enter a valid e-mail address."), "email_invalid")
    for check in (lambda: _validate_language(language), lambda: _validate_timezone(timezone)):
        try:
            check()
        except ValidationError as exc:
            errors.merge(exc)
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        org_unit=org_unit,
        language=language,
        timezone=timezone,
        must_change_password=must_change_password,
    )
    try:
        _validate_new_password(password, user)
    except ValidationError as exc:
        errors.merge(exc)
    errors.raise_if_any()
    user.set_password(password)
    user.password_changed_at = timezone_now()
    user.save()
    audit_record(
        actor=actor,
        action="access.user_create",
        target=user,
        after=_user_snapshot(user),
        changed_secrets=["password"],
    )
    roles = list(roles)
    if roles:
        if is_system(actor):
            _roles_apply(actor=actor, user=user, roles=roles, reason=roles_reason)
        else:
            user_roles_change_request(
                actor=actor,
                user=user,
                roles=roles,
                reason=roles_reason
                or _("Roles for the new account %(username)s") % {"username": username},
            )
    return user


def timezone_now() -> dt.datetime:
    return timezone.now()


@transaction.atomic
def user_update(
    *,
    actor: Any,
    user: User,
    email: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    org_unit: OrgUnit | None = None,
    reason: str = "",
) -> User:
    """Change a user's name, e-mail or unit."""
    _require_in_scope(actor, "access.change_user", user)
    if org_unit is not None:
        _require_unit_in_scope(actor, "access.change_user", org_unit)
    user = User.objects.select_for_update().get(pk=user.pk)
    before = _user_snapshot(user)
    if email is not None:
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise _invalid(
                    "email", _("Enter a valid e-mail address."), "email_invalid"
                ) from None
        user.email = email
    if first_name is not None:
        user.first_name = first_name
    if last_name is not None:
        user.last_name = last_name
    if org_unit is not None:
        user.org_unit = org_unit
    user.save(update_fields=["email", "first_name", "last_name", "org_unit"])
    audit_record(
        actor=actor,
        action="access.user_update",
        target=user,
        before=before,
        after=_user_snapshot(user),
        reason=reason,
    )
    return user


@transaction.atomic
def user_deactivate(*, actor: Any, user: User, reason: str) -> User:
    """Close a user's access: sign-in, open sessions and API tokens stop working."""
    _require_in_scope(actor, "access.change_user", user)
    if not is_system(actor) and actor.pk == user.pk:
        raise PermissionDenied(_("You cannot deactivate your own account."))
    if not (reason or "").strip():
        raise _invalid("reason", _("Give a reason."), "reason_required")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = _user_snapshot(user)
    user.is_active = False
    user.save(update_fields=["is_active"])
    now = timezone.now()
    ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=now)
    audit_record(
        actor=actor,
        action="access.user_deactivate",
        target=user,
        before=before,
        after=_user_snapshot(user),
        reason=reason,
    )
    return user


@transaction.atomic
def user_password_set(
    *, actor: Any, user: User, password: str, must_change_password: bool = False
) -> User:
    """Set a new password (checked against the bank's policy).

    A user sets their own; an administrator setting someone else's normally passes
    ``must_change_password=True`` so the user picks their own at next sign-in.
    """
    if is_system(actor) or getattr(actor, "pk", None) != user.pk:
        _require_in_scope(actor, "access.change_user", user)
    locked = User.objects.select_for_update().get(pk=user.pk)
    _validate_new_password(password, locked)
    if locked.check_password(password):
        raise _invalid(
            "password", _("The new password must differ from the current one."), "password_reused"
        )
    locked.set_password(password)
    locked.password_changed_at = timezone.now()
    locked.must_change_password = must_change_password
    locked.save(update_fields=["password", "password_changed_at", "must_change_password"])
    audit_record(
        actor=actor,
        action="access.user_password_set",
        target=locked,
        after={"must_change_password": must_change_password},
        changed_secrets=["password"],
    )
    # Keep the caller's object (often request.user) in step with the row.
    user.password = locked.password
    user.password_changed_at = locked.password_changed_at
    user.must_change_password = locked.must_change_password
    return user


@transaction.atomic
def user_preferences_update(
    *, actor: Any, language: str | None = None, timezone: str | None = None
) -> User:
    """The signed-in user chooses their language and time zone."""
    if is_system(actor) or not isinstance(actor, User):
        raise PermissionDenied(_("Only a signed-in user has preferences."))
    if language is not None:
        _validate_language(language)
    if timezone is not None:
        _validate_timezone(timezone)
    user = User.objects.select_for_update().get(pk=actor.pk)
    before = {"language": user.language, "timezone": user.timezone}
    if language is not None:
        user.language = language
    if timezone is not None:
        user.timezone = timezone
    user.save(update_fields=["language", "timezone"])
    audit_record(
        actor=actor,
        action="access.user_preferences_update",
        target=user,
        before=before,
        after={"language": user.language, "timezone": user.timezone},
    )
    actor.language, actor.timezone = user.language, user.timezone
    return user


# --- Roles (maker-checker) ----------------------------------------------------------------


def _roles_apply(*, actor: Any, user: User, roles: Iterable[Role], reason: str) -> User:
    roles = list(roles)
    before = _role_codes(user)
    user.roles.set(roles)
    actor_access_cache_clear(user)
    audit_record(
        actor=actor,
        action="access.user_roles_set",
        target=user,
        before={"roles": before},
        after={"roles": sorted(role.code for role in roles)},
        reason=reason,
    )
    return user


@transaction.atomic
def user_roles_set(*, actor: SystemActor, user: User, roles: Iterable[Role], reason: str) -> User:
    """Give ``user`` exactly ``roles`` at once: for the system only (bootstrap, createuser).

    People change roles through ``user_roles_change_request`` and a second person's approval.
    """
    if not is_system(actor):
        raise PermissionDenied(_("Roles are granted through an approval request, not directly."))
    return _roles_apply(actor=actor, user=user, roles=roles, reason=reason)


def _roles_by_codes(codes: Iterable[str]) -> list[Role]:
    codes = sorted(set(codes))
    roles = list(Role.objects.filter(code__in=codes, is_active=True))
    missing = sorted(set(codes) - {role.code for role in roles})
    if missing:
        raise _invalid(
            "roles",
            _("Unknown or inactive roles: %(codes)s") % {"codes": ", ".join(missing)},
            "role_unknown",
        )
    return roles


@transaction.atomic
def user_roles_change_request(*, actor: Any, user: User, roles: Iterable[Role], reason: str) -> Any:
    """Propose that ``user`` gets exactly ``roles``; applied when a second person approves."""
    from bankcrm.core.services import approval_request

    _require_in_scope(actor, "access.change_user", user)
    _require_perm(actor, ROLES_GRANT_PERMISSION)
    codes = sorted({role.code for role in roles})
    _roles_by_codes(codes)
    if not (reason or "").strip():
        raise _invalid("reason", _("Give a reason."), "reason_required")
    return approval_request(
        actor=actor,
        action=ROLES_SET_ACTION,
        payload={"user_pk": user.pk, "username": user.username, "roles": codes},
        reason=reason,
        target=user,
    )


def roles_set_approved(*, actor: Any, payload: dict[str, Any], approval: Any) -> User:
    """Approval handler of ``access.roles_set``: the checker's approval applies the roles."""
    user = User.objects.select_for_update().filter(pk=payload.get("user_pk")).first()
    if user is None:
        raise _invalid("user", _("The user does not exist any more."), "user_missing")
    _require_in_scope(actor, "access.change_user", user)
    roles = _roles_by_codes(payload.get("roles", []))
    return _roles_apply(
        actor=actor, user=user, roles=roles, reason=getattr(approval, "maker_reason", "") or ""
    )


def roles_set_payload_validate(payload: dict[str, Any]) -> None:
    """Check a roles request when it is made: the user exists and every role is known."""
    if not User.objects.filter(pk=payload.get("user_pk")).exists():
        raise _invalid("user", _("The user does not exist."), "user_missing")
    _roles_by_codes(payload.get("roles", []))


# --- Two-factor authentication ------------------------------------------------------------


@transaction.atomic
def user_mfa_enrollment_begin(*, actor: User) -> str:
    """Give the signed-in user a secret to enrol in an authenticator app; returns it.

    The pending secret is kept (encrypted) until confirmed, so reloading the page shows the
    same QR code.
    """
    user = User.objects.select_for_update().get(pk=actor.pk)
    if user.mfa_enabled:
        raise ValidationError(_("Two-factor authentication is already on."), code="mfa_already_on")
    device = MfaDevice.objects.select_for_update().filter(user=user).first()
    if device is None:
        device = MfaDevice(user=user, secret=mfa.totp_new_secret())
        device.save()
        audit_record(
            actor=actor,
            action="auth.mfa_enrollment_begin",
            target=user,
            changed_secrets=["mfa_secret"],
        )
    return str(device.secret)


@transaction.atomic
def user_mfa_enrollment_confirm(*, actor: User, code: str) -> User:
    """Turn two-factor sign-in on once the user proves their app shows the right code."""
    user = User.objects.select_for_update().get(pk=actor.pk)
    if user.mfa_enabled:
        raise ValidationError(_("Two-factor authentication is already on."), code="mfa_already_on")
    device = MfaDevice.objects.select_for_update().filter(user=user).first()
    now = timezone.now()
    step = (
        None
        if device is None
        else mfa.totp_match_step(str(device.secret), code, now=now, last_step=device.last_timestep)
    )
    if device is None or step is None:
        raise _invalid(
            "code", _("The code is not correct. Enter the current code."), "mfa_code_invalid"
        )
    device.last_timestep = step
    device.confirmed_at = now
    device.save(update_fields=["last_timestep", "confirmed_at", "updated_at"])
    user.mfa_enabled = True
    user.save(update_fields=["mfa_enabled"])
    audit_record(
        actor=actor,
        action="auth.mfa_enabled",
        target=user,
        before={"mfa_enabled": False},
        after={"mfa_enabled": True},
        changed_secrets=["mfa_secret"],
    )
    actor.mfa_enabled = True
    return user


@transaction.atomic
def user_mfa_reset(*, actor: Any, user: User, reason: str) -> User:
    """Switch a user's two-factor sign-in off (lost phone); they enrol again at next sign-in."""
    _require_in_scope(actor, "access.change_user", user)
    if not (reason or "").strip():
        raise _invalid("reason", _("Give a reason."), "reason_required")
    user = User.objects.select_for_update().get(pk=user.pk)
    before = {"mfa_enabled": user.mfa_enabled}
    MfaDevice.objects.filter(user=user).delete()
    user.mfa_enabled = False
    user.save(update_fields=["mfa_enabled"])
    audit_record(
        actor=actor,
        action="auth.mfa_reset",
        target=user,
        before=before,
        after={"mfa_enabled": False},
        changed_secrets=["mfa_secret"],
        reason=reason,
    )
    return user


# --- Sign-in ------------------------------------------------------------------------------
# Sign-in services run before anyone is signed in: the would-be user is the subject, and
# failures are recorded under the anonymous actor.


def _record_failure(user: User, *, reason: str, action_reason: str) -> None:
    """Count a failed step for a known user; lock the account after too many in a row."""
    now = timezone.now()
    user.failed_login_count += 1
    locked = user.failed_login_count >= settings.LOGIN_MAX_FAILURES
    if locked:
        user.locked_until = now + dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
        # The next lock needs a fresh run of failures after this one expires.
        user.failed_login_count = 0
    user.save(update_fields=["failed_login_count", "locked_until"])
    audit_record(
        actor=AnonymousUser(),
        action="auth.login_failed",
        target=user,
        after={"reason": reason},
        reason=action_reason,
    )
    if locked:
        audit_record(
            actor=SystemActor("sign-in"),
            action="auth.locked",
            target=user,
            after={"locked_until": user.locked_until},
        )


def _is_locked(user: User, now: dt.datetime) -> bool:
    return user.locked_until is not None and user.locked_until > now


@transaction.atomic
def user_sign_in_password(*, username: str, password: str) -> User | None:
    """Check a username and password; the user if both are right and the account is open.

    Unknown usernames, wrong passwords, locked, inactive and service accounts all answer
    None, so the caller can only show one message that reveals nothing.
    """
    now = timezone.now()
    username = (username or "").strip()
    user = User.objects.select_for_update().filter(username=username).first()
    if user is None:
        # Hash anyway so an unknown username takes as long as a known one.
        make_password(password)
        audit_record(
            actor=AnonymousUser(),
            action="auth.login_failed",
            object_type="access.user",
            object_repr=username[:150],
            after={"reason": "unknown_user"},
        )
        return None
    password_ok = user.check_password(password)
    if _is_locked(user, now):
        audit_record(
            actor=AnonymousUser(),
            action="auth.login_failed",
            target=user,
            after={"reason": "locked"},
        )
        return None
    if not password_ok:
        _record_failure(user, reason="password", action_reason="")
        return None
    if not user.is_active or user.is_service_account:
        _record_failure(
            user, reason="inactive" if not user.is_active else "service_account", action_reason=""
        )
        return None
    return user


@transaction.atomic
def user_sign_in_mfa(*, user: User, code: str) -> bool:
    """Check the second factor of a sign-in whose password was right."""
    now = timezone.now()
    locked = User.objects.select_for_update().get(pk=user.pk)
    device = MfaDevice.objects.select_for_update().filter(user=locked).first()
    if _is_locked(locked, now) or not locked.is_active or device is None:
        audit_record(
            actor=AnonymousUser(),
            action="auth.login_failed",
            target=locked,
            after={"reason": "locked" if _is_locked(locked, now) else "mfa_unavailable"},
        )
        return False
    step = mfa.totp_match_step(str(device.secret), code, now=now, last_step=device.last_timestep)
    if step is None:
        _record_failure(locked, reason="mfa_code", action_reason="")
        return False
    device.last_timestep = step
    device.save(update_fields=["last_timestep", "updated_at"])
    return True


@transaction.atomic
def user_sign_in_complete(*, user: User, mfa_used: bool) -> User:
    """Record a completed sign-in and clear the run of failures."""
    User.objects.filter(pk=user.pk).update(failed_login_count=0, locked_until=None)
    user.failed_login_count, user.locked_until = 0, None
    audit_record(actor=user, action="auth.login", target=user, after={"mfa": mfa_used})
    return user


def user_sign_out(*, actor: User) -> None:
    """Record that the user signed out."""
    audit_record(actor=actor, action="auth.logout", target=actor)


def user_password_expired(user: User, *, now: dt.datetime | None = None) -> bool:
    """Whether the password is older than the bank's maximum age.

    Accounts created through bankcrm always carry the date; a missing date (an account
    loaded from elsewhere) counts as not expired rather than locking everyone out.
    """
    if user.password_changed_at is None or settings.PASSWORD_MAX_AGE_DAYS <= 0:
        return False
    now = now or timezone.now()
    return user.password_changed_at + dt.timedelta(days=settings.PASSWORD_MAX_AGE_DAYS) <= now


# --- Portfolios ---------------------------------------------------------------------------


@transaction.atomic
def portfolio_create(
    *, actor: Any, code: str, name: str, manager: User, org_unit: OrgUnit | None = None
) -> Portfolio:
    """Open a book of customers for a relationship manager (in the manager's unit by default)."""
    org_unit = org_unit or manager.org_unit
    if org_unit is None:
        raise _invalid("org_unit", _("Choose the unit of the portfolio."), "required")
    _require_unit_in_scope(actor, "access.add_portfolio", org_unit)
    code = (code or "").strip()
    errors = _Errors()
    if not code:
        errors.add("code", _("Enter a code."), "required")
    elif Portfolio.objects.filter(code=code).exists():
        errors.add(
            "code",
            _("A portfolio with the code %(code)s already exists.") % {"code": code},
            "portfolio_code_taken",
        )
    if not (name or "").strip():
        errors.add("name", _("Enter a name."), "required")
    if not manager.is_active:
        errors.add("manager", _("The manager's account is not active."), "user_inactive")
    errors.raise_if_any()
    portfolio = Portfolio.objects.create(
        code=code, name=name.strip(), manager=manager, org_unit=org_unit
    )
    audit_record(
        actor=actor,
        action="access.portfolio_create",
        target=portfolio,
        after=_portfolio_snapshot(portfolio),
    )
    return portfolio


@transaction.atomic
def portfolio_reassign(
    *, actor: Any, portfolio: Portfolio, manager: User, reason: str
) -> Portfolio:
    """Hand a portfolio to another relationship manager."""
    _require_in_scope(actor, "access.change_portfolio", portfolio)
    if not manager.is_active:
        raise _invalid("manager", _("The manager's account is not active."), "user_inactive")
    if not (reason or "").strip():
        raise _invalid("reason", _("Give a reason."), "reason_required")
    portfolio = Portfolio.objects.select_for_update().get(pk=portfolio.pk)
    before = _portfolio_snapshot(portfolio)
    portfolio.manager = manager
    portfolio.save(update_fields=["manager", "updated_at"])
    audit_record(
        actor=actor,
        action="access.portfolio_reassign",
        target=portfolio,
        before=before,
        after=_portfolio_snapshot(portfolio),
        reason=reason,
    )
    return portfolio


# --- API tokens ---------------------------------------------------------------------------


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(
    *, actor: Any, user: User, name: str, expires_at: dt.datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue an API token for ``user``; returns it and the raw value, shown only once."""
    _require_in_scope(actor, "access.add_apitoken", user)
    name = (name or "").strip()
    if not name:
        raise _invalid("name", _("Enter a name."), "required")
    if expires_at is not None and expires_at <= timezone.now():
        raise _invalid("expires_at", _("The expiry must be in the future."), "token_expiry_past")
    prefix = secrets.token_hex(4)
    while ApiToken.objects.filter(prefix=prefix).exists():
        prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, token_hash=_token_digest(secret), expires_at=expires_at
    )
    audit_record(
        actor=actor,
        action="access.api_token_create",
        target=token,
        after={"user": user.username, "name": name, "prefix": prefix, "expires_at": expires_at},
        changed_secrets=["token"],
    )
    return token, f"{API_TOKEN_PREFIX}{prefix}.{secret}"


def api_token_authenticate(raw: str) -> User | None:
    """The user a raw API token belongs to, if it is genuine, unexpired, unrevoked and active."""
    raw = (raw or "").strip()
    if not raw.startswith(API_TOKEN_PREFIX) or "." not in raw:
        return None
    prefix, _dot, secret = raw[len(API_TOKEN_PREFIX) :].partition(".")
    if not prefix or not secret or len(prefix) > 12:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None:
        # Compare anyway, so an unknown prefix costs the same as a wrong secret.
        hmac.compare_digest(_token_digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(_token_digest(secret), token.token_hash):
        return None
    now = timezone.now()
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
        return None
    if not token.user.is_active:
        return None
    if token.last_used_at is None or token.last_used_at <= now - API_TOKEN_TOUCH_INTERVAL:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def api_token_revoke(*, actor: Any, token: ApiToken, reason: str = "") -> ApiToken:
    """Stop a token from working, at once and for good."""
    if is_system(actor) or getattr(actor, "pk", None) != token.user_id:
        _require_in_scope(actor, "access.delete_apitoken", token)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated_at"])
    audit_record(
        actor=actor,
        action="access.api_token_revoke",
        target=token,
        after={"revoked_at": token.revoked_at},
        reason=reason,
    )
    return token


__all__ = [
    "ROLES_SET_ACTION",
    "api_token_authenticate",
    "api_token_create",
    "api_token_revoke",
    "org_unit_create",
    "org_unit_move",
    "org_unit_update",
    "portfolio_create",
    "portfolio_reassign",
    "roles_set_approved",
    "user_create",
    "user_deactivate",
    "user_mfa_enrollment_begin",
    "user_mfa_enrollment_confirm",
    "user_mfa_reset",
    "user_password_expired",
    "user_password_set",
    "user_preferences_update",
    "user_roles_change_request",
    "user_roles_set",
    "user_sign_in_complete",
    "user_sign_in_mfa",
    "user_sign_in_password",
    "user_sign_out",
]
