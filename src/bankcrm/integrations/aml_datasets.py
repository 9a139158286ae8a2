"""Importing the public AML data sets into the bank's own records, so that the monitoring
scenarios run on them like on any book: ``bankcrm import aml --format amlsim|ibm|paysim PATH``.

============  ================================================================================
format        becomes
============  ================================================================================
``amlsim``    an AMLSim output folder (``nodes.csv.gz``, ``transactions.csv.gz``): one person
              per node with one current account (source id ``<folder>:<node id>``, e.g.
              ``20K_cycle200:15349``, opening balance ``init_balance``); each transaction a
              debit on the source account and a credit on the target account, each with
              ``counterparty_account`` set to the other side's source id; simulation step
              ``n`` is booked on base date + ``n`` days.
``ibm``       the IBM AMLworld files (HI-Small patterns ``hi_small_laundering_patterns.csv``
              or the ``*_Trans.csv`` format): one organisation per (bank, account), source id
              ``<bank>:<account>``; the debit in the paid amount and currency, the credit in
              the received amount and currency (currency names mapped to ISO 4217; rows in
              Bitcoin, which has no ISO code, are skipped and counted); the payment format
              gives the type and channel (Cash → cash, Credit Card → card, ACH/Wire → transfer).
``paysim``    the PaySim CSV: customers (``C…``) become persons, merchants (``M…``)
              organisations, each with one account (source id = the PaySim name); CASH_IN
              credits the customer (cash deposit) and debits the agent, the other types debit
              the customer; step ``n`` (hours) is booked on base date + ``n // 24`` days.
============  ================================================================================

Every record is keyed by its source (``source_system`` ``amlsim`` / ``ibm`` / ``paysim`` and
the source id): importing the same files again adds nothing, and an interrupted import
resumes. Parties, profiles, accounts and owner roles are written in bulk (PostgreSQL
``COPY``, SQLite ``executemany``), transactions through ``banking.transactions_append_bulk``;
the audit trail gets one summary event per import. The data sets carry no currency for
AMLSim and PaySim: their amounts are booked in ``currency`` (default CNY).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit
from bankcrm.audit.services import audit_record
from bankcrm.banking.activity import party_activity_for_roles
from bankcrm.banking.models import Account, AccountRole, Product
from bankcrm.banking.services import TransactionRow, transactions_append_bulk
from bankcrm.core.actor import is_system
from bankcrm.customers.models import OrganisationProfile, Party, PersonProfile
from bankcrm.customers.naming import search_name_of

from .bulk import batched, bulk_data_keys, bulk_insert, keyed_batch

FORMATS = ("amlsim", "ibm", "paysim")
BRANCH_CODE = "AML-DATA"
PRODUCT_CODE = "AML-CUR"
# Day 0 of the simulated clocks, the same as the monitoring engine's data set readers.
DEFAULT_BASE_DATE = dt.date(2019, 1, 1)

IBM_CURRENCIES: dict[str, str | None] = {
    "US Dollar": "USD",
    "Euro": "EUR",
    "Yuan": "CNY",
    "Yen": "JPY",
    "UK Pound": "GBP",
    "Swiss Franc": "CHF",
    "Australian Dollar": "AUD",
    "Canadian Dollar": "CAD",
    "Mexican Peso": "MXN",
    "Ruble": "RUB",
    "Rupee": "INR",
    "Saudi Riyal": "SAR",
    "Shekel": "ILS",
    "Brazil Real": "BRL",
    "Bitcoin": None,  # no ISO 4217 code: such rows are skipped
}
# IBM payment format → (kind of the debit, kind of the credit, channel)
IBM_FORMATS: dict[str, tuple[str, str, str]] = {
    "ACH": ("transfer_out", "transfer_in", "transfer"),
    "Wire": ("transfer_out", "transfer_in", "transfer"),
    "Cheque": ("transfer_out", "transfer_in", "branch"),
    "Credit Card": ("card_payment", "transfer_in", "card"),
    "Cash": ("cash_withdrawal", "cash_deposit", "branch"),
    "Reinvestment": ("other", "other", "system"),
    "Bitcoin": ("transfer_out", "transfer_in", "online"),
}
# PaySim type → (kind of the debit, kind of the credit, the customer is the payer)
PAYSIM_TYPES: dict[str, tuple[str, str, bool]] = {
    "CASH_IN": ("transfer_out", "cash_deposit", False),
    "CASH_OUT": ("cash_withdrawal", "transfer_in", True),
    "PAYMENT": ("card_payment", "transfer_in", True),
    "TRANSFER": ("transfer_out", "transfer_in", True),
    "DEBIT": ("transfer_out", "transfer_in", True),
}


class AmlFormatError(ValueError):
    """A file of an AML data set does not have the documented shape."""


@dataclass
class _Holder:
    key: str  # the source id of the party and its account
    name: str
    kind: str  # Party.Kind
    currency: str
    opened_on: dt.date
    balance: Decimal = Decimal("0")


@dataclass
class _Transfer:
    source_id: str  # unique within the file; the legs add "D" and "C"
    payer: str
    payee: str
    booked_on: dt.date
    paid: Decimal
    paid_currency: str
    received: Decimal
    received_currency: str
    debit_kind: str = "transfer_out"
    credit_kind: str = "transfer_in"
    channel: str = "transfer"
    description: str = ""
    payer_bank: str = ""
    payee_bank: str = ""


@dataclass
class AmlImportResult:
    """What an import did."""

    source: str
    dataset: str
    holders_in_file: int = 0
    parties_added: int = 0
    accounts_added: int = 0
    transfers_in_file: int = 0
    transactions_added: int = 0
    transactions_skipped: int = 0
    rows_skipped: int = 0  # rows that cannot be booked (e.g. a currency with no ISO code)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "dataset": self.dataset,
            "holders_in_file": self.holders_in_file,
            "parties_added": self.parties_added,
            "accounts_added": self.accounts_added,
            "transfers_in_file": self.transfers_in_file,
            "transactions_added": self.transactions_added,
            "transactions_skipped": self.transactions_skipped,
            "rows_skipped": self.rows_skipped,
            "seconds": round(self.seconds, 2),
        }


# --- Reading ---------------------------------------------------------------------------------


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _decimal(value: str, where: str) -> Decimal:
    try:
        return Decimal(value.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise AmlFormatError(
            _("%(where)s: “%(value)s” is not an amount.") % {"where": where, "value": value}
        ) from exc


def _file(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.csv.gz", f"{stem}.csv"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(
        _("%(folder)s has no %(stem)s.csv(.gz).") % {"folder": folder, "stem": stem}
    )


def read_amlsim(
    folder: Path, *, base_date: dt.date, currency: str, limit: int | None = None
) -> tuple[str, dict[str, _Holder], list[_Transfer]]:
    """(data set name, holders by source id, transfers) of an AMLSim output folder.

    ``limit`` keeps the first transactions only, and the nodes they touch."""
    dataset = folder.name
    transfers: list[_Transfer] = []
    touched: set[str] = set()
    with _open_text(_file(folder, "transactions")) as handle:
        reader = csv.DictReader(handle)
        wanted = {"sourceNodeId", "targetNodeId", "value", "time"}
        if not wanted <= set(reader.fieldnames or []):
            raise AmlFormatError(
                _("transactions: expected the columns %(c)s.") % {"c": ", ".join(sorted(wanted))}
            )
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(transfers) >= limit:
                break
            payer = f"{dataset}:{row['sourceNodeId'].strip()}"
            payee = f"{dataset}:{row['targetNodeId'].strip()}"
            amount = _decimal(row["value"], f"transactions line {line}")
            touched.update((payer, payee))
            transfers.append(
                _Transfer(
                    source_id=f"{dataset}:{line}",
                    payer=payer,
                    payee=payee,
                    booked_on=base_date + dt.timedelta(days=int(row["time"])),
                    paid=amount,
                    paid_currency=currency,
                    received=amount,
                    received_currency=currency,
                    description="AMLSim transfer",
                )
            )
    holders: dict[str, _Holder] = {}
    with _open_text(_file(folder, "nodes")) as handle:
        reader = csv.DictReader(handle)
        if "nodeid" not in (reader.fieldnames or []):
            raise AmlFormatError(_("nodes: expected a nodeid column."))
        for line, row in enumerate(reader, start=2):
            node = row["nodeid"].strip()
            key = f"{dataset}:{node}"
            if limit is not None and key not in touched:
                continue
            holders[key] = _Holder(
                key=key,
                name=f"AMLSim {dataset} {node}",
                kind=Party.Kind.PERSON,
                currency=currency,
                opened_on=base_date,
                balance=_decimal(row.get("init_balance") or "0", f"nodes line {line}"),
            )
    for transfer in transfers:
        for key in (transfer.payer, transfer.payee):
            if key not in holders:
                raise AmlFormatError(
                    _("transactions: account %(key)s is not in nodes.") % {"key": key}
                )
    return dataset, holders, transfers


def read_ibm(
    path: Path, *, limit: int | None = None
) -> tuple[str, dict[str, _Holder], list[_Transfer], int]:
    """(data set name, holders, transfers, rows skipped) of an IBM AMLworld CSV."""
    if path.is_dir():
        candidates = sorted(path.glob("*.csv")) + sorted(path.glob("*.csv.gz"))
        if not candidates:
            raise FileNotFoundError(_("%(folder)s has no CSV file.") % {"folder": path})
        path = candidates[0]
    dataset = path.name.split(".")[0]
    holders: dict[str, _Holder] = {}
    transfers: list[_Transfer] = []
    skipped = 0
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        header = next(reader, None) or []
        if "from_account" in header:
            col = {name: header.index(name) for name in header}
            names = (
                "timestamp",
                "from_bank",
                "from_account",
                "to_bank",
                "to_account",
                "amount_received",
                "receiving_currency",
                "amount_paid",
                "payment_currency",
                "payment_format",
            )
            index = [col[n] for n in names]
        elif header and header[0].strip().lower() == "timestamp" and len(header) >= 10:
            index = list(range(10))  # Timestamp, From Bank, Account, To Bank, Account.1, …
        else:
            raise AmlFormatError(
                _("%(file)s is not an IBM AMLworld transactions file.") % {"file": path.name}
            )
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(transfers) >= limit:
                break
            (
                stamp,
                from_bank,
                from_acct,
                to_bank,
                to_acct,
                received,
                received_ccy,
                paid,
                paid_ccy,
                pay_format,
            ) = (row[i].strip() for i in index)
            paid_iso = IBM_CURRENCIES.get(paid_ccy, "")
            received_iso = IBM_CURRENCIES.get(received_ccy, "")
            if paid_iso == "" or received_iso == "":
                raise AmlFormatError(
                    _("line %(line)s: unknown currency “%(c)s”.")
                    % {"line": line, "c": paid_ccy if paid_iso == "" else received_ccy}
                )
            if paid_iso is None or received_iso is None:
                skipped += 1
                continue
            try:
                when = dt.datetime.strptime(stamp, "%Y/%m/%d %H:%M").date()
            except ValueError as exc:
                raise AmlFormatError(
                    _("line %(line)s: “%(v)s” is not a YYYY/MM/DD HH:MM time.")
                    % {"line": line, "v": stamp}
                ) from exc
            payer, payee = f"{from_bank}:{from_acct}", f"{to_bank}:{to_acct}"
            for key, ccy in ((payer, paid_iso), (payee, received_iso)):
                holder = holders.get(key)
                if holder is None:
                    holders[key] = _Holder(
                        key=key,
                        name=f"IBM {key}",
                        kind=Party.Kind.ORGANISATION,
                        currency=ccy,
                        opened_on=when,
                    )
                elif when < holder.opened_on:
                    holder.opened_on = when
            debit_kind, credit_kind, channel = IBM_FORMATS.get(
                pay_format, ("transfer_out", "transfer_in", "transfer")
            )
            transfers.append(
                _Transfer(
                    source_id=f"{dataset}:{line}",
                    payer=payer,
                    payee=payee,
                    booked_on=when,
                    paid=_decimal(paid, f"line {line}"),
                    paid_currency=paid_iso,
                    received=_decimal(received, f"line {line}"),
                    received_currency=received_iso,
                    debit_kind=debit_kind,
                    credit_kind=credit_kind,
                    channel=channel,
                    description=f"IBM {pay_format}",
                    payer_bank=from_bank,
                    payee_bank=to_bank,
                )
            )
    return dataset, holders, transfers, skipped


def read_paysim(
    path: Path, *, base_date: dt.date, currency: str, limit: int | None = None
) -> tuple[str, dict[str, _Holder], list[_Transfer]]:
    """(data set name, holders, transfers) of a PaySim CSV (or the folder holding it)."""
    if path.is_dir():
        candidates = sorted(path.glob("*.csv")) + sorted(path.glob("*.csv.gz"))
        if not candidates:
            raise FileNotFoundError(_("%(folder)s has no CSV file.") % {"folder": path})
        path = candidates[0]
    dataset = path.name.split(".")[0]
    holders: dict[str, _Holder] = {}
    transfers: list[_Transfer] = []
    with _open_text(path) as handle:
        reader = csv.DictReader(handle)
        wanted = {"step", "type", "amount", "nameOrig", "nameDest"}
        if not wanted <= set(reader.fieldnames or []):
            raise AmlFormatError(
                _("%(file)s: expected the columns %(c)s.")
                % {"file": path.name, "c": ", ".join(sorted(wanted))}
            )
        for line, row in enumerate(reader, start=2):
            if limit is not None and len(transfers) >= limit:
                break
            kind = row["type"].strip()
            if kind not in PAYSIM_TYPES:
                raise AmlFormatError(
                    _("line %(line)s: unknown type “%(t)s”.") % {"line": line, "t": kind}
                )
            booked = base_date + dt.timedelta(days=int(row["step"]) // 24)
            customer, other = row["nameOrig"].strip(), row["nameDest"].strip()
            for name in (customer, other):
                if name not in holders:
                    holders[name] = _Holder(
                        key=name,
                        name=f"PaySim {name}",
                        kind=(
                            Party.Kind.ORGANISATION if name.startswith("M") else Party.Kind.PERSON
                        ),
                        currency=currency,
                        opened_on=base_date,
                    )
            debit_kind, credit_kind, customer_pays = PAYSIM_TYPES[kind]
            payer, payee = (customer, other) if customer_pays else (other, customer)
            amount = _decimal(row["amount"], f"line {line}")
            transfers.append(
                _Transfer(
                    source_id=f"{dataset}:{line}",
                    payer=payer,
                    payee=payee,
                    booked_on=booked,
                    paid=amount,
                    paid_currency=currency,
                    received=amount,
                    received_currency=currency,
                    debit_kind=debit_kind,
                    credit_kind=credit_kind,
                    channel="mobile",
                    description=f"PaySim {kind}",
                )
            )
    return dataset, holders, transfers


# --- Writing ---------------------------------------------------------------------------------


def _branch(actor: Any) -> OrgUnit:
    from .services import _head_office, _unit_create

    unit = OrgUnit.objects.filter(code=BRANCH_CODE).first()
    if unit is None:
        unit = _unit_create(
            code=BRANCH_CODE,
            name="AML data sets",
            kind=OrgUnit.Kind.BRANCH,
            parent=_head_office(actor),
        )
        audit_record(actor=actor, action="access.org_unit_create", target=unit)
    return unit


def _product() -> Product:
    product, _created = Product.objects.get_or_create(
        code=PRODUCT_CODE,
        defaults={
            "name": "Current account (AML data sets)",
            "name_zh": "活期账户（反洗钱数据集）",
            "category": Product.Category.CURRENT,
            "currency": "CNY",
            "is_liability": False,
        },
    )
    return product


def _holders_store(
    source: str,
    holders: dict[str, _Holder],
    branch: OrgUnit,
    batch_size: int,
    result: AmlImportResult,
) -> dict[str, uuid.UUID]:
    """Parties, profiles, accounts and owner roles of the holders; returns source id →
    account pk (existing ones included)."""
    product = _product()
    accounts = dict(
        Account.objects.filter(source_system=source).values_list("source_id", "pk").iterator()
    )
    parties = dict(
        Party.objects.filter(source_system=source).values_list("source_id", "pk").iterator()
    )
    missing = [h for key, h in holders.items() if key not in accounts]
    for batch in batched(missing, batch_size):
        new_parties: list[Party] = []
        persons: list[PersonProfile] = []
        organisations: list[OrganisationProfile] = []
        new_accounts: list[Account] = []
        roles: list[AccountRole] = []
        for holder in batch:
            party_pk = parties.get(holder.key)
            if party_pk is None:
                party = Party(
                    id=uuid.uuid4(),
                    kind=holder.kind,
                    display_name=holder.name,
                    status=Party.Status.ACTIVE,
                    segment=(
                        Party.Segment.MASS
                        if holder.kind == Party.Kind.PERSON
                        else Party.Segment.SME
                    ),
                    owning_unit=branch,
                    customer_since=holder.opened_on,
                    source_system=source,
                    source_id=holder.key,
                    search_name=search_name_of(holder.name),
                    search_pinyin="",
                )
                new_parties.append(party)
                if holder.kind == Party.Kind.PERSON:
                    persons.append(PersonProfile(id=uuid.uuid4(), party=party))
                else:
                    organisations.append(OrganisationProfile(party=party, legal_name=holder.name))
                party_pk = party.pk
                parties[holder.key] = party_pk
            account = Account(
                id=uuid.uuid4(),
                number=holder.key,
                number_last4=holder.key[-4:],
                product=product,
                currency=holder.currency,
                status=Account.Status.ACTIVE,
                opened_on=holder.opened_on,
                branch=branch,
                owner_id=party_pk,
                balance=holder.balance,
                available_balance=holder.balance,
                balance_as_of=holder.opened_on,
                source_system=source,
                source_id=holder.key,
            )
            new_accounts.append(account)
            roles.append(
                AccountRole(
                    account=account,
                    party_id=party_pk,
                    role=AccountRole.Role.OWNER,
                    start_on=holder.opened_on,
                    source_system=source,
                    source_id=holder.key,
                )
            )
            accounts[holder.key] = account.pk
        with keyed_batch():
            bulk_data_keys(new_parties)
            bulk_insert(Party, new_parties)
            bulk_insert(PersonProfile, persons)
            bulk_insert(OrganisationProfile, organisations)
            bulk_insert(Account, new_accounts)
            bulk_insert(AccountRole, roles)
            party_activity_for_roles(roles)
        result.parties_added += len(new_parties)
        result.accounts_added += len(new_accounts)
    return accounts


def _legs(
    transfers: list[_Transfer], holders: dict[str, _Holder], accounts: dict[str, uuid.UUID]
) -> Iterator[TransactionRow]:
    for transfer in transfers:
        payer, payee = holders[transfer.payer], holders[transfer.payee]
        yield TransactionRow(
            account_id=accounts[transfer.payer],
            source_id=f"{transfer.source_id}D",
            booking_date=transfer.booked_on,
            value_date=transfer.booked_on,
            amount=-abs(transfer.paid),
            currency=transfer.paid_currency,
            direction="debit",
            kind=transfer.debit_kind,
            channel=transfer.channel,
            description=transfer.description,
            counterparty_name=payee.name,
            counterparty_account=payee.key,
            counterparty_bank=transfer.payee_bank,
        )
        yield TransactionRow(
            account_id=accounts[transfer.payee],
            source_id=f"{transfer.source_id}C",
            booking_date=transfer.booked_on,
            value_date=transfer.booked_on,
            amount=abs(transfer.received),
            currency=transfer.received_currency,
            direction="credit",
            kind=transfer.credit_kind,
            channel=transfer.channel,
            description=transfer.description,
            counterparty_name=payer.name,
            counterparty_account=payer.key,
            counterparty_bank=transfer.payer_bank,
        )


def aml_dataset_import(
    *,
    actor: Any,
    source: str,
    path: Path,
    base_date: dt.date | None = None,
    currency: str = "CNY",
    batch_size: int = 5000,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> AmlImportResult:
    """Import an AML data set (``source`` amlsim, ibm or paysim) from ``path``.

    Idempotent and resumable; only the system (a command or job) may run it. ``limit``
    imports the first transactions only (and the accounts they touch), for tests and demos.
    """
    if not is_system(actor):
        raise PermissionDenied(_("Only a system job may import the AML data sets."))
    if source not in FORMATS:
        raise AmlFormatError(
            _("Unknown format “%(f)s”; one of %(all)s.") % {"f": source, "all": ", ".join(FORMATS)}
        )
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(_("%(path)s does not exist.") % {"path": path})
    base_date = base_date or DEFAULT_BASE_DATE
    started = time.monotonic()
    skipped = 0
    if source == "amlsim":
        if not path.is_dir():
            raise FileNotFoundError(_("%(path)s is not an AMLSim folder.") % {"path": path})
        dataset, holders, transfers = read_amlsim(
            path, base_date=base_date, currency=currency, limit=limit
        )
    elif source == "ibm":
        dataset, holders, transfers, skipped = read_ibm(path, limit=limit)
    else:
        dataset, holders, transfers = read_paysim(
            path, base_date=base_date, currency=currency, limit=limit
        )
    result = AmlImportResult(
        source=source,
        dataset=dataset,
        holders_in_file=len(holders),
        transfers_in_file=len(transfers),
        rows_skipped=skipped,
    )
    if progress:
        progress(
            _("%(dataset)s: %(holders)d accounts, %(transfers)d transfers read")
            % {"dataset": dataset, "holders": len(holders), "transfers": len(transfers)}
        )
    with transaction.atomic():
        branch = _branch(actor)
    accounts = _holders_store(source, holders, branch, batch_size, result)
    if progress:
        progress(
            _("%(parties)d customers and %(accounts)d accounts added")
            % {"parties": result.parties_added, "accounts": result.accounts_added}
        )
    legs = _legs(transfers, holders, accounts)
    for batch in batched(legs, 50_000):
        outcome = transactions_append_bulk(actor=actor, rows=batch, batch_size=20_000)
        result.transactions_added += outcome.inserted
        result.transactions_skipped += outcome.skipped
        if progress:
            progress(
                _("%(added)d transactions added, %(skipped)d already there")
                % {"added": result.transactions_added, "skipped": result.transactions_skipped}
            )
    result.seconds = time.monotonic() - started
    audit_record(
        actor=actor,
        action="integrations.aml_dataset_import",
        object_type=f"{source}.dataset",
        object_repr=f"{source} {dataset}",
        after=result.as_dict(),
    )
    return result


__all__ = [
    "FORMATS",
    "AmlFormatError",
    "AmlImportResult",
    "aml_dataset_import",
    "read_amlsim",
    "read_ibm",
    "read_paysim",
]
