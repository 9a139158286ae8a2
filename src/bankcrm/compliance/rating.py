"""The customer risk rating as data: a policy spec (JSON) turned into points, a score and a band.

:func:`evaluate` is pure: it takes the active policy's ``spec`` and the facts gathered about one
customer and returns the score, the band and every factor's contribution, so a compliance
officer can check the arithmetic by hand::

    contribution = points (0..100, from the factor's mapping) × weight
    score        = Σ contributions (the shipped weights sum to 1, so 0 ≤ score ≤ 100)
    band         = "high" if score ≥ bands.high, "medium" if score ≥ bands.medium, else "low"

then the overrides raise the band to at least the one they name (a confirmed sanctions match or
a current PEP is high whatever the points say). The factor kinds:

* ``map``: the fact's value looked up in ``map`` (``default`` for any other value, ``unknown``
  when the fact is empty);
* ``country``: an ISO country code; the highest ``lists`` points among the country lists
  holding it, else ``foreign`` (a country other than ``home_country``) or ``default``;
* ``keywords``: free text (occupation, industry) matched case-insensitively against each
  group's ``words`` (any script); the highest matching group's points;
* ``set_max``: a set of values (product categories held); the highest of their ``map`` points;
* ``ownership``: an organisation's ownership chain: ``depth`` points by chain length plus
  ``foreign_owner`` / ``offshore_owner`` / ``no_owner_known`` points, at most 100;
* ``ratio``: actual ÷ expected (monthly turnover against the declared one); ``bands`` is a list
  of ``[upper ratio, points]`` ascending, ``above`` beyond the last, ``unknown`` without a
  declared expectation.

The stored factor rows are ``{"code", "label", "value", "points", "weight", "contribution",
"key"}``; ``label`` is English, and pages translate it by ``code`` through
:data:`FACTOR_LABELS`.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext_lazy as _

BANDS = ("low", "medium", "high")
BAND_ORDER = {band: index for index, band in enumerate(BANDS)}
FACTOR_KINDS = ("map", "country", "keywords", "set_max", "ownership", "ratio")
CENT = Decimal("0.01")
DEFAULT_REVIEW_MONTHS = {"low": 60, "medium": 36, "high": 12}
DEFAULT_PEP_ENHANCED_MONTHS = 12
# A person owning at least this share of an organisation, directly or through a chain, is a
# beneficial owner (FATF Recommendation 24 and PBOC 2017 No. 235 use 25 %).
DEFAULT_UBO_THRESHOLD_PERCENT = 25

# Labels of the shipped factor codes, translated where the page renders them.
FACTOR_LABELS = {
    "customer_type": _("Customer type and legal form"),
    "nationality": _("Nationality or country of registration"),
    "residence": _("Country of residence"),
    "occupation": _("Occupation or industry"),
    "products": _("Products held"),
    "channel": _("Onboarding channel"),
    "pep": _("Politically exposed person"),
    "screening": _("Sanctions screening"),
    "adverse_media": _("Adverse media"),
    "ownership": _("Ownership complexity"),
    "activity": _("Actual against expected activity"),
}
# Labels of the shipped review checklist items (stored in English on each review; pages
# translate them by code).
CHECKLIST_LABELS = {
    "id_verified": _("Identity document verified"),
    "address_proof": _("Proof of address"),
    "registration_verified": _("Registration and licence verified"),
    "ubo_declaration": _("Beneficial ownership declaration"),
    "source_of_funds": _("Source of funds and wealth (EDD)"),
    "screening_reviewed": _("Sanctions and PEP screening reviewed"),
    "activity_reviewed": _("Account activity against the profile reviewed"),
}
# The same labels in English, stored with each rating (no translation active in jobs).
FACTOR_LABELS_EN = {
    "customer_type": "Customer type and legal form",
    "nationality": "Nationality or country of registration",
    "residence": "Country of residence",
    "occupation": "Occupation or industry",
    "products": "Products held",
    "channel": "Onboarding channel",
    "pep": "Politically exposed person",
    "screening": "Sanctions screening",
    "adverse_media": "Adverse media",
    "ownership": "Ownership complexity",
    "activity": "Actual against expected activity",
}


def factor_label(code: str) -> str:
    """The translated label of a factor code (the code itself for a policy's own factor)."""
    label = FACTOR_LABELS.get(code)
    return str(label) if label is not None else code


@dataclass(frozen=True)
class RatingResult:
    """One customer's rating under one policy."""

    score: Decimal
    band: str
    factors: list[dict[str, Any]]
    review_months: int
    due_diligence: str
    # Codes of the overrides that raised the band.
    overrides: list[str] = field(default_factory=list)
    # Enhanced due diligence lasts at least until this day (a former PEP), else None.
    edd_until: dt.date | None = None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _points(value: Any) -> Decimal:
    number = _decimal(value)
    return number if number is not None else Decimal(0)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, the day of month clipped to the target month's length."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- Validation ------------------------------------------------------------------------------


def validate_spec(spec: Any) -> list[str]:
    """Every problem of a rating policy spec, each naming what is wrong (empty: valid)."""
    problems: list[str] = []
    if not isinstance(spec, Mapping):
        return ["The rating policy must be an object."]
    factors = spec.get("factors")
    if not isinstance(factors, list) or not factors:
        problems.append("“factors” must be a non-empty list.")
        factors = []
    seen: set[str] = set()
    for index, factor in enumerate(factors, start=1):
        if not isinstance(factor, Mapping):
            problems.append(f"Factor {index} must be an object.")
            continue
        code = factor.get("code")
        name = code if isinstance(code, str) and code else str(index)
        if not isinstance(code, str) or not code:
            problems.append(f"Factor {index} has no code.")
        elif code in seen:
            problems.append(f"Factor code “{code}” is used twice.")
        else:
            seen.add(code)
        if factor.get("kind") not in FACTOR_KINDS:
            problems.append(f"Factor “{name}”: kind must be one of {', '.join(FACTOR_KINDS)}.")
        if not isinstance(factor.get("fact"), str) or not factor.get("fact"):
            problems.append(f"Factor “{name}”: “fact” must name the fact it reads.")
        weight = _decimal(factor.get("weight"))
        if weight is None or weight < 0:
            problems.append(f"Factor “{name}”: weight must be a number, zero or more.")
        for key in ("map", "lists", "keywords", "depth"):
            if key in factor and not isinstance(factor[key], Mapping):
                problems.append(f"Factor “{name}”: “{key}” must be an object.")
        if factor.get("kind") == "ratio":
            bands = factor.get("bands")
            if not isinstance(bands, list) or not all(
                isinstance(item, list) and len(item) == 2 and _decimal(item[0]) is not None
                for item in bands
            ):
                problems.append(f"Factor “{name}”: “bands” must be a list of [ratio, points].")
    bands = spec.get("bands")
    if not isinstance(bands, Mapping):
        problems.append("“bands” must give the medium and high thresholds.")
    else:
        medium, high = _decimal(bands.get("medium")), _decimal(bands.get("high"))
        if medium is None or high is None:
            problems.append("“bands” needs numeric “medium” and “high” thresholds.")
        elif medium > high:
            problems.append("The medium threshold must not exceed the high threshold.")
    review = spec.get("review_months", DEFAULT_REVIEW_MONTHS)
    if not isinstance(review, Mapping) or any(
        not isinstance(review.get(band), int) or int(review[band]) <= 0 for band in BANDS
    ):
        problems.append("“review_months” must give whole months above zero for low, medium, high.")
    elif review["high"] > 12:
        problems.append("High-risk customers must be reviewed at least every 12 months.")
    elif max(review["low"], review["medium"]) > 60:
        problems.append("Every customer must be reviewed at least every 60 months.")
    threshold = spec.get("ubo_threshold_percent", DEFAULT_UBO_THRESHOLD_PERCENT)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (0 < threshold <= 100)
    ):
        problems.append("“ubo_threshold_percent” must be a percentage above 0, at most 100.")
    pep_months = spec.get("pep_enhanced_months", DEFAULT_PEP_ENHANCED_MONTHS)
    if not isinstance(pep_months, int) or pep_months < 0:
        problems.append("“pep_enhanced_months” must be a whole number of months, zero or more.")
    for index, override in enumerate(spec.get("overrides") or [], start=1):
        if not isinstance(override, Mapping):
            problems.append(f"Override {index} must be an object.")
            continue
        if override.get("band") not in BANDS:
            problems.append(f"Override {index}: band must be low, medium or high.")
        if override.get("factor") not in seen:
            problems.append(f"Override {index}: “factor” must be one of the factor codes.")
        if not isinstance(override.get("keys"), list):
            problems.append(f"Override {index}: “keys” must be a list.")
    return problems


