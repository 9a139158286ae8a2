"""Registering propensity models in the model registry (``risk.ModelVersion``).

A trained model becomes the next *draft* version of its name with purpose *propensity*: its
scoring specification, evaluation, model card (data and HTML), training settings and the
learning data's fingerprint, as the credit models are registered, so the registry's
governance (validation, approval, promotion) applies to it unchanged. Names follow the
registry's rule (letters, digits, hyphens, underscores; each name counts its own versions
1, 2, 3 …). Audited as ``risk.model_register`` and evented as ``risk.model_registered``
like every registration, so the version's history reads the same.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import is_system
from bankcrm.events.services import event_record
from bankcrm.risk.models import ModelVersion, Purpose
from bankcrm.risk.services import model_name_clean

from .training import TrainedPropensity

logger = logging.getLogger(__name__)

TRAIN_PERMISSION = "risk.train_modelversion"
_SUMMARY_KEYS = (
    "auc_cv_mean",
    "auc_cv_std",
    "lift_top_decile",
    "brier",
    "rows",
    "positives",
    "positive_rate",
    "cv",
)


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def clean_name(name: Any) -> str:
    """The model name as the registry accepts it (the credit models' rule); ValidationError
    naming ``name``."""
    return model_name_clean(name)


def _json_ready(value: Any) -> Any:
    """Plain JSON: numpy values unwrapped, NaN and infinities as null."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return _json_ready(tolist())
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _next_version(name: str) -> int:
    last = (
        ModelVersion.objects.filter(name=name)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return (last or 0) + 1


def _render_card(version: ModelVersion) -> None:
    """The registry's model card (HTML) of the version; the PDF is rendered when asked for."""
    from bankcrm.risk.card import model_card_html

    try:
        version.card_html = model_card_html(version) or ""
    except Exception:  # the card is a view of data already stored; never lose a model to it
        logger.exception("model card of %s not rendered", version.label)
        version.card_html = ""
    version.card_pdf = b""


def propensity_register(
    *,
    actor: Any,
    name: str,
    trained: TrainedPropensity,
    description: str = "",
    product: str = "",
) -> ModelVersion:
    """Register ``trained`` as the next draft version of ``name`` (purpose propensity).

    Needs ``risk.train_modelversion``; the developer is the actor when a person. ``product``
    (a product code) is recorded in the training settings and the card.
    """
    if not actor_has_perm(actor, TRAIN_PERMISSION):
        raise PermissionDenied(_("You do not have permission to do this."))
    name = clean_name(name)
    settings = dict(trained.settings)
    card = dict(trained.card)
    if product:
        settings["product"] = product
        card["product"] = product
    version = ModelVersion(
        name=name,
        version=_next_version(name),
        purpose=Purpose.PROPENSITY,
        method=trained.method,
        status=ModelVersion.Status.DRAFT,
        description=(description or "").strip(),
        spec=_json_ready(trained.spec),
        metrics=_json_ready(trained.metrics),
        card=_json_ready(card),
        fingerprint=_json_ready(trained.fingerprint),
        dataset_name=trained.dataset_name[:255],
        training_settings=_json_ready(settings),
        created_by=None if is_system(actor) or getattr(actor, "pk", None) is None else actor,
    )
    _render_card(version)
    with transaction.atomic():
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    version.save(force_insert=True)
            except IntegrityError:
                # Another registration took the number meanwhile: take the next one.
                version.pk = None
                version.version = _next_version(name)
                continue
            break
        else:
            raise ValidationError(
                _("Could not number a new version of “%(name)s”; try again.") % {"name": name},
                code="risk_model_version_conflict",
            )
        summary = {key: version.metrics.get(key) for key in _SUMMARY_KEYS}
        audit_record(
            actor=actor,
            action="risk.model_register",
            target=version,
            after={
                **audit_snapshot(
                    version,
                    fields=(
                        "name",
                        "version",
                        "purpose",
                        "method",
                        "status",
                        "dataset_name",
                        "fingerprint",
                        "training_settings",
                        "created_by",
                    ),
                ),
                "metrics": summary,
                "excluded": [item["column"] for item in trained.exclusions],
            },
        )
        event_record(
            type="risk.model_registered",
            target=version,
            payload={
                "model_version_pk": version.pk,
                "model": version.name,
                "version": version.version,
                "purpose": version.purpose,
                "method": version.method,
                "status": version.status,
                "shadow": version.shadow,
                "metrics": summary,
            },
        )
    return version
