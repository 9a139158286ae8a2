"""Writing the model registry: training and registering model versions, and their governance.

Every service checks the actor's permission, runs in one transaction, appends an audit event
(``risk.model_register``, ``risk.model_validate``, ``risk.model_approve``,
``risk.model_promote_request``, ``risk.model_promote``, ``risk.model_retire``,
``risk.model_shadow``, ``risk.model_grade_bands``, ``risk.model_feature_map``) and records a
domain event (``risk.model_registered``, ``risk.model_validated``, ``risk.model_approved``,
``risk.model_promoted``, ``risk.model_retired``, ``risk.model_shadow``,
``risk.model_updated``). Events carry the model's name, version, purpose and status only.

Governance (model risk management)
    * A version is registered as *draft* by its developer (``risk.train_modelversion``, the
      credit analyst).
    * *Validated* by a person holding ``risk.validate_modelversion`` who is not its
      developer, with a note; *approved* by a person holding ``risk.approve_modelversion``
      who is not its developer, with a note.
    * Promotion to *production* is a maker-checker request (``risk.promote_model``): the
      maker (the developer or a model risk officer) gives a reason; a second person holding
      ``risk.approve_modelversion`` — neither the maker nor the developer — approves it,
      which retires the purpose's production version and puts this one in its place.
      There is exactly one production version per purpose (the database enforces it).
    * An *approved* version may score in *shadow* beside the production one (one shadow
      challenger per purpose); its scores are stored for comparison and never decide.
    * *Retired* versions score nothing; retiring the production version leaves the purpose
      without a model until another is promoted.
    * Grade bands and the feature mapping change only while a version is draft or
      validated: what was approved is what runs.

Training (``model_train``) names the versions it registers: the scorecard (or the only
model) takes the name given (default: the learning file's name); with ``method="both"`` the
gradient-boosting challenger is registered beside it as ``<name>-gbm``. Each name counts its
own versions 1, 2, 3 …
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import is_system
from bankcrm.core.approvals import approval_actions_decidable_by
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve, approval_request
from bankcrm.events.services import event_record

from .card import CardRenderError, model_card_html, model_card_pdf
from .models import Method, ModelVersion, Purpose
from .registrations import PROMOTE_ACTION

if TYPE_CHECKING:
    from .pipeline.data import Dataset
    from .pipeline.train import TrainedModel, TrainingSettings

logger = logging.getLogger(__name__)

TRAIN_PERMISSION = "risk.train_modelversion"
CHANGE_PERMISSION = "risk.change_modelversion"
VALIDATE_PERMISSION = "risk.validate_modelversion"
APPROVE_PERMISSION = "risk.approve_modelversion"

# The gradient-boosting challenger trained with ``method="both"`` is registered under the
# scorecard's name with this suffix.
CHALLENGER_SUFFIX = "-gbm"
TRAINING_METHODS = ("scorecard", "gbm", "both")
RECOMMENDATIONS = ("approve", "refer", "decline")
MAX_NAME_LENGTH = 64 - len(CHALLENGER_SUFFIX)
MAX_GRADE_LENGTH = 8
MAX_NOTE_LENGTH = 4000
MODEL_LABEL = "risk.modelversion"

_NAME = re.compile(r"^[a-zA-Z0-9][-a-zA-Z0-9_]*$")

# The fields a governance step changes: the audit trail records them before and after.
GOVERNANCE_FIELDS = (
    "status",
    "shadow",
    "validated_by",
    "validated_at",
    "approved_by",
    "approved_at",
    "promoted_at",
    "retired_at",
    "status_note",
)

Status = ModelVersion.Status
Progress = Callable[[str], None]


# --- Shared helpers ---------------------------------------------------------------------------


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _require_perm(actor: Any, *permissions: str) -> None:
    """The actor holds at least one of ``permissions``."""
    if not any(actor_has_perm(actor, permission) for permission in permissions):
        raise PermissionDenied(_("You do not have permission to do this."))


def _require_person(actor: Any) -> None:
    if is_system(actor) or getattr(actor, "pk", None) is None:
        raise PermissionDenied(
            _("Only a signed-in person can take a governance step on a credit model.")
        )


def _required_text(value: Any, field: str, message: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(field, message, "required")
    text = value.strip()
    if len(text) > MAX_NOTE_LENGTH:
        raise _error(
            field,
            _("Ensure this value has at most %(max_length)s characters.")
            % {"max_length": MAX_NOTE_LENGTH},
            "too_long",
        )
    return text


def _user_or_none(actor: Any) -> Any:
    return None if is_system(actor) or getattr(actor, "pk", None) is None else actor


def _locked(version: ModelVersion) -> ModelVersion:
    found = ModelVersion.objects.select_for_update().filter(pk=version.pk).first()
    if found is None:
        raise ValidationError(
            _("Model version %(label)s no longer exists.") % {"label": version.label},
            code="risk_model_not_found",
        )
    return found


def _status_label(version: ModelVersion) -> str:
    return str(version.get_status_display()).lower()


def _require_status(version: ModelVersion, allowed: Iterable[str], message: str) -> None:
    if version.status not in tuple(allowed):
        raise ValidationError(
            message % {"label": version.label, "status": _status_label(version)},
            code="risk_model_wrong_status",
        )


def _require_not_developer(actor: Any, version: ModelVersion, message: str) -> None:
    if version.created_by_id is not None and version.created_by_id == getattr(actor, "pk", None):
        raise PermissionDenied(message % {"label": version.label})


def _snapshot(version: ModelVersion, fields: Iterable[str] = GOVERNANCE_FIELDS) -> dict[str, Any]:
    return audit_snapshot(version, fields=fields)


def _event_payload(version: ModelVersion, **extra: Any) -> dict[str, Any]:
    """What leaves the bank about a model version: its identity and state, nothing else."""
    return {
        "model_version_pk": version.pk,
        "model": version.name,
        "version": version.version,
        "purpose": version.purpose,
        "method": version.method,
        "status": version.status,
        "shadow": version.shadow,
        **extra,
    }


def _json_ready(value: Any) -> Any:
    """``value`` as plain JSON: numpy scalars and arrays unwrapped, NaN and infinities as
    null (a JSON column must hold valid JSON on every database)."""
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return _json_ready(tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _json_ready(dataclasses.asdict(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _render_card(version: ModelVersion) -> None:
    """Render the model card (HTML and PDF) onto ``version`` (not saved).

    The stored card is the version's record as of its last change (governance included).
    Without the PDF renderer the PDF is left empty and rendered again when asked for.
    """
    html = model_card_html(version) or ""
    version.card_html = html
    version.card_pdf = b""
    if html:
        try:
            version.card_pdf = model_card_pdf(html)
        except CardRenderError as exc:
            logger.warning("model card PDF of %s not rendered: %s", version.label, exc)


def _save_with_card(version: ModelVersion, fields: Iterable[str]) -> None:
    """Save ``fields`` of ``version`` with its card rendered again."""
    _render_card(version)
    version.save(update_fields=[*fields, "card_html", "card_pdf", "updated_at"])


# --- Grade bands and the feature mapping ------------------------------------------------------


def _whole_score(value: Any) -> int | None:
    """An integer score from an int, an integral float/Decimal or digits; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        return int(text) if re.fullmatch(r"-?\d+", text) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


