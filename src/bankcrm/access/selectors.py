"""Reading users, roles, org units, portfolios and API tokens, always within the actor's reach."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet
from django.http import Http404

from .models import ApiToken, OrgUnit, Portfolio, Role, User


def org_unit_list(*, actor: Any) -> QuerySet[OrgUnit]:
    """Units the actor may see, in tree order (head office first, children after parents)."""
    return OrgUnit.objects.visible_to(actor).select_related("parent").order_by("path")


def org_unit_subtree(*, actor: Any, unit: OrgUnit) -> QuerySet[OrgUnit]:
    """``unit`` and every unit below it, as far as the actor may see them."""
    return org_unit_list(actor=actor).filter(path__startswith=unit.path)


def org_unit_get(*, actor: Any, pk: int) -> OrgUnit:
    """One unit, or 404 when it does not exist or lies outside the actor's reach."""
    unit = org_unit_list(actor=actor).filter(pk=pk).first()
    if unit is None:
        raise Http404
    return unit


def role_list(*, actor: Any) -> QuerySet[Role]:
    """Roles the actor may see."""
    return Role.objects.visible_to(actor).order_by("code")


def user_list(*, actor: Any, search: str = "", unit: OrgUnit | None = None) -> QuerySet[User]:
    """Staff accounts the actor may see, optionally under ``unit`` or matching ``search``."""
    users = (
        User.objects.visible_to(actor)
        .select_related("org_unit")
        .prefetch_related("roles")
        .order_by("username")
    )
    if unit is not None:
        users = users.filter(org_unit__path__startswith=unit.path)
    search = (search or "").strip()
    if search:
        users = users.filter(
            Q(username__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    return users


def user_get(*, actor: Any, pk: int, action: str = "view") -> User:
    """One account the actor may ``action``; 404 otherwise (its existence is not revealed)."""
    user = (
        User.objects.restrict(actor, action)
        .select_related("org_unit")
        .prefetch_related("roles")
        .filter(pk=pk)
        .first()
    )
    if user is None:
        raise Http404
    return user


def portfolio_list(*, actor: Any) -> QuerySet[Portfolio]:
    """Portfolios the actor may see (their own, for a relationship manager)."""
    return Portfolio.objects.visible_to(actor).select_related("manager", "org_unit")


def portfolio_get(*, actor: Any, pk: int) -> Portfolio:
    """One portfolio, or 404 outside the actor's reach."""
    portfolio = portfolio_list(actor=actor).filter(pk=pk).first()
    if portfolio is None:
        raise Http404
    return portfolio


def api_token_list(*, actor: Any, user: User | None = None) -> QuerySet[ApiToken]:
    """API tokens the actor may see (never their secrets: only hashes are stored)."""
    tokens = ApiToken.objects.visible_to(actor).select_related("user")
    if user is not None:
        tokens = tokens.filter(user=user)
    return tokens.order_by("-created_at")
