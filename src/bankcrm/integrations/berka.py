"""Reading the Berka PKDD'99 Czech bank files and mapping their codes to plain meanings.

The files (``district.asc``, ``client.asc``, ``disp.asc``, ``account.asc``, ``card.asc``,
``loan.asc``, ``order.asc`` and ``trans.asc`` or its gzipped head sample
``trans_head49k.asc.gz``) are semicolon-separated, with double-quoted strings, a header
row and ``YYMMDD`` dates of the 1900s. This module only reads and translates: every
record becomes a frozen dataclass with decoded dates, ``Decimal`` amounts and English
codes, so the importer (``bankcrm.integrations.services.berka_import``) never sees a
Czech code or a raw string. Nothing here touches the database.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

SOURCE_SYSTEM = "berka"
CURRENCY = "CZK"

# The order matters: each table refers only to tables before it.
TABLES: tuple[str, ...] = (
    "district",
    "client",
    "account",
    "disp",
    "card",
    "loan",
    "order",
    "trans",
)

FILE_NAMES: dict[str, tuple[str, ...]] = {
    "district": ("district.asc",),
    "client": ("client.asc",),
    "account": ("account.asc",),
    "disp": ("disp.asc",),
    "card": ("card.asc",),
    "loan": ("loan.asc",),
    "order": ("order.asc",),
    # The full file when it is there, else the head sample kept beside it.
    "trans": ("trans.asc", "trans.asc.gz", "trans_head49k.asc.gz"),
}


class BerkaFormatError(ValueError):
    """A row of a Berka file does not have the documented shape."""


# --- Czech codes -----------------------------------------------------------------------------

# account.frequency: how often the bank issues a statement.
STATEMENT_FREQUENCIES = {
    "POPLATEK MESICNE": "monthly",
    "POPLATEK TYDNE": "weekly",
    "POPLATEK PO OBRATU": "after_transaction",
}

# disp.type: the client's right on the account.
DISPOSITION_TYPES = {"OWNER": "owner", "DISPONENT": "disponent"}

CARD_TYPES = {"classic": "classic", "junior": "junior", "gold": "gold"}

# trans.type: which way the money moves. VYBER is a cash withdrawal (money out).
TRANSACTION_TYPES = {"PRIJEM": "credit", "VYDAJ": "debit", "VYBER": "withdrawal"}
OUTGOING_TRANSACTION_TYPES = frozenset({"debit", "withdrawal"})

# trans.operation: how it was done.
OPERATIONS = {
    "VYBER KARTOU": "card_withdrawal",
    "VKLAD": "cash_credit",
    "PREVOD Z UCTU": "collection_from_other_bank",
    "VYBER": "cash_withdrawal",
    "PREVOD NA UCET": "remittance_to_other_bank",
}

# trans.k_symbol and order.k_symbol: what the payment is for.
PAYMENT_PURPOSES = {
    "POJISTNE": "insurance",
    "SLUZBY": "statement_fee",
    "UROK": "interest",
    "SANKC. UROK": "penalty_interest",
    "SIPO": "household",
    "DUCHOD": "pension",
    "UVER": "loan_payment",
    "LEASING": "leasing",
}

# loan.status: the real outcome of the loan.
LOAN_STATUSES = {
    "A": "finished_ok",  # contract finished, no problems
    "B": "finished_unpaid",  # contract finished, loan not paid
    "C": "running_ok",  # running contract, OK so far
    "D": "running_in_debt",  # running contract, client in debt
}


# --- Records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class District:
    """A Czech district (branch) with its region and demographics."""

    district_id: int
    name: str
    region: str
    inhabitants: int
    cities: int
    urban_ratio: Decimal
    average_salary: int
    unemployment_1995: Decimal | None
    unemployment_1996: Decimal | None
    entrepreneurs_per_1000: int
    crimes_1995: int | None
    crimes_1996: int | None


@dataclass(frozen=True, slots=True)
class Client:
    """A client; birth date and gender come from the birth number."""

    client_id: int
    birth_number: str
    birth_date: dt.date
    gender: str  # "male" | "female"
    district_id: int


@dataclass(frozen=True, slots=True)
class Account:
    """An account, with the district of its branch and its statement frequency."""

    account_id: int
    district_id: int
    statement_frequency: str
    opened_on: dt.date


@dataclass(frozen=True, slots=True)
class Disposition:
    """A client's right on an account: owner or disponent (may operate it)."""

    disp_id: int
    client_id: int
    account_id: int
    disposition_type: str  # "owner" | "disponent"


@dataclass(frozen=True, slots=True)
class Card:
    """A payment card issued to the holder of a disposition."""

    card_id: int
    disp_id: int
    card_type: str
    issued_on: dt.date


