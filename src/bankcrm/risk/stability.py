"""Population and characteristic stability: how far a population moved from the
development sample.

``PSI = Σ (actual − expected) · ln(actual / expected)`` over the bins of a distribution
(shares below ``floor`` count as ``floor``, so an empty bin does not make it infinite).
Customary reading: below 0.1 stable, 0.1 to 0.25 watch, 0.25 and above act.

Bins of a numeric distribution are cut by ``edges`` as the scorecard cuts its bins:
bin 0 is ``value < edges[0]``, bin ``i`` is ``edges[i-1] <= value < edges[i]`` and the last
``value >= edges[-1]``, so ``len(edges) + 1`` bins (plus one for missing values when asked).

The development distribution stored with a model version (``ModelVersion.baseline``)::

    {"score": {"edges": [...], "bins": [...], "shares": [...]},
     "features": {name: {"kind": "numeric", "edges": [...], "bins": [...], "shares": [...]}
                        | {"kind": "categorical", "categories": [[...], ...], "bins": [...],
                           "shares": [...]}}}

:func:`score_shares` and :func:`feature_shares` compute a new population's shares over the
same bins, ready for :func:`psi`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .engine import category_lookup, column_codes, column_numbers

WATCH = 0.1
ACT = 0.25


def psi(
    expected_shares: Sequence[float], actual_shares: Sequence[float], *, floor: float = 1e-4
) -> float:
    """The population stability index of ``actual_shares`` against ``expected_shares``."""
    expected = np.asarray(expected_shares, dtype=float)
    actual = np.asarray(actual_shares, dtype=float)
    if expected.shape != actual.shape or expected.ndim != 1:
        raise ValueError(
            f"the two distributions need the same bins ({expected.size} expected shares,"
            f" {actual.size} actual)"
        )
    if expected.size == 0:
        raise ValueError("the distributions have no bins")
    if np.any(~np.isfinite(expected)) or np.any(~np.isfinite(actual)):
        raise ValueError("shares must be finite numbers")
    if np.any(expected < 0) or np.any(actual < 0):
        raise ValueError("shares cannot be negative")
    if floor <= 0:
        raise ValueError("floor must be positive")
    expected = np.maximum(expected, floor)
    actual = np.maximum(actual, floor)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    if total == 0:
        return [0.0] * len(counts)
    return [float(count) / float(total) for count in counts]


def distribution(
    values: Iterable[Any], edges: Sequence[float], *, missing: bool = False
) -> list[float]:
    """Shares of ``values`` in the ``len(edges) + 1`` bins cut by ``edges``; with
    ``missing`` one more bin (last) for missing or non-numeric values, which are otherwise
    left out."""
    cuts = np.asarray(edges, dtype=float)
    if cuts.ndim != 1 or np.any(np.diff(cuts) <= 0):
        raise ValueError("edges must be an increasing list of numbers")
    numbers = column_numbers(pd.Series(list(values), dtype=object), None)
    absent = np.isnan(numbers)
    index = np.searchsorted(cuts, numbers[~absent], side="right")
    counts = np.bincount(index, minlength=len(cuts) + 1).astype(float)
    if missing:
        counts = np.append(counts, float(absent.sum()))
    return _shares(counts)


def category_distribution(values: Iterable[Any], categories: Sequence[Any]) -> list[float]:
    """Shares of ``values`` over ``categories`` (each a category or a group of them),
    plus a last bin for any other value, missing ones included."""
    groups = [list(group) if isinstance(group, list | tuple) else [group] for group in categories]
    lookup = category_lookup(groups)
    codes = column_codes(pd.Series(list(values), dtype=object), lookup)
    codes = np.where(codes < 0, len(groups), codes)
    counts = np.bincount(codes, minlength=len(groups) + 1).astype(float)
    return _shares(counts)


def score_shares(scores: Iterable[Any], baseline: Mapping[str, Any]) -> list[float]:
    """Shares of ``scores`` over the bins of the baseline's score distribution."""
    entry = baseline.get("score") if "score" in baseline else baseline
    if not isinstance(entry, Mapping) or "edges" not in entry:
        raise ValueError("the baseline has no score distribution")
    return distribution(scores, entry["edges"])


def feature_shares(values: Iterable[Any], entry: Mapping[str, Any]) -> list[float]:
    """Shares of a feature's ``values`` over the bins of its baseline ``entry``."""
    if entry.get("kind") == "categorical":
        return category_distribution(values, entry.get("categories", []))
    return distribution(values, entry.get("edges", []), missing=True)


def stability_level(value: float, watch: float = WATCH, act: float = ACT) -> str:
    """ "ok", "watch" or "act" for a PSI (or CSI) ``value``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise ValueError("a stability index is needed")
    if value >= act:
        return "act"
    if value >= watch:
        return "watch"
    return "ok"
