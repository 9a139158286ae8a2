"""What the lending tables show beyond the stored rows: the status of each schedule line, the
delinquency matrix (bucket × branch), and a small page of a list.

Presentation only: the figures come from the selectors; these helpers arrange them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from .models import Bucket, Instalment

# --- The schedule of a loan -----------------------------------------------------------------

LINE_STATUS_LABELS = {
    "paid": _("Paid"),
    "partly_paid": _("Partly paid"),
    "overdue": _("Overdue"),
    "due_today": _("Due today"),
    "upcoming": _("Not yet due"),
}


@dataclass(frozen=True)
class InstalmentRow:
    """One schedule line with what is left to pay and whether it is late."""

    instalment: Instalment
    status: str
    unpaid: Decimal
    days_late: int

    @property
    def status_label(self) -> str:
        return str(LINE_STATUS_LABELS[self.status])


def instalment_status(instalment: Instalment, today: dt.date) -> str:
    """paid, overdue (due before today, not fully paid), due_today, partly_paid or upcoming."""
    if instalment.amount_paid >= instalment.amount_due:
        return "paid"
    if instalment.due_on < today:
        return "overdue"
    if instalment.due_on == today:
        return "due_today"
    if instalment.amount_paid > 0:
        return "partly_paid"
    return "upcoming"


def instalment_rows(instalments: Iterable[Instalment], today: dt.date) -> list[InstalmentRow]:
    """The schedule lines with their status, in the order given."""
    rows = []
    for line in instalments:
        status = instalment_status(line, today)
        unpaid = max(line.amount_due - line.amount_paid, Decimal(0))
        late = (today - line.due_on).days if status == "overdue" else 0
        rows.append(InstalmentRow(line, status, unpaid, late))
    return rows


# --- The delinquency matrix ---------------------------------------------------------------


@dataclass
class MatrixCell:
    """Loans of one branch in one bucket (amounts per currency)."""

    count: int = 0
    outstanding: dict[str, Decimal] = field(default_factory=dict)
    arrears: dict[str, Decimal] = field(default_factory=dict)

    def add(self, count: int, outstanding: Decimal, arrears: Decimal, currency: str) -> None:
        self.count += count
        self.outstanding[currency] = self.outstanding.get(currency, Decimal(0)) + outstanding
        self.arrears[currency] = self.arrears.get(currency, Decimal(0)) + arrears

    @property
    def outstanding_items(self) -> list[tuple[str, Decimal]]:
        return sorted(self.outstanding.items())

    @property
    def arrears_items(self) -> list[tuple[str, Decimal]]:
        return sorted((c, a) for c, a in self.arrears.items() if a)


@dataclass
class MatrixRow:
    """One branch across the buckets."""

    branch_pk: Any
    branch_name: str
    cells: list[tuple[str, MatrixCell]]
    total: MatrixCell


@dataclass
class DelinquencyMatrix:
    """Buckets (columns, best to worst) × branches (rows), with totals."""

    buckets: list[tuple[str, str]]
    rows: list[MatrixRow]
    totals: list[tuple[str, MatrixCell]]
    grand_total: MatrixCell

    @property
    def is_empty(self) -> bool:
        return self.grand_total.count == 0


def _value(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def delinquency_matrix(rows: Sequence[Any], default_currency: str = "CNY") -> DelinquencyMatrix:
    """Arrange summary rows (bucket, branch, count, outstanding, arrears and, where loans
    are in several currencies, currency) into the matrix the delinquency page shows."""
    buckets = [(bucket.value, str(bucket.label)) for bucket in Bucket]
    by_branch: dict[Any, dict[str, MatrixCell]] = defaultdict(lambda: defaultdict(MatrixCell))
    names: dict[Any, str] = {}
    for row in rows:
        branch = _value(row, "branch_id", None)
        if branch is None:
            branch = _value(row, "branch")
        branch_pk = getattr(branch, "pk", branch)
        names[branch_pk] = str(
            _value(row, "branch_name", None) or getattr(branch, "name", None) or branch_pk
        )
        by_branch[branch_pk][_value(row, "bucket")].add(
            int(_value(row, "count", 0) or 0),
            Decimal(_value(row, "outstanding", 0) or 0),
            Decimal(_value(row, "arrears", 0) or 0),
            _value(row, "currency", None) or default_currency,
        )
    totals: dict[str, MatrixCell] = defaultdict(MatrixCell)
    grand = MatrixCell()
    matrix_rows = []
    for branch_pk in sorted(names, key=lambda pk: (names[pk], str(pk))):
        cells = by_branch[branch_pk]
        row_total = MatrixCell()
        ordered = []
        for code, _label in buckets:
            cell = cells.get(code) or MatrixCell()
            ordered.append((code, cell))
            for target in (row_total, totals[code], grand):
                for currency, amount in cell.outstanding.items():
                    target.add(0, amount, cell.arrears.get(currency, Decimal(0)), currency)
                target.count += cell.count
        matrix_rows.append(MatrixRow(branch_pk, names[branch_pk], ordered, row_total))
    return DelinquencyMatrix(
        buckets=buckets,
        rows=matrix_rows,
        totals=[(code, totals[code]) for code, _label in buckets],
        grand_total=grand,
    )


# --- Paging ----------------------------------------------------------------------------------


@dataclass
class Page:
    """One page of a list: the rows, the page number and whether there are more."""

    rows: list[Any]
    number: int
    has_previous: bool
    has_next: bool


def page_of(queryset: Any, number: Any, size: int) -> Page:
    """Rows of page ``number`` (1-based), read with one query (one row beyond the page tells
    whether a next page exists; no COUNT over a big table)."""
    try:
        page = max(1, int(number or 1))
    except (TypeError, ValueError):
        page = 1
    start = (page - 1) * size
    rows = list(queryset[start : start + size + 1])
    return Page(rows=rows[:size], number=page, has_previous=page > 1, has_next=len(rows) > size)
