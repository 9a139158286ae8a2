"""Model cards and monitoring reports: the documents a model version and its monitoring leave.

:func:`model_card_html` renders a version's card (identity and governance, the learning
data's fingerprint, exclusions and column profiles, every feature with its information
value and binning table, the points table, the cross-validated evaluation, calibration,
risk grades, settings and limitations) as one standalone HTML document: inline CSS and
hand-drawn SVG charts, no script and no external asset, so it prints and archives as it
is. :func:`model_card_pdf` turns such a document into PDF with WeasyPrint.
:func:`monitoring_report_html` does the same for a monitoring report (population and
characteristic stability, back-testing, overrides).

The card data is read leniently: a section the version does not have is left out, and
a binning table may name its columns as the pipeline or optbinning does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

# Thresholds of the stability index (population and characteristic), as the monitoring uses.
STABILITY_WATCH = 0.1
STABILITY_ACT = 0.25

# Geometry of the inline charts (SVG user units).
CHART_WIDTH = 360
CHART_HEIGHT = 150
CHART_TOP = 18
CHART_BOTTOM = 22
CHART_LEFT = 6


class CardRenderError(RuntimeError):
    """A model card or report could not be turned into PDF (WeasyPrint or Pango missing)."""


# --- Reading the card data -----------------------------------------------------------------

# Column names a binning table may use, the card's own first.
_BIN_KEYS: dict[str, tuple[str, ...]] = {
    "bin": ("bin", "label", "Bin", "range", "category", "categories"),
    "count": ("count", "rows", "Count", "n"),
    "share": ("share", "count_share", "count_pct", "Count (%)", "count_percent"),
    "goods": ("goods", "non_event", "Non-event", "good"),
    "bads": ("bads", "event", "Event", "bad"),
    "bad_rate": ("bad_rate", "event_rate", "Event rate", "default_rate"),
    "woe": ("woe", "WoE"),
    "iv": ("iv", "IV"),
    "points": ("points", "Points", "score"),
}


def _first(row: Mapping[str, Any], keys: Iterable[str], default: Any = None) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return default


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, text, NaN or infinite)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _percent(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else number * 100


def _bin_label(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


def _language_code() -> str:
    return (translation.get_language() or "en").lower()


def _is_chinese() -> bool:
    return _language_code().startswith("zh")


def feature_label(name: str) -> str:
    """A feature's name in the reader's language when the CRM's catalogue knows it."""
    try:
        from .features import FEATURE_CATALOGUE
    except ImportError:  # pragma: no cover - the catalogue ships with the module
        return ""
    definition = FEATURE_CATALOGUE.get(name)
    if definition is None:
        return ""
    return definition.label_zh if _is_chinese() and definition.label_zh else definition.label_en


@dataclass
class Bar:
    """One bar (or marker) of an inline chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float
    label: str
    value_label: str
    level: str = ""

    @property
    def cx(self) -> float:
        """The centre of the bar (where its labels go)."""
        return round(self.x + self.width / 2, 2)

    @property
    def value_y(self) -> float:
        """Where the bar's value is written, just above it."""
        return round(max(self.y - 4, 10), 2)


@dataclass
class Chart:
    """An inline SVG bar chart: bars, an optional second series of markers, a reference line."""

    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    bars: list[Bar] = field(default_factory=list)
    markers: list[Bar] = field(default_factory=list)
    reference_y: float | None = None
    reference_label: str = ""
    baseline_y: float = CHART_HEIGHT - CHART_BOTTOM
    description: str = ""

    @property
    def label_y(self) -> float:
        """Where the bars' labels are written, under the baseline."""
        return self.baseline_y + 14


