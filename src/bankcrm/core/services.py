"""Kernel services: the only kernel code that writes. Every one is audited."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record

from .crypto import envelope
from .crypto.errors import DataKeyDestroyed
from .crypto.fields import BlindIndexField, encrypted_fields, reseal
from .crypto.keyring import get_keyring
from .masking import actor_may_unmask, clear_text
from .models import DataKey, KeyRotation

# --- Personal data: unmasking --------------------------------------------------------------


def pii_unmask(*, actor: Any, target: models.Model, field: str, reason: str) -> str:
    """Show one personal-data field of ``target`` in clear, recording who, why and which
    field (never the value) in the audit trail.

    The caller has fetched ``target`` through a selector scoped to ``actor``; when the
    model's manager offers ``visible_to`` the scope is checked again here. Refuses with
    PermissionDenied when no active role of the actor may unmask, or when no reason is given
    (unmasking without a stated purpose is not permitted), and then records nothing.
    """
    if not actor_may_unmask(actor):
        raise PermissionDenied(_("Your role may not see personal data unmasked."))
    reason = (reason or "").strip()
    if not reason:
        raise PermissionDenied(_("Give a reason to see personal data unmasked."))
    model = type(target)
    try:
        model_field = model._meta.get_field(field)
    except FieldDoesNotExist as exc:
        raise ValueError(f"{model._meta.label} has no field {field!r}") from exc
    if not getattr(model_field, "concrete", False) or model_field.is_relation:
        raise ValueError(f"{model._meta.label}.{field} is not a personal-data field")
    manager = model._default_manager
    visible_to = getattr(manager.all(), "visible_to", None)
    if callable(visible_to) and not visible_to(actor).filter(pk=target.pk).exists():
        raise PermissionDenied(_("This record is outside your reach."))
    value = getattr(target, model_field.name)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="pii.unmask",
            target=target,
            # The record's own text may hold personal data: name it by type and key only.
            object_repr=f"{model._meta.verbose_name} {target.pk}",
            after={"field": field},
            reason=reason,
        )
    return clear_text(value)


# --- Data keys: crypto-shredding -----------------------------------------------------------


def data_key_destroy(*, actor: Any, data_key: DataKey, reason: str = "") -> DataKey:
    """Crypto-shred: wipe a per-record data key so that everything encrypted under it is
    unreadable for ever, even with the keyring; the rows themselves stay.

    Callers (the erasure approval) decide whether the erasure is allowed; a table's shared
    key is refused, as destroying it would erase a whole table.
    """
    with transaction.atomic():
        locked = DataKey.objects.select_for_update().get(pk=data_key.pk)
        if locked.scope.startswith("table:"):
            raise ValidationError(
                {"data_key": _("A table's shared data key cannot be destroyed.")},
                code="table_key",
            )
        if locked.destroyed_at is not None:
            return locked
        locked.wrapped_key = ""
        locked.destroyed_at = timezone.now()
        locked.save(update_fields=["wrapped_key", "destroyed_at"])
        audit_record(
            actor=actor,
            action="data_key.destroy",
            target=locked,
            before={"kek_version": locked.kek_version},
            after={"destroyed_at": locked.destroyed_at},
            changed_secrets=["wrapped_key"],
            reason=reason,
        )
        envelope.forget_data_key(locked)
        transaction.on_commit(lambda: envelope.forget_data_key(locked))
    data_key.wrapped_key = locked.wrapped_key
    data_key.destroyed_at = locked.destroyed_at
    return locked


# --- Key rotation --------------------------------------------------------------------------


def models_with_encrypted_fields() -> list[type[models.Model]]:
    """Every installed model holding encrypted fields, in a stable order."""
    found = [m for m in apps.get_models() if encrypted_fields(m)]
    return sorted(found, key=lambda m: m._meta.label_lower)


def data_keys_to_rewrap(kek_version: int) -> models.QuerySet[DataKey]:
    """Live data keys not yet wrapped under ``kek_version``."""
    return (
        DataKey.objects.filter(destroyed_at__isnull=True)
        .exclude(wrapped_key="")
        .exclude(kek_version=kek_version)
    )


def key_rotation_start(
    *, actor: Any, new_version: bool = True, reencrypt: bool = False
) -> tuple[KeyRotation, bool]:
    """Start a key rotation, or resume the unfinished one: returns (rotation, resumed).

    A new rotation first adds a key-encryption-key version to the keyring (unless
    ``new_version`` is False, e.g. when the version was added where a read-only keyring is
    kept). The target is always the keyring's newest version.
    """
    keyring = get_keyring()
    with transaction.atomic():
        rotation = (
            KeyRotation.objects.select_for_update()
            .filter(finished_at__isnull=True)
            .order_by("-started_at")
            .first()
        )
        if rotation is not None:
            current = keyring.current_version()
            changed = []
            if rotation.kek_version != current:
                rotation.kek_version = current
                changed.append("kek_version")
            if reencrypt and not rotation.reencrypt:
                rotation.reencrypt = True
                changed.append("reencrypt")
            if changed:
                rotation.save(update_fields=changed)
            audit_record(
                actor=actor,
                action="keys.rotation_resume",
                target=rotation,
                after={"kek_version": rotation.kek_version, "reencrypt": rotation.reencrypt},
            )
            return rotation, True
        version = keyring.add_version() if new_version else keyring.current_version()
        rotation = KeyRotation.objects.create(kek_version=version, reencrypt=reencrypt)
        audit_record(
            actor=actor,
            action="keys.rotation_start",
            target=rotation,
            after={"kek_version": version, "new_version": new_version, "reencrypt": reencrypt},
        )
    return rotation, False


def data_keys_rewrap_batch(*, actor: Any, rotation: KeyRotation, batch_size: int) -> int:
    """Re-wrap up to ``batch_size`` data keys under the rotation's KEK version, in one
    transaction; returns how many (0: none left)."""
    with transaction.atomic():
        batch = list(
            data_keys_to_rewrap(rotation.kek_version)
            .select_for_update()
            .order_by("pk")[:batch_size]
        )
        if not batch:
            return 0
        now = timezone.now()
        for data_key in batch:
            envelope.rewrap_data_key(data_key, rotation.kek_version)
            data_key.rewrapped_at = now
        DataKey.objects.bulk_update(batch, ["wrapped_key", "kek_version", "rewrapped_at"])
        KeyRotation.objects.filter(pk=rotation.pk).update(
            rewrapped=models.F("rewrapped") + len(batch)
        )
        rotation.refresh_from_db(fields=["rewrapped"])
        audit_record(
            actor=actor,
            action="keys.rewrap",
            target=rotation,
            after={"count": len(batch), "kek_version": rotation.kek_version},
            changed_secrets=["wrapped_key"],
        )
    return len(batch)


def encrypted_values_reencrypt_batch(
    *, actor: Any, rotation: KeyRotation, model: type[models.Model], batch_size: int
) -> int:
    """Re-encrypt the next ``batch_size`` rows of ``model`` (by pk, from the rotation's
    saved resume point) under fresh nonces, recomputing their blind indexes, in one
    transaction; returns how many rows (0: the model is done).

    Values whose data key was destroyed stay as they are: they are erased.
    """
    label = model._meta.label_lower
    with transaction.atomic():
        locked = KeyRotation.objects.select_for_update().get(pk=rotation.pk)
        progress = dict(locked.progress or {})
        resume_at = progress.get(label)
        if resume_at == "done":
            return 0
        pk_field = model._meta.pk
        if pk_field is None:  # abstract models have none; rotation only visits concrete ones
            raise TypeError(f"{label} has no primary key")
        rows_qs = model._base_manager.order_by("pk")
        if resume_at:
            rows_qs = rows_qs.filter(pk__gt=pk_field.to_python(resume_at))
        rows = list(rows_qs.select_for_update()[:batch_size])
        if not rows:
            progress[label] = "done"
            locked.progress = progress
            locked.save(update_fields=["progress"])
            rotation.progress = progress
            return 0
        sealed_fields = encrypted_fields(model)
        index_fields = [f for f in model._meta.concrete_fields if isinstance(f, BlindIndexField)]
        changed = 0
        for row in rows:
            try:
                reseal(row)
            except DataKeyDestroyed:
                continue
            values = {f.attname: f.pre_save(row, False) for f in [*sealed_fields, *index_fields]}
            model._base_manager.filter(pk=row.pk).update(**values)
            changed += 1
        progress[label] = str(rows[-1].pk)
        locked.progress = progress
        locked.reencrypted += changed
        locked.save(update_fields=["progress", "reencrypted"])
        rotation.progress = progress
        rotation.reencrypted = locked.reencrypted
        audit_record(
            actor=actor,
            action="keys.reencrypt",
            target=rotation,
            after={"model": label, "count": changed, "skipped_erased": len(rows) - changed},
            changed_secrets=[f.name for f in sealed_fields],
        )
    return len(rows)


def key_rotation_finish(*, actor: Any, rotation: KeyRotation) -> KeyRotation:
    """Close a rotation whose data keys (and values, if asked) are all done."""
    with transaction.atomic():
        locked = KeyRotation.objects.select_for_update().get(pk=rotation.pk)
        if locked.finished_at is None:
            locked.finished_at = timezone.now()
            locked.save(update_fields=["finished_at"])
            audit_record(
                actor=actor,
                action="keys.rotate",
                target=locked,
                after={
                    "kek_version": locked.kek_version,
                    "rewrapped": locked.rewrapped,
                    "reencrypted": locked.reencrypted,
                },
            )
    return locked


# Maker-checker services (see bankcrm.core.services_approvals).
from .services_approvals import (  # noqa: E402
    approval_approve,
    approval_cancel,
    approval_reject,
    approval_request,
)

__all__ = [
    "approval_approve",
    "approval_cancel",
    "approval_reject",
    "approval_request",
    "data_key_destroy",
    "data_keys_rewrap_batch",
    "encrypted_values_reencrypt_batch",
    "key_rotation_finish",
    "key_rotation_start",
    "pii_unmask",
]
