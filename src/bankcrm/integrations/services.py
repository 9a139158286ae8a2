"""Importers: the only code of this module that writes.

``berka_import`` loads the Berka PKDD'99 Czech bank files (read and decoded by
:mod:`bankcrm.integrations.berka`) into the bank's own records:

==============  ==========================================================================
Berka table     becomes
==============  ==========================================================================
district        a branch (A2) under its region (A3) under the head office, with its
                demographics as a ``SourceRecord``
client          a person (``Party`` + ``PersonProfile``) of the district's branch, birth date
                and gender decoded from the birth number; Berka has no names, so the
                person is called "Client <client_id>"
account         a current account in CZK whose product follows the statement frequency;
                balance = the last running balance of its transactions in the file
disp            the client's role on the account: OWNER → owner, DISPONENT → signatory
card            a card-holder role on the account, the card's type in a ``SourceRecord``
loan            a loan account (closed when the contract finished), its terms and outcome
                (A/B/C/D) in a ``SourceRecord``
order           a ``StandingOrder``
trans           a ``Transaction`` with readable type, channel and description
==============  ==========================================================================

Every row is keyed by its Berka id (``source_system="berka"``): a row already in the
database is skipped, so re-running the import changes nothing and an import killed half
way resumes where it stopped (rows are committed in batches). Rows are written in bulk
(PostgreSQL ``COPY``, SQLite ``executemany``) and the audit trail gets one summary event
per table, not one per row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit
from bankcrm.audit.services import audit_record
from bankcrm.banking.activity import party_activity_for_roles
from bankcrm.banking.models import Account, AccountRole, Product, Transaction
from bankcrm.banking.services import TransactionRow, transactions_append_bulk
from bankcrm.core.actor import is_system
from bankcrm.customers.models import Party, PersonProfile
from bankcrm.customers.naming import search_name_of

from . import berka
from .bulk import batched, bulk_data_keys, bulk_insert, keyed_batch
from .models import SourceRecord, StandingOrder

SOURCE = berka.SOURCE_SYSTEM
# The Berka data set ends on this day: loan balances are figured as of it.
BERKA_END = dt.date(1998, 12, 31)

# Products the Berka accounts and loans are filed under: (code, name, name_zh, category).
BERKA_PRODUCTS: dict[str, tuple[str, str, str, str]] = {
    "monthly": ("CZ-CUR-M", "Current account, monthly statement", "活期账户（月结单）", "current"),
    "weekly": ("CZ-CUR-W", "Current account, weekly statement", "活期账户（周结单）", "current"),
    "after_transaction": (
        "CZ-CUR-T",
        "Current account, statement after each transaction",
        "活期账户（逐笔对账单）",
        "current",
    ),
    "loan": ("CZ-LOAN", "Consumer loan (CZK)", "个人贷款（捷克克朗）", "loan"),
}

# (Berka purpose, Berka operation, direction) → (transaction kind, channel, description).
PURPOSE_KINDS: dict[str, tuple[str, str, str]] = {
    "interest": ("interest", "system", "Interest credited"),
    "penalty_interest": ("interest", "system", "Penalty interest (negative balance)"),
    "statement_fee": ("fee", "system", "Statement fee"),
    "insurance": ("insurance", "transfer", "Insurance payment"),
    "household": ("standing_order", "transfer", "Household payment (SIPO)"),
    "pension": ("pension", "transfer", "Old-age pension"),
    "loan_payment": ("loan_repayment", "transfer", "Loan payment"),
    "leasing": ("standing_order", "transfer", "Leasing payment"),
}
OPERATION_KINDS: dict[str, tuple[str, str, str]] = {
    "card_withdrawal": ("cash_withdrawal", "atm", "Card withdrawal"),
    "cash_credit": ("cash_deposit", "branch", "Cash deposit"),
    "collection_from_other_bank": ("transfer_in", "transfer", "Collection from another bank"),
    "cash_withdrawal": ("cash_withdrawal", "branch", "Cash withdrawal"),
    "remittance_to_other_bank": ("transfer_out", "transfer", "Remittance to another bank"),
}

LOAN_STATUS_LABELS = {
    "finished_ok": "Contract finished, no problems",
    "finished_unpaid": "Contract finished, loan not paid",
    "running_ok": "Running contract, OK so far",
    "running_in_debt": "Running contract, client in debt",
}


@dataclass
class TableResult:
    """The outcome of importing one Berka table."""

    table: str
    file_name: str
    rows_in_file: int
    added: int
    in_database: int

    @property
    def is_complete(self) -> bool:
        return self.in_database == self.rows_in_file


@dataclass
class _Lookups:
    """Berka ids → the bank's keys, filled as the tables are imported."""

    head_office: OrgUnit
    branches: dict[int, OrgUnit]
    parties: dict[int, uuid.UUID]
    accounts: dict[int, uuid.UUID]
    account_branches: dict[int, int]
    account_owner: dict[int, int]  # account_id → client_id of its OWNER disposition
    dispositions: dict[int, berka.Disposition]