def bar_chart(
    values: Sequence[float | None],
    labels: Sequence[str],
    *,
    markers: Sequence[float | None] | None = None,
    reference: float | None = None,
    reference_label: str = "",
    value_format: str = "{:.1f}%",
    levels: Sequence[str] | None = None,
    description: str = "",
) -> Chart | None:
    """Bars for ``values`` (a gap where a value is missing), scaled to the largest value,
    with ``markers`` (a second series drawn as dots) and a dashed ``reference`` line on the
    same scale. None when there is nothing to draw."""
    numbers = [_number(value) for value in values]
    marks = [_number(value) for value in (markers or [])]
    known = [value for value in numbers + marks if value is not None]
    if reference is not None:
        known.append(reference)
    if not numbers or not known:
        return None
    top = max(known) or 1.0
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    slot = (CHART_WIDTH - CHART_LEFT * 2) / len(numbers)
    width = max(slot * 0.7, 2.0)
    chart = Chart(description=description)
    baseline = CHART_HEIGHT - CHART_BOTTOM
    for index, value in enumerate(numbers):
        x = CHART_LEFT + slot * index + (slot - width) / 2
        height = 0.0 if value is None else max(plot_height * value / top, 0.5)
        chart.bars.append(
            Bar(
                x=round(x, 2),
                y=round(baseline - height, 2),
                width=round(width, 2),
                height=round(height, 2),
                label=labels[index] if index < len(labels) else str(index + 1),
                value_label="" if value is None else value_format.format(value),
                level=(levels[index] if levels and index < len(levels) else ""),
            )
        )
    for index, value in enumerate(marks):
        if value is None or index >= len(numbers):
            continue
        x = CHART_LEFT + slot * index + slot / 2
        chart.markers.append(
            Bar(
                x=round(x, 2),
                y=round(baseline - plot_height * value / top, 2),
                width=0,
                height=0,
                label=chart.bars[index].label,
                value_label=value_format.format(value),
            )
        )
    if reference is not None:
        chart.reference_y = round(baseline - plot_height * reference / top, 2)
        chart.reference_label = reference_label
    return chart


def _bins(raw: Any) -> list[dict[str, Any]]:
    """A binning table's rows in the card's words, totals rows left out."""
    rows: list[dict[str, Any]] = []
    if isinstance(raw, Mapping):
        raw = raw.get("rows") or raw.get("bins") or []
    for row in raw or []:
        if not isinstance(row, Mapping):
            continue
        label = _bin_label(_first(row, _BIN_KEYS["bin"], ""))
        if label.strip().lower() in {"totals", "total"}:
            continue
        item = {key: _first(row, keys) for key, keys in _BIN_KEYS.items()}
        item["bin"] = label
        for key in ("count", "share", "goods", "bads", "bad_rate", "woe", "iv", "points"):
            item[key] = _number(item[key])
        if item["share"] is not None and item["share"] > 1.0:
            item["share"] /= 100  # a percentage column
        item["share_pct"] = _percent(item["share"])
        item["bad_rate_pct"] = _percent(item["bad_rate"])
        rows.append(item)
    total = sum(row["count"] or 0 for row in rows)
    for row in rows:
        if row["share"] is None and total and row["count"] is not None:
            share = float(row["count"]) / total
            row["share"] = share
            row["share_pct"] = share * 100
    return rows


@dataclass
class CardFeature:
    """One feature of the card: its information value, binning table, chart and points."""

    name: str
    label: str
    kind: str
    iv: float | None
    selected: bool
    note: str
    trend: str
    bins: list[dict[str, Any]]
    chart: Chart | None
    importance: float | None = None
    code: str = ""
    # The adverse-action words when this feature costs the most points.
    reason: str = ""
    coefficient: float | None = None

    @property
    def has_points(self) -> bool:
        return any(row["points"] is not None for row in self.bins)

    @property
    def points_range(self) -> tuple[float, float] | None:
        points = [row["points"] for row in self.bins if row["points"] is not None]
        return (min(points), max(points)) if points else None


