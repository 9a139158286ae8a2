"""Writing banking records: products, accounts, party roles on accounts, balances,
exchange rates, and the bulk load of transactions from core banking or an import.

``transactions_append_bulk`` never saves one ORM object per row: SQLite gets
``executemany`` in one transaction, PostgreSQL gets ``COPY`` straight into the table (and,
for a chunk of which some rows are stored already, ``COPY`` into a temporary table and one
``INSERT … SELECT … ON CONFLICT DO NOTHING``). Either way a row whose
``(account, source_id)`` is already stored is skipped, so loading a file twice adds
nothing. The monthly in/out totals of the months that received rows are then recomputed
from the stored rows with one statement (so they are right however often a load is
repeated).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_perm_scope, actor_unit_paths
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.currencies import CURRENCIES
from bankcrm.customers.models import Party
from bankcrm.customization.services import custom_fields_validate
from bankcrm.events.services import event_record

from .activity import party_activity_for_roles, party_activity_rebuild, party_activity_refresh
from .models import Account, AccountMonthlyFlow, AccountRole, FxRate, Product, Transaction

ACCOUNT_MODEL_LABEL = "banking.account"

# Column lists and SQL fragments below are constants of this module, never input.
_TXN_COLUMNS = (
    "account_id",
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "direction",
    "kind",
    "channel",
    "description",
    "counterparty_name",
    "counterparty_account",
    "counterparty_bank",
    "counterparty_country",
    "running_balance",
    "source_id",
)
_TEXT_LIMITS = {
    "description": 300,
    "counterparty_name": 200,
    "counterparty_account": 64,
    "counterparty_bank": 64,
    "counterparty_country": 2,
    "source_id": 64,
}
_TEXT_FIELDS = (
    "description",
    "counterparty_name",
    "counterparty_account",
    "counterparty_bank",
    "counterparty_country",
)
# The shortest limit of the free texts but the country code.
_TEXT_SHORTEST = min(_TEXT_LIMITS[name] for name in _TEXT_FIELDS if name != "counterparty_country")
_COUNTRY_LIMIT = _TEXT_LIMITS["counterparty_country"]
# The PostgreSQL advisory lock under which monthly totals are recomputed ("bankflow").
_FLOWS_LOCK = 0x62616E6B666C6F77
_KINDS = frozenset(Transaction.Kind.values)
_CHANNELS = frozenset(Transaction.Channel.values) | {""}
_LIABILITY_CATEGORIES = {Product.Category.LOAN, Product.Category.CREDIT_CARD}


def _require(actor: Any, permission: str) -> str:
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        raise PermissionDenied(_("You do not have permission to do this."))
    return scope


def _require_unit(actor: Any, permission: str, unit: OrgUnit) -> None:
    scope = _require(actor, permission)
    if scope == Role.DataScope.BANK:
        return
    if any(unit.path.startswith(path) for path in actor_unit_paths(actor)):
        return
    raise PermissionDenied(_("This branch is outside your reach."))


def _full_clean(instance: Any, exclude: list[str] | None = None) -> None:
    instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)


# --- Products and exchange rates ----------------------------------------------------------


def product_upsert(
    *,
    actor: Any,
    code: str,
    name: str,
    category: str,
    name_zh: str = "",
    currency: str = "CNY",
    is_liability: bool | None = None,
    is_active: bool = True,
) -> Product:
    """Add a product to the catalogue, or update the one with this ``code``.

    ``is_liability`` (money the customer owes the bank) defaults to true for loans and
    credit cards.
    """
    liability = category in _LIABILITY_CATEGORIES if is_liability is None else is_liability
    product = Product.objects.filter(code=code).first()
    creating = product is None
    _require(actor, "banking.add_product" if creating else "banking.change_product")
    before = None if product is None else audit_snapshot(product)
    if product is None:
        product = Product(code=code)
    product.name = name
    product.name_zh = name_zh
    product.category = category
    product.currency = currency
    product.is_liability = liability
    product.is_active = is_active
    _full_clean(product)
    after_values = audit_snapshot(product)
    if before is not None and before == after_values:
        return product
    with transaction.atomic():
        product.save()
        audit_record(
            actor=actor,
            action="product.create" if creating else "product.update",
            target=product,
            before=before,
            after=audit_snapshot(product),
        )
    return product


def fx_rate_set(*, actor: Any, currency: str, rate_to_base: Decimal, as_of: dt.date) -> FxRate:
    """Record how much one unit of ``currency`` was worth in the base currency on ``as_of``."""
    rate = FxRate.objects.filter(currency=currency, as_of=as_of).first()
    _require(actor, "banking.add_fxrate" if rate is None else "banking.change_fxrate")
    before = None if rate is None else audit_snapshot(rate)
    if rate is None:
        rate = FxRate(currency=currency, as_of=as_of)
    rate.rate_to_base = Decimal(rate_to_base)
    _full_clean(rate)
    if rate.rate_to_base <= 0:
        raise ValidationError(
            {"rate_to_base": [ValidationError(_("A rate is above zero."), code="out_of_range")]}
        )
    with transaction.atomic():
        rate.save()
        audit_record(
            actor=actor,
            action="fx_rate.set",
            target=rate,
            before=before,
            after=audit_snapshot(rate),
        )
    return rate


# --- Accounts ----------------------------------------------------------------------------


def _last4(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isalnum())
    return digits[-4:]


def account_open(
    *,
    actor: Any,
    product: Product,
    number: str,
    owner: Party,
    branch: OrgUnit,
    opened_on: dt.date,
    currency: str = "",
    status: str = Account.Status.ACTIVE,
    balance: Decimal = Decimal("0"),
    available_balance: Decimal | None = None,
    balance_as_of: dt.date | None = None,
    closed_on: dt.date | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> Account:
    """Record an account held at the bank (from core banking, an import or the demo data),
    with ``owner`` as its primary holder (also given the "owner" role)."""
    _require_unit(actor, "banking.add_account", branch)
    number = " ".join((number or "").split())
    account = Account(
        number=number,
        number_last4=_last4(number),
        product=product,
        owner=owner,
        branch=branch,
        currency=currency or product.currency,
        status=status,
        opened_on=opened_on,
        closed_on=closed_on,
        balance=balance,
        available_balance=balance if available_balance is None else available_balance,
        balance_as_of=balance_as_of,
        source_system=source_system,
        source_id=source_id,
    )
    if not number:
        raise ValidationError(
            {"number": [ValidationError(_("Give the account number."), code="required")]}
        )
    account.custom_fields = custom_fields_validate(
        model_label=ACCOUNT_MODEL_LABEL,
        values=custom_fields or {},
        field_prefix="custom_fields",
    )
    _full_clean(account, exclude=["owner", "product", "branch"])
    with transaction.atomic():
        account.save(force_insert=True)
        role = AccountRole.objects.create(
            account=account, party=owner, role=AccountRole.Role.OWNER, start_on=opened_on
        )
        audit_record(
            actor=actor,
            action="account.open",
            target=account,
            after={**audit_snapshot(account), "owner_role": role.pk},
            changed_secrets=["number"],
        )
        event_record(
            type="account.opened",
            target=account,
            payload={
                "account": str(account.pk),
                "owner": str(owner.pk),
                "holders": [str(owner.pk)],
                "product": product.code,
                "category": product.category,
            },
        )
    return account


def account_role_add(
    *,
    actor: Any,
    account: Account,
    party: Party,
    role: str,
    start_on: dt.date | None = None,
    end_on: dt.date | None = None,
    source_system: str = "",
    source_id: str | None = None,
) -> AccountRole:
    """Give a customer a role on an account (joint owner, signatory, card holder, …)."""
    _require_unit(actor, "banking.add_accountrole", account.branch)
    account_role = AccountRole(
        account=account,
        party=party,
        role=role,
        start_on=start_on,
        end_on=end_on,
        source_system=source_system,
        source_id=source_id,
    )
    _full_clean(account_role, exclude=["account", "party"])
    if AccountRole.objects.filter(account=account, party=party, role=role).exists():
        raise ValidationError(
            {"role": [ValidationError(_("This customer already has this role."), code="duplicate")]}
        )
    with transaction.atomic():
        account_role.save()
        # A holder's activity now counts the account's bookings.
        party_activity_for_roles([account_role])
        audit_record(
            actor=actor,
            action="account_role.add",
            target=account_role,
            after=audit_snapshot(account_role),
        )
        event_record(
            type="account.role_added",
            target=account_role,
            payload={
                "account": str(account_role.account_id),
                "party": str(account_role.party_id),
                "role": account_role.role,
            },
        )
    return account_role


def account_balances_update(
    *,
    actor: Any,
    account: Account,
    balance: Decimal,
    as_of: dt.date,
    available_balance: Decimal | None = None,
) -> Account:
    """Set an account's balance (and available balance) as core banking reported it."""
    _require_unit(actor, "banking.change_account", account.branch)
    before = audit_snapshot(account, ("balance", "available_balance", "balance_as_of"))
    account.balance = Decimal(balance)
    account.available_balance = Decimal(balance if available_balance is None else available_balance)
    account.balance_as_of = as_of
    with transaction.atomic():
        account.save(update_fields=["balance", "available_balance", "balance_as_of", "updated_at"])
        audit_record(
            actor=actor,
            action="account.balances_update",
            target=account,
            before=before,
            after=audit_snapshot(account, ("balance", "available_balance", "balance_as_of")),
        )
    return account


def account_balances_from_transactions(
    *, actor: Any, account_ids: Iterable[uuid.UUID] | None = None
) -> int:
    """Set balances (and "as of" dates) from each account's latest running balance.

    For loads whose transactions carry the balance after each booking (core banking
    statements, Berka). Accounts with no such transaction keep their balance. Returns the
    number of accounts updated; one audit event records the batch.
    """
    _require(actor, "banking.change_account")
    latest = Transaction.objects.filter(
        account=OuterRef("pk"), running_balance__isnull=False
    ).order_by("-booking_date", "-id")
    accounts = Account.objects.filter(Exists(latest))
    ids = None if account_ids is None else list(account_ids)
    with transaction.atomic():
        updated = 0
        for chunk in _chunks(ids) if ids is not None else [None]:
            queryset = accounts if chunk is None else accounts.filter(pk__in=chunk)
            updated += queryset.update(
                balance=Subquery(latest.values("running_balance")[:1]),
                available_balance=Subquery(latest.values("running_balance")[:1]),
                balance_as_of=Subquery(latest.values("booking_date")[:1]),
            )
        audit_record(
            actor=actor,
            action="account.balances_from_transactions",
            object_type="banking.account",
            after={"accounts": updated},
        )
    return updated


def _chunks(items: list[Any] | None, size: int = 900) -> Iterator[list[Any]]:
    # SQLite limits the number of parameters of one statement.
    items = items or []
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Transactions ------------------------------------------------------------------------


