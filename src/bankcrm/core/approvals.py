"""Maker-checker actions and reading the approval queue.

A module registers each sensitive action once, in its ``AppConfig.ready()``::

    register_approval_action(
        "customers.merge",
        handler=customer_merge_apply,        # handler(*, actor, payload, approval)
        permission="customers.approve_merge",  # what the checker must hold
        description=_("Merge two customer records"),
    )

Its service then calls ``approval_request`` instead of changing data; the handler runs, as the
checker, when a different person holding ``permission`` approves. The requesting service checks
the maker's own right to propose the change before it asks.

An action on records with a data scope (a branch's complaint, a branch's loan) passes
``object_scope``: given a checker, it returns a queryset of one text column holding the keys of
the records that checker may decide on. Requests on other records are neither listed to that
checker nor decidable by them (a branch manager never sees another branch's requests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.functional import Promise

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.actor import is_system

from .models.approvals import PendingApproval

ApprovalHandler = Callable[..., Any]
PayloadValidator = Callable[[dict[str, Any]], None]
ObjectScope = Callable[[Any], QuerySet[Any]]


@dataclass(frozen=True)
class ApprovalAction:
    """A kind of change that needs a second person: how to apply it and who may approve it."""

    name: str
    handler: ApprovalHandler
    permission: str
    description: str | Promise
    # Optional check of the payload when the request is made (raises ValidationError).
    validator: PayloadValidator | None = None
    # Optional reach of a checker: the keys (text) of the records they may decide on.
    object_scope: ObjectScope | None = None


_ACTIONS: dict[str, ApprovalAction] = {}


def register_approval_action(
    name: str,
    *,
    handler: ApprovalHandler,
    permission: str,
    description: str | Promise,
    validator: PayloadValidator | None = None,
    object_scope: ObjectScope | None = None,
) -> ApprovalAction:
    """Declare an action that is applied only after a second person's approval.

    Registering the same name again with the same handler is harmless (``ready()`` may run
    twice); a different handler under a taken name is a configuration error.
    """
    if not name or not permission:
        raise ImproperlyConfigured("An approval action needs a name and a permission.")
    existing = _ACTIONS.get(name)
    if existing is not None and existing.handler is not handler:
        raise ImproperlyConfigured(f"Approval action {name!r} is already registered.")
    action = ApprovalAction(
        name=name,
        handler=handler,
        permission=permission,
        description=description,
        validator=validator,
        object_scope=object_scope,
    )
    _ACTIONS[name] = action
    return action


def unregister_approval_action(name: str) -> None:
    """Remove an action (a module switched off)."""
    _ACTIONS.pop(name, None)


def approval_action_get(name: str) -> ApprovalAction | None:
    """The registered action of that name, or None."""
    return _ACTIONS.get(name)


def approval_actions() -> list[ApprovalAction]:
    """Every registered action, by name."""
    return sorted(_ACTIONS.values(), key=lambda action: action.name)


def approval_actions_decidable_by(actor: Any) -> list[str]:
    """Names of the actions ``actor`` holds the permission to approve (none for the system)."""
    if is_system(actor) or not getattr(actor, "is_authenticated", False):
        return []
    return [
        action.name for action in approval_actions() if actor_has_perm(actor, action.permission)
    ]


def _decidable_condition(actor: Any) -> Q:
    """Requests ``actor`` holds the permission to decide, on records within their reach."""
    condition = Q(pk__in=[])
    for action in approval_actions():
        if not actor_has_perm(actor, action.permission):
            continue
        part = Q(action=action.name)
        if action.object_scope is not None:
            part &= Q(object_pk__in=action.object_scope(actor))
        condition |= part
    return condition


def approval_in_reach(*, actor: Any, approval: PendingApproval) -> bool:
    """Whether the request's record lies within the actor's reach (always, for an action
    without ``object_scope``)."""
    action = approval_action_get(approval.action)
    if action is None or action.object_scope is None:
        return True
    return PendingApproval.objects.filter(
        pk=approval.pk, object_pk__in=action.object_scope(actor)
    ).exists()


def approval_may_decide(*, actor: Any, approval: PendingApproval) -> bool:
    """Whether ``actor`` may approve or reject this request now (never their own)."""
    return (
        approval.status == PendingApproval.Status.PENDING
        and approval.maker_id != getattr(actor, "pk", None)
        and approval.action in approval_actions_decidable_by(actor)
        and approval_in_reach(actor=actor, approval=approval)
    )


def approval_list(*, actor: Any, status: str | None = None) -> QuerySet[PendingApproval]:
    """Requests the actor may decide (pending, made by others) and the actor's own requests.

    ``status`` narrows both parts to one status; with ``status`` other than pending only the
    actor's own requests and those the actor decided are listed.
    """
    if is_system(actor) or not getattr(actor, "is_authenticated", False):
        return PendingApproval.objects.none()
    to_decide = (
        Q(status=PendingApproval.Status.PENDING)
        & _decidable_condition(actor)
        & ~Q(maker_id=actor.pk)
    )
    visible = to_decide | Q(maker_id=actor.pk) | Q(checker_id=actor.pk)
    queryset = PendingApproval.objects.filter(visible).select_related("maker", "checker")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


def approval_get(*, actor: Any, pk: int) -> PendingApproval:
    """One request the actor may see (as maker, checker or possible checker); else 404."""
    try:
        return approval_list(actor=actor).get(pk=pk)
    except (PendingApproval.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc
