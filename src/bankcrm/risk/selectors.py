"""Reading the model registry.

Model versions are bank-wide: whoever holds ``risk.view_modelversion`` (credit analysts,
model risk officers, loan officers) reads all of them; anyone else sees none, and a version
asked for by key answers 404. ``production_model`` / ``shadow_model`` / ``compiled`` serve the
scoring services (no actor: the bank's own model decides, whoever asks for a score).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.models import AuditEvent

from .models import ModelVersion

if TYPE_CHECKING:
    from .engine import CompiledModel

VIEW_PERMISSION = "risk.view_modelversion"
MODEL_LABEL = "risk.modelversion"

# Compiled scoring models kept in memory per process, newest use last.
COMPILED_CACHE_SIZE = 32
_compiled: OrderedDict[tuple[int, Any], CompiledModel] = OrderedDict()
_compiled_lock = threading.Lock()


def _get(queryset: QuerySet[ModelVersion], **lookup: Any) -> ModelVersion:
    try:
        return queryset.get(**lookup)
    except (ModelVersion.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise Http404 from exc


def model_versions(
    *,
    actor: Any,
    status: str | Iterable[str] | None = None,
    purpose: str | None = None,
    name: str | None = None,
) -> QuerySet[ModelVersion]:
    """The model versions the actor may read (by name, newest version first), narrowed by
    status (one or several), purpose and name. The card's HTML and PDF are not loaded."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        return ModelVersion.objects.none()
    queryset = ModelVersion.objects.select_related(
        "created_by", "validated_by", "approved_by"
    ).defer("card_html", "card_pdf")
    if status:
        statuses = [status] if isinstance(status, str) else list(status)
        queryset = queryset.filter(status__in=statuses)
    if purpose:
        queryset = queryset.filter(purpose=purpose)
    if name:
        queryset = queryset.filter(name=name)
    return queryset.order_by("name", "-version")


def model_version_get(*, actor: Any, pk: Any) -> ModelVersion:
    """One model version the actor may read (with its card); Http404 otherwise."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise Http404
    queryset = ModelVersion.objects.select_related("created_by", "validated_by", "approved_by")
    return _get(queryset, pk=pk)


def model_version_by_name(*, actor: Any, name: str, version: int | None = None) -> ModelVersion:
    """Version ``version`` of the model ``name``; without a number, the one in production,
    else the newest. Http404 if there is none (or the actor may not read models)."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise Http404
    queryset = ModelVersion.objects.select_related(
        "created_by", "validated_by", "approved_by"
    ).filter(name=name)
    if version is not None:
        return _get(queryset, version=version)
    found = (
        queryset.filter(status=ModelVersion.Status.PRODUCTION).first()
        or queryset.order_by("-version").first()
    )
    if found is None:
        raise Http404
    return found


def production_model(purpose: str) -> ModelVersion | None:
    """The version in production for ``purpose``, or None."""
    return ModelVersion.objects.filter(
        purpose=purpose, status=ModelVersion.Status.PRODUCTION
    ).first()


def shadow_model(purpose: str) -> ModelVersion | None:
    """The approved challenger scoring in shadow for ``purpose``, or None."""
    return ModelVersion.objects.filter(
        purpose=purpose, shadow=True, status=ModelVersion.Status.APPROVED
    ).first()


def compiled(version: ModelVersion) -> CompiledModel:
    """The scoring engine of ``version``, compiled once per process and kept while the
    version is unchanged (cached by key and last change)."""
    from .engine import compile_model

    key = (version.pk, version.updated_at)
    with _compiled_lock:
        found = _compiled.get(key)
        if found is not None:
            _compiled.move_to_end(key)
            return found
    model = compile_model(version.spec)
    with _compiled_lock:
        # An older compilation of the same version is stale now.
        for stale in [item for item in _compiled if item[0] == version.pk and item != key]:
            del _compiled[stale]
        _compiled[key] = model
        while len(_compiled) > COMPILED_CACHE_SIZE:
            _compiled.popitem(last=False)
    return model


def model_version_history(*, actor: Any, version: ModelVersion) -> list[dict[str, Any]]:
    """The governance trail of a version, oldest first: registration, validation, approval,
    promotion request and promotion, shadow, retirement, grade and mapping changes.

    Read from the audit trail (these rows only: who did which step, when, why, and the
    status before and after), so it is exactly what the auditor sees; it needs
    ``risk.view_modelversion``, not the audit role.
    """
    if not actor_has_perm(actor, VIEW_PERMISSION):
        return []
    rows = (
        AuditEvent.objects.filter(
            object_type=MODEL_LABEL,
            object_pk=str(version.pk),
            action__startswith="risk.model_",
        )
        .order_by("pk")
        .values("pk", "occurred_at", "actor", "action", "before", "after", "reason")
    )
    history = []
    for row in rows:
        before = row["before"] or {}
        after = row["after"] or {}
        history.append(
            {
                "at": row["occurred_at"],
                "actor": row["actor"],
                "action": row["action"].removeprefix("risk.model_"),
                "status_from": before.get("status"),
                "status_to": after.get("status"),
                "reason": row["reason"],
            }
        )
    return history