@dataclass(slots=True)
class TransactionRow:
    """One booking to load: signed ``amount`` (credits positive); ``source_id`` is the
    booking's id in the source system, unique per account."""

    account_id: uuid.UUID
    source_id: str
    booking_date: dt.date
    amount: Decimal
    currency: str
    kind: str = Transaction.Kind.OTHER
    direction: str = ""
    value_date: dt.date | None = None
    channel: str = ""
    description: str = ""
    counterparty_name: str = ""
    counterparty_account: str = ""
    counterparty_bank: str = ""
    counterparty_country: str = ""
    running_balance: Decimal | None = None


@dataclass
class BulkAppendResult:
    """What a bulk load did: rows given, rows stored, rows already there (skipped)."""

    received: int = 0
    inserted: int = 0
    skipped: int = 0
    accounts: int = 0
    #: SQLite: the first and last booking date per account (PostgreSQL keeps its own).
    touched: dict[uuid.UUID, tuple[dt.date, dt.date]] = field(default_factory=dict, repr=False)


def _row_error(index: int, name: str, message: str) -> ValidationError:
    return ValidationError({f"rows.{index}.{name}": [ValidationError(message, code="invalid")]})


def _as_date(value: Any, index: int, name: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _row_error(index, name, _("Give a date, not a date and time."))
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _row_error(index, name, _("This is not a date.")) from None


_AMOUNT_LIMIT = Decimal(10) ** 16
_AMOUNT_STEP = Decimal("0.0001")


def _as_decimal(value: Any, index: int, name: str) -> Decimal:
    if type(value) is Decimal:
        amount = value
    else:
        if isinstance(value, float):
            raise _row_error(index, name, _("Give amounts as decimals, never as floats."))
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise _row_error(index, name, _("This is not an amount.")) from None
    # Stored with four decimal places: an amount that would be rounded is refused
    # (trailing zeros lose nothing).
    if (
        not amount.is_finite()
        or not -_AMOUNT_LIMIT < amount < _AMOUNT_LIMIT
        or amount != amount.quantize(_AMOUNT_STEP)
    ):
        raise _row_error(index, name, _("This amount cannot be stored."))
    return amount


def _text(value: Any) -> str:
    return value if type(value) is str else str(value or "")


def _prepare(index: int, row: TransactionRow | Mapping[str, Any]) -> tuple[Any, ...]:
    """One row checked and in the column order of ``_TXN_COLUMNS``; a bad field raises
    naming the row's index and the field."""
    # Rows arrive by the million: a TransactionRow's attributes are read directly and the
    # usual types (UUID, date, Decimal, str) are accepted after an exact type test; anything
    # else goes through the full conversion.
    if type(row) is TransactionRow:
        account_id: Any = row.account_id
        source: Any = row.source_id
        booking: Any = row.booking_date
        value_date: Any = row.value_date
        amount_in: Any = row.amount
        currency: Any = row.currency
        direction: Any = row.direction
        kind: Any = row.kind
        channel: Any = row.channel
        texts: tuple[Any, ...] = (
            row.description,
            row.counterparty_name,
            row.counterparty_account,
            row.counterparty_bank,
            row.counterparty_country,
        )
        running: Any = row.running_balance
    else:
        get = (
            row.get
            if isinstance(row, Mapping)
            else (lambda name, default=None: getattr(row, name, default))
        )
        account_id = get("account_id")
        source = get("source_id")
        booking = get("booking_date")
        value_date = get("value_date")
        amount_in = get("amount")
        currency = get("currency")
        direction = get("direction")
        kind = get("kind")
        channel = get("channel")
        texts = tuple(get(name) for name in _TEXT_FIELDS)
        running = get("running_balance")
    if type(account_id) is not uuid.UUID:
        try:
            account_id = uuid.UUID(str(account_id))
        except ValueError:
            raise _row_error(index, "account_id", _("This is not an account key.")) from None
    source_id = _text(source).strip()
    if not source_id:
        raise _row_error(index, "source_id", _("Give the booking's id in the source system."))
    amount = _as_decimal(amount_in, index, "amount")
    direction = direction or ("debit" if amount < 0 else "credit")
    if (
        direction not in ("credit", "debit")
        or (direction == "credit" and amount < 0)
        or (direction == "debit" and amount > 0)
    ):
        raise _row_error(index, "direction", _("A credit is positive and a debit negative."))
    if currency not in CURRENCIES:
        raise _row_error(index, "currency", _("This is not an ISO 4217 currency code."))
    kind = kind or Transaction.Kind.OTHER
    if kind not in _KINDS:
        raise _row_error(index, "kind", _("This is not a transaction type."))
    channel = channel or ""
    if channel not in _CHANNELS:
        raise _row_error(index, "channel", _("This is not a channel."))
    if type(booking) is not dt.date:
        booking = _as_date(booking, index, "booking_date")
    if value_date is not None and type(value_date) is not dt.date:
        value_date = _as_date(value_date, index, "value_date")
    if running is not None:
        running = _as_decimal(running, index, "running_balance")
    description, name, account, bank, country = cleaned = [
        text if type(text) is str else str(text or "") for text in texts
    ]
    # One test passes the usual row; the field at fault is looked for only when it fails.
    if len(country) > _COUNTRY_LIMIT or max(map(len, cleaned)) > _TEXT_SHORTEST:
        for field_name, text in zip(_TEXT_FIELDS, cleaned, strict=True):
            if len(text) > _TEXT_LIMITS[field_name]:
                raise _row_error(index, field_name, _("This text is too long."))
    if len(source_id) > _TEXT_LIMITS["source_id"]:
        raise _row_error(index, "source_id", _("This text is too long."))
    return (
        account_id,
        booking,
        value_date,
        amount,
        currency,
        direction,
        kind,
        channel,
        description,
        name,
        account,
        bank,
        country,
        running,
        source_id,
    )


def _sqlite_params(row: tuple[Any, ...]) -> tuple[Any, ...]:
    # Django stores UUIDs on SQLite as 32 hex digits, dates as ISO text, decimals as text.
    return tuple(
        value.hex
        if isinstance(value, uuid.UUID)
        else value.isoformat()
        if isinstance(value, dt.date)
        else str(value)
        if isinstance(value, Decimal)
        else value
        for value in row
    )


def _rows_checked(
    rows: Iterable[TransactionRow | Mapping[str, Any]], result: BulkAppendResult
) -> Iterator[tuple[Any, ...]]:
    for index, row in enumerate(rows):
        prepared = _prepare(index, row)
        result.received += 1
        yield prepared


def _unknown_account_error(account_id: Any) -> ValidationError:
    return ValidationError(
        {
            "rows": [
                ValidationError(
                    _("No account has the key %(account)s."),
                    code="unknown_account",
                    params={"account": str(account_id)},
                )
            ]
        }
    )


def _insert_sqlite(
    rows: Iterator[tuple[Any, ...]], batch_size: int, touched: dict[uuid.UUID, Any]
) -> int:
    columns = ", ".join(_TXN_COLUMNS)
    marks = ", ".join(["%s"] * len(_TXN_COLUMNS))
    sql = (
        f"INSERT INTO banking_transaction ({columns}) VALUES ({marks}) "  # noqa: S608  # nosec B608
        "ON CONFLICT (account_id, source_id) DO NOTHING"
    )
    inserted = 0
    known: set[uuid.UUID] = set()

    def flush(cursor: Any, batch: list[tuple[Any, ...]], accounts: set[uuid.UUID]) -> int:
        # SQLite checks foreign keys only at commit: name an unknown account clearly first.
        new = list(accounts - known)
        for chunk in _chunks(new):
            known.update(Account.objects.filter(pk__in=chunk).values_list("pk", flat=True))
        for account_id in new:
            if account_id not in known:
                raise _unknown_account_error(account_id)
        cursor.executemany(sql, [_sqlite_params(row) for row in batch])
        return max(cursor.rowcount, 0)

    batch: list[tuple[Any, ...]] = []
    accounts: set[uuid.UUID] = set()
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(row)
            account_id, booking_date = row[0], row[1]
            accounts.add(account_id)
            span = touched.get(account_id)
            if span is None:
                touched[account_id] = (booking_date, booking_date)
            elif booking_date < span[0] or booking_date > span[1]:
                touched[account_id] = (min(span[0], booking_date), max(span[1], booking_date))
            if len(batch) >= batch_size:
                inserted += flush(cursor, batch, accounts)
                batch, accounts = [], set()
        if batch:
            inserted += flush(cursor, batch, accounts)
    return inserted


def _span_add(spans: dict[uuid.UUID, Any], account_id: uuid.UUID, booking_date: dt.date) -> None:
    span = spans.get(account_id)
    if span is None:
        spans[account_id] = (booking_date, booking_date)
    elif booking_date < span[0] or booking_date > span[1]:
        spans[account_id] = (min(span[0], booking_date), max(span[1], booking_date))


class _LoadPostgreSQL:
    """The PostgreSQL load of one call, chunk by chunk, in the caller's transaction.

    A chunk is first written with one ``COPY`` straight into ``banking_transaction`` inside
    a savepoint: a load of new bookings (the usual case) then costs what a raw ``COPY``
    costs. Should any of its rows already be stored (a file loaded again, or overlapping
    the previous one), the unique constraint stops the ``COPY``; the savepoint is rolled
    back and the chunk goes through a staging table and ``INSERT … ON CONFLICT DO
    NOTHING``, which stores only the new rows. ``spans`` keeps, per account, the first and
    last booking date of the rows stored, whose months are recomputed after the load.
    """

    columns = ", ".join(_TXN_COLUMNS)

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.known: set[uuid.UUID] = set()
        self.spans: dict[uuid.UUID, tuple[dt.date, dt.date]] = {}
        self.inserted = 0
        self.staging = False

    def accounts_check(self, chunk: list[tuple[Any, ...]]) -> None:
        """Raise naming the first account key of ``chunk`` that no account has."""
        new = {row[0] for row in chunk} - self.known
        if not new:
            return
        self.cursor.execute("SELECT id FROM banking_account WHERE id = ANY(%s)", [list(new)])
        self.known.update(pk for (pk,) in self.cursor.fetchall())
        for row in chunk:
            if row[0] not in self.known:
                raise _unknown_account_error(row[0])

    def chunk_load(self, rows: Iterator[tuple[Any, ...]], size: int) -> bool:
        """Load the next ``size`` rows of ``rows``; False when there were none left.

        The rows are checked and written to ``COPY`` one by one, so the database stores
        them while the next ones are being checked.
        """
        from psycopg.errors import UniqueViolation

        first = next(rows, None)
        if first is None:
            return False
        chunk = [first]
        copy_sql = f"COPY banking_transaction ({self.columns}) FROM STDIN"
        try:
            with transaction.atomic(), self.cursor.cursor.copy(copy_sql) as copy:
                copy.write_row(first)
                for row in islice(rows, size - 1):
                    chunk.append(row)
                    copy.write_row(row)
        except UniqueViolation:
            # Some of these bookings are stored already: the unique constraint on
            # (account, source id) refused the chunk, and the savepoint undid it.
            chunk.extend(islice(rows, size - len(chunk)))
            self.accounts_check(chunk)
            self._chunk_load_skipping(chunk)
            return True
        # Foreign keys are checked at commit: name an unknown account clearly before.
        self.accounts_check(chunk)
        self.inserted += len(chunk)
        spans = self.spans
        for row in chunk:
            _span_add(spans, row[0], row[1])
        return True

    def _chunk_load_skipping(self, chunk: list[tuple[Any, ...]]) -> None:
        cursor = self.cursor
        if not self.staging:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS banking_transaction_load "  # noqa: S608  # nosec B608
                f"ON COMMIT DROP AS SELECT {self.columns} FROM banking_transaction WITH NO DATA"
            )
            self.staging = True
        cursor.execute("TRUNCATE banking_transaction_load")
        with cursor.cursor.copy(
            f"COPY banking_transaction_load ({self.columns}) FROM STDIN"  # nosec B608
        ) as copy:
            for row in chunk:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO banking_transaction ({self.columns}) "  # noqa: S608  # nosec B608
            f"SELECT {self.columns} FROM banking_transaction_load "
            "ON CONFLICT (account_id, source_id) DO NOTHING "
            "RETURNING account_id, booking_date"
        )
        stored = cursor.fetchall()
        self.inserted += len(stored)
        for account_id, booking_date in stored:
            _span_add(self.spans, account_id, booking_date)


