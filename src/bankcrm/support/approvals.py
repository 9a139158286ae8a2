"""Maker-checker of complaint redress (``support.complaint_redress``).

Redress above ``SUPPORT_REDRESS_APPROVAL_THRESHOLD`` is applied only when a second person
holding ``support.approve_redress`` (a branch manager) who may change the complaint approves
it; the kernel refuses the maker. A rejected request leaves the redress "rejected"; a
withdrawn one, or one that could no longer be applied, leaves it "proposed" (the event
subscribers below, idempotent).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from bankcrm.core.actor import SystemActor
from bankcrm.core.approvals import register_approval_action
from bankcrm.events.registry import subscriber

REDRESS_ACTION = "support.complaint_redress"
REDRESS_PERMISSION = "support.approve_redress"


def _redress_apply(*, actor: Any, payload: dict[str, Any], approval: Any) -> Any:
    # Imported here: the services import the kernel, which imports registrations at start-up.
    from .services_complaints import complaint_redress_approve_apply

    return complaint_redress_approve_apply(actor=actor, payload=payload, approval=approval)


def _redress_scope(actor: Any) -> Any:
    from .selectors_complaints import complaint_redress_scope

    return complaint_redress_scope(actor=actor)


def _redress_payload_check(payload: dict[str, Any]) -> None:
    from .services_complaints import redress_payload_check

    redress_payload_check(payload)


register_approval_action(
    REDRESS_ACTION,
    handler=_redress_apply,
    permission=REDRESS_PERMISSION,
    description=gettext_lazy("Approve complaint redress above the threshold (second person)"),
    validator=_redress_payload_check,
    object_scope=_redress_scope,
)


def _redress_closed(event: Any) -> None:
    from .services_complaints import complaint_redress_closed

    if event.payload.get("action") != REDRESS_ACTION:
        return
    complaint_redress_closed(
        approval_pk=event.payload.get("approval_pk"),
        actor=SystemActor("support.redress_decision"),
    )


@subscriber("approval.rejected", name="support.complaints.redress_rejected")
def complaint_redress_rejected(event: Any) -> None:
    """A rejected redress request leaves the complaint's redress rejected."""
    _redress_closed(event)


@subscriber("approval.cancelled", name="support.complaints.redress_cancelled")
def complaint_redress_cancelled(event: Any) -> None:
    """A withdrawn request leaves the redress proposed, to be set again."""
    _redress_closed(event)


@subscriber("approval.failed", name="support.complaints.redress_failed")
def complaint_redress_failed(event: Any) -> None:
    """A request that could not be applied leaves the redress proposed."""
    _redress_closed(event)
