"""Writing the audit trail. Every service that changes data calls ``audit_record``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from bankcrm.core.actor import actor_label, is_system
from bankcrm.core.context import current_context

from .chain import CHAINED_FIELDS, GENESIS_HASH, row_hash
from .models import AuditChainHead, AuditEvent

# Fixed key of the PostgreSQL advisory lock that serialises appends to the chain.
_PG_CHAIN_LOCK = 0x62616E6B  # "bank" in ASCII


def _lock_chain_head() -> AuditChainHead:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, last_event_id=0, last_hash=GENESIS_HASH)
    return head


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_pk: str | int | None = None,
    object_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    changed_secrets: Iterable[str] = (),
    reason: str = "",
) -> AuditEvent:
    """Append one event to the hash-chained audit trail, in the caller's transaction.

    ``before``/``after`` hold non-secret field values only; secret or encrypted fields
    that changed are named in ``changed_secrets`` and their values never stored.
    """
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_pk = target.pk if object_pk is None else object_pk
        object_repr = object_repr or str(target)[:200]
    ctx = current_context()
    user_id = None if is_system(actor) else getattr(actor, "pk", None)
    with transaction.atomic():
        head = _lock_chain_head()
        event = AuditEvent(
            id=head.last_event_id + 1,
            occurred_at=timezone.now().astimezone(dt.UTC),
            actor=actor_label(actor)[:150],
            actor_user_id=user_id,
            channel=ctx.channel,
            action=action,
            object_type=object_type,
            object_pk="" if object_pk is None else str(object_pk),
            object_repr=object_repr[:200],
            before=_json_safe(before) if before is not None else None,
            after=_json_safe(after) if after is not None else None,
            changed_secrets=sorted(set(changed_secrets)),
            reason=reason,
            request_id=ctx.request_id,
            ip=ctx.ip or "",
            prev_hash=head.last_hash,
        )
        event.row_hash = row_hash(head.last_hash, event_fields(event))
        event.save(force_insert=True)
        head.last_event_id = event.pk
        head.last_hash = event.row_hash
        head.save(update_fields=["last_event_id", "last_hash"])
    return event


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The chained fields of an event, as hashed."""
    return {name: getattr(event, name) for name in CHAINED_FIELDS}
