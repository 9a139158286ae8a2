"""What an actor may do, and how far their view of the bank reaches.

Permissions are strings ``"app.action_model"`` (``"customers.view_party"``) granted by the
actor's active roles. A role may grant a pattern: ``"*"`` (everything), ``"app.*"`` (everything
in one app) or any pattern where ``*`` stands for any run of characters (``"*.view_*"``: read
everything). Each granted permission carries the granting role's data scope; when several
roles grant the same permission the widest scope wins for that permission.

The roles are read once per user object and cached on it; a web request gets a fresh user
object, so the cache lives for one request. Services that change a user's roles clear it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bankcrm.core.actor import is_system

from .models import Role

# Order of reach, narrowest first.
SCOPE_ORDER: dict[str, int] = {
    Role.DataScope.PORTFOLIO: 0,
    Role.DataScope.UNIT: 1,
    Role.DataScope.BANK: 2,
}

_CACHE_ATTR = "_bankcrm_access_cache"


@dataclass(frozen=True)
class _Grant:
    pattern: re.Pattern[str]
    scope: str


@dataclass(frozen=True)
class _AccessCache:
    grants: tuple[_Grant, ...]
    role_codes: frozenset[str]
    role_scopes: frozenset[str]
    may_unmask: bool
    requires_mfa: bool


def permission_pattern(permission: str) -> re.Pattern[str]:
    """Compile a granted permission (``"app.*"``, ``"*.view_*"``) to an exact-match regex."""
    return re.compile(".*".join(re.escape(part) for part in permission.split("*")))


def permission_matches(granted: str, wanted: str) -> bool:
    return permission_pattern(granted).fullmatch(wanted) is not None


def _is_user(actor: Any) -> bool:
    return actor is not None and hasattr(actor, "roles") and getattr(actor, "pk", None) is not None


def _access_cache(actor: Any) -> _AccessCache:
    cached = getattr(actor, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    grants: list[_Grant] = []
    codes: set[str] = set()
    scopes: set[str] = set()
    may_unmask = requires_mfa = False
    rows = actor.roles.filter(is_active=True).values_list(
        "code", "permissions", "data_scope", "may_unmask", "requires_mfa"
    )
    for code, permissions, scope, role_may_unmask, role_requires_mfa in rows:
        codes.add(code)
        scopes.add(scope)
        may_unmask = may_unmask or role_may_unmask
        requires_mfa = requires_mfa or role_requires_mfa
        for permission in permissions or []:
            if isinstance(permission, str) and permission:
                grants.append(_Grant(permission_pattern(permission), scope))
    cache = _AccessCache(
        tuple(grants), frozenset(codes), frozenset(scopes), may_unmask, requires_mfa
    )
    setattr(actor, _CACHE_ATTR, cache)
    return cache


def actor_access_cache_clear(actor: Any) -> None:
    """Forget the cached roles of this user object (after its roles changed)."""
    if hasattr(actor, _CACHE_ATTR):
        delattr(actor, _CACHE_ATTR)


def _is_active_user(actor: Any) -> bool:
    return _is_user(actor) and bool(getattr(actor, "is_active", False))


def actor_perm_scope(actor: Any, permission: str) -> str | None:
    """The widest data scope under which ``actor`` holds ``permission``; None if not held."""
    if is_system(actor):
        return Role.DataScope.BANK
    if not _is_active_user(actor):
        return None
    if actor.is_superuser:
        return Role.DataScope.BANK
    best: str | None = None
    for grant in _access_cache(actor).grants:
        if grant.pattern.fullmatch(permission) and (
            best is None or SCOPE_ORDER.get(grant.scope, -1) > SCOPE_ORDER.get(best, -1)
        ):
            best = grant.scope
    return best


def actor_has_perm(actor: Any, permission: str) -> bool:
    """Whether ``actor`` holds ``permission`` (``"app.action_model"``) through an active role."""
    return actor_perm_scope(actor, permission) is not None


def actor_data_scope(actor: Any) -> str | None:
    """The widest reach of the actor's roles (bank > unit > portfolio); None: no active role."""
    if is_system(actor):
        return Role.DataScope.BANK
    if not _is_active_user(actor):
        return None
    if actor.is_superuser:
        return Role.DataScope.BANK
    scopes = _access_cache(actor).role_scopes
    if not scopes:
        return None
    return max(scopes, key=lambda scope: SCOPE_ORDER.get(scope, -1))


def actor_unit_paths(actor: Any) -> list[str]:
    """Materialised paths of the org units the actor belongs to ("/1/4/"); empty if none."""
    if not _is_user(actor):
        return []
    unit = getattr(actor, "org_unit", None)
    if unit is None or not unit.path:
        return []
    return [unit.path]


def actor_scope_key(actor: Any, permission: str) -> str | None:
    """Which rows ``actor`` reads under ``permission``, as the key a nightly run of those
    rows is stored under: "" for the whole bank, the path of their unit when they read
    their unit's rows; None when no such run fits (a portfolio, no unit, no permission)."""
    scope = actor_perm_scope(actor, permission)
    if scope == Role.DataScope.BANK:
        return ""
    if scope == Role.DataScope.UNIT:
        paths = actor_unit_paths(actor)
        return paths[0] if len(paths) == 1 else None
    return None


def actor_role_codes(actor: Any) -> frozenset[str]:
    """Codes of the actor's active roles."""
    if not _is_active_user(actor):
        return frozenset()
    return _access_cache(actor).role_codes


def actor_role_may_unmask(actor: Any) -> bool:
    """Whether one of the actor's active roles may see personal data unmasked."""
    if not _is_active_user(actor):
        return False
    return actor.is_superuser or _access_cache(actor).may_unmask


def actor_requires_mfa(actor: Any) -> bool:
    """Whether one of the actor's roles (or superuser status) demands two-factor sign-in."""
    if not _is_active_user(actor):
        return False
    return actor.is_superuser or _access_cache(actor).requires_mfa
