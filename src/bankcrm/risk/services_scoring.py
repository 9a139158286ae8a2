"""Scoring with the registered credit models: one subject in real time, a file, or every
customer at night.

A score is the model's points for the subject's features (a scorecard's score is the sum of
its points), the probability of default those points mean, the risk grade of the model's
bands with its recommendation (approve, refer, decline) and the reasons: the features that
cost the most points against the best attainable, in the words of an adverse-action notice.

* The model's features are read under their own names, or under the CRM feature the
  version's ``feature_map`` maps them to. A feature that is absent scores through the
  model's missing bin.
* Every score of a subject is stored (:class:`~bankcrm.risk.models.Score`) with the feature
  values the model saw. When the model is its purpose's production model and the purpose
  has a shadow challenger, the challenger scores too: its score is stored beside the
  production one (``shadow``) and never drives a decision.
* Scoring a file writes a CSV (score, probability of default, grade, reason codes) and
  records the run; the nightly behaviour job scores every customer from the CRM's own
  aggregates in one vectorised pass and bulk-inserts the scores in batches.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import numbers
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today

from .engine import MISSING_TOKENS, category_of, grade_for, is_missing
from .models import ModelVersion, Purpose, Score, ScoreRun

logger = logging.getLogger(__name__)

SCORING_ACTOR = SystemActor("risk.scoring")
NIGHTLY_ACTOR = SystemActor("risk.nightly")
PD_QUANTUM = Decimal("0.000001")
TOP_REASONS = 4
# Rows per executemany of the nightly job on SQLite (PostgreSQL streams them with COPY).
BULK_BATCH = 5_000
# Columns of an input file that identify its rows and are copied to the output.
KEY_COLUMN_NAMES = ("id", "key", "reference", "customer_id", "client_id", "party_id")


# --- Helpers ---------------------------------------------------------------------------------


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _require_perm(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have the permission to do this."))


def _is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def _spec_features(version: ModelVersion) -> list[Mapping[str, Any]]:
    features = (version.spec or {}).get("features") or []
    return [feature for feature in features if isinstance(feature, Mapping) and "name" in feature]


def _feature_kinds(version: ModelVersion) -> dict[str, str]:
    """Each model feature with its kind, ``numerical`` or ``categorical``."""
    return {
        str(feature["name"]): str(feature.get("type") or "numerical")
        for feature in _spec_features(version)
    }


def _reason_book(version: ModelVersion) -> dict[str, dict[str, str]]:
    """Reason code → the feature and its adverse-action texts, from the model spec."""
    book: dict[str, dict[str, str]] = {}
    for feature in _spec_features(version):
        code = feature.get("code")
        if not code:
            continue
        reason = feature.get("reason") or {}
        book[str(code)] = {
            "feature": str(feature["name"]),
            "text_en": str(reason.get("en") or feature["name"]),
            "text_zh": str(reason.get("zh") or reason.get("en") or feature["name"]),
        }
    return book


def _number(raw: Any) -> tuple[float | None, bool]:
    """A numeric feature value as a float (None when missing); False when unreadable."""
    if is_missing(raw):
        return None, True
    if isinstance(raw, bool | np.bool_ | numbers.Real | Decimal):
        value = float(raw)
        return (None if math.isnan(value) else value), not math.isinf(value)
    if isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            return None, False
        return (None if math.isnan(value) else value), not math.isinf(value)
    return None, False


def _category(raw: Any) -> tuple[str | None, bool]:
    """A categorical feature value as the engine reads it (None when missing); False when
    unreadable (a list, an object)."""
    if isinstance(raw, Mapping | list | tuple | set):
        return None, False
    return category_of(raw), True


def model_inputs(
    version: ModelVersion, values: Mapping[str, Any], *, strict: bool = False
) -> dict[str, Any]:
    """The values the model reads, by model feature name: from ``values`` under the model's
    name or the CRM feature ``feature_map`` maps it to; None where absent.

    A value of the wrong kind (a word for a number, a list, an object) is a ValidationError
    naming ``values.<name>``; with ``strict`` so is a name the model does not know.
    """
    if not isinstance(values, Mapping):
        raise _error("values", _("Give the feature values as an object of name: value."))
    mapping = version.feature_map or {}
    errors: dict[str, list[ValidationError]] = {}
    inputs: dict[str, Any] = {}
    for name, kind in _feature_kinds(version).items():
        key = name if name in values else str(mapping.get(name) or name)
        raw = values.get(key)
        if kind == "categorical":
            value, readable = _category(raw)
            message = _("Enter a category (text).")
        else:
            value, readable = _number(raw)  # type: ignore[assignment]
            message = _("Enter a number.")
        if not readable:
            errors[f"values.{key}"] = [ValidationError(message, code="invalid")]
        inputs[name] = value
    if strict:
        known = set(inputs) | {str(mapping.get(name) or name) for name in inputs}
        for key in values:
            if key not in known:
                errors[f"values.{key}"] = [
                    ValidationError(
                        _("The model %(model)s has no feature “%(name)s”.")
                        % {"model": version.label, "name": key},
                        code="unknown_field",
                    )
                ]
    if errors:
        raise ValidationError(errors)
    return inputs


def _grade(version: ModelVersion, score: int) -> tuple[str, str]:
    if not version.grade_bands:
        return "", ""
    grade, recommendation = grade_for(score, version.grade_bands)
    return str(grade), str(recommendation)


def _pd(value: float) -> Decimal:
    return Decimal(str(float(value))).quantize(PD_QUANTUM, ROUND_HALF_UP)


def _reasons(outcome: Any) -> list[dict[str, Any]]:
    chinese = _is_chinese()
    return [
        {
            "code": reason.code,
            "feature": reason.feature,
            "points_lost": round(float(reason.points_lost), 2),
            "text": reason.text_zh if chinese else reason.text_en,
            "text_en": reason.text_en,
            "text_zh": reason.text_zh,
        }
        for reason in outcome.reasons
    ]


def _result(version: ModelVersion, outcome: Any) -> dict[str, Any]:
    score = int(outcome.score)
    grade, recommendation = _grade(version, score)
    return {
        "score": score,
        "probability_of_default": float(_pd(outcome.probability_of_default)),
        "grade": grade,
        "recommendation": recommendation,
        "reasons": _reasons(outcome),
        "model": version.name,
        "version": version.version,
        "purpose": version.purpose,
    }


def _challenger_of(version: ModelVersion) -> ModelVersion | None:
    """The shadow challenger scoring beside ``version`` (only beside a production model)."""
    if version.status != ModelVersion.Status.PRODUCTION:
        return None
    from .selectors import shadow_model

    challenger = shadow_model(version.purpose)
    if challenger is None or challenger.pk == version.pk:
        return None
    return challenger


def _score_once(
    version: ModelVersion, values: Mapping[str, Any], *, strict: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    from .selectors import compiled

    inputs = model_inputs(version, values, strict=strict)
    outcome = compiled(version).score(inputs, top=TOP_REASONS)
    return inputs, _result(version, outcome)


def _store(
    *,
    version: ModelVersion,
    result: dict[str, Any],
    inputs: dict[str, Any],
    subject_kind: str,
    subject_id: str,
    shadow: bool,
    run: ScoreRun | None,
) -> Score:
    return Score.objects.create(
        model_version=version,
        run=run,
        subject_kind=subject_kind,
        subject_id=subject_id,
        score=result["score"],
        probability_of_default=_pd(result["probability_of_default"]),
        grade=result["grade"],
        reasons=[
            {key: reason[key] for key in ("code", "feature", "points_lost", "text_en", "text_zh")}
            for reason in result["reasons"]
        ],
        inputs=inputs,
        shadow=shadow,
    )


def _score_and_store(
    *,
    actor: Any,
    version: ModelVersion,
    values: Mapping[str, Any],
    subject_kind: str,
    subject_id: str,
    store: bool,
    run: ScoreRun | None,
    strict: bool,
) -> dict[str, Any]:
    """Score with ``version`` and its challenger; store both when asked (one transaction)."""
    if version.status == ModelVersion.Status.RETIRED:
        raise _error(
            "version",
            _("%(model)s is retired: retired models score nothing.") % {"model": version.label},
            "retired",
        )
    if subject_kind not in Score.Subject.values:
        raise _error(
            "subject_kind",
            _("Choose one of: %(choices)s.") % {"choices": ", ".join(Score.Subject.values)},
            "invalid_choice",
        )
    subject_id = str(subject_id or "")
    if len(subject_id) > 64:
        raise _error("subject_id", _("Use at most 64 characters."), "too_long")
    inputs, result = _score_once(version, values, strict=strict)
    challenger = _challenger_of(version)
    shadow_inputs: dict[str, Any] | None = None
    shadow_result: dict[str, Any] | None = None
    if challenger is not None:
        try:
            shadow_inputs, shadow_result = _score_once(challenger, values, strict=False)
        except Exception:  # a challenger must never stop the production score
            logger.exception("shadow model %s could not score %s", challenger, subject_id)
    if shadow_result is not None:
        shadow_result["score_id"] = None
    result["shadow"] = shadow_result
    result["score_id"] = None
    if not store:
        return result
    with transaction.atomic():
        row = _store(
            version=version,
            result=result,
            inputs=inputs,
            subject_kind=subject_kind,
            subject_id=subject_id,
            shadow=False,
            run=run,
        )
        if challenger is not None and shadow_result is not None and shadow_inputs is not None:
            shadow_row = _store(
                version=challenger,
                result=shadow_result,
                inputs=shadow_inputs,
                subject_kind=subject_kind,
                subject_id=subject_id,
                shadow=True,
                run=run,
            )
            shadow_result["score_id"] = shadow_row.pk
        if run is None:
            audit_record(
                actor=actor,
                action="risk.score",
                target=row,
                after={
                    "model": version.label,
                    "subject_kind": subject_kind,
                    "subject_id": subject_id,
                    "score": result["score"],
                    "grade": result["grade"],
                    "recommendation": result["recommendation"],
                    "shadow_score": shadow_result["score"] if shadow_result else None,
                },
            )
    result["score_id"] = row.pk
    return result


# --- Real time -------------------------------------------------------------------------------


def score_values(
    *,
    actor: Any,
    version: ModelVersion,
    values: Mapping[str, Any],
    subject_kind: str = "record",
    subject_id: str = "",
    store: bool = True,
    run: ScoreRun | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Score ``values`` (feature name → value) with ``version``: ``{"score",
    "probability_of_default", "grade", "recommendation", "reasons": [{"code", "feature",
    "points_lost", "text", "text_en", "text_zh"}], "model", "version", "purpose",
    "score_id", "shadow": {... the challenger's result} | None}``.

    Needs ``risk.score_modelversion``. Stores the score (and the challenger's) unless
    ``store`` is false; ``strict`` refuses feature names the model does not know.
    """
    _require_perm(actor, "risk.score_modelversion")
    return _score_and_store(
        actor=actor,
        version=version,
        values=values,
        subject_kind=subject_kind,
        subject_id=subject_id,
        store=store,
        run=run,
        strict=strict,
    )