@dataclass(frozen=True, slots=True)
class Loan:
    """A loan granted on an account, with its real outcome."""

    loan_id: int
    account_id: int
    granted_on: dt.date
    amount: Decimal
    duration_months: int
    monthly_payment: Decimal
    status_code: str  # A, B, C, D as in the file
    status: str  # finished_ok, finished_unpaid, running_ok, running_in_debt

    @property
    def is_running(self) -> bool:
        return self.status_code in {"C", "D"}

    @property
    def is_bad(self) -> bool:
        """Not paid (B) or in debt (D): the usual "default" label of this data set."""
        return self.status_code in {"B", "D"}

    @property
    def maturity_date(self) -> dt.date:
        return add_months(self.granted_on, self.duration_months)


@dataclass(frozen=True, slots=True)
class StandingOrder:
    """A permanent payment order from an account to an account at another bank."""

    order_id: int
    account_id: int
    bank_to: str
    account_to: str
    amount: Decimal
    purpose: str | None


@dataclass(frozen=True, slots=True)
class Transaction:
    """One booking on an account, with the balance after it."""

    trans_id: int
    account_id: int
    booked_on: dt.date
    direction: str  # credit | debit | withdrawal
    operation: str | None
    amount: Decimal  # as in the file: always positive
    balance: Decimal  # running balance after the booking
    purpose: str | None
    partner_bank: str | None
    partner_account: str | None

    @property
    def signed_amount(self) -> Decimal:
        return -self.amount if self.direction in OUTGOING_TRANSACTION_TYPES else self.amount


# --- Field parsers ---------------------------------------------------------------------------