def _features(card: Mapping[str, Any], spec: Mapping[str, Any]) -> list[CardFeature]:
    raw = card.get("features") or []
    if isinstance(raw, Mapping):
        raw = [{"name": name, **(value or {})} for name, value in raw.items()]
    selected_names = card.get("selected") or card.get("selected_features")
    selected_set = set(selected_names) if isinstance(selected_names, list) else None
    spec_features = {
        item.get("name"): item
        for item in (spec.get("features") or [])
        if isinstance(item, Mapping) and item.get("name")
    }
    features: list[CardFeature] = []
    for item in raw:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        name = str(item["name"])
        bins = _bins(item.get("bins") or item.get("binning_table") or item.get("table"))
        if bins and all(row["points"] is None for row in bins):
            _points_from_spec(bins, spec_features.get(name))
        if "selected" in item:
            selected = bool(item["selected"])
        elif selected_set is not None:
            selected = name in selected_set
        else:
            selected = name in spec_features or not spec_features
        overall = _number(card.get("bad_rate"))
        chart = bar_chart(
            [row["bad_rate_pct"] for row in bins],
            [str(index) for index in range(1, len(bins) + 1)],
            reference=None if overall is None else overall * 100,
            reference_label=_("overall bad rate"),
            description=_("Bad rate per bin of %(feature)s") % {"feature": name},
        )
        features.append(
            CardFeature(
                name=name,
                label=str(item.get("label") or feature_label(name) or ""),
                kind=str(item.get("type") or item.get("kind") or item.get("dtype") or ""),
                iv=_number(item.get("iv") if "iv" in item else item.get("IV")),
                selected=selected,
                note=str(item.get("dropped_reason") or item.get("note") or ""),
                code=str(item.get("code") or ""),
                reason=_text_in_language(item.get("reason")),
                trend=str(
                    item.get("trend") or item.get("monotonic_trend") or item.get("monotone") or ""
                ),
                bins=bins,
                chart=chart,
                importance=_number(_first(item, ("mean_abs_points", "importance", "gain"))),
                coefficient=_number((card.get("coefficients") or {}).get(name))
                if isinstance(card.get("coefficients"), Mapping)
                else None,
            )
        )
    features.sort(key=lambda feature: (not feature.selected, -(feature.iv or 0), feature.name))
    return features


def _points_from_spec(bins: list[dict[str, Any]], spec_feature: Mapping[str, Any] | None) -> None:
    """Fill the points of a binning table from the scoring spec when the card has none: the
    spec's points per bin, then its missing (and, for categories, other) points."""
    if not spec_feature:
        return
    points = list(spec_feature.get("points") or [])
    if "missing_points" in spec_feature:
        points.append(spec_feature["missing_points"])
    if "other_points" in spec_feature:
        points.append(spec_feature["other_points"])
    if len(points) != len(bins):
        return
    for row, value in zip(bins, points, strict=True):
        row["points"] = _number(value)


def _text_in_language(value: Any) -> str:
    """A {"en", "zh"} text in the reader's language (English when no Chinese is given)."""
    if isinstance(value, Mapping):
        chosen = value.get("zh") if _is_chinese() else None
        return str(chosen or value.get("en") or "")
    return "" if value is None else str(value)


def _dropped(card: Mapping[str, Any], features: list[CardFeature]) -> list[dict[str, str]]:
    """Features left out of the model, with why (from the card's list or its features)."""
    rows: list[dict[str, str]] = []
    raw = card.get("dropped") or card.get("dropped_features") or []
    if isinstance(raw, Mapping):
        raw = [{"name": name, "reason": reason} for name, reason in raw.items()]
    seen = set()
    for item in raw:
        if isinstance(item, Mapping) and (item.get("name") or item.get("feature")):
            name = str(item.get("name") or item.get("feature"))
            reason = _text_in_language(item.get("reason") or item.get("note"))
        elif isinstance(item, str):
            name, reason = item, ""
        else:
            continue
        seen.add(name)
        rows.append({"name": name, "label": feature_label(name), "reason": reason})
    for feature in features:
        if not feature.selected and feature.name not in seen:
            rows.append({"name": feature.name, "label": feature.label, "reason": feature.note})
    return rows


