"""Monitoring the credit models in use: stability, back-testing and overrides.

:func:`monitoring_run` compares what a model scores in a period with what it learnt from:

* **Population stability** (PSI) of the score: the period's scores spread over the
  development sample's score bins (``ModelVersion.baseline["score"]``);
* **Characteristic stability** (CSI) of each feature: the feature values the model saw in
  the period (stored with every score) spread over the development bins of the feature
  (numeric edges, or groups of categories);
* each index gets a level — *ok* below 0.1, *watch* from 0.1, *act* from 0.25 — and the
  report takes the worst; *watch* and *act* raise the events ``risk.stability_watch`` and
  ``risk.stability_act``;
* **back-testing**: of the period's scores whose outcome is known
  (:func:`score_outcomes_update`), the observed bad rate by risk grade beside the mean
  predicted probability of default;
* **overrides**: how often officers decided against the application model's
  recommendation, by officer and by branch (:func:`override_rates`).

Only the production model's own scores count: a shadow challenger's are for comparison.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Avg, Count, Max, Min, Q
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor, is_system
from bankcrm.core.timefmt import bank_today
from bankcrm.events.services import event_record

from .models import ModelVersion, MonitoringReport, Purpose, Score

logger = logging.getLogger(__name__)

LEVEL_ORDER = {"ok": 0, "watch": 1, "act": 2}
WATCH = 0.1
ACT = 0.25
OUTCOMES_ACTOR = SystemActor("risk.outcomes")
# Scores read per round trip when the period's feature values are gathered.
CHUNK = 5_000


def _error(field: str, message: str, code: str = "invalid") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def _require_perm(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have the permission to do this."))


def _check_period(period_start: Any, period_end: Any) -> None:
    errors: dict[str, list[ValidationError]] = {}
    for name, value in (("period_start", period_start), ("period_end", period_end)):
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            errors[name] = [ValidationError(_("Enter a date."), code="invalid")]
    if errors:
        raise ValidationError(errors)
    if period_end < period_start:
        raise _error("period_end", _("The end of the period cannot be before its start."))


def _period_bounds(period_start: dt.date, period_end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    zone = zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)
    low = dt.datetime.combine(period_start, dt.time.min, tzinfo=zone)
    high = dt.datetime.combine(period_end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
    return low, high


def _worst(levels: Iterable[str]) -> str:
    return max(levels, key=lambda level: LEVEL_ORDER.get(level, 0), default="ok")


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else round(value, 6)


def _edge_label(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def numeric_bin_labels(edges: Sequence[Any], count: int) -> list[str]:
    """Readable labels of ``count`` numeric bins cut at ``edges`` (cut points between open
    ends, or boundaries of closed bins); a last extra bin is the missing values'."""
    cuts = [_edge_label(edge) for edge in edges]
    labels: list[str] = []
    if len(cuts) + 1 <= count:
        labels.append(f"< {cuts[0]}" if cuts else _("all"))
        labels.extend(f"[{low}, {high})" for low, high in itertools.pairwise(cuts))
        if cuts:
            labels.append(f"≥ {cuts[-1]}")
    else:
        labels.extend(f"[{low}, {high})" for low, high in itertools.pairwise(cuts))
    while len(labels) < count:
        labels.append(_("missing"))
    return labels[:count]


def _category_labels(groups: Sequence[Any], count: int) -> list[str]:
    labels = [
        ", ".join(str(item) for item in group) if isinstance(group, list | tuple) else str(group)
        for group in groups
    ]
    while len(labels) < count:
        labels.append(_("other or missing"))
    return labels[:count]


def _stability_table(
    *, labels: list[str], expected: Sequence[float], actual: Sequence[float]
) -> list[dict[str, Any]]:
    return [
        {
            "bin": label,
            "expected": round(float(share_expected), 6),
            "actual": round(float(share_actual), 6),
        }
        for label, share_expected, share_actual in zip(labels, expected, actual, strict=False)
    ]


def _labels(entry: Mapping[str, Any], count: int, fallback: list[str]) -> list[str]:
    """The bins' labels stored with the baseline, else ``fallback``."""
    labels = entry.get("bins")
    if (
        isinstance(labels, list)
        and len(labels) == count
        and all(isinstance(label, str) for label in labels)
    ):
        return list(labels)
    return fallback


def _baseline_layout(entry: Mapping[str, Any], categorical: bool) -> tuple[str, list[Any]]:
    """How a baseline entry cuts its bins: ("categorical", groups) or ("numerical", edges).
    Entries name them ``categories`` / ``edges``; older ones give them as ``bins``."""
    if "categories" in entry:
        return "categorical", list(entry.get("categories") or [])
    if "edges" in entry:
        kind = "categorical" if entry.get("kind") == "categorical" else "numerical"
        return kind, list(entry.get("edges") or [])
    bins = list(entry.get("bins") or [])
    if categorical or any(isinstance(group, list | tuple) for group in bins):
        return "categorical", bins
    return "numerical", bins