def blank_to_none(value: str | None) -> str | None:
    """Empty strings and a lone space (both appear in the files) mean "no value"."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_yymmdd(value: str) -> dt.date:
    """``930705`` → 1993-07-05; ``931107 00:00:00`` (card.issued) too. Years are 19YY."""
    text = (value or "").strip().split(" ", 1)[0]
    if len(text) != 6 or not text.isdigit():
        raise BerkaFormatError(f"{value!r} is not a YYMMDD date")
    try:
        return dt.date(1900 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError as exc:
        raise BerkaFormatError(f"{value!r} is not a valid date") from exc


def decode_birth_number(value: str) -> tuple[dt.date, str]:
    """Birth date and gender from a birth number: ``YYMMDD``, women ``YY(MM+50)DD``."""
    text = (value or "").strip()
    if len(text) != 6 or not text.isdigit():
        raise BerkaFormatError(f"{value!r} is not a birth number (YYMMDD)")
    month = int(text[2:4])
    gender = "male"
    if month > 50:
        month -= 50
        gender = "female"
    try:
        born = dt.date(1900 + int(text[:2]), month, int(text[4:6]))
    except ValueError as exc:
        raise BerkaFormatError(f"{value!r} is not a valid birth number") from exc
    return born, gender


def parse_decimal(value: str) -> Decimal:
    try:
        return Decimal((value or "").strip())
    except InvalidOperation as exc:
        raise BerkaFormatError(f"{value!r} is not a number") from exc


def parse_optional_decimal(value: str) -> Decimal | None:
    """``?`` marks a missing figure (district 69)."""
    text = blank_to_none(value)
    return None if text in (None, "?") else parse_decimal(text or "")


def parse_int(value: str) -> int:
    text = (value or "").strip()
    try:
        return int(text)
    except ValueError as exc:
        raise BerkaFormatError(f"{value!r} is not a whole number") from exc


def parse_optional_int(value: str) -> int | None:
    text = blank_to_none(value)
    return None if text in (None, "?") else parse_int(text or "")


def map_code(mapping: dict[str, str], value: str | None, what: str) -> str | None:
    """The meaning of a Czech code; ``None`` for a blank; an error for an unknown code."""
    code = blank_to_none(value)
    if code is None:
        return None
    try:
        return mapping[code]
    except KeyError:
        raise BerkaFormatError(f"unknown {what} code {code!r}") from None


def required_code(mapping: dict[str, str], value: str | None, what: str) -> str:
    meaning = map_code(mapping, value, what)
    if meaning is None:
        raise BerkaFormatError(f"the {what} is missing")
    return meaning


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` plus whole months, clamped to the month's last day (Jan 31 + 1 → Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- Row → record ----------------------------------------------------------------------------


def district_from_row(row: dict[str, str]) -> District:
    return District(
        district_id=parse_int(row["A1"]),
        name=row["A2"].strip(),
        region=row["A3"].strip(),
        inhabitants=parse_int(row["A4"]),
        cities=parse_int(row["A9"]),
        urban_ratio=parse_decimal(row["A10"]),
        average_salary=parse_int(row["A11"]),
        unemployment_1995=parse_optional_decimal(row["A12"]),
        unemployment_1996=parse_optional_decimal(row["A13"]),
        entrepreneurs_per_1000=parse_int(row["A14"]),
        crimes_1995=parse_optional_int(row["A15"]),
        crimes_1996=parse_optional_int(row["A16"]),
    )


def client_from_row(row: dict[str, str]) -> Client:
    birth_date, gender = decode_birth_number(row["birth_number"])
    return Client(
        client_id=parse_int(row["client_id"]),
        birth_number=row["birth_number"].strip(),
        birth_date=birth_date,
        gender=gender,
        district_id=parse_int(row["district_id"]),
    )


def account_from_row(row: dict[str, str]) -> Account:
    return Account(
        account_id=parse_int(row["account_id"]),
        district_id=parse_int(row["district_id"]),
        statement_frequency=required_code(
            STATEMENT_FREQUENCIES, row["frequency"], "statement frequency"
        ),
        opened_on=parse_yymmdd(row["date"]),
    )


def disposition_from_row(row: dict[str, str]) -> Disposition:
    return Disposition(
        disp_id=parse_int(row["disp_id"]),
        client_id=parse_int(row["client_id"]),
        account_id=parse_int(row["account_id"]),
        disposition_type=required_code(DISPOSITION_TYPES, row["type"], "disposition type"),
    )


def card_from_row(row: dict[str, str]) -> Card:
    return Card(
        card_id=parse_int(row["card_id"]),
        disp_id=parse_int(row["disp_id"]),
        card_type=required_code(CARD_TYPES, row["type"], "card type"),
        issued_on=parse_yymmdd(row["issued"]),
    )


def loan_from_row(row: dict[str, str]) -> Loan:
    code = (row["status"] or "").strip()
    return Loan(
        loan_id=parse_int(row["loan_id"]),
        account_id=parse_int(row["account_id"]),
        granted_on=parse_yymmdd(row["date"]),
        amount=parse_decimal(row["amount"]),
        duration_months=parse_int(row["duration"]),
        monthly_payment=parse_decimal(row["payments"]),
        status_code=code,
        status=required_code(LOAN_STATUSES, code, "loan status"),
    )


def standing_order_from_row(row: dict[str, str]) -> StandingOrder:
    return StandingOrder(
        order_id=parse_int(row["order_id"]),
        account_id=parse_int(row["account_id"]),
        bank_to=row["bank_to"].strip(),
        account_to=row["account_to"].strip(),
        amount=parse_decimal(row["amount"]),
        purpose=map_code(PAYMENT_PURPOSES, row["k_symbol"], "payment purpose"),
    )


def transaction_from_row(row: dict[str, str]) -> Transaction:
    return Transaction(
        trans_id=parse_int(row["trans_id"]),
        account_id=parse_int(row["account_id"]),
        booked_on=parse_yymmdd(row["date"]),
        direction=required_code(TRANSACTION_TYPES, row["type"], "transaction type"),
        operation=map_code(OPERATIONS, row["operation"], "operation"),
        amount=parse_decimal(row["amount"]),
        balance=parse_decimal(row["balance"]),
        purpose=map_code(PAYMENT_PURPOSES, row["k_symbol"], "payment purpose"),
        partner_bank=blank_to_none(row["bank"]),
        # "0" stands for "no partner account" in some rows.
        partner_account=None
        if blank_to_none(row["account"]) in (None, "0")
        else blank_to_none(row["account"]),
    )


RECORD_PARSERS: dict[str, Callable[[dict[str, str]], Any]] = {
    "district": district_from_row,
    "client": client_from_row,
    "account": account_from_row,
    "disp": disposition_from_row,
    "card": card_from_row,
    "loan": loan_from_row,
    "order": standing_order_from_row,
    "trans": transaction_from_row,
}


# --- Files -----------------------------------------------------------------------------------


def table_path(directory: Path, table: str) -> Path:
    """The file of ``table`` in ``directory`` (the full transactions file if present)."""
    for name in FILE_NAMES[table]:
        path = directory / name
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{directory} has no {' or '.join(FILE_NAMES[table])} (the Berka {table} table)"
    )


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="ascii", newline="")
    return open(path, encoding="ascii", newline="")


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    """The rows of one file as dicts keyed by its header (CRLF or LF, plain or gzip)."""
    with _open_text(path) as handle:
        reader = csv.DictReader(handle, delimiter=";", quotechar='"')
        for line_number, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise BerkaFormatError(f"{path.name} line {line_number}: wrong number of fields")
            yield row


def read_table(directory: Path, table: str) -> Iterator[Any]:
    """The records of ``table``, parsed and mapped, in file order."""
    path = table_path(directory, table)
    parse = RECORD_PARSERS[table]
    for line_number, row in enumerate(read_rows(path), start=2):
        try:
            yield parse(row)
        except (BerkaFormatError, KeyError) as exc:
            raise BerkaFormatError(f"{path.name} line {line_number}: {exc}") from exc


def count_rows(directory: Path, table: str) -> int:
    """How many data rows the file of ``table`` holds (its header excluded)."""
    return sum(1 for _ in read_rows(table_path(directory, table)))