# Metric keys: (mean key, spread key, label).
_METRICS = (
    ("auc_cv_mean", "auc_cv_std", "AUC"),
    ("gini", "gini_std", "Gini"),
    ("ks", "ks_std", "KS"),
    ("brier", "brier_std", "Brier"),
)


def _evaluation(metrics: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for mean_key, std_key, label in _METRICS:
        mean = _number(metrics.get(mean_key))
        if mean is None and mean_key == "auc_cv_mean":
            mean = _number(metrics.get("auc"))
        if mean is None:
            continue
        rows.append(
            {"key": mean_key, "label": label, "mean": mean, "std": _number(metrics.get(std_key))}
        )
    folds = []
    for index, fold in enumerate(metrics.get("folds") or [], start=1):
        if not isinstance(fold, Mapping):
            continue
        fold_auc = _number(fold.get("auc"))
        fold_gini = _number(fold.get("gini"))
        if fold_gini is None and fold_auc is not None:
            fold_gini = 2 * fold_auc - 1
        folds.append(
            {
                "number": fold.get("fold", index),
                "repeat": fold.get("repeat"),
                "auc": fold_auc,
                "gini": fold_gini,
                "ks": _number(fold.get("ks")),
                "brier": _number(fold.get("brier")),
                "rows": fold.get("rows") or fold.get("test_rows"),
            }
        )
    baselines = []
    for name, value in (metrics.get("baselines") or {}).items():
        if isinstance(value, Mapping):
            baselines.append(
                {"name": name, "auc": _number(value.get("auc_cv_mean") or value.get("auc")),
                 "std": _number(value.get("auc_cv_std"))}
            )  # fmt: skip
        elif _number(value) is not None:
            baselines.append({"name": name, "auc": _number(value), "std": None})
    return {"rows": rows, "folds": folds, "baselines": baselines, "cv": metrics.get("cv") or ""}


def _calibration(rows: Any) -> dict[str, Any] | None:
    table: list[dict[str, Any]] = []
    for row in rows or []:
        if not isinstance(row, Mapping):
            continue
        table.append(
            {
                "band": str(_first(row, ("band", "grade", "label"), "")),
                "min_score": _number(row.get("min_score")),
                "max_score": _number(row.get("max_score")),
                "rows": _number(_first(row, ("rows", "count", "scored"))),
                "bads": _number(_first(row, ("bads", "bad_count", "outcomes_bad"))),
                "observed_pct": _percent(
                    _first(row, ("observed_bad_rate", "bad_rate", "observed"))
                ),
                "expected_pct": _percent(_first(row, ("mean_pd", "expected_pd", "predicted_pd"))),
            }
        )
    if not table:
        return None
    chart = bar_chart(
        [row["observed_pct"] for row in table],
        [row["band"] or str(index) for index, row in enumerate(table, start=1)],
        markers=[row["expected_pct"] for row in table],
        description=_("Observed bad rate (bars) and predicted default probability (dots) by band"),
    )
    return {"rows": table, "chart": chart}


def _person(user: Any) -> str:
    if user is None:
        return ""
    full = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return full or getattr(user, "username", "") or str(user)


def _settings(version: Any, card: Mapping[str, Any]) -> list[tuple[str, Any]]:
    raw = dict(card.get("settings") or {})
    raw.update(getattr(version, "training_settings", None) or {})
    labels = {
        "method": _("Method"),
        "base_score": _("Base score"),
        "base_odds": _("Odds (good : bad) at the base score"),
        "pdo": _("Points to double the odds (PDO)"),
        "folds": _("Cross-validation folds"),
        "repeats": _("Repeats of the cross-validation"),
        "seed": _("Random seed"),
        "min_iv": _("Least information value kept"),
        "monotone": _("Monotone trends declared"),
        "min_bin_size": _("Smallest bin (share of rows)"),
        "max_correlation": _("Highest correlation allowed between features"),
        "regularisation": _("Inverse L2 penalty of the logistic regression"),
    }
    rows: list[tuple[str, Any]] = []
    for key, label in labels.items():
        if key not in raw or raw[key] in (None, "", {}, []):
            continue
        value = raw[key]
        if isinstance(value, Mapping):
            value = ", ".join(f"{name}: {trend}" for name, trend in sorted(value.items()))
        rows.append((str(label), value))
    for key in sorted(set(raw) - set(labels) - {"grade_bands"}):
        value = raw[key]
        if isinstance(value, str | int | float | bool):
            rows.append((key.replace("_", " "), value))
    return rows


def _limitations(
    version: Any,
    card: Mapping[str, Any],
    fingerprint: Mapping[str, Any],
    profiles: list[dict[str, Any]],
    metrics: Mapping[str, Any],
) -> list[str]:
    """What the card's reader must know before relying on the model: the card's own notes,
    then what its figures show (few bads, many missing values, no out-of-time test)."""
    notes = [str(item) for item in (card.get("limitations") or []) if item]
    rows = _number(fingerprint.get("rows"))
    bads = _number(fingerprint.get("bad_count"))
    if rows is not None and bads is not None:
        notes.append(
            _(
                "Learnt from %(rows)s rows of which %(bads)s turned bad: estimates for small "
                "groups and extreme scores carry wide uncertainty."
            )
            % {"rows": f"{int(rows):,}", "bads": f"{int(bads):,}"}
        )
    if metrics.get("cv"):
        notes.append(
            _(
                "Evaluated by %(cv)s cross-validation on the learning data only: no "
                "out-of-time or out-of-sample test is part of this card."
            )
            % {"cv": metrics["cv"]}
        )
    sparse = [
        profile["name"]
        for profile in profiles
        if (profile.get("missing_pct") or 0) >= 20 and profile.get("kind") != "excluded"
    ]
    if sparse:
        notes.append(
            _(
                "Columns with 20 %% or more missing values (scored through their missing "
                "bin): %(names)s."
            )
            % {"names": ", ".join(sparse)}
        )
    source = getattr(version, "dataset_name", "") or str(fingerprint.get("source") or "")
    source = source.replace("\\", "/").rsplit("/", 1)[-1]
    if source:
        notes.append(
            _(
                "The model reflects the population and period of %(source)s; monitor its "
                "stability before relying on it for a different population."
            )
            % {"source": source}
        )
    return notes


def _profiles(raw: Any) -> list[dict[str, Any]]:
    rows = []
    for item in raw or []:
        if not isinstance(item, Mapping) or not item.get("name"):
            continue
        rows.append(
            {
                "name": str(item["name"]),
                "kind": str(item.get("kind") or ""),
                "missing_pct": _percent(item.get("missing_share")),
                "distinct": item.get("distinct"),
                "note": str(item.get("note") or ""),
            }
        )
    return rows


def _exclusions(raw: Any) -> list[dict[str, str]]:
    rows = []
    for item in raw or []:
        if isinstance(item, Mapping):
            column = item.get("column") or item.get("name")
            if column:
                rows.append({"column": str(column), "reason": str(item.get("reason") or "")})
        elif isinstance(item, str):
            rows.append({"column": item, "reason": ""})
    return rows


def _grade_bands(bands: Any) -> list[dict[str, Any]]:
    rows = []
    ordered = [band for band in bands or [] if isinstance(band, Mapping)]
    previous_min: float | None = None
    for band in ordered:
        minimum = _number(band.get("min_score"))
        rows.append(
            {
                "grade": str(band.get("grade") or ""),
                "min_score": minimum,
                "below": previous_min,
                "recommendation": str(band.get("recommendation") or ""),
            }
        )
        if minimum is not None:
            previous_min = minimum
    return rows


def model_card_context(version: Any) -> dict[str, Any]:
    """Everything the model card shows, arranged for the template (also used inline by the
    model's page)."""
    card: Mapping[str, Any] = getattr(version, "card", None) or {}
    metrics: Mapping[str, Any] = getattr(version, "metrics", None) or {}
    spec: Mapping[str, Any] = getattr(version, "spec", None) or {}
    fingerprint = dict(card.get("fingerprint") or {})
    fingerprint.update(getattr(version, "fingerprint", None) or {})
    if "bad_rate" not in card and fingerprint.get("bad_rate") is not None:
        card = {**card, "bad_rate": fingerprint["bad_rate"]}
    features = _features(card, spec)
    profiles = _profiles(card.get("profiles"))
    scaling = spec.get("scaling") or {}
    calibration = _calibration(card.get("calibration") or metrics.get("calibration"))
    return {
        "version": version,
        "name": getattr(version, "name", ""),
        "number": getattr(version, "version", ""),
        "purpose": _display(version, "purpose"),
        "method": _display(version, "method"),
        "status": _display(version, "status"),
        "status_code": getattr(version, "status", ""),
        "is_shadow": bool(getattr(version, "shadow", False)),
        "description": getattr(version, "description", ""),
        "developer": _person(getattr(version, "created_by", None)),
        "developed_at": getattr(version, "created_at", None),
        "validator": _person(getattr(version, "validated_by", None)),
        "validated_at": getattr(version, "validated_at", None),
        "approver": _person(getattr(version, "approved_by", None)),
        "approved_at": getattr(version, "approved_at", None),
        "promoted_at": getattr(version, "promoted_at", None),
        "retired_at": getattr(version, "retired_at", None),
        "status_note": getattr(version, "status_note", ""),
        "dataset_name": (
            getattr(version, "dataset_name", "") or str(fingerprint.get("source") or "")
        )
        .replace("\\", "/")
        .rsplit("/", 1)[-1],
        "target": card.get("target") or card.get("target_name") or "",
        "bad_values": card.get("bad_values") or [],
        "fingerprint": {
            "sha256": fingerprint.get("sha256") or fingerprint.get("hash") or "",
            "rows": fingerprint.get("rows"),
            "columns": fingerprint.get("columns"),
            "bad_count": fingerprint.get("bad_count"),
            "bad_rate_pct": _percent(fingerprint.get("bad_rate")),
            "source": fingerprint.get("source") or "",
        },
        "exclusions": _exclusions(card.get("exclusions")),
        "profiles": profiles,
        "features": features,
        "selected": [feature for feature in features if feature.selected],
        "has_bins": any(feature.bins for feature in features),
        "has_coefficients": any(feature.coefficient is not None for feature in features),
        "dropped": _dropped(card, features),
        "scorecard": spec.get("kind", getattr(version, "method", "")) == "scorecard"
        or any(feature.has_points for feature in features),
        "intercept_points": _number(card.get("intercept_points") or spec.get("intercept_points")),
        "scaling": {
            "base_score": _number(scaling.get("base_score")),
            "base_odds": _number(scaling.get("base_odds")),
            "pdo": _number(scaling.get("pdo")),
        },
        "evaluation": _evaluation(metrics),
        "calibration": calibration,
        "grade_bands": _grade_bands(
            getattr(version, "grade_bands", None) or card.get("grade_bands")
        ),
        "settings": _settings(version, card),
        "training_seconds": _number(card.get("training_seconds") or card.get("seconds")),
        "limitations": _limitations(version, card, fingerprint, profiles, metrics),
    }


def _display(obj: Any, field_name: str) -> str:
    getter = getattr(obj, f"get_{field_name}_display", None)
    if callable(getter):
        return str(getter())
    return str(getattr(obj, field_name, "") or "")


def model_card_html(version: Any, *, language: str | None = None) -> str:
    """The model card of ``version`` as a standalone HTML document (in ``language``, the
    active language when not given)."""
    with translation.override(language or translation.get_language() or "en"):
        context = model_card_context(version)
        context["language"] = translation.get_language()
        return render_to_string("risk/card.html", context)


def model_card_pdf(html: str) -> bytes:
    """The PDF of a model card (or of any standalone HTML report)."""
    if not html or not html.strip():
        raise ValueError("There is no HTML to turn into PDF.")
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:
        raise CardRenderError(
            "PDF output needs WeasyPrint and the Pango library; install them "
            f"(pip install weasyprint; apt-get install libpango-1.0-0): {exc}"
        ) from exc
    # A standalone document: nothing to fetch, so no base URL and no network access.
    return bytes(HTML(string=html, url_fetcher=_refuse_fetch).write_pdf())


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"A model card may not load external resources ({url}).")


