"""Learning data for credit models: any tabular CSV (plain or gzipped) with a binary outcome.

:func:`load_dataset` reads the file (separator sniffed: ``,`` ``;`` tab ``|`` or
whitespace; header row detected, else columns are named ``col_1`` … ``col_N``) and
:func:`dataset_from_frame` types its columns:

* numeric when (nearly) every value parses as a number, categorical otherwise;
* dates are recognised and left out unless declared (``dates=``), then used as days since
  1970-01-01;
* identifiers are left out with a note: text unique per row, whole numbers unique per row,
  a numeric sequence that only rises (or falls), or a near-unique column named like an id;
* constant columns, and categories with too many distinct values to learn from, are left
  out with a note.

The target is a column name or a 1-based column number; ``bad`` names the value(s) that mean
a bad outcome, every other value is good. Rows without a target are dropped (counted in the
fingerprint).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext

from ..engine import MISSING_TOKENS, canonical_number, date_days

MIN_CLASS_ROWS = 10
SAMPLE_LINES = 200
_NUMERIC_SHARE = 0.95
_DATE_SHARE = 0.9
_ID_NAME = re.compile(r"(^|[^a-z])(id|uuid|guid|key)$|^(id|row|index|no|nr)($|[^a-z])")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_DATE_TEXT = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2})?.*)?$"
)
_MAX_CATEGORIES = 100
_MIN_ROWS_PER_CATEGORY = 10


def _(message: str) -> str:
    """Translated when Django's translation machinery is set up, else as written."""
    try:
        return gettext(message)
    except ImproperlyConfigured:
        return message


class DatasetError(ValueError):
    """Learning data that cannot be used; the message names the file, column or value."""


@dataclass
class ColumnProfile:
    """What the loader made of one column."""

    name: str
    kind: str  # numeric | categorical | date | id | constant | excluded
    missing_share: float
    distinct: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "missing_share": round(self.missing_share, 6),
            "distinct": self.distinct,
            "note": self.note,
        }


@dataclass
class Dataset:
    """Usable features (numeric as float, categorical as text or None), the target
    (1 = bad) and what was left out and why."""

    features: pd.DataFrame
    target: np.ndarray
    profiles: list[ColumnProfile]
    exclusions: list[dict[str, str]]
    fingerprint: dict[str, Any]
    target_name: str
    bad_values: list[str]
    # Feature → transform the engine applies before binning ("date": days since 1970-01-01).
    transforms: dict[str, str] = field(default_factory=dict)

    @property
    def numeric_features(self) -> list[str]:
        return [name for name in self.features.columns if self.features[name].dtype.kind == "f"]

    @property
    def categorical_features(self) -> list[str]:
        return [name for name in self.features.columns if self.features[name].dtype.kind != "f"]

    def subset(self, rows: np.ndarray) -> Dataset:
        """The same data set restricted to ``rows`` (positions)."""
        return Dataset(
            features=self.features.iloc[rows].reset_index(drop=True),
            target=self.target[rows],
            profiles=self.profiles,
            exclusions=self.exclusions,
            fingerprint=self.fingerprint,
            target_name=self.target_name,
            bad_values=self.bad_values,
            transforms=self.transforms,
        )


# --- reading files ---------------------------------------------------------------------


def _decode(data: bytes, path: str) -> str:
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DatasetError(_("%(path)s is not a text file") % {"path": path})


def _field_counts(lines: list[str], delimiter: str) -> tuple[float, int]:
    """Share of lines with the most common field count, and that count."""
    if delimiter == "whitespace":
        counts = [len(line.split()) for line in lines]
    else:
        counts = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
    if not counts:
        return 0.0, 0
    values, frequency = np.unique(counts, return_counts=True)
    best = int(np.argmax(frequency))
    return float(frequency[best]) / len(counts), int(values[best])