def score_stability(version: ModelVersion, scores: Sequence[float]) -> dict[str, Any] | None:
    """PSI of ``scores`` against the version's development score distribution: ``{"psi",
    "level", "bins": [{"bin", "expected", "actual"}]}``; None without a baseline or scores."""
    from .stability import distribution, psi, stability_level

    entry = (version.baseline or {}).get("score") or {}
    expected = entry.get("shares")
    _kind, edges = _baseline_layout(entry, categorical=False)
    if not edges or not expected or not scores:
        return None
    actual = distribution(list(scores), edges)
    if len(actual) != len(expected):
        return None
    value = float(psi(expected, actual))
    return {
        "psi": _finite(value),
        "level": stability_level(value, watch=WATCH, act=ACT),
        "bins": _stability_table(
            labels=_labels(entry, len(expected), numeric_bin_labels(edges, len(expected))),
            expected=expected,
            actual=actual,
        ),
    }


def feature_stability(
    version: ModelVersion, inputs: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """CSI of each feature the baseline describes, from the feature values the model saw:
    ``{name: {"kind", "csi", "level", "bins": [{"bin", "expected", "actual"}]}}``.
    Numeric features count missing values in a bin of their own when the development
    distribution has one; categorical ones count them with unseen categories."""
    from .stability import category_distribution, distribution, psi, stability_level

    kinds = {
        str(feature.get("name")): str(feature.get("type") or "numerical")
        for feature in (version.spec or {}).get("features") or []
        if isinstance(feature, Mapping)
    }
    result: dict[str, dict[str, Any]] = {}
    if not inputs:
        return result
    for name, entry in ((version.baseline or {}).get("features") or {}).items():
        if not isinstance(entry, Mapping):
            continue
        expected = entry.get("shares")
        kind, cuts = _baseline_layout(entry, categorical=kinds.get(name) == "categorical")
        if not cuts or not expected:
            continue
        values = [row.get(name) for row in inputs]
        if kind == "categorical":
            actual = category_distribution(values, cuts)
            fallback = _category_labels(cuts, len(expected))
        else:
            with_missing = len(expected) == len(cuts) + 2
            actual = distribution(values, cuts, missing=with_missing)
            fallback = numeric_bin_labels(cuts, len(expected))
        if len(actual) != len(expected):
            result[name] = {
                "kind": kind,
                "csi": None,
                "level": "ok",
                "bins": [],
                "note": _("The development distribution does not match its bins."),
            }
            continue
        value = float(psi(expected, actual))
        result[name] = {
            "kind": kind,
            "csi": _finite(value),
            "level": stability_level(value, watch=WATCH, act=ACT),
            "bins": _stability_table(
                labels=_labels(entry, len(expected), fallback), expected=expected, actual=actual
            ),
        }
    return result


def backtest(version: ModelVersion, scores: Any) -> list[dict[str, Any]]:
    """Observed bad rates by risk grade of the scores (a Score queryset) whose outcome is
    known: ``[{"grade", "min_score", "max_score", "rows", "bads", "observed_bad_rate",
    "mean_pd"}]`` in the order of the version's bands."""
    rows = (
        scores.filter(outcome_bad__isnull=False)
        .order_by()
        .values("grade")
        .annotate(
            rows=Count("pk"),
            bads=Count("pk", filter=Q(outcome_bad=True)),
            mean_pd=Avg("probability_of_default"),
            min_score=Min("score"),
            max_score=Max("score"),
        )
    )
    order = {str(band.get("grade")): rank for rank, band in enumerate(version.grade_bands or [])}
    table = [
        {
            "grade": row["grade"],
            "min_score": row["min_score"],
            "max_score": row["max_score"],
            "rows": row["rows"],
            "bads": row["bads"],
            "observed_bad_rate": round(row["bads"] / row["rows"], 6) if row["rows"] else None,
            "mean_pd": None if row["mean_pd"] is None else round(float(row["mean_pd"]), 6),
        }
        for row in rows
    ]
    table.sort(key=lambda line: (order.get(line["grade"], len(order)), -(line["max_score"] or 0)))
    return table


def _json_rates(rates: Mapping[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, Decimal):
            return float(value)
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, list):
            return [clean(item) for item in value]
        if isinstance(value, Mapping):
            return {key: clean(item) for key, item in value.items()}
        return value

    return clean(dict(rates))


def override_rates(*, actor: Any, period_start: dt.date, period_end: dt.date) -> dict[str, Any]:
    """How often loan decisions in the period went against the credit model, by officer
    and by branch, within the actor's reach (see
    :func:`bankcrm.lending.selectors_model.model_override_rates`); JSON-ready (rates as
    numbers from 0 to 1, dates as ISO text)."""
    from bankcrm.lending.selectors_model import model_override_rates

    _check_period(period_start, period_end)
    return _json_rates(
        model_override_rates(actor=actor, period_start=period_start, period_end=period_end)
    )


def _period_inputs(scores: Any) -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = []
    for row in scores.order_by().values_list("inputs", flat=True).iterator(chunk_size=CHUNK):
        inputs.append(row if isinstance(row, dict) else {})
    return inputs


def _render_pdf(report: MonitoringReport) -> bytes:
    """The report as PDF when the pages that render it are installed; else nothing."""
    from . import card

    render_html = getattr(card, "monitoring_report_html", None)
    render_pdf = getattr(card, "model_card_pdf", None)
    if render_html is None or render_pdf is None:
        return b""
    failure = getattr(card, "CardRenderError", RuntimeError)
    try:
        return bytes(render_pdf(render_html(report)))
    except failure:  # no PDF library on this machine: the report stands without its PDF
        logger.exception("the PDF of monitoring report %s could not be rendered", report.pk)
        return b""


def monitoring_run(
    *, actor: Any, version: ModelVersion, period_start: dt.date, period_end: dt.date
) -> MonitoringReport:
    """Monitor ``version`` over the period (dates the scores were given, both included):
    score PSI, feature CSI, back-testing and override rates (see the module text); store
    the report with its level, raise the stability event, audit it. Needs
    ``risk.add_monitoringreport``."""
    _require_perm(actor, "risk.add_monitoringreport")
    _check_period(period_start, period_end)
    if not isinstance(version, ModelVersion) or version.pk is None:
        raise _error("version", _("Choose a model version."), "required")
    low, high = _period_bounds(period_start, period_end)
    scores = Score.objects.filter(
        model_version=version, shadow=False, scored_at__gte=low, scored_at__lt=high
    )
    values = list(scores.order_by().values_list("score", flat=True))
    notes: list[str] = []
    if not values:
        notes.append(_("The model gave no scores in the period."))
    if not (version.baseline or {}).get("score"):
        notes.append(_("The model has no development distribution to compare with."))
    stability = score_stability(version, values)
    features = feature_stability(version, _period_inputs(scores)) if values else {}
    levels = [stability["level"]] if stability else []
    levels += [feature["level"] for feature in features.values()]
    level = _worst(levels)
    details: dict[str, Any] = {
        "score": stability,
        "features": features,
        "backtest": backtest(version, scores),
        "notes": notes,
        "thresholds": {"watch": WATCH, "act": ACT},
    }
    if version.purpose == Purpose.APPLICATION:
        details["overrides"] = override_rates(
            actor=actor, period_start=period_start, period_end=period_end
        )
    with transaction.atomic():
        report = MonitoringReport.objects.create(
            model_version=version,
            period_start=period_start,
            period_end=period_end,
            scored=len(values),
            psi=stability["psi"] if stability else None,
            level=level,
            details=details,
            created_by=None if is_system(actor) else actor,
        )
        pdf = _render_pdf(report)
        if pdf:
            report.pdf = pdf
            report.save(update_fields=["pdf", "updated_at"])
        drifting = sorted(
            name for name, feature in features.items() if feature["level"] in ("watch", "act")
        )
        audit_record(
            actor=actor,
            action="risk.monitoring_run",
            target=report,
            after={
                "model": version.label,
                "period_start": period_start.isoformat(),
                "period_end": period_end.isoformat(),
                "scored": len(values),
                "psi": report.psi,
                "level": level,
                "features_drifting": drifting,
            },
        )
        if level in ("watch", "act"):
            event_record(
                type=f"risk.stability_{level}",
                target=report,
                payload={
                    "model": version.name,
                    "version": version.version,
                    "purpose": version.purpose,
                    "period_start": period_start.isoformat(),
                    "period_end": period_end.isoformat(),
                    "psi": report.psi,
                    "level": level,
                    "features": {name: features[name]["csi"] for name in drifting},
                },
            )
    return report


def score_outcomes_update(*, as_of: dt.date | None = None, actor: Any = None) -> int:
    """Mark the outcome of application scores whose loan's fate is known on ``as_of``
    (default today): bad when the loan was ever more than 90 days past due, defaulted or
    written off; good when repaid or matured without that. Returns how many scores changed;
    audited once."""
    from bankcrm.lending.selectors_model import application_loan_outcomes

    actor = actor or OUTCOMES_ACTOR
    as_of = as_of or bank_today()
    outcomes = application_loan_outcomes(actor=actor, as_of=as_of)
    by_outcome: dict[bool, list[str]] = {True: [], False: []}
    for application, is_bad in outcomes.items():
        by_outcome[is_bad].append(application)
    changed = 0
    with transaction.atomic():
        for is_bad, applications in by_outcome.items():
            for start in range(0, len(applications), 500):
                chunk = applications[start : start + 500]
                changed += (
                    Score.objects.filter(
                        subject_kind=Score.Subject.APPLICATION, subject_id__in=chunk
                    )
                    .exclude(outcome_bad=is_bad)
                    .update(outcome_bad=is_bad)
                )
        audit_record(
            actor=actor,
            action="risk.score_outcomes",
            object_type="risk.score",
            object_repr=_("Outcomes of application scores"),
            after={
                "as_of": as_of.isoformat(),
                "loans_known": len(outcomes),
                "bad": len(by_outcome[True]),
                "good": len(by_outcome[False]),
                "scores_changed": changed,
            },
        )
    return changed