def grade_bands_clean(bands: Any) -> list[dict[str, Any]]:
    """Checked risk grades, highest first: ``[{"grade", "min_score", "recommendation"}, …]``.

    Each band needs a grade (unique, at most 8 characters), a whole ``min_score`` lower than
    the band above's, and a recommendation (approve, refer or decline); the last band catches
    every lower score, so its ``min_score`` is null. Raises ValidationError naming each bad
    band's field (``bands.2.min_score``) and changes nothing.
    """
    if not isinstance(bands, list | tuple) or not bands:
        raise _error("bands", _("Give at least one risk grade band."), "required")
    errors: dict[str, list[ValidationError]] = {}

    def add(field: str, message: str, code: str = "invalid") -> None:
        errors.setdefault(field, []).append(ValidationError(message, code=code))

    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    previous: int | None = None
    last = len(bands) - 1
    for index, band in enumerate(bands):
        prefix = f"bands.{index}"
        if not isinstance(band, Mapping):
            add(prefix, _("Each band is an object with grade, min_score and recommendation."))
            continue
        unknown = sorted(set(band) - {"grade", "min_score", "recommendation"})
        for name in unknown:
            add(f"{prefix}.{name}", _("This field is not allowed here."), "unknown_field")
        grade = band.get("grade")
        if not isinstance(grade, str) or not grade.strip():
            add(f"{prefix}.grade", _("Name the grade (A, B, …)."), "required")
            grade = ""
        else:
            grade = grade.strip()
            if len(grade) > MAX_GRADE_LENGTH:
                add(
                    f"{prefix}.grade",
                    _("A grade has at most %(max)s characters.") % {"max": MAX_GRADE_LENGTH},
                    "too_long",
                )
            elif grade in seen:
                add(
                    f"{prefix}.grade",
                    _("Grade “%(grade)s” is used twice.") % {"grade": grade},
                    "duplicate",
                )
            seen.add(grade)
        recommendation = band.get("recommendation")
        if recommendation not in RECOMMENDATIONS:
            add(
                f"{prefix}.recommendation",
                _("Choose approve, refer or decline."),
                "invalid_choice",
            )
        raw_min = band.get("min_score")
        min_score: int | None = None
        if index == last:
            if raw_min is not None:
                add(
                    f"{prefix}.min_score",
                    _("The last band takes every lower score: its min_score must be null."),
                )
        elif raw_min is None:
            add(
                f"{prefix}.min_score",
                _("Only the last band may leave min_score empty."),
                "required",
            )
        else:
            min_score = _whole_score(raw_min)
            if min_score is None:
                add(f"{prefix}.min_score", _("Enter a whole number of points."), "invalid_type")
            elif previous is not None and min_score >= previous:
                add(
                    f"{prefix}.min_score",
                    _("Bands go from the highest score down: %(value)s must be below %(above)s.")
                    % {"value": min_score, "above": previous},
                )
            else:
                previous = min_score
        cleaned.append({"grade": grade, "min_score": min_score, "recommendation": recommendation})
    if errors:
        raise ValidationError(errors)
    return cleaned


