"""What the home page shows a signed-in person: their place in the bank and their work.

It only reads, through the selectors of the modules that own the data, each scoped to the
person looking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bankcrm.access.models import Role
from bankcrm.core.approvals import approval_list
from bankcrm.core.models.approvals import PendingApproval

from .selectors import own_activity_list

# How many rows each panel of the home page shows.
PANEL_SIZE = 10


@dataclass(frozen=True)
class RoleLine:
    code: str
    label: str
    data_scope_label: str
    help_slug: str


@dataclass
class MyWork:
    """Everything on one person's home page."""

    roles: list[RoleLine] = field(default_factory=list)
    org_unit: Any = None
    org_unit_trail: list[Any] = field(default_factory=list)
    approvals_to_decide: list[Any] = field(default_factory=list)
    my_pending_requests: list[Any] = field(default_factory=list)
    recent_activity: list[Any] = field(default_factory=list)
    # None: the person may not see applications (loans); the panel is left out.
    my_applications: Any = None
    early_warnings: list[Any] | None = None


def _role_label(role: Role) -> str:
    # Seeded roles are stored in English; show the translated label of a known role code.
    if role.code in Role.Code.values:
        return str(Role.Code(role.code).label)
    return role.name


def _role_lines(actor: Any) -> list[RoleLine]:
    roles = actor.roles.filter(is_active=True).order_by("code")
    return [
        RoleLine(
            code=role.code,
            label=_role_label(role),
            data_scope_label=str(Role.DataScope(role.data_scope).label)
            if role.data_scope in Role.DataScope.values
            else role.data_scope,
            help_slug=role.code.replace("_", "-") if role.code in Role.Code.values else "",
        )
        for role in roles
    ]


def _org_unit_trail(unit: Any) -> list[Any]:
    """The unit and the units above it, head office first (one query, by materialised path)."""
    if unit is None:
        return []
    from bankcrm.access.models import OrgUnit

    pks = [int(part) for part in (unit.path or "").strip("/").split("/") if part.isdigit()]
    if not pks:
        return [unit]
    by_pk = {u.pk: u for u in OrgUnit.objects.filter(pk__in=pks)}
    return [by_pk[pk] for pk in pks if pk in by_pk]


def _approvals(actor: Any) -> tuple[list[Any], list[Any]]:
    """Pending requests the actor may decide, and the actor's own pending requests."""
    pending = approval_list(actor=actor, status=PendingApproval.Status.PENDING)
    to_decide = list(pending.exclude(maker_id=actor.pk)[:PANEL_SIZE])
    mine = list(pending.filter(maker_id=actor.pk)[:PANEL_SIZE])
    return to_decide, mine


def _lending(actor: Any, work: MyWork) -> None:
    """My open applications by state (where I am the loan officer) and the early warnings
    of the loans I may see, through the lending module's selectors."""
    from bankcrm.access.permissions import actor_has_perm

    if actor_has_perm(actor, "lending.add_loanapplication"):
        from bankcrm.lending.selectors_pipeline import officer_applications

        work.my_applications = officer_applications(actor=actor)
    if actor_has_perm(actor, "lending.view_loan"):
        from bankcrm.lending.selectors_loans import loan_early_warnings

        work.early_warnings = loan_early_warnings(actor=actor, limit=PANEL_SIZE)


def my_work(*, actor: Any) -> MyWork:
    """The home page of ``actor``."""
    work = MyWork()
    work.roles = _role_lines(actor)
    work.org_unit = getattr(actor, "org_unit", None)
    work.org_unit_trail = _org_unit_trail(work.org_unit)
    work.approvals_to_decide, work.my_pending_requests = _approvals(actor)
    work.recent_activity = list(own_activity_list(actor=actor, limit=PANEL_SIZE))
    _lending(actor, work)
    return work