def _existing(queryset: Any, field: str = "source_id") -> set[str]:
    return set(queryset.values_list(field, flat=True))


def _summary(
    *, actor: Any, table: str, path: Path, rows: int, added: int, in_database: int
) -> TableResult:
    result = TableResult(table, path.name, rows, added, in_database)
    audit_record(
        actor=actor,
        action="integrations.berka_import",
        object_type=f"berka.{table}",
        object_repr=f"Berka {table} ({path.name})",
        after={
            "file": path.name,
            "rows_in_file": rows,
            "added": added,
            "already_present": rows - added,
            "in_database": in_database,
        },
    )
    return result


def _head_office(actor: Any) -> OrgUnit:
    head = OrgUnit.objects.filter(kind=OrgUnit.Kind.HEAD_OFFICE).order_by("path").first()
    if head is None:
        head = _unit_create(code="HO", name="Head Office", kind=OrgUnit.Kind.HEAD_OFFICE)
        audit_record(actor=actor, action="access.org_unit_create", target=head)
    return head


def _unit_create(*, code: str, name: str, kind: str, parent: OrgUnit | None = None) -> OrgUnit:
    unit = OrgUnit.objects.create(code=code, name=name, kind=kind, parent=parent)
    # The materialised path holds the unit's own key, known only after the insert.
    unit.path = f"{parent.path if parent else '/'}{unit.pk}/"
    unit.save(update_fields=["path"])
    return unit


def region_code(region: str) -> str:
    return "CZ-R-" + slugify(region).upper()


def district_code(district_id: int) -> str:
    return f"CZ-D{district_id:02d}"


# --- One function per table ------------------------------------------------------------------


def _import_districts(actor: Any, directory: Path, lookups: _Lookups) -> TableResult:
    path = berka.table_path(directory, "district")
    districts = list(berka.read_table(directory, "district"))
    units = {unit.code: unit for unit in OrgUnit.objects.filter(code__startswith="CZ-")}
    records = _existing(SourceRecord.objects.filter(source_system=SOURCE, kind="district"))
    added = 0
    with transaction.atomic():
        for district in districts:
            code = region_code(district.region)
            region = units.get(code)
            if region is None:
                region = _unit_create(
                    code=code,
                    name=district.region,
                    kind=OrgUnit.Kind.REGION,
                    parent=lookups.head_office,
                )
                units[code] = region
            code = district_code(district.district_id)
            branch = units.get(code)
            if branch is None:
                branch = _unit_create(
                    code=code, name=district.name, kind=OrgUnit.Kind.BRANCH, parent=region
                )
                units[code] = branch
                added += 1
            lookups.branches[district.district_id] = branch
            if str(district.district_id) not in records:
                SourceRecord.objects.create(
                    source_system=SOURCE,
                    kind="district",
                    source_id=str(district.district_id),
                    owning_unit=branch,
                    data=_district_data(district),
                )
        in_database = OrgUnit.objects.filter(
            code__in=[district_code(d.district_id) for d in districts]
        ).count()
        return _summary(
            actor=actor,
            table="district",
            path=path,
            rows=len(districts),
            added=added,
            in_database=in_database,
        )


