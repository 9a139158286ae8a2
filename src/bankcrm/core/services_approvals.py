"""Maker-checker services: request, approve, reject, cancel. Each step is audited."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core.actor import is_system
from bankcrm.events.services import event_record

from .approvals import approval_action_get, approval_actions_decidable_by, approval_in_reach
from .models.approvals import PendingApproval

logger = logging.getLogger(__name__)


def _snapshot(approval: PendingApproval) -> dict[str, Any]:
    return {
        "action": approval.action,
        "status": approval.status,
        "maker": approval.maker_id,
        "checker": approval.checker_id,
    }


def _event_payload(approval: PendingApproval) -> dict[str, Any]:
    return {
        "approval_pk": approval.pk,
        "action": approval.action,
        "status": approval.status,
        "object_type": approval.object_type,
        "object_pk": approval.object_pk,
        "maker_pk": approval.maker_id,
        "checker_pk": approval.checker_id,
    }


def _locked(approval_pk: int) -> PendingApproval:
    try:
        return PendingApproval.objects.select_for_update().get(pk=approval_pk)
    except (PendingApproval.DoesNotExist, ValueError, TypeError) as exc:
        raise ValidationError(
            _("Approval request %(pk)s does not exist.") % {"pk": approval_pk},
            code="approval_not_found",
        ) from exc


def _require_pending(approval: PendingApproval) -> None:
    if approval.status != PendingApproval.Status.PENDING:
        raise ValidationError(
            _("This request is already %(status)s.")
            % {"status": approval.get_status_display().lower()},
            code="approval_not_pending",
        )


def _require_person(actor: Any) -> None:
    if is_system(actor) or getattr(actor, "pk", None) is None:
        raise PermissionDenied(_("Only a signed-in person can take part in a maker-checker step."))


def approval_request(
    *,
    actor: Any,
    action: str,
    payload: dict[str, Any],
    reason: str,
    target: models.Model | None = None,
) -> PendingApproval:
    """Propose a sensitive change; it is applied only when a different person approves it.

    The calling service checks the maker's right to propose the change. ``payload`` holds the
    handler's arguments and must not contain secrets: the checker sees it.
    """
    _require_person(actor)
    registered = approval_action_get(action)
    if registered is None:
        raise ValidationError(
            {"action": _("Unknown action “%(action)s”.") % {"action": action}},
            code="approval_unknown_action",
        )
    if not reason or not reason.strip():
        raise ValidationError(
            {"reason": _("Say why this change is needed.")}, code="approval_reason_required"
        )
    if registered.validator is not None:
        registered.validator(payload)
    with transaction.atomic():
        approval = PendingApproval.objects.create(
            action=action,
            payload=payload,
            object_type=target._meta.label_lower if target is not None else "",
            object_pk="" if target is None or target.pk is None else str(target.pk),
            object_repr=str(target)[:200] if target is not None else "",
            maker=actor,
            maker_reason=reason.strip(),
        )
        audit_record(
            actor=actor,
            action="approval.request",
            target=approval,
            after={**_snapshot(approval), "payload": payload},
            reason=approval.maker_reason,
        )
        event_record(type="approval.requested", target=approval, payload=_event_payload(approval))
    return approval


def approval_approve(*, actor: Any, approval_pk: int, comment: str = "") -> PendingApproval:
    """Approve a request as its checker and apply it, in one transaction.

    The checker must be a person other than the maker holding the action's permission. If the
    handler refuses the change (a validation or permission error: the data moved on since the
    request), the request is marked failed with that message and nothing else changes.
    """
    _require_person(actor)
    with transaction.atomic():
        approval = _locked(approval_pk)
        _require_pending(approval)
        if approval.maker_id == actor.pk:
            raise PermissionDenied(_("You cannot approve your own request: a second person must."))
        registered = approval_action_get(approval.action)
        if registered is None:
            raise ValidationError(
                _("The action “%(action)s” is no longer available.") % {"action": approval.action},
                code="approval_unknown_action",
            )
        if approval.action not in approval_actions_decidable_by(actor):
            raise PermissionDenied(
                _("You do not have the permission to approve “%(action)s”.")
                % {"action": registered.description}
            )
        if not approval_in_reach(actor=actor, approval=approval):
            raise PermissionDenied(_("This request concerns a record outside your reach."))
        before = _snapshot(approval)
        approval.checker = actor
        approval.decided_at = timezone.now()
        approval.decision_comment = comment.strip()
        try:
            # A savepoint: a refused change leaves no partial writes behind.
            with transaction.atomic():
                registered.handler(actor=actor, payload=approval.payload, approval=approval)
        except (ValidationError, PermissionDenied) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            approval.status = PendingApproval.Status.FAILED
            approval.failure_reason = message or _("The change was refused.")
        else:
            approval.status = PendingApproval.Status.APPROVED
        approval.save(
            update_fields=[
                "status",
                "checker",
                "decided_at",
                "decision_comment",
                "failure_reason",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="approval.approve" if approval.status == "approved" else "approval.fail",
            target=approval,
            before=before,
            after=_snapshot(approval),
            reason=approval.failure_reason or approval.decision_comment,
        )
        event_type = "approval.approved" if approval.status == "approved" else "approval.failed"
        event_record(type=event_type, target=approval, payload=_event_payload(approval))
    return approval


def approval_reject(*, actor: Any, approval_pk: int, reason: str) -> PendingApproval:
    """Turn a request down, saying why; nothing of it is applied."""
    _require_person(actor)
    if not reason or not reason.strip():
        raise ValidationError(
            {"reason": _("Say why you reject this request.")}, code="approval_reason_required"
        )
    with transaction.atomic():
        approval = _locked(approval_pk)
        _require_pending(approval)
        if approval.maker_id == actor.pk:
            raise PermissionDenied(_("You cannot decide on your own request; cancel it instead."))
        if approval.action not in approval_actions_decidable_by(actor):
            raise PermissionDenied(_("You do not have the permission to decide on this request."))
        if not approval_in_reach(actor=actor, approval=approval):
            raise PermissionDenied(_("This request concerns a record outside your reach."))
        before = _snapshot(approval)
        approval.status = PendingApproval.Status.REJECTED
        approval.checker = actor
        approval.decided_at = timezone.now()
        approval.decision_comment = reason.strip()
        approval.save(
            update_fields=["status", "checker", "decided_at", "decision_comment", "updated_at"]
        )
        audit_record(
            actor=actor,
            action="approval.reject",
            target=approval,
            before=before,
            after=_snapshot(approval),
            reason=approval.decision_comment,
        )
        event_record(type="approval.rejected", target=approval, payload=_event_payload(approval))
    return approval


def approval_cancel(*, actor: Any, approval_pk: int, reason: str = "") -> PendingApproval:
    """Withdraw one's own pending request."""
    _require_person(actor)
    with transaction.atomic():
        approval = _locked(approval_pk)
        if approval.maker_id != actor.pk:
            raise PermissionDenied(_("Only the person who made a request can cancel it."))
        _require_pending(approval)
        before = _snapshot(approval)
        approval.status = PendingApproval.Status.CANCELLED
        approval.decision_comment = reason.strip()
        approval.save(update_fields=["status", "decision_comment", "updated_at"])
        audit_record(
            actor=actor,
            action="approval.cancel",
            target=approval,
            before=before,
            after=_snapshot(approval),
            reason=approval.decision_comment,
        )
        event_record(type="approval.cancelled", target=approval, payload=_event_payload(approval))
    return approval
