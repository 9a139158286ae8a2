"""The audit trail as CSV, one line at a time: shared by the web export and `audit export`."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from .models import AuditEvent

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "actor",
    "actor_user_id",
    "channel",
    "action",
    "object_type",
    "object_pk",
    "object_repr",
    "before",
    "after",
    "changed_secrets",
    "reason",
    "request_id",
    "ip",
    "prev_hash",
    "row_hash",
)


class _Echo:
    """A file-like object whose ``write`` hands the line back, for streaming csv."""

    def write(self, value: str) -> str:
        return value


# A spreadsheet runs a cell starting with these as a formula; prefixing a quote keeps it
# text (the object names and reasons in the trail come from user input).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell: times in UTC ISO 8601, JSON for structured values, formulas defused."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_lines(events: Iterable[AuditEvent], *, byte_order_mark: bool = True) -> Iterator[str]:
    """The header line, then one line per event (a generator: memory stays flat)."""
    writer = csv.writer(_Echo())
    if byte_order_mark:
        yield "\ufeff"  # spreadsheet programs then read the file as UTF-8
    yield writer.writerow(CSV_COLUMNS)
    for event in events:
        yield writer.writerow([csv_cell(getattr(event, column)) for column in CSV_COLUMNS])
