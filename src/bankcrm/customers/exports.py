"""The columns of the account and transaction list exports.

An export holds exactly the rows the filtered list shows, with the same columns, personal
data masked as on the page (account numbers show their last four digits). The files are
written by the export engine (:mod:`bankcrm.analytics.exports`: CSV, XLSX with typed cells
and a frozen heading row, PDF); each export is recorded in the audit trail first —
``account.export`` / ``transaction.export`` with the filters in force, the format and the
number of rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from bankcrm.analytics.exports import XLSX_CONTENT_TYPE, XLSX_MAX_ROWS, Column
from bankcrm.core.masking import mask

FORMATS = ("csv", "xlsx", "pdf")
_CHUNK = 2000

__all__ = [
    "ACCOUNT_COLUMNS",
    "FORMATS",
    "TRANSACTION_COLUMNS",
    "XLSX_CONTENT_TYPE",
    "XLSX_MAX_ROWS",
    "Column",
    "iterate",
]


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


def iterate(queryset: QuerySet[Any]) -> Iterator[Any]:
    """Rows in chunks: memory stays flat however long the list."""
    return queryset.iterator(chunk_size=_CHUNK)