def _spec_features(version: ModelVersion) -> list[str]:
    features = (version.spec or {}).get("features") or []
    return [str(item.get("name")) for item in features if isinstance(item, Mapping)]


def feature_map_clean(mapping: Any, *, features: Sequence[str]) -> dict[str, str]:
    """A checked model feature → CRM feature mapping.

    Keys must be features of the model, values names in the CRM feature catalogue
    (``bankcrm.risk.features.FEATURE_CATALOGUE``), each CRM feature used once; an empty value
    removes the entry. Raises ValidationError naming each bad entry (``mapping.<feature>``).
    """
    from .features import FEATURE_CATALOGUE

    if not isinstance(mapping, Mapping):
        raise _error("mapping", _("Give the mapping as an object: model feature → CRM feature."))
    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, str] = {}
    used: dict[str, str] = {}
    known = set(features)
    for key, value in mapping.items():
        field = f"mapping.{key}"
        if key not in known:
            errors.setdefault(field, []).append(
                ValidationError(
                    _("The model has no feature “%(feature)s”.") % {"feature": key},
                    code="invalid",
                )
            )
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str) or value.strip() not in FEATURE_CATALOGUE:
            errors.setdefault(field, []).append(
                ValidationError(
                    _("“%(value)s” is not a feature the CRM computes.") % {"value": value},
                    code="invalid_choice",
                )
            )
            continue
        target = value.strip()
        if target in used:
            errors.setdefault(field, []).append(
                ValidationError(
                    _("“%(value)s” is already mapped to “%(other)s”.")
                    % {"value": target, "other": used[target]},
                    code="duplicate",
                )
            )
            continue
        used[target] = str(key)
        cleaned[str(key)] = target
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- Registering and training -----------------------------------------------------------------


def model_name_clean(name: Any) -> str:
    """A model name as the registry accepts it (credit and propensity models alike);
    ValidationError naming ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise _error("name", _("Name the model."), "required")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        raise _error(
            "name",
            _("A model name has at most %(max)s characters.") % {"max": MAX_NAME_LENGTH},
            "too_long",
        )
    if not _NAME.fullmatch(name):
        raise _error(
            "name",
            _("Use letters, digits, hyphens and underscores only, e.g. “german-credit”."),
            "invalid_format",
        )
    return name


def _clean_purpose(purpose: Any) -> str:
    if purpose not in Purpose.values:
        raise _error(
            "purpose",
            _("Choose one of %(choices)s.") % {"choices": ", ".join(Purpose.values)},
            "invalid_choice",
        )
    return str(purpose)


def default_model_name(file_name: str) -> str:
    """The model name a learning file gives by default: its name without extensions, as a
    slug (``German Credit.csv.gz`` → ``german-credit``)."""
    stem = Path(file_name).name
    for suffix in (".gz", ".csv", ".txt", ".tsv"):
        stem = stem.removesuffix(suffix)
    return slugify(stem)[:MAX_NAME_LENGTH].strip("-_") or "model"


def _settings_dict(settings: Any) -> dict[str, Any]:
    if settings is None:
        return {}
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        return _json_ready(dataclasses.asdict(settings))
    return _json_ready(dict(settings))


def _bands_for(settings: Any, training_settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    bands = getattr(settings, "grade_bands", None) if settings is not None else None
    if bands is None:
        from .pipeline.train import default_grade_bands

        bands = default_grade_bands(
            float(training_settings.get("base_score", 600)),
            float(training_settings.get("pdo", 20)),
        )
    try:
        return grade_bands_clean(_json_ready(bands))
    except ValidationError as exc:
        raise ValidationError(
            {"grade_bands": [ValidationError(message) for message in exc.messages]}
        ) from None


def _prepared_version(
    *,
    actor: Any,
    name: str,
    purpose: str,
    trained: Any,
    dataset: Any,
    description: str,
    settings: Any,
    dataset_name: str,
) -> ModelVersion:
    """An unsaved version holding a trained model, its evaluation and its rendered card."""
    method = getattr(trained, "method", None)
    if method not in Method.values:
        raise _error(
            "method",
            _("Choose one of %(choices)s.") % {"choices": ", ".join(Method.values)},
            "invalid_choice",
        )
    spec = _json_ready(getattr(trained, "spec", None))
    if not isinstance(spec, dict) or not spec.get("features"):
        raise _error("spec", _("The trained model has no scoring specification."), "required")
    from .engine import SpecError, compile_model

    try:
        compile_model(spec)
    except SpecError as exc:
        # What is stored must score: the engine reads exactly this specification.
        raise _error("spec", str(exc), "risk_spec_invalid") from None
    training_settings = _settings_dict(settings) or _json_ready(
        (getattr(trained, "card", None) or {}).get("settings") or {}
    )
    fingerprint = _json_ready(getattr(dataset, "fingerprint", None) or {})
    source = dataset_name or str(fingerprint.get("source") or "")
    version = ModelVersion(
        name=name,
        version=_next_version(name),
        purpose=purpose,
        method=method,
        status=Status.DRAFT,
        description=(description or "").strip(),
        spec=spec,
        metrics=_json_ready(getattr(trained, "metrics", None) or {}),
        card=_json_ready(getattr(trained, "card", None) or {}),
        fingerprint=fingerprint,
        dataset_name=Path(source).name[:255] if source else "",
        training_settings=training_settings,
        grade_bands=_bands_for(settings, training_settings),
        baseline=_json_ready(getattr(trained, "baseline", None) or {}),
        created_by=_user_or_none(actor),
    )
    _render_card(version)
    return version


def _next_version(name: str) -> int:
    last = (
        ModelVersion.objects.filter(name=name)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return (last or 0) + 1


def _metric_summary(metrics: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("auc_cv_mean", "auc_cv_std", "gini", "ks", "brier", "rows", "bad_rate", "cv")
    return {key: metrics.get(key) for key in keys if key in metrics}


def _save_new(actor: Any, version: ModelVersion) -> ModelVersion:
    """Store a prepared version under the next free number of its name (in the caller's
    transaction), audited and evented."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                version.save(force_insert=True)
        except IntegrityError:
            # Another registration took the number meanwhile: take the next one.
            version.pk = None
            version.version = _next_version(version.name)
            continue
        break
    else:
        raise ValidationError(
            _("Could not number a new version of “%(name)s”; try again.") % {"name": version.name},
            code="risk_model_version_conflict",
        )
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
                    "grade_bands",
                    "created_by",
                ),
            ),
            "metrics": _metric_summary(version.metrics),
        },
    )
    event_record(
        type="risk.model_registered",
        target=version,
        payload=_event_payload(version, metrics=_metric_summary(version.metrics)),
    )
    return version