# --- Monitoring reports ----------------------------------------------------------------------


def _level(value: float | None, given: str = "") -> str:
    if given in {"ok", "watch", "act"}:
        return given
    if value is None:
        return ""
    if value >= STABILITY_ACT:
        return "act"
    if value >= STABILITY_WATCH:
        return "watch"
    return "ok"


def _stability(raw: Mapping[str, Any] | None, description: str) -> dict[str, Any] | None:
    """A distribution comparison (development vs the period) with its chart."""
    if not raw:
        return None
    table = raw.get("bins") or raw.get("labels") or []
    if table and all(isinstance(item, Mapping) for item in table):
        # [{"bin", "expected", "actual"}, …]: one row per bin.
        bins = [_bin_label(item.get("bin")) for item in table]
        expected = [_number(item.get("expected")) for item in table]
        actual = [_number(item.get("actual")) for item in table]
    else:
        bins = [_bin_label(item) for item in table]
        expected = [_number(value) for value in raw.get("expected") or []]
        actual = [_number(value) for value in raw.get("actual") or []]
    if not bins:
        bins = [str(index) for index in range(1, max(len(expected), len(actual)) + 1)]
    value = _number(_first(raw, ("psi", "csi", "value")))
    rows: list[dict[str, Any]] = []
    for index, label in enumerate(bins):
        share_expected = expected[index] if index < len(expected) else None
        share_actual = actual[index] if index < len(actual) else None
        contribution = None
        if share_expected is not None and share_actual is not None:
            floor = 1e-4
            e, a = max(share_expected, floor), max(share_actual, floor)
            contribution = (a - e) * math.log(a / e)
        rows.append(
            {
                "bin": label,
                "expected_pct": _percent(share_expected),
                "actual_pct": _percent(share_actual),
                "contribution": contribution,
            }
        )
    chart = bar_chart(
        [row["actual_pct"] for row in rows],
        [str(index) for index in range(1, len(rows) + 1)],
        markers=[row["expected_pct"] for row in rows],
        description=description,
    )
    return {
        "value": value,
        "level": _level(value, str(raw.get("level") or "")),
        "rows": rows,
        "chart": chart,
        "note": str(raw.get("note") or ""),
    }