# --- Factor kinds ----------------------------------------------------------------------------


def _eval_map(factor: Mapping[str, Any], value: Any) -> tuple[str, Decimal, str]:
    mapping = factor.get("map") or {}
    if value is None or value == "":
        return "unknown", _points(factor.get("unknown", factor.get("default"))), ""
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key in mapping:
        return key, _points(mapping[key]), key
    return "default", _points(factor.get("default")), key


def _eval_country(
    factor: Mapping[str, Any], value: Any, spec: Mapping[str, Any], lists: Mapping[str, Any]
) -> tuple[str, Decimal, str]:
    country = str(value or "").upper()
    if not country:
        return "unknown", _points(factor.get("unknown", factor.get("default"))), ""
    best: tuple[str, Decimal] | None = None
    names: list[str] = []
    for list_code, points in (factor.get("lists") or {}).items():
        if country in (lists.get(list_code) or ()):
            names.append(list_code)
            if best is None or _points(points) > best[1]:
                best = (f"list:{list_code}", _points(points))
    shown = f"{country} ({', '.join(sorted(names))})" if names else country
    if best is not None:
        return best[0], best[1], shown
    home = str(spec.get("home_country") or "").upper()
    if home and country != home and "foreign" in factor:
        return "foreign", _points(factor.get("foreign")), shown
    return "default", _points(factor.get("default")), shown