def model_register(
    *,
    actor: Any,
    name: str,
    purpose: str,
    trained: TrainedModel,
    dataset: Dataset,
    description: str = "",
    settings: TrainingSettings | None = None,
    dataset_name: str = "",
) -> ModelVersion:
    """Register a trained model as the next draft version of ``name``.

    Stores the scoring specification, evaluation, model card data, the learning data's
    fingerprint, the development distribution, the training settings and the risk grades
    (``settings.grade_bands`` or the defaults for the scaling), and renders the model card
    (HTML and PDF). The developer is the actor when a person, none for a system job.
    """
    _require_perm(actor, TRAIN_PERMISSION)
    name = model_name_clean(name)
    purpose = _clean_purpose(purpose)
    version = _prepared_version(
        actor=actor,
        name=name,
        purpose=purpose,
        trained=trained,
        dataset=dataset,
        description=description,
        settings=settings,
        dataset_name=dataset_name,
    )
    with transaction.atomic():
        return _save_new(actor, version)


def _clean_columns(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    return tuple(str(item).strip() for item in value if str(item).strip())


MONOTONE_DIRECTIONS = ("ascending", "descending")


def monotone_parse(items: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """Declared risk trends: ``{"duration": "ascending"}`` or ``["duration=ascending", …]``
    (ascending: the risk rises with the value). Raises ValidationError naming ``monotone``."""
    if not items:
        return {}
    pairs: list[tuple[str, str]] = []
    if isinstance(items, Mapping):
        pairs = [(str(key), str(value)) for key, value in items.items()]
    else:
        for item in items:
            column, sep, direction = str(item).partition("=")
            if not sep or not column.strip():
                raise _error(
                    "monotone",
                    _("Write “%(item)s” as COLUMN=ascending or COLUMN=descending.")
                    % {"item": item},
                    "invalid_format",
                )
            pairs.append((column, direction))
    result: dict[str, str] = {}
    for column, direction in pairs:
        direction = direction.strip().lower()
        if direction not in MONOTONE_DIRECTIONS:
            raise _error(
                "monotone",
                _("The trend of %(column)s must be ascending or descending, not “%(value)s”.")
                % {"column": column.strip(), "value": direction},
                "invalid_choice",
            )
        result[column.strip()] = direction
    return result


def training_settings_build(
    *,
    method: str = "scorecard",
    pdo: float = 20,
    base_score: float = 600,
    base_odds: float = 50,
    folds: int = 5,
    repeats: int = 5,
    monotone: Mapping[str, str] | Iterable[str] | None = None,
    grade_bands: Any = None,
    seed: int | None = None,
) -> TrainingSettings:
    """Checked training settings: points scaling (``base_score`` points at ``base_odds``
    good:bad odds, ``pdo`` points to double the odds), cross-validation (``folds`` × ``repeats``),
    declared risk trends and risk grades. Raises ValidationError naming each bad field."""
    from .pipeline.train import TrainingSettings

    errors: dict[str, list[ValidationError]] = {}

    def check(field: str, ok: bool, message: str) -> None:
        if not ok:
            errors.setdefault(field, []).append(ValidationError(message, code="out_of_range"))

    def finite(value: Any) -> bool:
        try:
            return math.isfinite(float(value))
        except (TypeError, ValueError):
            return False

    check("method", method in TRAINING_METHODS, _("Choose scorecard, gbm or both."))
    check("pdo", finite(pdo) and float(pdo) > 0, _("Points to double the odds must be above 0."))
    check("base_score", finite(base_score), _("Enter the score of the base odds."))
    check(
        "base_odds",
        finite(base_odds) and float(base_odds) > 0,
        _("The base odds (good:bad) must be above 0."),
    )
    for field, value, low, high in (("folds", folds, 2, 20), ("repeats", repeats, 1, 20)):
        check(
            field,
            isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
            _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high},
        )
    trends: dict[str, str] = {}
    try:
        trends = monotone_parse(monotone)
    except ValidationError as exc:
        errors.setdefault("monotone", []).extend(exc.error_dict["monotone"])
    bands = None
    if grade_bands is not None:
        try:
            bands = grade_bands_clean(grade_bands)
        except ValidationError as exc:
            for field, items in exc.error_dict.items():
                errors.setdefault(field.replace("bands", "grade_bands", 1), []).extend(items)
    if errors:
        raise ValidationError(errors)
    values: dict[str, Any] = {
        "method": method,
        "pdo": float(pdo),
        "base_score": float(base_score),
        "base_odds": float(base_odds),
        "folds": folds,
        "repeats": repeats,
        "monotone": trends,
        "grade_bands": bands,
    }
    if seed is not None:
        values["seed"] = seed
    return TrainingSettings(**values)


def model_train(
    *,
    actor: Any,
    path: str | Path,
    target: str,
    bad: str | Sequence[str],
    exclude: Sequence[str] = (),
    name: str = "",
    method: str = "scorecard",
    purpose: str = "application",
    settings: TrainingSettings | None = None,
    description: str = "",
    dates: Sequence[str] = (),
    categorical: Sequence[str] = (),
    numeric: Sequence[str] = (),
    dataset_name: str = "",
    progress: Progress | None = None,
) -> list[ModelVersion]:
    """Train on a CSV file (plain or gzipped, any separator) and register the result.

    ``method`` is scorecard, gbm or both; with both, the scorecard is registered as ``name``
    and the gradient-boosting challenger as ``name-gbm`` (both drafts, both or neither).
    ``name`` defaults to the file's name. Bad input (a missing file or column, a target
    with other than two outcomes …) raises ValidationError naming it; nothing is stored.
    ``progress`` receives a sentence at each stage.
    """
    _require_perm(actor, TRAIN_PERMISSION)
    say = progress or (lambda message: None)
    source = Path(path)
    if method not in TRAINING_METHODS:
        raise _error(
            "method",
            _("Choose one of %(choices)s.") % {"choices": ", ".join(TRAINING_METHODS)},
            "invalid_choice",
        )
    purpose = _clean_purpose(purpose)
    name = model_name_clean(name) if name else model_name_clean(default_model_name(source.name))
    if not isinstance(target, str) or not target.strip():
        raise _error("target", _("Name the column holding the outcome."), "required")
    bad_values = _clean_columns(bad)
    if not bad_values:
        raise _error("bad", _("Give the value(s) of the target that mean “bad”."), "required")
    if not source.is_file():
        raise _error("data", _("There is no file %(path)s.") % {"path": source}, "not_found")

    from .pipeline.data import DatasetError, load_dataset
    from .pipeline.train import TrainingSettings, train

    chosen = dataclasses.replace(settings or TrainingSettings(), method=method)
    say(_("Reading %(file)s …") % {"file": dataset_name or source.name})
    try:
        dataset = load_dataset(
            source,
            target=target.strip(),
            bad=list(bad_values),
            exclude=_clean_columns(exclude),
            dates=_clean_columns(dates),
            categorical=_clean_columns(categorical),
            numeric=_clean_columns(numeric),
        )
    except DatasetError as exc:
        raise _error("data", str(exc), "risk_dataset_invalid") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _error(
            "data",
            _("%(file)s could not be read: %(reason)s")
            % {"file": dataset_name or source.name, "reason": exc},
            "risk_dataset_unreadable",
        ) from None
    fingerprint = getattr(dataset, "fingerprint", None)
    if isinstance(fingerprint, dict) and dataset_name:
        # The name the user knows, not the path of a temporary copy.
        fingerprint["source"] = dataset_name
    fingerprint = fingerprint or {}
    say(
        _("%(rows)s rows, %(features)s usable features, bad rate %(rate).1f%%")
        % {
            "rows": fingerprint.get("rows", len(dataset.target)),
            "features": dataset.features.shape[1],
            "rate": 100 * float(fingerprint.get("bad_rate", 0) or 0),
        }
    )
    for exclusion in getattr(dataset, "exclusions", []) or []:
        say(
            _("excluded %(column)s: %(reason)s")
            % {"column": exclusion.get("column"), "reason": exclusion.get("reason")}
        )
    say(
        _("Training %(method)s: %(folds)s-fold cross-validation × %(repeats)s …")
        % {"method": method, "folds": chosen.folds, "repeats": chosen.repeats}
    )
    try:
        models = train(dataset, chosen)
    except DatasetError as exc:
        raise _error("data", str(exc), "risk_dataset_invalid") from None
    prepared = []
    for trained in models:
        model_name = name
        if method == "both" and trained.method == Method.GBM:
            model_name = f"{name}{CHALLENGER_SUFFIX}"
        prepared.append(
            _prepared_version(
                actor=actor,
                name=model_name,
                purpose=purpose,
                trained=trained,
                dataset=dataset,
                description=description,
                settings=chosen,
                dataset_name=dataset_name or source.name,
            )
        )
    # The scorecard first: it is the champion of a "both" run.
    prepared.sort(key=lambda version: version.method != Method.SCORECARD)
    with transaction.atomic():
        saved = [_save_new(actor, version) for version in prepared]
    for version in saved:
        say(_("Registered %(label)s (draft).") % {"label": version.label})
    return saved


# --- Governance -------------------------------------------------------------------------------


def model_validate(*, actor: Any, version: ModelVersion, note: str) -> ModelVersion:
    """Record the independent validation of a draft version, with the validator's note.

    Needs ``risk.validate_modelversion``; the model's developer can never validate it.
    """
    _require_person(actor)
    _require_perm(actor, VALIDATE_PERMISSION)
    note = _required_text(note, "note", _("Write the validation's conclusion in the note."))
    with transaction.atomic():
        locked = _locked(version)
        _require_not_developer(
            actor,
            locked,
            _(
                "You developed %(label)s: its validation must be done by someone else "
                "(independent validation)."
            ),
        )
        _require_status(
            locked, (Status.DRAFT,), _("Only a draft can be validated; %(label)s is %(status)s.")
        )
        before = _snapshot(locked)
        locked.status = Status.VALIDATED
        locked.validated_by = actor
        locked.validated_at = timezone.now()
        locked.status_note = note
        _save_with_card(locked, ["status", "validated_by", "validated_at", "status_note"])
        audit_record(
            actor=actor,
            action="risk.model_validate",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=note,
        )
        event_record(type="risk.model_validated", target=locked, payload=_event_payload(locked))
    return locked


def model_approve(*, actor: Any, version: ModelVersion, note: str) -> ModelVersion:
    """Approve a validated version for use (it may then score in shadow or be promoted).

    Needs ``risk.approve_modelversion``; the model's developer can never approve it.
    """
    _require_person(actor)
    _require_perm(actor, APPROVE_PERMISSION)
    note = _required_text(note, "note", _("Write why the model may be used in the note."))
    with transaction.atomic():
        locked = _locked(version)
        _require_not_developer(
            actor,
            locked,
            _("You developed %(label)s: a second person must approve it."),
        )
        _require_status(
            locked,
            (Status.VALIDATED,),
            _("Only a validated version can be approved; %(label)s is %(status)s."),
        )
        before = _snapshot(locked)
        locked.status = Status.APPROVED
        locked.approved_by = actor
        locked.approved_at = timezone.now()
        locked.status_note = note
        _save_with_card(locked, ["status", "approved_by", "approved_at", "status_note"])
        audit_record(
            actor=actor,
            action="risk.model_approve",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=note,
        )
        event_record(type="risk.model_approved", target=locked, payload=_event_payload(locked))
    return locked


def pending_promotion(version: ModelVersion) -> PendingApproval | None:
    """The promotion request of ``version`` waiting for its second person, if any."""
    return (
        PendingApproval.objects.filter(
            action=PROMOTE_ACTION,
            object_type=MODEL_LABEL,
            object_pk=str(version.pk),
            status=PendingApproval.Status.PENDING,
        )
        .select_related("maker")
        .order_by("-created_at")
        .first()
    )


def model_promote(*, actor: Any, version: ModelVersion, reason: str) -> PendingApproval:
    """Ask for ``version`` to go into production, or approve the request another person made.

    Without a pending request this makes one (maker-checker action ``risk.promote_model``;
    the maker needs ``risk.train_modelversion`` or ``risk.approve_modelversion``) and the
    version stays approved. With one pending, a second person holding
    ``risk.approve_modelversion`` — not the maker, not the developer — approves it: the
    purpose's production version is retired and this one takes its place. Returns the
    request (pending, or approved once applied).
    """
    _require_person(actor)
    reason = _required_text(reason, "reason", _("Say why this version should go into production."))
    pending = pending_promotion(version)
    if pending is not None:
        if pending.maker_id == actor.pk:
            raise PermissionDenied(
                _(
                    "You asked for this promotion yourself (request %(pk)s): a second person "
                    "with the model risk role must approve it."
                )
                % {"pk": pending.pk}
            )
        if PROMOTE_ACTION not in approval_actions_decidable_by(actor):
            raise PermissionDenied(
                _("You do not have the permission to approve a model's promotion.")
            )
        current = ModelVersion.objects.filter(pk=version.pk).first() or version
        _require_not_developer(
            actor,
            current,
            _("You developed %(label)s: a second person must approve its promotion."),
        )
        approval = approval_approve(actor=actor, approval_pk=pending.pk, comment=reason)
        if approval.status != PendingApproval.Status.APPROVED:
            raise ValidationError(approval.failure_reason, code="risk_promotion_failed")
        version.refresh_from_db()
        return approval
    _require_perm(actor, TRAIN_PERMISSION, APPROVE_PERMISSION)
    with transaction.atomic():
        locked = _locked(version)
        _require_status(
            locked,
            (Status.APPROVED,),
            _("Only an approved version can be promoted; %(label)s is %(status)s."),
        )
        approval = approval_request(
            actor=actor,
            action=PROMOTE_ACTION,
            payload={
                "version": locked.pk,
                "model": locked.name,
                "number": locked.version,
                "purpose": locked.purpose,
            },
            reason=reason,
            target=locked,
        )
        audit_record(
            actor=actor,
            action="risk.model_promote_request",
            target=locked,
            after={"approval": approval.pk, "purpose": locked.purpose},
            reason=reason,
        )
    return approval


def model_promote_payload_check(payload: Mapping[str, Any]) -> None:
    """The payload of a ``risk.promote_model`` request names a model version."""
    value = payload.get("version") if isinstance(payload, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error("version", _("The request does not name a model version."), "required")


def model_promote_apply(
    *, actor: Any, payload: Mapping[str, Any], approval: PendingApproval
) -> ModelVersion:
    """Maker-checker handler of ``risk.promote_model``: the checker (``actor``) puts the
    version into production and retires the purpose's previous production version.

    Refuses when the checker developed the model or the version is no longer approved.
    """
    model_promote_payload_check(payload)
    if approval.maker_id is not None and approval.maker_id == getattr(actor, "pk", None):
        raise PermissionDenied(_("You cannot approve your own request: a second person must."))
    locked = ModelVersion.objects.select_for_update().filter(pk=payload["version"]).first()
    if locked is None:
        raise ValidationError(
            _("The model version of this request no longer exists."), code="risk_model_not_found"
        )
    _require_not_developer(
        actor, locked, _("You developed %(label)s: a second person must approve its promotion.")
    )
    _require_status(
        locked,
        (Status.APPROVED,),
        _("Only an approved version can be promoted; %(label)s is %(status)s."),
    )
    now = timezone.now()
    reason = approval.maker_reason
    previous = list(
        ModelVersion.objects.select_for_update()
        .filter(purpose=locked.purpose, status=Status.PRODUCTION)
        .exclude(pk=locked.pk)
    )
    try:
        with transaction.atomic():
            for old in previous:
                before = _snapshot(old)
                old.status = Status.RETIRED
                old.retired_at = now
                old.shadow = False
                old.status_note = _("Replaced in production by %(label)s.") % {
                    "label": locked.label
                }
                _save_with_card(old, ["status", "retired_at", "shadow", "status_note"])
                audit_record(
                    actor=actor,
                    action="risk.model_retire",
                    target=old,
                    before=before,
                    after=_snapshot(old),
                    reason=old.status_note,
                )
                event_record(
                    type="risk.model_retired",
                    target=old,
                    payload=_event_payload(old, replaced_by=locked.label),
                )
            before = _snapshot(locked)
            locked.status = Status.PRODUCTION
            locked.promoted_at = now
            locked.shadow = False
            locked.status_note = reason
            _save_with_card(locked, ["status", "promoted_at", "shadow", "status_note"])
    except IntegrityError:
        raise ValidationError(
            _("Another version of this purpose went into production meanwhile; ask again."),
            code="risk_production_conflict",
        ) from None
    audit_record(
        actor=actor,
        action="risk.model_promote",
        target=locked,
        before=before,
        after={**_snapshot(locked), "maker": approval.maker_id, "approval": approval.pk},
        reason=reason,
    )
    event_record(
        type="risk.model_promoted",
        target=locked,
        payload=_event_payload(
            locked, replaced=[old.label for old in previous], approval=approval.pk
        ),
    )
    return locked


def model_retire(*, actor: Any, version: ModelVersion, reason: str) -> ModelVersion:
    """Take a version out of use, saying why (it stops scoring, in shadow too).

    Retiring the production version needs ``risk.approve_modelversion`` (the purpose is
    then without a model until another is promoted); any other version also
    ``risk.train_modelversion``.
    """
    _require_person(actor)
    reason = _required_text(reason, "reason", _("Say why the version is retired."))
    with transaction.atomic():
        locked = _locked(version)
        if locked.status == Status.PRODUCTION:
            _require_perm(actor, APPROVE_PERMISSION)
        else:
            _require_perm(actor, APPROVE_PERMISSION, TRAIN_PERMISSION)
        _require_status(
            locked,
            (Status.DRAFT, Status.VALIDATED, Status.APPROVED, Status.PRODUCTION),
            _("%(label)s is already %(status)s."),
        )
        before = _snapshot(locked)
        locked.status = Status.RETIRED
        locked.retired_at = timezone.now()
        locked.shadow = False
        locked.status_note = reason
        _save_with_card(locked, ["status", "retired_at", "shadow", "status_note"])
        audit_record(
            actor=actor,
            action="risk.model_retire",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(type="risk.model_retired", target=locked, payload=_event_payload(locked))
    return locked


def model_shadow_set(*, actor: Any, version: ModelVersion, on: bool, reason: str) -> ModelVersion:
    """Let an approved version score in shadow beside the production one, or stop it.

    Needs ``risk.approve_modelversion``. One shadow challenger per purpose: switch the
    current one off first. Setting the state it already has changes nothing.
    """
    _require_person(actor)
    _require_perm(actor, APPROVE_PERMISSION)
    if not isinstance(on, bool):
        raise _error("on", _("Say true to score in shadow, false to stop."), "invalid_type")
    reason = _required_text(reason, "reason", _("Say why."))
    with transaction.atomic():
        locked = _locked(version)
        if locked.shadow == on:
            return locked
        if on:
            _require_status(
                locked,
                (Status.APPROVED,),
                _("Only an approved version can score in shadow; %(label)s is %(status)s."),
            )
            other = (
                ModelVersion.objects.select_for_update()
                .filter(purpose=locked.purpose, shadow=True)
                .exclude(pk=locked.pk)
                .first()
            )
            if other is not None:
                raise ValidationError(
                    _(
                        "%(other)s already scores in shadow for %(purpose)s: switch it off "
                        "first (one challenger per purpose)."
                    )
                    % {"other": other.label, "purpose": locked.get_purpose_display()},
                    code="risk_shadow_taken",
                )
        before = _snapshot(locked)
        locked.shadow = on
        try:
            with transaction.atomic():
                _save_with_card(locked, ["shadow"])
        except IntegrityError:
            raise ValidationError(
                _("Another version became the shadow challenger meanwhile; try again."),
                code="risk_shadow_taken",
            ) from None
        audit_record(
            actor=actor,
            action="risk.model_shadow",
            target=locked,
            before=before,
            after=_snapshot(locked),
            reason=reason,
        )
        event_record(type="risk.model_shadow", target=locked, payload=_event_payload(locked))
    return locked


def _editable(actor: Any, version: ModelVersion) -> ModelVersion:
    _require_perm(actor, CHANGE_PERMISSION, VALIDATE_PERMISSION)
    locked = _locked(version)
    _require_status(
        locked,
        (Status.DRAFT, Status.VALIDATED),
        _(
            "%(label)s is %(status)s: grades and the feature mapping change only while a "
            "version is draft or validated (train or register a new version instead)."
        ),
    )
    return locked


def model_grade_bands_update(*, actor: Any, version: ModelVersion, bands: Any) -> ModelVersion:
    """Replace the risk grades of a draft or validated version (see ``grade_bands_clean``)
    and render its model card again."""
    cleaned = grade_bands_clean(bands)
    with transaction.atomic():
        locked = _editable(actor, version)
        before = _snapshot(locked, ("grade_bands",))
        locked.grade_bands = cleaned
        _save_with_card(locked, ["grade_bands"])
        audit_record(
            actor=actor,
            action="risk.model_grade_bands",
            target=locked,
            before=before,
            after=_snapshot(locked, ("grade_bands",)),
        )
        event_record(
            type="risk.model_updated",
            target=locked,
            payload=_event_payload(locked, changed=["grade_bands"]),
        )
    return locked


def model_feature_map_update(*, actor: Any, version: ModelVersion, mapping: Any) -> ModelVersion:
    """Replace the model feature → CRM feature mapping of a draft or validated version (see
    ``feature_map_clean``) and render its model card again."""
    with transaction.atomic():
        locked = _editable(actor, version)
        cleaned = feature_map_clean(mapping, features=_spec_features(locked))
        before = _snapshot(locked, ("feature_map",))
        locked.feature_map = cleaned
        _save_with_card(locked, ["feature_map"])
        audit_record(
            actor=actor,
            action="risk.model_feature_map",
            target=locked,
            before=before,
            after=_snapshot(locked, ("feature_map",)),
        )
        event_record(
            type="risk.model_updated",
            target=locked,
            payload=_event_payload(locked, changed=["feature_map"]),
        )
    return locked