def _override_row(item: Mapping[str, Any]) -> dict[str, Any]:
    decisions = _number(_first(item, ("decisions", "decided", "total", "count")))
    overrides = _number(_first(item, ("overrides", "overridden")))
    rate = _number(_first(item, ("override_rate", "rate")))
    if rate is None and decisions and overrides is not None:
        rate = overrides / decisions
    return {
        "name": str(_first(item, ("officer_name", "branch_name", "name", "officer", "branch"), "")),
        "unit": str(item.get("unit_name") or ""),
        "decisions": decisions,
        "overrides": overrides,
        "rate_pct": _percent(rate),
        "approved_against": _number(item.get("approved_against_decline")),
        "declined_against": _number(item.get("declined_against_approve")),
    }


def overrides_context(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Override rates by officer and by branch (``lending.selectors_model``'s figures),
    arranged for a table, with the period's total."""
    raw = raw or {}
    total = None
    if isinstance(raw.get("total"), Mapping):
        total = _override_row(raw["total"])
    elif raw.get("decisions") is not None:
        total = _override_row(raw)
    return {
        "by_officer": [
            _override_row(item) for item in raw.get("by_officer") or [] if isinstance(item, Mapping)
        ],
        "by_branch": [
            _override_row(item) for item in raw.get("by_branch") or [] if isinstance(item, Mapping)
        ],
        "total": total,
    }


def _backtest(raw: Any) -> list[dict[str, Any]]:
    """Back-testing rows: per band, the scores whose outcome is known, the bads among them,
    the observed bad rate and the mean predicted probability of default."""
    rows = []
    for item in raw or []:
        if not isinstance(item, Mapping):
            continue
        rows.append(
            {
                "band": str(_first(item, ("grade", "band", "label"), "")),
                "min_score": _number(item.get("min_score")),
                "max_score": _number(item.get("max_score")),
                "known": _number(_first(item, ("rows", "known", "with_outcome"))),
                "bads": _number(_first(item, ("bads", "bad_count"))),
                "observed_pct": _percent(_first(item, ("observed_bad_rate", "bad_rate"))),
                "expected_pct": _percent(_first(item, ("mean_pd", "expected_pd", "predicted_pd"))),
            }
        )
    return rows


def monitoring_report_context(report: Any) -> dict[str, Any]:
    """Everything a monitoring report shows, arranged for the template."""
    details: Mapping[str, Any] = getattr(report, "details", None) or {}
    version = getattr(report, "model_version", None)
    score = _stability(
        details.get("score"),
        _("Share of scores per band: the period (bars) against the development sample (dots)"),
    )
    features = []
    for name, raw in sorted((details.get("features") or {}).items()):
        if not isinstance(raw, Mapping):
            continue
        item = _stability(
            raw,
            _("Share per bin of %(feature)s: the period (bars), development (dots)")
            % {"feature": name},
        )
        if item is not None:
            item.update({"name": name, "label": feature_label(name)})
            features.append(item)
    features.sort(key=lambda item: -(item["value"] or 0))
    backtest = _backtest(details.get("backtest"))
    backtest_chart = None
    if any(row["observed_pct"] is not None for row in backtest):
        backtest_chart = bar_chart(
            [row["observed_pct"] for row in backtest],
            [row["band"] or str(index) for index, row in enumerate(backtest, start=1)],
            markers=[row["expected_pct"] for row in backtest],
            description=_(
                "Observed bad rate (bars) and predicted default probability (dots) by band"
            ),
        )
    psi = _number(getattr(report, "psi", None))
    return {
        "report": report,
        "version": version,
        "model_label": getattr(version, "label", "") if version is not None else "",
        "period_start": getattr(report, "period_start", None),
        "period_end": getattr(report, "period_end", None),
        "scored": getattr(report, "scored", 0),
        "psi": psi,
        "level": getattr(report, "level", "") or _level(psi),
        "level_display": _display(report, "level"),
        "score": score,
        "features": features,
        "backtest": backtest,
        "backtest_chart": backtest_chart,
        "overrides": overrides_context(details.get("overrides")),
        "run_by": _person(getattr(report, "created_by", None)),
        "created_at": getattr(report, "created_at", None),
        "watch": _number((details.get("thresholds") or {}).get("watch")) or STABILITY_WATCH,
        "act": _number((details.get("thresholds") or {}).get("act")) or STABILITY_ACT,
        "notes": [str(note) for note in details.get("notes") or []],
    }


def monitoring_report_html(report: Any, *, language: str | None = None) -> str:
    """A monitoring report as a standalone HTML document (PDF-ready)."""
    with translation.override(language or translation.get_language() or "en"):
        context = monitoring_report_context(report)
        context["language"] = translation.get_language()
        return render_to_string("risk/monitoring_report.html", context)
