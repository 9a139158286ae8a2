"""Writing the audit trail. Every service that changes data calls ``audit_record``.

A service that updates a record takes a snapshot before and after the change::

    before = audit_snapshot(customer)
    ...change and save customer...
    audit_record(actor=actor, action="customer.update", target=customer,
                 before=before, after=audit_snapshot(customer),
                 changed_secrets=["national_id"])

When both ``before`` and ``after`` are given, only the keys whose values differ are stored
(a key present on one side only counts as changed). Secret and encrypted fields never
reach a snapshot; the service names the ones that changed in ``changed_secrets``
(``audit_secret_state`` / ``audit_secrets_changed`` help it find them without storing
their values).
"""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.core.actor import actor_label, is_system
from bankcrm.core.context import current_context

from .chain import CHAINED_FIELDS, GENESIS_HASH, row_hash
from .models import AuditChainHead, AuditEvent
from .permissions import EXPORT_PERMISSION, VIEW_PERMISSION, actor_may
from .verification import ChainReport, verify_chain

# Fixed key of the PostgreSQL advisory lock that serialises appends to the chain.
_PG_CHAIN_LOCK = 0x62616E6B  # "bank" in ASCII

# Never put in a snapshot whatever a model says, because these names always hold secrets.
ALWAYS_SECRET_FIELDS = frozenset(
    {"password", "token_hash", "secret", "mfa_secret", "totp_secret", "api_key"}
)


def _lock_chain_head() -> AuditChainHead:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHAIN_LOCK])
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        head = AuditChainHead.objects.create(pk=1, last_event_id=0, last_hash=GENESIS_HASH)
    return head


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_json_safe(v) for v in value]
        # Sets have no order; sort them so the same set always hashes the same.
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinity are not JSON
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(bytes(value))} bytes>"
    return str(value)


def _is_secret_field(field: models.Field, secret_names: frozenset[str]) -> bool:
    return bool(
        getattr(field, "is_encrypted", False)
        or getattr(field, "is_blind_index", False)
        or field.name in secret_names
        or field.attname in secret_names
        # Raw bytes on a model are key material or ciphertext, never banker-readable.
        or isinstance(field, models.BinaryField)
    )


def _secret_names(instance: models.Model) -> frozenset[str]:
    declared = getattr(instance, "audit_secret_fields", ()) or ()
    return ALWAYS_SECRET_FIELDS | frozenset(declared)


def audit_snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """JSON-safe values of the model's non-secret concrete fields, keyed by field name.

    Skipped: encrypted fields (``is_encrypted``), blind indexes (``is_blind_index``), binary
    fields, the names in ``instance.audit_secret_fields`` and :data:`ALWAYS_SECRET_FIELDS`.
    A foreign key is stored as the related row's primary key. ``fields`` narrows the
    snapshot to those names.
    """
    wanted = set(fields) if fields is not None else None
    secret_names = _secret_names(instance)
    snapshot: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if wanted is not None and field.name not in wanted and field.attname not in wanted:
            continue
        if _is_secret_field(field, secret_names):
            continue
        snapshot[field.name] = _json_safe(field.value_from_object(instance))
    return snapshot


def audit_secret_state(instance: models.Model) -> dict[str, str]:
    """A digest per secret field, kept in memory only, to tell which secrets a change touched.

    Compare two states with :func:`audit_secrets_changed`; never store them.
    """
    secret_names = _secret_names(instance)
    state: dict[str, str] = {}
    for field in instance._meta.concrete_fields:
        if _is_secret_field(field, secret_names):
            value = field.value_from_object(instance)
            state[field.name] = hashlib.sha256(repr(value).encode()).hexdigest()
    return state


def audit_secrets_changed(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """Names of the secret fields whose value differs between two ``audit_secret_state``."""
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


_MISSING = object()


def audit_changes(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ; a key present on one side only counts as changed."""
    old = _json_safe(before)
    new = _json_safe(after)
    changed = sorted(
        k for k in old.keys() | new.keys() if old.get(k, _MISSING) != new.get(k, _MISSING)
    )
    return (
        {k: old[k] for k in changed if k in old},
        {k: new[k] for k in changed if k in new},
    )


def audit_record(
    *,
    actor: Any,
    action: str,
    target: models.Model | None = None,
    object_type: str = "",
    object_pk: str | int | uuid.UUID | None = None,
    object_repr: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    changed_secrets: Iterable[str] = (),
    reason: str = "",
) -> AuditEvent:
    """Append one event to the hash-chained audit trail, in the caller's transaction.

    ``before``/``after`` hold non-secret field values only (see :func:`audit_snapshot`);
    when both are given only the changed keys are kept. Secret or encrypted fields that
    changed are named in ``changed_secrets`` and their values never stored.
    """
    if target is not None:
        object_type = object_type or target._meta.label_lower
        object_pk = target.pk if object_pk is None else object_pk
        object_repr = object_repr or str(target)[:200]
    stored_before: dict[str, Any] | None
    stored_after: dict[str, Any] | None
    if before is not None and after is not None:
        stored_before, stored_after = audit_changes(before, after)
    else:
        stored_before = _json_safe(before) if before is not None else None
        stored_after = _json_safe(after) if after is not None else None
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
            before=stored_before,
            after=stored_after,
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


def audit_chain_verify(*, actor: Any, from_id: int = 1) -> tuple[ChainReport, AuditEvent | None]:
    """Check the whole chain (or from ``from_id``) and record that it was checked.

    Returns the report and the ``audit.verify`` event, or ``None`` when the event could not
    be appended (the chain head itself was tampered with, so appending fails too).
    """
    if not actor_may(actor, VIEW_PERMISSION):
        raise PermissionDenied(_("You may not verify the audit trail."))
    report = verify_chain(from_id=from_id)
    try:
        with transaction.atomic():
            event = audit_record(
                actor=actor,
                action="audit.verify",
                object_type="audit.auditevent",
                after=report.as_dict(),
            )
    except DatabaseError:
        event = None
    return report, event


def audit_export_record(*, actor: Any, filters: Mapping[str, Any]) -> AuditEvent:
    """Record that ``actor`` exported the audit trail with ``filters`` (before streaming it)."""
    if not actor_may(actor, EXPORT_PERMISSION):
        raise PermissionDenied(_("You may not export the audit trail."))
    return audit_record(
        actor=actor,
        action="audit.export",
        object_type="audit.auditevent",
        after={"filters": dict(filters)},
    )