def _insert_postgresql(rows: Iterator[tuple[Any, ...]], batch_size: int) -> tuple[int, int]:
    """Load ``rows`` chunk by chunk, then recompute the monthly totals of the months that
    received rows; (rows stored, accounts seen)."""
    with connection.cursor() as cursor:
        load = _LoadPostgreSQL(cursor)
        while load.chunk_load(rows, batch_size):
            pass
        if load.spans:
            # Loads of the same accounts running at once would each recompute a month
            # from the rows they see, without the other's uncommitted rows, and the last
            # to write would win. One load at a time recomputes (the lock is held until
            # commit); each statement reads what the previous load committed.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_FLOWS_LOCK])
            monthly_flows_recompute(load.spans)
    return load.inserted, len(load.known)


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _month_end(day: dt.date) -> dt.date:
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)


def monthly_flows_recompute(touched: Mapping[uuid.UUID, tuple[dt.date, dt.date]]) -> None:
    """Recompute the monthly in/out totals of each account over the months of its span,
    and the daily activity of the accounts' holders over those months, from the stored
    transactions.

    Internal to the bulk load (it runs in the load's transaction, audited there).
    """
    if not touched:
        return
    vendor = connection.vendor
    spans = [
        (account_id, _month_start(first), _month_end(last))
        for account_id, (first, last) in touched.items()
    ]
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS banking_flow_touched "
                "(account_id uuid, from_date date, to_date date) ON COMMIT DROP"
            )
            cursor.execute("TRUNCATE banking_flow_touched")
            with cursor.cursor.copy(
                "COPY banking_flow_touched (account_id, from_date, to_date) FROM STDIN"
            ) as copy:
                for span in spans:
                    copy.write_row(span)
            # A temporary table has no statistics until analysed: the planner would guess
            # its size for the statements below.
            cursor.execute("ANALYZE banking_flow_touched")
            month = "date_trunc('month', t.booking_date)::date"
        else:
            cursor.execute(
                "CREATE TEMPORARY TABLE IF NOT EXISTS banking_flow_touched "
                "(account_id char(32), from_date date, to_date date)"
            )
            cursor.execute("DELETE FROM banking_flow_touched")
            cursor.executemany(
                "INSERT INTO banking_flow_touched (account_id, from_date, to_date) "
                "VALUES (%s, %s, %s)",
                [(a.hex, f.isoformat(), t.isoformat()) for a, f, t in spans],
            )
            month = "strftime('%Y-%m-01', t.booking_date)"
        # Months without totals yet (a first load of the accounts) take a plain insert,
        # cheaper than the conflict check of each row; only the bulk load writes totals,
        # one load at a time, so none can appear in between.
        cursor.execute(
            "SELECT 1 FROM banking_accountmonthlyflow f JOIN banking_flow_touched x "
            "ON x.account_id = f.account_id "
            "AND f.month >= x.from_date AND f.month <= x.to_date LIMIT 1"
        )
        upsert = (
            " ON CONFLICT (account_id, month) DO UPDATE SET "
            "inflow = excluded.inflow, outflow = excluded.outflow, "
            "transaction_count = excluded.transaction_count"
            if cursor.fetchone() is not None
            else ""
        )
        sums = (
            "COALESCE(SUM(CASE WHEN t.amount > 0 THEN t.amount ELSE 0 END), 0) AS inflow, "
            "COALESCE(SUM(CASE WHEN t.amount < 0 THEN -t.amount ELSE 0 END), 0) AS outflow, "
            "COUNT(*) AS transaction_count"
        )
        if vendor == "postgresql":
            # Account by account through the index on (account, booking date): the work
            # follows the rows touched, not the size of the table.
            select = (
                "SELECT x.account_id, m.month, m.inflow, m.outflow, m.transaction_count "  # noqa: S608  # nosec B608
                f"FROM banking_flow_touched x CROSS JOIN LATERAL (SELECT {month} AS month, "
                f"{sums} FROM banking_transaction t WHERE t.account_id = x.account_id "
                "AND t.booking_date >= x.from_date AND t.booking_date <= x.to_date "
                f"GROUP BY {month}) m"
            )
        else:
            # "WHERE" keeps SQLite from reading the upsert's ON as a join's.
            select = (
                f"SELECT t.account_id, {month}, {sums} "  # noqa: S608  # nosec B608
                "FROM banking_transaction t JOIN banking_flow_touched x "
                "ON x.account_id = t.account_id "
                "AND t.booking_date >= x.from_date AND t.booking_date <= x.to_date "
                f"WHERE 1 = 1 GROUP BY t.account_id, {month}"
            )
        cursor.execute(
            "INSERT INTO banking_accountmonthlyflow "  # nosec B608
            f"(account_id, month, inflow, outflow, transaction_count) {select}{upsert}"
        )
        # The holders' daily activity over the same months (segment rules read it).
        party_activity_refresh(cursor)
        if vendor != "postgresql":
            # PostgreSQL drops its temporary table at commit; SQLite keeps it.
            cursor.execute("DELETE FROM banking_flow_touched")