def _district_data(district: berka.District) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return str(value) if isinstance(value, Decimal) else value

    return {
        "name": district.name,
        "region": district.region,
        "inhabitants": district.inhabitants,
        "cities": district.cities,
        "urban_ratio": plain(district.urban_ratio),
        "average_salary": district.average_salary,
        "unemployment_1995": plain(district.unemployment_1995),
        "unemployment_1996": plain(district.unemployment_1996),
        "entrepreneurs_per_1000": district.entrepreneurs_per_1000,
        "crimes_1995": district.crimes_1995,
        "crimes_1996": district.crimes_1996,
    }


def _import_clients(
    actor: Any,
    directory: Path,
    lookups: _Lookups,
    batch_size: int,
    customer_since: dict[int, dt.date],
) -> TableResult:
    path = berka.table_path(directory, "client")
    existing = dict(
        Party.objects.filter(source_system=SOURCE).values_list("source_id", "pk").iterator()
    )
    rows = added = 0
    for batch in batched(berka.read_table(directory, "client"), batch_size):
        rows += len(batch)
        parties: list[Party] = []
        profiles: list[PersonProfile] = []
        for client in batch:
            known = existing.get(str(client.client_id))
            if known is not None:
                lookups.parties[client.client_id] = known
                continue
            name = f"Client {client.client_id}"
            party = Party(
                id=uuid.uuid4(),
                kind=Party.Kind.PERSON,
                display_name=name,
                status=Party.Status.ACTIVE,
                segment=Party.Segment.MASS,
                owning_unit=lookups.branches[client.district_id],
                customer_since=customer_since.get(client.client_id),
                source_system=SOURCE,
                source_id=str(client.client_id),
                search_name=search_name_of(name),
                search_pinyin="",
            )
            parties.append(party)
            profiles.append(
                PersonProfile(
                    id=uuid.uuid4(),
                    party=party,
                    date_of_birth=client.birth_date,
                    birth_year=client.birth_date.year,
                    gender=client.gender,
                    nationality="CZ",
                )
            )
            lookups.parties[client.client_id] = party.pk
        with keyed_batch():
            bulk_data_keys(parties)
            bulk_insert(Party, parties)
            bulk_insert(PersonProfile, profiles)
        added += len(parties)
    in_database = Party.objects.filter(source_system=SOURCE).count()
    return _summary(
        actor=actor, table="client", path=path, rows=rows, added=added, in_database=in_database
    )


def _products() -> dict[str, Product]:
    products: dict[str, Product] = {}
    for key, (code, name, name_zh, category) in BERKA_PRODUCTS.items():
        product, _created = Product.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "name_zh": name_zh,
                "category": category,
                "currency": berka.CURRENCY,
                "is_liability": category == "loan",
            },
        )
        products[key] = product
    return products


def _import_accounts(
    actor: Any,
    directory: Path,
    lookups: _Lookups,
    batch_size: int,
    products: dict[str, Product],
    last_balances: dict[int, tuple[dt.date, Decimal]],
) -> TableResult:
    path = berka.table_path(directory, "account")
    existing = dict(
        Account.objects.filter(source_system=SOURCE, product__category="current")
        .values_list("source_id", "pk")
        .iterator()
    )
    rows = added = 0
    for batch in batched(berka.read_table(directory, "account"), batch_size):
        rows += len(batch)
        accounts: list[Account] = []
        for account in batch:
            branch = lookups.branches[account.district_id]
            lookups.account_branches[account.account_id] = branch.pk
            known = existing.get(str(account.account_id))
            if known is not None:
                lookups.accounts[account.account_id] = known
                continue
            booked_on, balance = last_balances.get(account.account_id, (None, Decimal("0")))
            number = str(account.account_id)
            owner_client = lookups.account_owner[account.account_id]
            record = Account(
                id=uuid.uuid4(),
                number=number,
                number_last4=number[-4:],
                product=products[account.statement_frequency],
                currency=berka.CURRENCY,
                status=Account.Status.ACTIVE,
                opened_on=account.opened_on,
                branch=branch,
                owner_id=lookups.parties[owner_client],
                balance=balance,
                available_balance=balance,
                balance_as_of=booked_on,
                source_system=SOURCE,
                source_id=str(account.account_id),
            )
            accounts.append(record)
            lookups.accounts[account.account_id] = record.pk
        with transaction.atomic():
            bulk_insert(Account, accounts)
        added += len(accounts)
    in_database = Account.objects.filter(source_system=SOURCE, product__category="current").count()
    return _summary(
        actor=actor, table="account", path=path, rows=rows, added=added, in_database=in_database
    )