def sniff_separator(sample: str) -> str:
    """The field separator of a CSV sample: one of ``, ; \\t |`` or "whitespace"."""
    lines = [line for line in sample.splitlines() if line.strip()][:SAMPLE_LINES]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line short
    if not lines:
        raise DatasetError(_("the file is empty"))
    try:
        sniffed = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t| ").delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and sniffed != " ":
        share, count = _field_counts(lines, sniffed)
        if share >= 0.9 and count > 1:
            return sniffed
    best = ("", 0.0, 0)
    for delimiter in (",", ";", "\t", "|"):
        share, count = _field_counts(lines, delimiter)
        if share >= 0.9 and count > 1 and count > best[2]:
            best = (delimiter, share, count)
    if best[0]:
        return best[0]
    share, count = _field_counts(lines, "whitespace")
    if share >= 0.9 and count > 1:
        return "whitespace"
    raise DatasetError(
        _("cannot tell the columns apart: no separator (, ; tab | or spaces) splits every line")
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _looks_like_header(first: list[str], rest: pd.DataFrame, target: str) -> bool:
    """Whether the first row names the columns rather than holding data."""
    cells = [cell.strip() for cell in first]
    if target and not target.isdigit() and target in cells:
        return True
    named = [cell for cell in cells if cell]
    if len(set(named)) < len(named):
        return False
    header_votes = data_votes = 0
    sample = rest.head(1000)
    for position, cell in enumerate(cells):
        if not cell or position >= sample.shape[1]:
            continue
        column = [
            value for value in sample.iloc[:, position] if value.strip() not in MISSING_TOKENS
        ]
        if not column:
            continue
        numeric_share = sum(_is_number(value) for value in column) / len(column)
        if numeric_share >= 0.9:
            if _is_number(cell):
                data_votes += 1
            else:
                header_votes += 1
        elif _is_number(cell) or cell in set(column):
            data_votes += 1
        elif len(set(column)) < 0.5 * len(column):
            header_votes += 1
    return header_votes > data_votes


def _column_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells, start=1):
        name = cell.strip() or f"col_{position}"
        candidate, suffix = name, 2
        while candidate in seen:
            candidate = f"{name}_{suffix}"
            suffix += 1
        seen.add(candidate)
        names.append(candidate)
    return names