@functools.lru_cache(maxsize=1024)
def _keyword_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for a group's words. Latin words match at the start of a word ("arms" not
    in "farms", "weapon" in "weapons"); words in other scripts (Chinese has no spaces)
    anywhere in the text."""
    parts = [
        (r"(?<![a-z0-9])" if word.isascii() else "") + re.escape(word)
        for word in (w.casefold() for w in words if w)
    ]
    return re.compile("|".join(parts) or r"(?!)")


def _eval_keywords(factor: Mapping[str, Any], value: Any) -> tuple[str, Decimal, str]:
    text = str(value or "").strip()
    if not text:
        return "unknown", _points(factor.get("unknown", factor.get("default"))), ""
    folded = text.casefold()
    best: tuple[str, Decimal] | None = None
    for group, definition in (factor.get("keywords") or {}).items():
        words = definition.get("words") or [] if isinstance(definition, Mapping) else []
        if _keyword_pattern(tuple(str(word) for word in words)).search(folded):
            points = _points(definition.get("points"))
            if best is None or points > best[1]:
                best = (group, points)
    if best is not None:
        return best[0], best[1], f"{text} ({best[0]})"
    return "default", _points(factor.get("default")), text


def _eval_set_max(factor: Mapping[str, Any], value: Any) -> tuple[str, Decimal, str]:
    items = sorted({str(item) for item in (value or ()) if item})
    if not items:
        return "none", _points(factor.get("none", factor.get("default"))), ""
    mapping = factor.get("map") or {}
    best = ("default", _points(factor.get("default")))
    for item in items:
        if item in mapping and _points(mapping[item]) > best[1]:
            best = (item, _points(mapping[item]))
    return best[0], best[1], ", ".join(items)


def _eval_ownership(factor: Mapping[str, Any], value: Any) -> tuple[str, Decimal, str]:
    if not value:
        return "not_applicable", _points(factor.get("not_applicable")), ""
    depth = int(value.get("depth") or 0)
    parts: list[str] = [f"depth {depth}"]
    depth_points = factor.get("depth") or {}
    points = Decimal(0)
    if depth > 0:
        known = [int(k) for k in depth_points if str(k).isdigit() and int(k) <= depth]
        points += _points(depth_points[str(max(known))]) if known else Decimal(0)
    key = f"depth_{depth}"
    if not value.get("owners_known"):
        points += _points(factor.get("no_owner_known"))
        parts.append("no owner recorded")
        key = "no_owner_known"
    if value.get("offshore_owner"):
        points += _points(factor.get("offshore_owner"))
        parts.append("offshore owner")
        key = "offshore_owner"
    if value.get("foreign_owner"):
        points += _points(factor.get("foreign_owner"))
        parts.append("foreign owner")
    return key, min(points, Decimal(100)), ", ".join(parts)


def _eval_ratio(factor: Mapping[str, Any], expected: Any, actual: Any) -> tuple[str, Decimal, str]:
    expected_amount, actual_amount = _decimal(expected), _decimal(actual) or Decimal(0)
    if expected_amount is None or expected_amount <= 0:
        return "unknown", _points(factor.get("unknown")), ""
    ratio = (actual_amount / expected_amount).quantize(CENT, rounding=ROUND_HALF_UP)
    shown = f"{actual_amount.quantize(CENT)} / {expected_amount.quantize(CENT)} = {ratio}"
    for upper, points in factor.get("bands") or []:
        if ratio <= _points(upper):
            return f"upto_{upper}", _points(points), shown
    return "above", _points(factor.get("above")), shown


# --- Evaluation ------------------------------------------------------------------------------


def _pep_key(facts: Mapping[str, Any], spec: Mapping[str, Any]) -> tuple[str, dt.date | None]:
    """The PEP mapping key (a former PEP within the enhanced period counts as "former")."""
    status = facts.get("pep_status") or "none"
    if status != "former":
        return status, None
    months = int(spec.get("pep_enhanced_months", DEFAULT_PEP_ENHANCED_MONTHS))
    left = facts.get("pep_left_office_on")
    as_of = facts.get("as_of")
    if not isinstance(left, dt.date):
        # Left office on an unknown day: stays enhanced until a date is recorded.
        return "former", None
    until = add_months(left, months)
    if isinstance(as_of, dt.date) and as_of > until:
        return "former_lapsed", until
    return "former", until


def evaluate(
    spec: Mapping[str, Any],
    facts: Mapping[str, Any],
    *,
    country_lists: Mapping[str, Iterable[str]] | None = None,
) -> RatingResult:
    """Rate one customer: ``facts`` as gathered by the KYC services (see the module docstring).

    ``country_lists`` (or ``facts["country_lists"]``) maps a list code to its countries.
    """
    lists = country_lists if country_lists is not None else facts.get("country_lists") or {}
    pep_key, edd_until = _pep_key(facts, spec)
    rows: list[dict[str, Any]] = []
    score = Decimal(0)
    keys: dict[str, str] = {}
    for factor in spec.get("factors") or []:
        code = factor["code"]
        kind = factor.get("kind")
        fact = factor.get("fact", code)
        value = facts.get(fact)
        if kind == "map":
            if fact == "pep_status":
                value = pep_key
            key, points, shown = _eval_map(factor, value)
        elif kind == "country":
            key, points, shown = _eval_country(factor, value, spec, lists)
        elif kind == "keywords":
            key, points, shown = _eval_keywords(factor, value)
        elif kind == "set_max":
            key, points, shown = _eval_set_max(factor, value)
        elif kind == "ownership":
            key, points, shown = _eval_ownership(factor, value)
        elif kind == "ratio":
            key, points, shown = _eval_ratio(
                factor, facts.get(factor.get("expected_fact", "")), value
            )
        else:
            continue
        weight = _points(factor.get("weight"))
        contribution = (points * weight).quantize(CENT, rounding=ROUND_HALF_UP)
        score += contribution
        keys[code] = key
        rows.append(
            {
                "code": code,
                "label": factor.get("label") or FACTOR_LABELS_EN.get(code, code),
                "value": shown,
                "key": key,
                "points": format(points.normalize(), "f"),
                "weight": str(weight),
                "contribution": str(contribution),
            }
        )
    score = score.quantize(CENT, rounding=ROUND_HALF_UP)
    thresholds = spec.get("bands") or {}
    if score >= _points(thresholds.get("high")):
        band = "high"
    elif score >= _points(thresholds.get("medium")):
        band = "medium"
    else:
        band = "low"
    applied: list[str] = []
    for override in spec.get("overrides") or []:
        if keys.get(override.get("factor")) in (override.get("keys") or []):
            if BAND_ORDER[override["band"]] > BAND_ORDER[band]:
                band = override["band"]
            applied.append(str(override.get("code") or override.get("factor")))
    review = spec.get("review_months") or DEFAULT_REVIEW_MONTHS
    if band == "high" or pep_key in ("current", "relative", "former"):
        due_diligence = "enhanced"
    elif band == "low" and spec.get("simplified_for_low"):
        due_diligence = "simplified"
    else:
        due_diligence = "standard"
    return RatingResult(
        score=score,
        band=band,
        factors=rows,
        review_months=int(review.get(band, DEFAULT_REVIEW_MONTHS[band])),
        due_diligence=due_diligence,
        overrides=applied,
        edd_until=edd_until if pep_key == "former" else None,
    )