def _import_roles(
    actor: Any,
    *,
    table: str,
    path: Path,
    records: Iterable[Any],
    batch_size: int,
    prefix: str,
    build: Callable[[Any], tuple[AccountRole, SourceRecord | None]],
) -> TableResult:
    existing = _existing(
        AccountRole.objects.filter(source_system=SOURCE, source_id__startswith=prefix)
    )
    rows = added = 0
    for batch in batched(records, batch_size):
        rows += len(batch)
        roles: list[AccountRole] = []
        extras: list[SourceRecord] = []
        for record in batch:
            role, extra = build(record)
            if role.source_id in existing:
                continue
            roles.append(role)
            if extra is not None:
                extras.append(extra)
        with transaction.atomic():
            bulk_insert(AccountRole, roles)
            party_activity_for_roles(roles)
            bulk_insert(SourceRecord, extras)
        added += len(roles)
    in_database = AccountRole.objects.filter(
        source_system=SOURCE, source_id__startswith=prefix
    ).count()
    return _summary(
        actor=actor, table=table, path=path, rows=rows, added=added, in_database=in_database
    )


def _import_loans(
    actor: Any,
    directory: Path,
    lookups: _Lookups,
    batch_size: int,
    products: dict[str, Product],
) -> TableResult:
    path = berka.table_path(directory, "loan")
    existing = _existing(Account.objects.filter(source_system=SOURCE, product__category="loan"))
    rows = added = 0
    for batch in batched(berka.read_table(directory, "loan"), batch_size):
        rows += len(batch)
        accounts: list[Account] = []
        roles: list[AccountRole] = []
        extras: list[SourceRecord] = []
        for loan in batch:
            source_id = f"loan:{loan.loan_id}"
            if source_id in existing:
                continue
            balance = -loan_outstanding(loan, BERKA_END)
            number = f"L{loan.loan_id}"
            owner = lookups.parties[lookups.account_owner[loan.account_id]]
            account = Account(
                id=uuid.uuid4(),
                number=number,
                number_last4=number[-4:],
                product=products["loan"],
                currency=berka.CURRENCY,
                status=Account.Status.ACTIVE if loan.is_running else Account.Status.CLOSED,
                opened_on=loan.granted_on,
                closed_on=None if loan.is_running else loan.maturity_date,
                branch_id=lookups.account_branches[loan.account_id],
                owner_id=owner,
                balance=balance,
                available_balance=Decimal("0"),
                balance_as_of=BERKA_END if loan.is_running else loan.maturity_date,
                source_system=SOURCE,
                source_id=source_id,
            )
            accounts.append(account)
            roles.append(
                AccountRole(
                    account=account,
                    party_id=owner,
                    role=AccountRole.Role.OWNER,
                    start_on=loan.granted_on,
                    source_system=SOURCE,
                    source_id=source_id,
                )
            )
            extras.append(
                SourceRecord(
                    source_system=SOURCE,
                    kind="loan",
                    source_id=str(loan.loan_id),
                    owning_unit_id=account.branch_id,
                    account=account,
                    data={
                        "account_id": loan.account_id,
                        "repayment_account": str(lookups.accounts[loan.account_id]),
                        "amount": str(loan.amount),
                        "duration_months": loan.duration_months,
                        "monthly_payment": str(loan.monthly_payment),
                        "status_code": loan.status_code,
                        "status": loan.status,
                        "status_label": LOAN_STATUS_LABELS[loan.status],
                        "is_bad": loan.is_bad,
                    },
                )
            )
        with transaction.atomic():
            bulk_insert(Account, accounts)
            bulk_insert(AccountRole, roles)
            party_activity_for_roles(roles)
            bulk_insert(SourceRecord, extras)
        added += len(accounts)
    in_database = Account.objects.filter(source_system=SOURCE, product__category="loan").count()
    return _summary(
        actor=actor, table="loan", path=path, rows=rows, added=added, in_database=in_database
    )