def read_table(path: str | Path, *, target: str = "") -> tuple[pd.DataFrame, bytes, dict[str, Any]]:
    """The text table in ``path`` (all cells as text), its raw bytes and how it was read
    (separator, header)."""
    location = Path(path)
    try:
        raw = location.read_bytes()
    except FileNotFoundError as exc:
        raise DatasetError(_("file not found: %(path)s") % {"path": str(location)}) from exc
    except OSError as exc:
        raise DatasetError(
            _("cannot read %(path)s: %(error)s") % {"path": str(location), "error": exc.strerror}
        ) from exc
    data = raw
    if raw[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(
                _("%(path)s is not a valid gzip file") % {"path": str(location)}
            ) from exc
    text = _decode(data, str(location))
    if not text.strip():
        raise DatasetError(_("%(path)s is empty") % {"path": str(location)})
    separator = sniff_separator(text[:200_000])
    options: dict[str, Any] = {
        "header": None,
        "dtype": str,
        "keep_default_na": False,
        "skip_blank_lines": True,
    }
    if separator == "whitespace":
        options["sep"] = r"\s+"
    else:
        options["sep"] = separator
        options["skipinitialspace"] = True
    try:
        table = pd.read_csv(io.StringIO(text), **options)
    except (pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(
            _("%(path)s is not a readable CSV file: %(error)s")
            % {"path": str(location), "error": str(exc).strip()}
        ) from exc
    if table.shape[0] < 2:
        raise DatasetError(_("%(path)s has no data rows") % {"path": str(location)})
    table = table.fillna("")
    first = [str(value) for value in table.iloc[0].tolist()]
    has_header = _looks_like_header(first, table.iloc[1:], target)
    if has_header:
        names = _column_names(first)
        table = table.iloc[1:].reset_index(drop=True)
    else:
        names = [f"col_{position}" for position in range(1, table.shape[1] + 1)]
    table.columns = names
    for name in names:
        table[name] = table[name].astype(object).map(lambda value: str(value).strip())
    how = {"separator": separator, "header": has_header}
    return table, raw, how


def load_dataset(
    path: str | Path,
    *,
    target: str,
    bad: str | Sequence[str],
    exclude: Iterable[str] = (),
    dates: Iterable[str] = (),
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
) -> Dataset:
    """The learning data in the CSV file ``path`` (plain or gzipped)."""
    table, raw, how = read_table(path, target=str(target))
    dataset = dataset_from_frame(
        table,
        target=target,
        bad=bad,
        exclude=exclude,
        dates=dates,
        categorical=categorical,
        numeric=numeric,
        source=str(path),
    )
    dataset.fingerprint["sha256"] = hashlib.sha256(raw).hexdigest()
    dataset.fingerprint["bytes"] = len(raw)
    dataset.fingerprint["separator"] = how["separator"]
    dataset.fingerprint["header"] = how["header"]
    return dataset


# --- typing columns ------------------------------------------------------------------


def _as_text(column: pd.Series) -> pd.Series:
    """Cells as stripped text, None for missing values."""

    def clean(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if value is pd.NA or value is pd.NaT:
            return None
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value).strip()
        return None if text in MISSING_TOKENS else text

    return column.astype(object).map(clean)


def _resolve_column(columns: list[str], name: str, what: str) -> str:
    name = str(name).strip()
    if name in columns:
        return name
    folded = {column.lower(): column for column in columns}
    if name.lower() in folded:
        return folded[name.lower()]
    if name.isdigit() and 1 <= int(name) <= len(columns):
        return columns[int(name) - 1]
    shown = ", ".join(columns[:30]) + (" …" if len(columns) > 30 else "")
    raise DatasetError(
        _("%(what)s column '%(name)s' is not in the data (columns: %(columns)s)")
        % {"what": what, "name": name, "columns": shown}
    )


def _names(values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        values = [values]
    return [str(value).strip() for value in values if str(value).strip()]


def _id_name(name: str) -> bool:
    spaced = _CAMEL.sub("_", name).lower()
    return bool(_ID_NAME.search(spaced))


def _target_vector(
    column: pd.Series, name: str, bad: str | Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(known rows mask, 1 = bad per known row, the bad values as found)."""
    text = _as_text(column)
    known = text.notna().to_numpy()
    values = text[known].astype(str)
    wanted = _names(bad)
    distinct = sorted(values.unique().tolist())
    if not wanted:
        spellings = {canonical_number(value) for value in distinct}
        if spellings <= {"0", "1"} and len(spellings) == 2:
            wanted = ["1"]
        else:
            shown = ", ".join(distinct[:10])
            raise DatasetError(
                _("name the bad value(s) of target '%(target)s' (its values: %(values)s)")
                % {"target": name, "values": shown}
            )
    found: set[str] = set()
    for wanted_value in wanted:
        matches = {value for value in distinct if value == wanted_value}
        canonical = canonical_number(wanted_value)
        if not matches and canonical is not None:
            matches = {value for value in distinct if canonical_number(value) == canonical}
        if not matches:
            matches = {value for value in distinct if value.lower() == wanted_value.lower()}
        if not matches:
            shown = ", ".join(distinct[:10]) + (" …" if len(distinct) > 10 else "")
            raise DatasetError(
                _(
                    "bad value '%(bad)s' does not occur in target '%(target)s'"
                    " (its values: %(values)s)"
                )
                % {"bad": wanted_value, "target": name, "values": shown}
            )
        found |= matches
    flags = values.isin(sorted(found)).to_numpy().astype(np.int64)
    bads = int(flags.sum())
    goods = len(flags) - bads
    if goods == 0 or bads == 0:
        raise DatasetError(
            _(
                "target '%(target)s' is not binary: every row with a target is %(side)s"
                " after mapping the bad value(s) %(bad)s"
            )
            % {"target": name, "side": "bad" if goods == 0 else "good", "bad": ", ".join(wanted)}
        )
    if bads < MIN_CLASS_ROWS or goods < MIN_CLASS_ROWS:
        raise DatasetError(
            _(
                "target '%(target)s' has too few %(side)s rows (%(count)s); at least"
                " %(minimum)s of each outcome are needed"
            )
            % {
                "target": name,
                "side": "bad" if bads < MIN_CLASS_ROWS else "good",
                "count": min(bads, goods),
                "minimum": MIN_CLASS_ROWS,
            }
        )
    return known, flags, sorted(found)


def _looks_like_dates(values: pd.Series) -> bool:
    sample = values.head(500)
    if sample.empty:
        return False
    matched = sample.map(lambda value: bool(_DATE_TEXT.match(value))).mean()
    return bool(matched >= _DATE_SHARE)


def _frame_sha256(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256()
    digest.update("\x1f".join(str(column) for column in frame.columns).encode())
    hashed = pd.util.hash_pandas_object(frame.astype(object).astype(str), index=False)
    digest.update(hashed.to_numpy().tobytes())
    return digest.hexdigest()


def dataset_from_frame(
    frame: pd.DataFrame,
    *,
    target: str,
    bad: str | Sequence[str],
    exclude: Iterable[str] = (),
    dates: Iterable[str] = (),
    categorical: Iterable[str] = (),
    numeric: Iterable[str] = (),
    source: str = "",
) -> Dataset:
    """The learning data in ``frame``: typed features, the binary target and the notes."""
    if frame.shape[1] < 2:
        raise DatasetError(_("the data needs a target and at least one other column"))
    frame = frame.copy()
    frame.columns = _column_names([str(column) for column in frame.columns])
    columns = list(frame.columns)
    target_name = _resolve_column(columns, str(target), _("target"))
    excluded = {_resolve_column(columns, name, _("excluded")) for name in _names(exclude)}
    declared_dates = {_resolve_column(columns, name, _("date")) for name in _names(dates)}
    declared_categorical = {
        _resolve_column(columns, name, _("categorical")) for name in _names(categorical)
    }
    declared_numeric = {_resolve_column(columns, name, _("numeric")) for name in _names(numeric)}
    for declared in (excluded, declared_dates, declared_categorical, declared_numeric):
        if target_name in declared:
            raise DatasetError(
                _("the target '%(target)s' cannot also be a feature or excluded")
                % {"target": target_name}
            )
    clashes = (
        (declared_dates & declared_categorical)
        | (declared_dates & declared_numeric)
        | (declared_categorical & declared_numeric)
    )
    if clashes:
        raise DatasetError(
            _("column '%(column)s' is declared with two types") % {"column": sorted(clashes)[0]}
        )

    known, flags, bad_found = _target_vector(frame[target_name], target_name, bad)
    dropped_rows = int((~known).sum())
    frame = frame.loc[known].reset_index(drop=True)
    rows = len(frame)

    profiles: list[ColumnProfile] = []
    exclusions: list[dict[str, str]] = []
    features: dict[str, pd.Series] = {}
    transforms: dict[str, str] = {}

    def leave_out(name: str, kind: str, missing: float, distinct: int, reason: str) -> None:
        profiles.append(ColumnProfile(name, kind, missing, distinct, reason))
        exclusions.append({"column": name, "reason": reason})

    for name in columns:
        if name == target_name:
            note = _("the outcome (bad = %(bad)s)") % {"bad": ", ".join(bad_found)}
            if dropped_rows:
                note += "; " + _("%(rows)s rows without it dropped") % {"rows": dropped_rows}
            profiles.append(
                ColumnProfile(name, "excluded", dropped_rows / (rows + dropped_rows), 2, note)
            )
            continue
        text = _as_text(frame[name])
        present = text.dropna()
        missing_share = 1.0 - len(present) / rows if rows else 0.0
        distinct = int(present.nunique())
        if name in excluded:
            leave_out(name, "excluded", missing_share, distinct, _("excluded on request"))
            continue
        if distinct == 0:
            leave_out(name, "constant", missing_share, distinct, _("no values"))
            continue
        if name in declared_dates:
            days = np.asarray(
                text.map(lambda value: date_days(value) if value else np.nan), dtype=float
            )
            unparsed = int(np.isnan(days).sum() - text.isna().sum())
            if unparsed > 0.5 * len(present):
                raise DatasetError(
                    _("column '%(column)s' is declared a date but %(count)s values are not dates")
                    % {"column": name, "count": unparsed}
                )
            note = _("date, used as days since 1970-01-01")
            if unparsed:
                note += "; " + _("%(count)s values not dates, taken as missing") % {
                    "count": unparsed
                }
            profiles.append(ColumnProfile(name, "date", missing_share, distinct, note))
            features[name] = pd.Series(days, dtype=float)
            transforms[name] = "date"
            continue
        if distinct == 1:
            leave_out(name, "constant", missing_share, distinct, _("the same value in every row"))
            continue
        numbers = pd.to_numeric(present, errors="coerce")
        numeric_share = float(numbers.notna().mean()) if len(present) else 0.0
        is_numeric = name not in declared_categorical and (
            name in declared_numeric or numeric_share >= _NUMERIC_SHARE
        )
        if name in declared_numeric and numeric_share < 0.5:
            raise DatasetError(
                _("column '%(column)s' is declared numeric but most values are not numbers")
                % {"column": name}
            )
        unique_per_row = distinct == len(present) and len(present) >= 20
        if is_numeric:
            values = pd.to_numeric(text, errors="coerce").astype(float)
            whole = bool(np.all(np.mod(values.dropna().to_numpy(), 1) == 0))
            ordered = values.dropna()
            monotone = (
                len(ordered) >= 20
                and distinct == len(ordered)
                and (ordered.is_monotonic_increasing or ordered.is_monotonic_decreasing)
            )
            near_unique = distinct >= 0.95 * len(present)
            if name not in declared_numeric:
                if monotone:
                    leave_out(
                        name,
                        "id",
                        missing_share,
                        distinct,
                        _("identifier: a sequence unique per row"),
                    )
                    continue
                if unique_per_row and whole:
                    leave_out(
                        name,
                        "id",
                        missing_share,
                        distinct,
                        _("identifier: whole numbers unique per row"),
                    )
                    continue
                if near_unique and _id_name(name):
                    leave_out(
                        name,
                        "id",
                        missing_share,
                        distinct,
                        _("identifier: named like an id, nearly unique per row"),
                    )
                    continue
            note = ""
            unparsed = int(values.isna().sum() - text.isna().sum())
            if unparsed:
                note = _("%(count)s values not numbers, taken as missing") % {"count": unparsed}
            profiles.append(ColumnProfile(name, "numeric", missing_share, distinct, note))
            features[name] = values.reset_index(drop=True)
            continue
        if name not in declared_categorical:
            if _looks_like_dates(present):
                leave_out(
                    name,
                    "date",
                    missing_share,
                    distinct,
                    _("date: left out unless declared a date"),
                )
                continue
            if unique_per_row:
                leave_out(name, "id", missing_share, distinct, _("identifier: text unique per row"))
                continue
            if distinct >= 0.95 * len(present) and _id_name(name):
                leave_out(
                    name,
                    "id",
                    missing_share,
                    distinct,
                    _("identifier: named like an id, nearly unique per row"),
                )
                continue
            if distinct > _MAX_CATEGORIES and len(present) / distinct < _MIN_ROWS_PER_CATEGORY:
                leave_out(
                    name,
                    "excluded",
                    missing_share,
                    distinct,
                    _("too many distinct values (%(count)s) to learn from") % {"count": distinct},
                )
                continue
        profiles.append(ColumnProfile(name, "categorical", missing_share, distinct, ""))
        features[name] = text.reset_index(drop=True)

    if not features:
        raise DatasetError(
            _("no usable feature column is left (see the exclusions: %(list)s)")
            % {"list": "; ".join(f"{item['column']}: {item['reason']}" for item in exclusions)}
        )
    feature_frame = pd.DataFrame(features)
    for name in feature_frame.columns:
        if feature_frame[name].dtype.kind != "f":
            feature_frame[name] = feature_frame[name].astype(object)
    bad_count = int(flags.sum())
    fingerprint = {
        "sha256": _frame_sha256(frame),
        "rows": rows,
        "columns": len(columns),
        "features": feature_frame.shape[1],
        "bad_count": bad_count,
        "bad_rate": round(bad_count / rows, 6),
        "dropped_rows": dropped_rows,
        "source": source,
    }
    return Dataset(
        features=feature_frame,
        target=flags,
        profiles=profiles,
        exclusions=exclusions,
        fingerprint=fingerprint,
        target_name=target_name,
        bad_values=bad_found,
        transforms=transforms,
    )
