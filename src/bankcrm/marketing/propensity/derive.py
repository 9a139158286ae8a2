"""Features derived from the learning data's own columns, the same way in training and
scoring.

* **Never contacted.** A days-since-last-contact column (``pdays``) writes "never" as a
  sentinel (-1, or 999 in the later UCI release); the sentinel becomes a missing value and a
  0/1 column ``<name>_never`` says so, so the number keeps its meaning as a distance in time.
* **Calendar position.** A ``month`` column (names or numbers) and a ``day`` column (day of
  the month) become ``month_number`` and ``day_of_year`` (a non-leap year), so nearby days
  of the campaign calendar are near each other for the model.
* **Calendar-day volume.** ``day_volume``: the share of the learning rows contacted on that
  calendar day, learnt from the learning rows only (a day never seen counts 0). Busy and
  quiet days of the calendar differ in who was called and how.

Nothing here reads the outcome, the row order or anything beyond the row itself, except the
volume table, which is learnt from the rows a model is fitted on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bankcrm.risk.engine import category_of, column_numbers

# Column name (lower case) → the values that mean "never".
SENTINELS: dict[str, tuple[float, ...]] = {"pdays": (-1.0, 999.0)}
MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH_COLUMNS = ("month",)
DAY_COLUMNS = ("day", "day_of_month")
# Days before the first of each month in a non-leap year.
_DAYS_BEFORE = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])
_MONTH_SHARE = 0.95


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    folded = {column.lower(): column for column in columns}
    for name in names:
        if name in folded:
            return folded[name]
    return None


def month_numbers(column: pd.Series) -> np.ndarray:
    """Month 1–12 of each value (``may``, ``May``, ``MAY``, ``5``, ``05``); NaN otherwise."""

    def number(value: Any) -> float:
        label = category_of(value)
        if label is None:
            return np.nan
        text = label.strip().lower()
        if text[:3] in MONTH_NAMES and (len(text) == 3 or text.isalpha()):
            return float(MONTH_NAMES.index(text[:3]) + 1)
        try:
            month = float(text)
        except ValueError:
            return np.nan
        return month if month.is_integer() and 1 <= month <= 12 else np.nan

    values = column.astype(object)
    mapping = {value: number(value) for value in pd.unique(values)}
    return np.asarray(values.map(mapping), dtype=float)


def derive_plan(features: pd.DataFrame) -> dict[str, Any]:
    """Which derived features the columns of ``features`` allow (no outcome is read)."""
    columns = [str(column) for column in features.columns]
    taken = set(columns)
    plan: dict[str, Any] = {"never": [], "calendar": None}
    for column in columns:
        sentinels = SENTINELS.get(column.lower())
        if not sentinels or features[column].dtype.kind != "f":
            continue
        flag = f"{column}_never"
        if flag in taken:
            continue
        values = column_numbers(features[column], None)
        if np.isin(values, sentinels).any():
            plan["never"].append({"column": column, "sentinels": list(sentinels), "flag": flag})
            taken.add(flag)
    month = _find(columns, MONTH_COLUMNS)
    day = _find(columns, DAY_COLUMNS)
    if month is not None and not {"month_number", "day_of_year", "day_volume"} & taken:
        months = month_numbers(features[month])
        present = features[month].notna().to_numpy()
        if present.any() and np.mean(~np.isnan(months[present])) >= _MONTH_SHARE:
            calendar: dict[str, Any] = {"month": month, "day": None}
            if day is not None:
                days = column_numbers(features[day], None)
                known = days[~np.isnan(days)]
                if known.size and known.min() >= 1 and known.max() <= 31:
                    calendar["day"] = day
            plan["calendar"] = calendar
    return plan


def _calendar(plan: dict[str, Any], frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
    calendar = plan["calendar"]
    rows = len(frame)
    if calendar["month"] in frame.columns:
        months = month_numbers(frame[calendar["month"]])
    else:
        months = np.full(rows, np.nan)
    if not calendar.get("day"):
        return months, None
    if calendar["day"] in frame.columns:
        days = np.array(column_numbers(frame[calendar["day"]], None), dtype=float)
        days[(days < 1) | (days > 31)] = np.nan
    else:
        days = np.full(rows, np.nan)
    known = ~np.isnan(months)
    positions = np.full(rows, np.nan)
    positions[known] = _DAYS_BEFORE[months[known].astype(int) - 1] + days[known]
    return months, positions


def derive_fit(plan: dict[str, Any], features: pd.DataFrame) -> dict[str, Any]:
    """``plan`` with what it learns from ``features`` (the rows a model is fitted on)."""
    fitted = {**plan, "day_volume": None}
    calendar = plan.get("calendar")
    if calendar and calendar.get("day") and len(features):
        _months, positions = _calendar(plan, features)
        if positions is None:  # a day column always gives positions
            return fitted
        known = positions[~np.isnan(positions)].astype(int)
        values, counts = np.unique(known, return_counts=True)
        fitted["day_volume"] = {
            str(int(value)): round(float(count) / len(features), 8)
            for value, count in zip(values, counts, strict=True)
        }
    return fitted


def derived_names(fitted: dict[str, Any]) -> list[str]:
    """The derived columns ``derive_apply`` adds, in order."""
    names = [item["flag"] for item in fitted.get("never") or []]
    calendar = fitted.get("calendar")
    if calendar:
        names.append("month_number")
        if calendar.get("day"):
            names.append("day_of_year")
            if fitted.get("day_volume") is not None:
                names.append("day_volume")
    return names


def derive_apply(fitted: dict[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the sentinels made missing and the derived columns added (a column the
    frame lacks counts as missing; derived columns it brings are computed afresh)."""
    result = frame.copy()
    rows = len(result)
    for item in fitted.get("never") or []:
        column = item["column"]
        if column in result.columns:
            values = np.array(column_numbers(result[column], None), dtype=float)
            never = np.isin(values, item["sentinels"])
            values[never] = np.nan
            result[column] = values
            flags = never.astype(float)
            flags[np.isnan(values) & ~never] = np.nan
            result[item["flag"]] = flags
        else:
            result[item["flag"]] = np.full(rows, np.nan)
    calendar = fitted.get("calendar")
    if calendar:
        months, positions = _calendar(fitted, result)
        result["month_number"] = months
        if positions is not None:
            result["day_of_year"] = positions
            table = fitted.get("day_volume")
            if table is not None:
                keys = pd.Series(positions).map(
                    lambda value: "" if np.isnan(value) else str(int(value))
                )
                volume = keys.map(lambda key: table.get(key, 0.0) if key else np.nan)
                result["day_volume"] = volume.to_numpy(dtype=float)
    return result
