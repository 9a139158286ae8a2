"""The scenario specification (JSON) and its validation.

A scenario is a list of rules, each an aggregate (``measure``) of the subject's transactions
that pass a ``filter`` within a window of ``window_days`` calendar days ending on the day
evaluated, compared with a ``threshold``; the rules are combined into a typology score::

    {
      "subject": "account",                 # or "customer" (all accounts of the holder)
      "threshold": 100,                     # score (0..100) at which the scenario alerts
      "rules": [
        {"code": "cash_in_day",             # unique within the scenario
         "measure": "sum",                  # see MEASURES
         "filter": {"direction": "credit", "kinds": ["cash_deposit"]},
         "window_days": 1,
         "op": ">=", "threshold": 50000,     # "between" takes [low, high]
         "weight": 1, "required": true}
      ]
    }

Score: each rule contributes ``weight`` when it fires and, for ``>=``/``>`` rules that do
not, ``0.5 * weight * value / threshold`` (partial evidence ranks the near misses); the
score is ``100 * contributions / total weight``. The scenario alerts when every ``required``
rule fires and the score reaches the scenario's ``threshold``.

Amounts are in the bank's base currency except ``round_to`` (checked on the booked amount).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

#: measure -> what it computes over the window (the per-transaction value is |amount|)
MEASURES: dict[str, str] = {
    "count": "number of matching transactions",
    "sum": "sum of the matching amounts",
    "max": "largest matching amount",
    "avg": "average matching amount",
    "distinct_counterparties": "number of distinct counterparties of the matching transactions",
    "ratio": "sum of the matching amounts / sum of the amounts matching 'denominator'",
    "zscore": "largest z-score of a matching amount against the subject's own earlier "
    "matching amounts (mean and standard deviation, at least params.min_history of them)",
    "gap_days": "largest number of days between a matching transaction and the subject's "
    "previous transaction (dormancy)",
    "pair_count": "most matching transactions with one single counterparty within window_days "
    "(any such span ending in the window; batch only)",
    "cycles": "number of time-respecting cycles through the subject (batch only)",
    "scatter_gather": "number of distinct intermediaries between the subject and one other "
    "account in a two-hop pattern (batch only)",
}
GRAPH_MEASURES = frozenset({"cycles", "scatter_gather"})
#: measures only the batch mode computes (the streaming state keeps no per-pair history)
BATCH_ONLY_MEASURES = GRAPH_MEASURES | {"pair_count"}
OPS = (">=", ">", "<=", "<", "between")
SUBJECTS = ("account", "customer")
DIRECTIONS = ("credit", "debit", "any")
FILTER_KEYS = {
    "direction": "credit | debit | any",
    "kinds": "list of banking transaction kinds",
    "channels": "list of banking channels",
    "currencies": "list of ISO currency codes (booked currency)",
    "countries": "list of ISO alpha-2 counterparty countries",
    "exclude_countries": "list of ISO alpha-2 counterparty countries to leave out",
    "flagged": "true: only counterparties matched by sanctions screening",
    "internal": "true: counterparty is one of the bank's accounts; false: external",
    "min_amount": "smallest amount (base currency)",
    "max_amount": "largest amount (base currency), exclusive",
    "round_to": "booked amount is a multiple of this (e.g. 1000)",
}
RULE_KEYS = {
    "code",
    "name",
    "measure",
    "filter",
    "denominator",
    "min_denominator",
    "window_days",
    "op",
    "threshold",
    "weight",
    "required",
    "params",
    "description",
}
SCENARIO_KEYS = {"subject", "threshold", "rules", "description", "evidence_days"}
MAX_WINDOW_DAYS = 400


def _num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_filter(where: str, flt: Any, errors: list[str]) -> None:
    from .frame import CHANNELS, KINDS

    if not isinstance(flt, dict):
        errors.append(_("%(where)s must be an object.") % {"where": where})
        return
    for key, value in flt.items():
        at = f"{where}.{key}"
        if key not in FILTER_KEYS:
            errors.append(_("%(where)s: unknown filter key.") % {"where": at})
        elif key == "direction" and value not in DIRECTIONS:
            errors.append(_("%(where)s must be credit, debit or any.") % {"where": at})
        elif key in ("kinds", "channels", "currencies", "countries", "exclude_countries"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors.append(_("%(where)s must be a list of strings.") % {"where": at})
            elif key == "kinds" and (bad := [v for v in value if v not in KINDS]):
                errors.append(
                    _("%(where)s: unknown kinds %(bad)s.") % {"where": at, "bad": ", ".join(bad)}
                )
            elif key == "channels" and (bad := [v for v in value if v not in CHANNELS]):
                errors.append(
                    _("%(where)s: unknown channels %(bad)s.") % {"where": at, "bad": ", ".join(bad)}
                )
        elif key in ("flagged", "internal") and not isinstance(value, bool):
            errors.append(_("%(where)s must be true or false.") % {"where": at})
        elif key in ("min_amount", "max_amount", "round_to") and (not _num(value) or value < 0):
            errors.append(_("%(where)s must be a number of at least 0.") % {"where": at})


def validate_spec(spec: Any) -> list[str]:
    """The problems of a scenario spec, each naming the bad key; [] when it is valid."""
    errors: list[str] = []
    if not isinstance(spec, dict):
        return [_("The scenario specification must be a JSON object.")]
    for key in spec:
        if key not in SCENARIO_KEYS:
            errors.append(_("%(key)s: unknown scenario key.") % {"key": key})
    if spec.get("subject", "account") not in SUBJECTS:
        errors.append(_("subject must be account or customer."))
    threshold = spec.get("threshold", 100)
    if not _num(threshold) or not 0 < threshold <= 100:
        errors.append(_("threshold must be a number above 0 and at most 100."))
    rules = spec.get("rules")
    if not isinstance(rules, list) or not rules:
        errors.append(_("rules must be a non-empty list."))
        return errors
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        where = f"rules[{i}]"
        if not isinstance(rule, dict):
            errors.append(_("%(where)s must be an object.") % {"where": where})
            continue
        code = rule.get("code")
        if not isinstance(code, str) or not code:
            errors.append(_("%(where)s.code is required.") % {"where": where})
        elif code in seen:
            errors.append(
                _("%(where)s.code %(code)s is repeated.") % {"where": where, "code": code}
            )
        else:
            seen.add(code)
            where = f"rules[{i}] ({code})"
        for key in rule:
            if key not in RULE_KEYS:
                errors.append(
                    _("%(where)s.%(key)s: unknown rule key.") % {"where": where, "key": key}
                )
        measure = rule.get("measure")
        if measure not in MEASURES:
            errors.append(
                _("%(where)s.measure must be one of %(choices)s.")
                % {"where": where, "choices": ", ".join(MEASURES)}
            )
        window = rule.get("window_days", 1)
        if (
            not isinstance(window, int)
            or isinstance(window, bool)
            or not 1 <= window <= MAX_WINDOW_DAYS
        ):
            errors.append(
                _("%(where)s.window_days must be a whole number from 1 to %(max)s.")
                % {"where": where, "max": MAX_WINDOW_DAYS}
            )
        op = rule.get("op", ">=")
        if op not in OPS:
            errors.append(
                _("%(where)s.op must be one of %(choices)s.")
                % {"where": where, "choices": " ".join(OPS)}
            )
        value = rule.get("threshold")
        if op == "between":
            if not (
                isinstance(value, list) and len(value) == 2 and all(_num(v) for v in value)
            ) or (value[0] > value[1]):
                errors.append(
                    _("%(where)s.threshold must be [low, high] for between.") % {"where": where}
                )
        elif not _num(value):
            errors.append(_("%(where)s.threshold must be a number.") % {"where": where})
        weight = rule.get("weight", 1)
        if not _num(weight) or weight < 0:
            errors.append(_("%(where)s.weight must be a number of at least 0.") % {"where": where})
        if not isinstance(rule.get("required", False), bool):
            errors.append(_("%(where)s.required must be true or false.") % {"where": where})
        _check_filter(f"{where}.filter", rule.get("filter", {}), errors)
        if measure == "ratio":
            if "denominator" not in rule:
                errors.append(_("%(where)s.denominator is required for ratio.") % {"where": where})
            else:
                _check_filter(f"{where}.denominator", rule["denominator"], errors)
            if not _num(rule.get("min_denominator", 0)):
                errors.append(_("%(where)s.min_denominator must be a number.") % {"where": where})
        elif "denominator" in rule:
            errors.append(_("%(where)s.denominator is only for ratio.") % {"where": where})
        params = rule.get("params", {})
        if not isinstance(params, dict):
            errors.append(_("%(where)s.params must be an object.") % {"where": where})
        else:
            for key, val in params.items():
                if not _num(val):
                    errors.append(
                        _("%(where)s.params.%(key)s must be a number.")
                        % {"where": where, "key": key}
                    )
    weights = [r.get("weight", 1) for r in rules if isinstance(r, dict)]
    if weights and sum(float(w) for w in weights if _num(w)) <= 0:
        errors.append(_("rules: the weights add up to 0."))
    return errors


def check_spec(spec: Any) -> dict:
    """The spec when valid; raises ValidationError on the ``spec`` field otherwise."""
    errors = validate_spec(spec)
    if errors:
        raise ValidationError({"spec": errors})
    return spec


def is_batch_only(spec: dict) -> bool:
    """Whether a scenario needs the whole book (graph or per-pair measures) and cannot
    stream."""
    return any(rule.get("measure") in BATCH_ONLY_MEASURES for rule in spec.get("rules", []))