def loan_outstanding(loan: berka.Loan, as_of: dt.date) -> Decimal:
    """Principal still owed on ``as_of``: nothing once finished; for a running loan, the
    amount less the instalments fallen due since it was granted (never below zero)."""
    if not loan.is_running:
        return Decimal("0.00")
    months = (as_of.year - loan.granted_on.year) * 12 + as_of.month - loan.granted_on.month
    if as_of.day < loan.granted_on.day:
        months -= 1
    paid = loan.monthly_payment * max(0, min(months, loan.duration_months))
    return max(Decimal("0.00"), loan.amount - paid)


def _import_orders(actor: Any, directory: Path, lookups: _Lookups, batch_size: int) -> TableResult:
    path = berka.table_path(directory, "order")
    existing = _existing(StandingOrder.objects.filter(source_system=SOURCE))
    rows = added = 0
    for batch in batched(berka.read_table(directory, "order"), batch_size):
        rows += len(batch)
        orders = [
            StandingOrder(
                account_id=lookups.accounts[order.account_id],
                beneficiary_bank=order.bank_to,
                beneficiary_account=order.account_to,
                amount=order.amount,
                currency=berka.CURRENCY,
                purpose=order.purpose or StandingOrder.Purpose.OTHER,
                source_system=SOURCE,
                source_id=str(order.order_id),
            )
            for order in batch
            if str(order.order_id) not in existing
        ]
        with transaction.atomic():
            bulk_insert(StandingOrder, orders)
        added += len(orders)
    in_database = StandingOrder.objects.filter(source_system=SOURCE).count()
    return _summary(
        actor=actor, table="order", path=path, rows=rows, added=added, in_database=in_database
    )


def transaction_kind(record: berka.Transaction) -> tuple[str, str, str]:
    """(kind, channel, description) of a Berka booking, from its purpose or operation."""
    if record.purpose is not None:
        return PURPOSE_KINDS[record.purpose]
    if record.operation is not None:
        return OPERATION_KINDS[record.operation]
    if record.direction == "withdrawal":
        return ("cash_withdrawal", "branch", "Cash withdrawal")
    return ("other", "other", "Credit" if record.direction == "credit" else "Debit")


def _import_transactions(
    actor: Any, directory: Path, lookups: _Lookups, batch_size: int
) -> TableResult:
    path = berka.table_path(directory, "trans")
    rows = added = 0
    # The banking module's bulk load skips bookings already stored (by account and source
    # id), commits each batch and keeps the monthly in/out totals; one batch is one commit.
    for batch in batched(berka.read_table(directory, "trans"), max(batch_size, 10_000)):
        rows += len(batch)
        bookings: list[TransactionRow] = []
        for record in batch:
            kind, channel, description = transaction_kind(record)
            amount = record.signed_amount
            bookings.append(
                TransactionRow(
                    account_id=lookups.accounts[record.account_id],
                    source_id=str(record.trans_id),
                    booking_date=record.booked_on,
                    value_date=record.booked_on,
                    amount=amount,
                    currency=berka.CURRENCY,
                    direction="credit" if amount >= 0 else "debit",
                    kind=kind,
                    channel=channel,
                    description=description,
                    counterparty_account=record.partner_account or "",
                    counterparty_bank=record.partner_bank or "",
                    counterparty_country="CZ" if record.partner_bank else "",
                    running_balance=record.balance,
                )
            )
        added += transactions_append_bulk(actor=actor, rows=bookings).inserted
    in_database = 0
    for chunk in batched(list(lookups.accounts.values()), 900):
        in_database += Transaction.objects.filter(account_id__in=chunk).count()
    return _summary(
        actor=actor, table="trans", path=path, rows=rows, added=added, in_database=in_database
    )


# --- The whole import ------------------------------------------------------------------------