def party_activity_rebuild_run(*, actor: Any, party_ids: Iterable[Any] | None = None) -> int:
    """Recompute the daily activity of the given customers (all when None) from the stored
    transactions, after data was loaded around :func:`transactions_append_bulk`; audited.
    The number of customers recomputed."""
    _require(actor, "banking.add_transaction")
    with transaction.atomic():
        count = party_activity_rebuild(None if party_ids is None else list(party_ids))
        audit_record(
            actor=actor,
            action="banking.activity_rebuild",
            object_type="banking.partydailyactivity",
            after={"customers": count, "all": party_ids is None},
        )
    return count


def transactions_append_bulk(
    *,
    actor: Any,
    rows: Iterable[TransactionRow | Mapping[str, Any]],
    batch_size: int = 20_000,
) -> BulkAppendResult:
    """Load bookings from core banking or an import, skipping those already stored.

    ``rows`` are :class:`TransactionRow` objects or mappings with the same keys; a row is
    skipped when its account already has a transaction with its ``source_id``. All rows are
    checked as they are read (a bad row names its index and field, and nothing is stored);
    all are loaded in one transaction, ``batch_size`` rows at a time (SQLite:
    ``executemany``; PostgreSQL: ``COPY``), the monthly totals of the accounts kept up to
    date, and one audit event recorded.
    """
    _require(actor, "banking.add_transaction")
    result = BulkAppendResult()
    batch_size = max(1, int(batch_size))
    # Rows stream into the load (a file of millions is never held in memory); a bad row
    # or an unknown account raises inside the transaction, so nothing is stored.
    rows_checked = _rows_checked(rows, result)
    owns_transaction = not connection.in_atomic_block
    with transaction.atomic():
        # The ids this load stores lie above the highest id before it (a concurrent load's
        # rows may interleave: subscribers keep per-account watermarks and skip what they saw).
        id_before = Transaction.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if connection.vendor == "postgresql":
            if owns_transaction:
                # The load does not wait for its commit to reach the disk. A load is
                # idempotent and re-run from its file: a server crash in the next few
                # hundred milliseconds would lose this transaction as a whole (rows,
                # monthly totals and audit event together, and nothing committed after
                # it, since the log is replayed in order), and loading the file again
                # restores it. Only a transaction of its own gets this, never a caller's.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
            result.inserted, result.accounts = _insert_postgresql(rows_checked, batch_size)
        else:
            result.inserted = _insert_sqlite(rows_checked, batch_size, result.touched)
            result.accounts = len(result.touched)
            if result.inserted:
                # SQLite has one writer at a time: no other load can race the recompute.
                monthly_flows_recompute(result.touched)
        result.skipped = result.received - result.inserted
        if result.inserted:
            id_after = Transaction.objects.order_by("-id").values_list("id", flat=True).first()
            event_record(
                type="transactions.appended",
                payload={
                    "first_id": id_before + 1,
                    "last_id": id_after,
                    "inserted": result.inserted,
                    "accounts": result.accounts,
                },
            )
        audit_record(
            actor=actor,
            action="transactions.append_bulk",
            object_type="banking.transaction",
            object_repr=f"{result.inserted} transactions",
            after={
                "received": result.received,
                "inserted": result.inserted,
                "skipped": result.skipped,
                "accounts": result.accounts,
            },
        )
    return result


__all__ = [
    "AccountMonthlyFlow",
    "BulkAppendResult",
    "TransactionRow",
    "account_balances_from_transactions",
    "account_balances_update",
    "account_open",
    "account_role_add",
    "fx_rate_set",
    "monthly_flows_recompute",
    "party_activity_rebuild_run",
    "product_upsert",
    "transactions_append_bulk",
]