def _production(purpose: str) -> ModelVersion | None:
    from .selectors import production_model

    return production_model(purpose)


def application_score(
    *, actor: Any, application: Any, version: ModelVersion | None = None, store: bool = True
) -> dict[str, Any] | None:
    """Score a loan application from the CRM's features of it (``version``: default the
    production application model); None when there is no such model. The caller has
    checked that ``actor`` may see the application."""
    from .features import application_features

    version = version or _production(Purpose.APPLICATION)
    if version is None:
        return None
    values = application_features(application)
    return _score_and_store(
        actor=actor,
        version=version,
        values=values,
        subject_kind=Score.Subject.APPLICATION,
        subject_id=str(application.pk),
        store=store,
        run=None,
        strict=False,
    )


def score_application(application: Any, *, actor: Any = None) -> Any:
    """The lending module's credit score of ``application`` (a
    :class:`bankcrm.lending.scoring.ScoreResult`) from the production application model,
    stored as a score of the application; None when no application model is in
    production."""
    from bankcrm.lending.scoring import ScoreReason, ScoreResult

    result = application_score(actor=actor or SCORING_ACTOR, application=application)
    if result is None:
        return None
    return ScoreResult(
        score=result["score"],
        model=result["model"],
        model_version=str(result["version"]),
        grade=result["grade"],
        probability_of_default=_pd(result["probability_of_default"]),
        reason_codes=[reason["code"] for reason in result["reasons"]],
        recommendation=result["recommendation"],
        reasons=[
            ScoreReason(
                code=reason["code"],
                feature=reason["feature"],
                text=reason["text"],
                points_lost=reason["points_lost"],
                text_en=reason["text_en"],
                text_zh=reason["text_zh"],
            )
            for reason in result["reasons"]
        ],
    )