def berka_import(
    *,
    actor: Any,
    directory: Path,
    batch_size: int = 2000,
    progress: Callable[[TableResult], None] | None = None,
) -> list[TableResult]:
    """Import the Berka files of ``directory``; one result per table, in import order.

    Idempotent and resumable: rows whose Berka id is already in the database are skipped.
    Only the system (a command or job) may run it.
    """
    if not is_system(actor):
        raise PermissionDenied(_("Only a system job may import the Berka data set."))
    if not directory.is_dir():
        raise FileNotFoundError(
            _("%(directory)s is not a folder of Berka files.") % {"directory": directory}
        )
    dispositions = {d.disp_id: d for d in berka.read_table(directory, "disp")}
    account_owner = {
        d.account_id: d.client_id for d in dispositions.values() if d.disposition_type == "owner"
    }
    opened = {a.account_id: a.opened_on for a in berka.read_table(directory, "account")}
    customer_since: dict[int, dt.date] = {}
    for disposition in dispositions.values():
        day = opened[disposition.account_id]
        if day < customer_since.get(disposition.client_id, dt.date.max):
            customer_since[disposition.client_id] = day
    last_balances: dict[int, tuple[dt.date, Decimal]] = {}
    for record in berka.read_table(directory, "trans"):
        last_balances[record.account_id] = (record.booked_on, record.balance)

    lookups = _Lookups(
        head_office=_head_office(actor),
        branches={},
        parties={},
        accounts={},
        account_branches={},
        account_owner=account_owner,
        dispositions=dispositions,
    )
    results: list[TableResult] = []

    def done(result: TableResult) -> None:
        results.append(result)
        if progress is not None:
            progress(result)

    done(_import_districts(actor, directory, lookups))
    done(_import_clients(actor, directory, lookups, batch_size, customer_since))
    products = _products()
    done(_import_accounts(actor, directory, lookups, batch_size, products, last_balances))

    def disposition_role(disposition: berka.Disposition) -> tuple[AccountRole, None]:
        role = (
            AccountRole.Role.OWNER
            if disposition.disposition_type == "owner"
            else AccountRole.Role.SIGNATORY
        )
        return (
            AccountRole(
                account_id=lookups.accounts[disposition.account_id],
                party_id=lookups.parties[disposition.client_id],
                role=role,
                start_on=opened[disposition.account_id],
                source_system=SOURCE,
                source_id=f"disp:{disposition.disp_id}",
            ),
            None,
        )

    done(
        _import_roles(
            actor,
            table="disp",
            path=berka.table_path(directory, "disp"),
            records=dispositions.values(),
            batch_size=batch_size,
            prefix="disp:",
            build=disposition_role,
        )
    )

    def card_role(card: berka.Card) -> tuple[AccountRole, SourceRecord]:
        disposition = dispositions[card.disp_id]
        account_pk = lookups.accounts[disposition.account_id]
        return (
            AccountRole(
                account_id=account_pk,
                party_id=lookups.parties[disposition.client_id],
                role=AccountRole.Role.CARD_HOLDER,
                start_on=card.issued_on,
                source_system=SOURCE,
                source_id=f"card:{card.card_id}",
            ),
            SourceRecord(
                source_system=SOURCE,
                kind="card",
                source_id=str(card.card_id),
                owning_unit_id=lookups.account_branches[disposition.account_id],
                account_id=account_pk,
                data={
                    "card_type": card.card_type,
                    "issued_on": card.issued_on.isoformat(),
                    "disp_id": card.disp_id,
                },
            ),
        )

    done(
        _import_roles(
            actor,
            table="card",
            path=berka.table_path(directory, "card"),
            records=berka.read_table(directory, "card"),
            batch_size=batch_size,
            prefix="card:",
            build=card_role,
        )
    )
    done(_import_loans(actor, directory, lookups, batch_size, products))
    done(_import_orders(actor, directory, lookups, batch_size))
    done(_import_transactions(actor, directory, lookups, batch_size))
    # The loans as serviced loans of the lending module (after the transactions: their
    # repayment debits are matched to the instalments).
    from .berka_loans import berka_loans_import

    done(berka_loans_import(actor=actor, directory=directory))
    return results
