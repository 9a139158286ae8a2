"""CSV and XLSX exports of the account and transaction lists.

An export holds exactly the rows the filtered list shows, with the same columns, personal
data masked as on the page (account numbers show their last four digits). Each export is
recorded in the audit trail first — ``account.export`` / ``transaction.export`` with the
filters in force, the format and the number of rows — and then streamed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bankcrm.core.masking import mask

FORMATS = ("csv", "xlsx")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A spreadsheet holds 1,048,576 rows: larger exports go to CSV.
XLSX_MAX_ROWS = 1_000_000
_CHUNK = 2000

# A spreadsheet runs a cell starting with these as a formula; a leading quote keeps it text
# (descriptions and counterparty names come from outside the bank).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One column of an export: its heading and how to read it from a row."""

    key: str
    label: Any
    value: Callable[[Any], Any]


def _masked_account_number(account: Any) -> str:
    return mask(account.number, "account")


ACCOUNT_COLUMNS = (
    Column("number", _("Account number"), _masked_account_number),
    Column("product", _("Product"), lambda a: a.product.name),
    Column("category", _("Category"), lambda a: a.product.get_category_display()),
    Column("holder", _("Primary holder"), lambda a: a.owner.display_name),
    Column("currency", _("Currency"), lambda a: a.currency),
    Column("balance", _("Balance"), lambda a: a.balance),
    Column("available_balance", _("Available balance"), lambda a: a.available_balance),
    Column("balance_as_of", _("Balance as of"), lambda a: a.balance_as_of),
    Column("status", _("Status"), lambda a: a.get_status_display()),
    Column("opened_on", _("Opened on"), lambda a: a.opened_on),
    Column("closed_on", _("Closed on"), lambda a: a.closed_on),
    Column("branch", _("Branch"), lambda a: a.branch.name),
)

TRANSACTION_COLUMNS = (
    Column("booking_date", _("Booking date"), lambda t: t.booking_date),
    Column("value_date", _("Value date"), lambda t: t.value_date),
    Column("account", _("Account"), lambda t: _masked_account_number(t.account)),
    Column("kind", _("Type"), lambda t: t.get_kind_display()),
    Column("direction", _("Credit or debit"), lambda t: t.get_direction_display()),
    Column("channel", _("Channel"), lambda t: t.get_channel_display()),
    Column("amount", _("Amount"), lambda t: t.amount),
    Column("currency", _("Currency"), lambda t: t.currency),
    Column("description", _("Description"), lambda t: t.description),
    Column("counterparty", _("Counterparty"), lambda t: t.counterparty_name),
    Column(
        "counterparty_account",
        _("Counterparty account"),
        lambda t: mask(t.counterparty_account, "account"),
    ),
    Column("counterparty_bank", _("Counterparty bank"), lambda t: t.counterparty_bank),
    Column("counterparty_country", _("Counterparty country"), lambda t: t.counterparty_country),
    Column("running_balance", _("Balance after"), lambda t: t.running_balance),
)


def export_rows(rows: Iterable[Any], columns: tuple[Column, ...]) -> Iterator[list[Any]]:
    """The cell values of each row (typed: dates, Decimals, text)."""
    for row in rows:
        yield [column.value(row) for column in columns]


def _text_cell(value: Any) -> str:
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_PREFIXES):
        return "'" + text
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[Any]], columns: tuple[Column, ...]) -> Iterator[str]:
    """A CSV file line by line (with a byte-order mark, so spreadsheets read UTF-8)."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([str(column.label) for column in columns])
    for values in rows:
        yield writer.writerow([_text_cell(value) for value in values])


def xlsx_bytes(rows: Iterable[list[Any]], columns: tuple[Column, ...], title: str) -> bytes:
    """An XLSX workbook of one sheet; amounts stay numbers, dates stay dates."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=str(column.label))
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    for values in rows:
        sheet.append(
            [
                ("'" + value if value.startswith(_FORMULA_PREFIXES) else value)
                if isinstance(value, str)
                else value
                for value in values
            ]
        )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def iterate(queryset: QuerySet[Any]) -> Iterator[Any]:
    """Rows in chunks: memory stays flat however long the list."""
    return queryset.iterator(chunk_size=_CHUNK)