def score_party(
    *,
    actor: Any,
    party: Any,
    as_of: Any = None,
    version: ModelVersion | None = None,
    store: bool = True,
) -> dict[str, Any] | None:
    """Score a customer from the CRM's features of them on ``as_of`` (default today) with
    ``version`` (default the production behaviour model); None when there is no such
    model. The caller has checked that ``actor`` may see the customer."""
    from .features import party_features

    version = version or _production(Purpose.BEHAVIOUR)
    if version is None:
        return None
    values = party_features(party, as_of=as_of or bank_today())
    return _score_and_store(
        actor=actor,
        version=version,
        values=values,
        subject_kind=Score.Subject.PARTY,
        subject_id=str(party.pk),
        store=store,
        run=None,
        strict=False,
    )


# --- Batch: frames ---------------------------------------------------------------------------


def _model_frame(version: ModelVersion, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's feature columns from ``frame``, under the model's names: each read from
    its own column, else from the CRM feature ``feature_map`` maps it to; a feature with
    neither is left out (it scores as missing)."""
    mapping = version.feature_map or {}
    columns: dict[str, Any] = {}
    for name in _feature_kinds(version):
        source = name if name in frame.columns else str(mapping.get(name) or name)
        if source in frame.columns:
            columns[name] = frame[source]
    return pd.DataFrame(columns, index=frame.index)


def grades_for(version: ModelVersion, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Grades and recommendations of many scores at once (the version's bands)."""
    bands = list(version.grade_bands or [])
    count = len(scores)
    if not bands:
        empty = np.full(count, "", dtype=object)
        return empty, empty.copy()
    conditions = [
        np.ones(count, dtype=bool)
        if band.get("min_score") is None
        else scores >= float(band["min_score"])
        for band in bands
    ]
    grades = np.select(
        conditions, [str(band["grade"]) for band in bands], default=bands[-1]["grade"]
    )
    advice = np.select(
        conditions,
        [str(band.get("recommendation") or "") for band in bands],
        default=str(bands[-1].get("recommendation") or ""),
    )
    return grades.astype(object), advice.astype(object)


def score_frame(
    version: ModelVersion, frame: pd.DataFrame, *, top: int = TOP_REASONS
) -> pd.DataFrame:
    """Score every row of ``frame`` with ``version``, vectorised: the frame's index with
    columns score, probability_of_default, grade, recommendation, reason_1 … reason_top."""
    from .selectors import compiled

    features = _model_frame(version, frame)
    scored = compiled(version).score_frame(features, top=top)
    scored.index = frame.index
    scores = scored["score"].to_numpy()
    grades, advice = grades_for(version, scores)
    scored.insert(2, "grade", grades)
    scored.insert(3, "recommendation", advice)
    return scored


# --- Batch: files ----------------------------------------------------------------------------


def read_table(path: Any) -> pd.DataFrame:
    """A CSV file (plain or gzipped, UTF-8 or Latin-1) as a frame with its first line as
    the column names; the separator is sniffed as the training data loader does (comma,
    semicolon, tab, pipe or spaces) and its missing-value tokens are missing here too."""
    from .pipeline.data import DatasetError, sniff_separator

    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError as exc:
        raise _error("data", _("There is no file %(path)s.") % {"path": source}) from exc
    except OSError as exc:
        raise _error(
            "data", _("%(path)s cannot be read: %(error)s") % {"path": source, "error": exc}
        ) from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise _error(
                "data", _("%(path)s is not a valid gzip file.") % {"path": source}
            ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        raise _error("data", _("%(path)s is empty.") % {"path": source})
    try:
        separator = sniff_separator(text[:200_000])
    except DatasetError as exc:
        raise _error("data", f"{source}: {exc}") from exc
    options: dict[str, Any] = {"keep_default_na": False, "na_values": sorted(MISSING_TOKENS)}
    if separator == "whitespace":
        options["sep"] = r"\s+"
    else:
        options.update(sep=separator, skipinitialspace=True)
    try:
        frame = pd.read_csv(io.StringIO(text), low_memory=False, **options)
    except (ValueError, pd.errors.ParserError) as exc:
        raise _error(
            "data", _("%(path)s cannot be read: %(error)s") % {"path": source, "error": exc}
        ) from exc
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


def model_version_named(*, actor: Any, name: str, version: int | None = None) -> ModelVersion:
    """Version ``version`` of the model ``name``; without a number, the one in production,
    else the newest. ValidationError naming ``model`` (or ``version``) when there is none."""
    from django.http import Http404

    from .selectors import model_version_by_name

    try:
        return model_version_by_name(actor=actor, name=name, version=version)
    except Http404 as exc:
        if version is not None and ModelVersion.objects.filter(name=name).exists():
            raise _error(
                "version",
                _("The model %(name)s has no version %(version)s.")
                % {"name": name, "version": version},
                "not_found",
            ) from exc
        raise _error(
            "model", _("There is no model named %(name)s.") % {"name": name}, "not_found"
        ) from exc


def score_file(
    *, actor: Any, name: str, path: Any, out: Any, version: int | None = None
) -> dict[str, Any]:
    """Score every row of the CSV ``path`` with model ``name`` (``version``: default its
    production version, else its latest) and write the CSV ``out`` (gzipped when it ends in
    .gz): the row's key columns (id, reference, … when present) or its line number, then
    score, probability_of_default, grade, recommendation, reason_1 … reason_4. Records the
    run and audits it; returns ``{"rows", "seconds", "out", "model", "version", "run"}``."""
    _require_perm(actor, "risk.score_modelversion")
    model = model_version_named(actor=actor, name=name, version=version)
    target = Path(out)
    if not target.parent.is_dir():
        raise _error("out", _("There is no folder %(path)s.") % {"path": target.parent})
    started = time.perf_counter()
    frame = read_table(path)
    known = set(_feature_kinds(model)) | {
        str((model.feature_map or {}).get(name) or name) for name in _feature_kinds(model)
    }
    if not known & set(frame.columns):
        raise _error(
            "data",
            _("The file has none of the model's features (%(features)s).")
            % {"features": ", ".join(sorted(_feature_kinds(model)))},
        )
    scored = score_frame(model, frame)
    keys = [column for column in frame.columns if column.lower() in KEY_COLUMN_NAMES]
    output = frame[keys].copy() if keys else pd.DataFrame({"row": np.arange(1, len(frame) + 1)})
    output.index = scored.index
    output = pd.concat([output, scored], axis=1)
    output["probability_of_default"] = output["probability_of_default"].round(6)
    output.to_csv(target, index=False, compression="infer")
    seconds = time.perf_counter() - started
    with transaction.atomic():
        run = ScoreRun.objects.create(
            model_version=model,
            kind=ScoreRun.Kind.FILE,
            status=ScoreRun.Status.DONE,
            as_of=bank_today(),
            rows=len(output),
            seconds=round(seconds, 3),
        )
        audit_record(
            actor=actor,
            action="risk.score_file",
            target=run,
            after={
                "model": model.label,
                "rows": len(output),
                "data": str(path),
                "out": str(target),
            },
        )
    return {
        "rows": len(output),
        "seconds": round(seconds, 3),
        "out": str(target),
        "model": model.name,
        "version": model.version,
        "run": run.pk,
    }


# --- Batch: the nightly behaviour scores -----------------------------------------------------


SCORE_COLUMNS = (
    "model_version_id",
    "run_id",
    "subject_kind",
    "subject_id",
    "score",
    "probability_of_default",
    "grade",
    "reasons",
    "inputs",
    "shadow",
    "scored_at",
    "outcome_bad",
)


def _score_rows(
    *,
    version: ModelVersion,
    run: ScoreRun,
    features: pd.DataFrame,
    scored: pd.DataFrame,
    shadow: bool,
    top: int,
) -> Iterator[tuple[Any, ...]]:
    """The rows of the scores of a frame, in :data:`SCORE_COLUMNS` order, ready for the
    database: the JSON columns as text (the feature values encoded by pandas in one pass,
    each reason's JSON written once per code), the probability as fixed-point text."""
    book = _reason_book(version)
    fragments = {
        code: json.dumps({"code": code, **entry}, ensure_ascii=False)
        for code, entry in book.items()
    }
    reason_columns = [f"reason_{rank}" for rank in range(1, top + 1) if f"reason_{rank}" in scored]
    codes = (
        scored[reason_columns].fillna("").astype(str).to_numpy()
        if reason_columns
        else np.empty((len(scored), 0), dtype=object)
    )
    inputs = (
        features.to_json(orient="records", lines=True, double_precision=10).splitlines()
        if len(features.columns)
        else ["{}"] * len(scored)
    )
    subject_ids = [str(key) for key in scored.index]
    scores = scored["score"].astype(int).tolist()
    pds = [f"{value:.6f}" for value in scored["probability_of_default"].astype(float).tolist()]
    grades = [str(grade) for grade in scored["grade"].tolist()]
    scored_at = connection.ops.adapt_datetimefield_value(timezone.now())
    subject_kind = Score.Subject.PARTY.value
    for position, subject_id in enumerate(subject_ids):
        reasons = ",".join(
            fragments.get(code)
            or json.dumps({"code": code, "feature": "", "text_en": code, "text_zh": code})
            for code in codes[position]
            if code
        )
        yield (
            version.pk,
            run.pk,
            subject_kind,
            subject_id,
            scores[position],
            pds[position],
            grades[position],
            f"[{reasons}]",
            inputs[position],
            shadow,
            scored_at,
            None,
        )


def _bulk_insert(rows: Iterable[tuple[Any, ...]]) -> int:
    """Insert score rows: PostgreSQL ``COPY``, else ``executemany`` in batches."""
    quote = connection.ops.quote_name
    table = quote(Score._meta.db_table)
    columns = ", ".join(quote(column) for column in SCORE_COLUMNS)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(SCORE_COLUMNS))
        # Table and column names come from the model's metadata, never from input.
        statement = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608  # nosec B608
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= BULK_BATCH:
                cursor.executemany(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)
            count += len(batch)
    return count


def behaviour_scores_nightly(*, as_of: Any = None, actor: Any = None) -> ScoreRun:
    """Score every customer with the production behaviour model (and its shadow
    challenger) as of ``as_of`` (default today), from the CRM's aggregates
    (:func:`bankcrm.risk.features.party_features_bulk`): one vectorised pass, scores
    bulk-inserted in batches inside a :class:`ScoreRun`, audited once. A failure marks the
    run failed and is raised again. ValidationError naming ``purpose`` without a
    production behaviour model."""
    from .features import party_features_bulk

    actor = actor or NIGHTLY_ACTOR
    as_of = as_of or bank_today()
    version = _production(Purpose.BEHAVIOUR)
    if version is None:
        raise _error(
            "purpose",
            _("No behaviour model is in production: promote one before scoring customers."),
            "not_found",
        )
    challenger = _challenger_of(version)
    run = ScoreRun.objects.create(model_version=version, kind=ScoreRun.Kind.NIGHTLY, as_of=as_of)
    started = time.perf_counter()
    try:
        with transaction.atomic():
            frame = party_features_bulk(as_of)
            rows = 0
            for model, shadow in ((version, False), (challenger, True)):
                if model is None or frame.empty:
                    continue
                features = _model_frame(model, frame)
                scored = score_frame(model, frame)
                inserted = _bulk_insert(
                    _score_rows(
                        version=model,
                        run=run,
                        features=features,
                        scored=scored,
                        shadow=shadow,
                        top=TOP_REASONS,
                    )
                )
                if not shadow:
                    rows = inserted
            run.status = ScoreRun.Status.DONE
            run.rows = rows
            run.seconds = round(time.perf_counter() - started, 3)
            run.save(update_fields=["status", "rows", "seconds", "updated_at"])
            audit_record(
                actor=actor,
                action="risk.behaviour_scores",
                target=run,
                after={
                    "model": version.label,
                    "shadow": challenger.label if challenger else None,
                    "as_of": as_of.isoformat(),
                    "rows": rows,
                },
            )
    except Exception as exc:
        ScoreRun.objects.filter(pk=run.pk).update(
            status=ScoreRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            seconds=round(time.perf_counter() - started, 3),
        )
        raise
    return run
