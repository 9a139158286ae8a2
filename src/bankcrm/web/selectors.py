"""Reads for the shell's pages, each scoped to the person asking."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from bankcrm.audit.models import AuditEvent


def own_activity_list(*, actor: Any, limit: int = 10) -> QuerySet[AuditEvent]:
    """The newest audit events ``actor`` caused themselves, newest first.

    Everyone may see what they did themselves; the rest of the trail stays with the roles
    holding ``audit.view_auditevent`` (``bankcrm.audit.selectors``). Only the columns the
    home page shows are read: before/after values are not needed there.
    """
    user_pk = getattr(actor, "pk", None)
    if user_pk is None or not getattr(actor, "is_authenticated", False):
        return AuditEvent.objects.none()
    return (
        AuditEvent.objects.filter(actor_user_id=user_pk)
        .only("id", "occurred_at", "action", "object_type", "object_repr", "channel", "reason")
        .order_by("-pk")[:limit]
    )
