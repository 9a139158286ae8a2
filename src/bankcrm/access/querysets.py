"""Row-level access: every model's queryset can narrow itself to what an actor may touch.

In the spirit of NetBox's ``RestrictedQuerySet.restrict(user, action)``: the actor first needs
the permission ``"<app_label>.<action>_<model_name>"``; then the rows are narrowed by the data
scope under which the actor holds that permission:

* ``bank``: every row;
* ``unit``: rows whose org unit lies in the actor's unit or below it (materialised-path prefix,
  portable to SQLite);
* ``portfolio``: rows in a portfolio the actor manages; on a model with an org unit but no
  portfolio, only rows of the actor's own unit (not the units below it).

A model declares where its scope lives with class attributes:

* ``scope_unit_field = "org_unit"``: path to a foreign key to ``access.OrgUnit``
  (``"self"`` on OrgUnit itself);
* ``scope_portfolio_field = "portfolio"``: path to a foreign key to ``access.Portfolio``
  (``"self"`` on Portfolio itself).

A model declaring neither is bank-wide reference data: the permission alone decides.
"""

from __future__ import annotations

from typing import Any, Self

from django.db import models
from django.db.models import Q

SELF = "self"


def _prefix(field: str) -> str:
    return "" if field == SELF else f"{field}__"


def unit_path_lookup(model: type[models.Model]) -> str | None:
    """The lookup reaching the org unit ``path`` of a row, or None if the model has no unit."""
    unit_field = getattr(model, "scope_unit_field", "") or ""
    if unit_field:
        return f"{_prefix(unit_field)}path"
    portfolio_field = getattr(model, "scope_portfolio_field", "") or ""
    if portfolio_field:
        return f"{_prefix(portfolio_field)}org_unit__path"
    return None


def portfolio_manager_lookup(model: type[models.Model]) -> str | None:
    """The lookup reaching the manager of a row's portfolio, or None without a portfolio."""
    portfolio_field = getattr(model, "scope_portfolio_field", "") or ""
    if portfolio_field:
        return f"{_prefix(portfolio_field)}manager"
    return None


class RestrictedQuerySet(models.QuerySet):
    """A queryset that can narrow itself to the rows an actor may see or change."""

    def restrict(self, actor: Any, action: str = "view") -> Self:
        """Rows on which ``actor`` may perform ``action``; none() without the permission."""
        from .permissions import actor_perm_scope

        meta = self.model._meta
        scope = actor_perm_scope(actor, f"{meta.app_label}.{action}_{meta.model_name}")
        if scope is None:
            return self.none()
        return self.within_scope(actor, scope)

    def visible_to(self, actor: Any) -> Self:
        """Rows ``actor`` may see: ``restrict(actor, "view")``."""
        return self.restrict(actor, "view")

    def within_scope(self, actor: Any, scope: str) -> Self:
        """Narrow to ``scope`` (bank, unit, portfolio) as seen from ``actor``."""
        from .models import Role
        from .permissions import actor_unit_paths

        if scope == Role.DataScope.BANK:
            return self
        unit_lookup = unit_path_lookup(self.model)
        manager_lookup = portfolio_manager_lookup(self.model)
        if unit_lookup is None and manager_lookup is None:
            return self
        if scope == Role.DataScope.UNIT:
            paths = actor_unit_paths(actor)
            if unit_lookup is None or not paths:
                return self.none()
            condition = Q()
            for path in paths:
                condition |= Q(**{f"{unit_lookup}__startswith": path})
            return self.filter(condition)
        if scope == Role.DataScope.PORTFOLIO:
            if manager_lookup is not None:
                return self.filter(**{manager_lookup: actor.pk})
            paths = actor_unit_paths(actor)
            if unit_lookup is None or not paths:
                return self.none()
            return self.filter(**{f"{unit_lookup}__in": paths})
        # An unknown scope value in a role grants nothing rather than everything.
        return self.none()


class RestrictedManager(models.Manager.from_queryset(RestrictedQuerySet)):  # type: ignore[misc]
    """Default manager exposing ``restrict`` and ``visible_to``."""
