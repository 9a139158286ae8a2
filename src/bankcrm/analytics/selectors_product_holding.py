"""Reading the product holding and channel usage report: which products the customers hold
on a day and which channels they booked through over a period.

Who counts: every party the viewer may see (``Party.objects.visible_to``) whose status is
active or dormant, narrowed to a unit (and the units below it) and a segment when asked.

* **Holdings** (``banking.view_account``): the accounts the viewer may see
  (``Account.objects.visible_to``) that were open on the as-of day (opened on or before it,
  not closed by then; a closed account without a closing day counts as closed) and that at
  least one customer in scope holds as owner or joint owner (``HOLDER_ROLES``). Per product
  category and currency: the open accounts, the distinct holders, the balance on the as-of
  day (the stored balance less the bookings dated after that day; currencies are never
  added together) and the balance per holder; per customer, the distinct categories held
  (products per customer, and which pairs of categories are held together).
* **Channel usage** (``banking.view_transaction``): the bookings over the period on the
  accounts whose transactions the viewer may see and that a customer in scope holds. Per
  channel and currency: the bookings (each once, however many holders), money in and money
  out; per channel, the customers who hold an account booked through it; per customer, the
  channels used. Bank-system bookings (interest, fees) and bookings without a channel are
  shown but are not a channel the customer used. *Digital* channels are online banking, the
  mobile app, card and ATM; *digital only* customers used one of them and not a branch,
  *branch only* customers a branch and none of them.

A part the viewer may not read is None (the page says so), never shown as zero.

How it is computed: one SQL statement per part (common table expressions, aggregated in
the database, on SQLite and PostgreSQL alike). Each customer's categories (and channels) are
folded into a bit mask in SQL and the customers counted per mask; Python adds up the few
grouped rows (at most 64 masks of categories, 512 of channels). The customer lists behind
the figures run the same expressions with a condition on the mask (or on the held rows), so
a list always holds what its figure counts.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.db.models import F, Model, Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit
from bankcrm.access.permissions import actor_perm_scope
from bankcrm.banking.models import HOLDER_ROLES, Account, AccountRole, Product, Transaction
from bankcrm.core.masking import mask
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .selectors_acquisition import acquisition_unit, acquisition_units

DEFAULT_PERIOD_DAYS = 90
MAX_PERIOD_DAYS = 366
# The customers listed on a page (the exports hold every one).
LIST_LIMIT = 500
CURRENT_STATUSES = (Party.Status.ACTIVE.value, Party.Status.DORMANT.value)
HOLDERS = tuple(str(role) for role in HOLDER_ROLES)
ACCOUNT_PERMISSION = "banking.view_account"
TRANSACTION_PERMISSION = "banking.view_transaction"
CUSTOMER_PERMISSION = "customers.view_party"

# The product categories, each a bit of a customer's mask (in the catalogue's order).
CATEGORIES: tuple[str, ...] = tuple(str(code) for code in Product.Category.values)
CATEGORY_BITS = {code: 1 << index for index, code in enumerate(CATEGORIES)}
# Customers holding this many categories or more share the last bucket (4+).
MAX_PRODUCTS = 4

# The channels of a booking; a booking without one is "unrecorded" in the report's links.
UNRECORDED = "unrecorded"
CHANNELS: tuple[str, ...] = (*(str(code) for code in Transaction.Channel.values), UNRECORDED)
CHANNEL_BITS = {code: 1 << index for index, code in enumerate(CHANNELS)}
DIGITAL_CHANNELS = (
    Transaction.Channel.ONLINE.value,
    Transaction.Channel.MOBILE.value,
    Transaction.Channel.CARD.value,
    Transaction.Channel.ATM.value,
)
BRANCH_CHANNELS = (Transaction.Channel.BRANCH.value,)
# Booked by the bank itself, or through no known channel: not a channel the customer used.
NOT_CUSTOMER_CHANNELS = (Transaction.Channel.SYSTEM.value, UNRECORDED)
CUSTOMER_CHANNELS = tuple(code for code in CHANNELS if code not in NOT_CUSTOMER_CHANNELS)
# Customers using this many channels or more share the last bucket (3+).
MAX_CHANNELS = 3

DIGITAL_MASK = sum(CHANNEL_BITS[code] for code in DIGITAL_CHANNELS)
BRANCH_MASK = sum(CHANNEL_BITS[code] for code in BRANCH_CHANNELS)
CUSTOMER_CHANNEL_MASK = sum(CHANNEL_BITS[code] for code in CUSTOMER_CHANNELS)

# The lists behind the figures.
HOLDING_KINDS = ("holding", "products", "cross")
CHANNEL_KINDS = ("channel", "channels", "digital_only", "branch_only")
KINDS = (*HOLDING_KINDS, *CHANNEL_KINDS)
KIND_TITLES = {
    "holding": gettext_lazy("Customers holding a product category in a currency"),
    "products": gettext_lazy("Customers by number of product categories"),
    "cross": gettext_lazy("Customers holding both product categories"),
    "channel": gettext_lazy("Customers who used a channel"),
    "channels": gettext_lazy("Customers by number of channels used"),
    "digital_only": gettext_lazy("Digital-only customers"),
    "branch_only": gettext_lazy("Branch-only customers"),
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# Amounts are summed exactly: SQLite keeps decimals as floating point, so there every
# amount is summed as a whole number of ten-thousandths (the columns' 4 decimal places).
_SCALE = Decimal(10000)
CENT = Decimal("0.01")


# --------------------------------------------------------------------------- labels


def category_label(code: str) -> str:
    """A product category as people read it (its code when not in the catalogue)."""
    try:
        return str(Product.Category(code).label)
    except ValueError:
        return code


def channel_label(code: str) -> str:
    """A channel as people read it."""
    if code == UNRECORDED:
        return str(_("Not recorded"))
    try:
        return str(Transaction.Channel(code).label)
    except ValueError:
        return code


def products_label(number: int) -> str:
    return f"{number}+" if number >= MAX_PRODUCTS else str(number)


def channels_label(number: int) -> str:
    return f"{number}+" if number >= MAX_CHANNELS else str(number)


# --------------------------------------------------------------------------- results


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percent_text(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}"


@dataclass(frozen=True)
class HoldingLine:
    """One product category in one currency: the open accounts, their distinct holders, the
    balance of those accounts on the as-of day and the balance per holder."""

    category: str
    currency: str
    accounts: int
    holders: int
    balance: Decimal

    @property
    def category_label(self) -> str:
        return category_label(self.category)

    @property
    def is_known_category(self) -> bool:
        return self.category in CATEGORY_BITS

    @property
    def average_balance(self) -> Decimal | None:
        if not self.holders:
            return None
        return (self.balance / self.holders).quantize(CENT)


@dataclass(frozen=True)
class CountBucket:
    """Customers holding (using) ``number`` product categories (channels), ``number`` and
    more for the last bucket, and their share of every customer in scope."""

    number: int
    label: str
    customers: int
    share: float | None

    @property
    def share_percent(self) -> str:
        return _percent_text(self.share)


@dataclass(frozen=True)
class CrossCell:
    """Customers holding both ``category`` and ``other`` (``category`` alone on the
    diagonal)."""

    category: str
    other: str
    customers: int

    @property
    def is_diagonal(self) -> bool:
        return self.category == self.other


@dataclass(frozen=True)
class CrossRow:
    """One row of the cross-holding matrix."""

    category: str
    cells: list[CrossCell]

    @property
    def label(self) -> str:
        return category_label(self.category)

    def customers(self, other: str) -> int:
        return next((cell.customers for cell in self.cells if cell.other == other), 0)


@dataclass
class Holdings:
    """The holdings part of the report."""

    customers: int
    lines: list[HoldingLine]
    buckets: list[CountBucket]
    matrix: list[CrossRow]
    category_holdings: int

    @property
    def average_products(self) -> Decimal | None:
        """Distinct product categories per customer in scope (those holding none count)."""
        if not self.customers:
            return None
        return (Decimal(self.category_holdings) / self.customers).quantize(CENT)


@dataclass(frozen=True)
class ChannelCurrency:
    """One channel's bookings in one currency over the period: the customers holding an
    account booked through it in that currency, the bookings, money in and money out (sign
    removed)."""

    currency: str
    customers: int
    bookings: int
    money_in: Decimal
    money_out: Decimal


@dataclass
class ChannelLine:
    """One channel over the period: the customers who used it (in any currency) and its
    bookings per currency."""

    channel: str
    customers: int
    currencies: list[ChannelCurrency] = field(default_factory=list)

    @property
    def label(self) -> str:
        return channel_label(self.channel)

    @property
    def bookings(self) -> int:
        return sum(item.bookings for item in self.currencies)

    @property
    def is_digital(self) -> bool:
        return self.channel in DIGITAL_CHANNELS

    @property
    def is_customer_channel(self) -> bool:
        return self.channel in CUSTOMER_CHANNELS


@dataclass
class ChannelUsage:
    """The channel part of the report."""

    period_from: dt.date
    period_to: dt.date
    customers: int
    lines: list[ChannelLine]
    buckets: list[CountBucket]
    digital_only: int
    branch_only: int

    @property
    def digital_only_share(self) -> float | None:
        return _share(self.digital_only, self.customers)

    @property
    def branch_only_share(self) -> float | None:
        return _share(self.branch_only, self.customers)

    @property
    def digital_only_percent(self) -> str:
        return _percent_text(self.digital_only_share)

    @property
    def branch_only_percent(self) -> str:
        return _percent_text(self.branch_only_share)


@dataclass
class ProductHoldingReport:
    """The report: the filters, the customers in scope (None when the viewer may see no
    customers) and its two parts (None when out of the viewer's reach)."""

    as_of: dt.date
    period_from: dt.date
    period_to: dt.date
    unit: OrgUnit | None
    segment: str | None
    customers: int | None
    holdings: Holdings | None
    channels: ChannelUsage | None

    def parameters(self) -> dict[str, str]:
        """The filters in force, as the page's query string holds them."""
        values = {
            "as_of": self.as_of.isoformat(),
            "period_from": self.period_from.isoformat(),
            "period_to": self.period_to.isoformat(),
            "unit": str(self.unit.pk) if self.unit else "",
            "segment": self.segment or "",
        }
        return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class HoldingCustomer:
    """A customer behind a figure: the name masked as lists show it, and the categories
    held (holding figures) or channels used (channel figures) that put them there."""

    party_pk: str
    display_name: str
    unit: str
    segment: str
    status: str
    categories: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @property
    def categories_text(self) -> str:
        return ", ".join(category_label(code) for code in self.categories)

    @property
    def channels_text(self) -> str:
        return ", ".join(channel_label(code) for code in self.channels)


# --------------------------------------------------------------------------- the filters


@dataclass(frozen=True)
class ReportWindow:
    """The as-of day of the holdings and the channel-usage period, defaults filled in."""

    as_of: dt.date
    period_from: dt.date
    period_to: dt.date


def _is_day(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _check(
    as_of: dt.date | None,
    period_from: dt.date | None,
    period_to: dt.date | None,
    segment: str | None,
) -> ReportWindow:
    """The as-of day and the period (defaults filled in); ValidationError naming each bad
    filter."""
    today = bank_today()
    errors: dict[str, list[str]] = {}
    for name, value in (("as_of", as_of), ("period_from", period_from), ("period_to", period_to)):
        if value is not None and not _is_day(value):
            errors[name] = [_("Enter a date.")]
    if errors:
        raise ValidationError(errors, code="invalid")
    day = as_of or today
    if day > today:
        errors["as_of"] = [_("The as-of day cannot be after today.")]
    end = period_to or today
    start = period_from or end - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if end > today:
        errors["period_to"] = [_("The period cannot end after today.")]
    if start > end:
        errors["period_from"] = [_("The period must start on or before its last day.")]
    elif (end - start).days + 1 > MAX_PERIOD_DAYS:
        errors["period_from"] = [
            _("The period can be at most %(days)s days long.") % {"days": MAX_PERIOD_DAYS}
        ]
    if segment and segment not in Party.Segment.values:
        errors["segment"] = [
            _("Choose one of %(choices)s.") % {"choices": ", ".join(Party.Segment.values)}
        ]
    if errors:
        raise ValidationError(errors, code="invalid")
    return ReportWindow(as_of=day, period_from=start, period_to=end)


def product_holding_window(
    *,
    as_of: dt.date | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    segment: str | None = None,
) -> ReportWindow:
    """The as-of day (default today) and the channel-usage period (default the last 90 days,
    ending today) the report reads; ValidationError naming each bad filter."""
    return _check(as_of, period_from, period_to, segment)


def product_holding_unit(*, actor: Any, pk: Any) -> OrgUnit:
    """The unit a viewer narrows the report to: one within their reach. ValidationError
    naming ``unit`` otherwise."""
    return acquisition_unit(actor=actor, pk=pk)


def product_holding_units(*, actor: Any) -> list[OrgUnit]:
    """The units a viewer may narrow the report to, in the order of the organisation chart."""
    return acquisition_units(actor=actor)


# --------------------------------------------------------------------------- SQL pieces


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _placeholders(values: Iterable[Any]) -> str:
    return ", ".join("%s" for _value in values)


def _scaled(expression: str) -> str:
    """An amount to be summed exactly (see ``_SCALE``)."""
    if connection.vendor == "sqlite":
        return f"CAST(ROUND(({expression}) * 10000) AS INTEGER)"
    return f"({expression})"


def _amount(value: Any) -> Decimal:
    """A sum of :func:`_scaled` amounts as a Decimal, exact: with 2 decimal places when it
    has no more, else with the columns' 4."""
    if value is None:
        return Decimal("0.00")
    if connection.vendor == "sqlite":
        exact = (Decimal(int(value)) / _SCALE).quantize(Decimal("0.0001"))
    else:
        exact = Decimal(str(value)).quantize(Decimal("0.0001"))
    cents = exact.quantize(CENT)
    return cents if cents == exact else exact


def _nonempty(queryset: QuerySet) -> QuerySet:
    """``queryset``, or one selecting no row through real SQL when it is ``none()`` (so
    that it can stand inside a statement)."""
    if queryset.query.is_empty():
        return queryset.model.objects.filter(pk__isnull=True)
    return queryset


def _sql(queryset: QuerySet) -> tuple[str, list[Any]]:
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def _customers(
    actor: Any, unit: OrgUnit | None, segment: str | None, *, names: bool = False
) -> tuple[str, list[Any]] | None:
    """The customers in scope as SQL (``party_key``, with the name, unit, segment and status
    when ``names``); None when the viewer may see no customers at all."""
    if actor_perm_scope(actor, CUSTOMER_PERMISSION) is None:
        return None
    parties = _nonempty(Party.objects.visible_to(actor)).filter(status__in=CURRENT_STATUSES)
    if unit is not None:
        parties = parties.filter(owning_unit__path__startswith=unit.path)
    if segment:
        parties = parties.filter(segment=segment)
    columns: dict[str, Any] = {"party_key": F("pk")}
    if names:
        columns.update(
            party_name=F("display_name"),
            party_unit=F("owning_unit__name"),
            party_segment=F("segment"),
            party_status=F("status"),
        )
    return _sql(parties.order_by().annotate(**columns).values(*columns))


def _accounts(actor: Any, permission: str, open_on: dt.date | None) -> tuple[str, list[Any]] | None:
    """The accounts whose records the viewer may read under ``permission`` (the accounts
    for ``banking.view_account``, their bookings for ``banking.view_transaction``: both are
    scoped by the account's branch and its primary holder's portfolio), open on
    ``open_on`` when given, as SQL (the keys alone without ``open_on``: empty SQL when the
    viewer reads every account); None without the permission."""
    scope = actor_perm_scope(actor, permission)
    if scope is None:
        return None
    accounts = _nonempty(Account.objects.within_scope(actor, scope)).order_by()
    if open_on is None:
        if not accounts.query.where:
            return "", []  # every account: no condition to add
        return _sql(accounts.annotate(acc_id=F("pk")).values("acc_id"))
    is_open = Q(opened_on__lte=open_on) & (
        Q(closed_on__gt=open_on) | (Q(closed_on__isnull=True) & ~Q(status=Account.Status.CLOSED))
    )
    columns = {
        "acc_id": F("pk"),
        "acc_category": F("product__category"),
        "acc_currency": F("currency"),
        "acc_balance": F("balance"),
    }
    return _sql(accounts.filter(is_open).annotate(**columns).values(*columns))


def _bit_case(column: str, bits: dict[str, int]) -> tuple[str, list[Any]]:
    whens = " ".join("WHEN %s THEN %s" for _code in bits)
    params: list[Any] = []
    for code, bit in bits.items():
        params += [code, bit]
    return f"CASE {column} {whens} ELSE 0 END", params


def _inline() -> str:
    """The hint that keeps PostgreSQL from materialising the customers' expression: inlined
    where it is used, the planner sees the party table's statistics and keys (a hash join
    with the holder roles bank-wide, the portfolio or unit index for a narrow scope) instead
    of probing the roles once per customer. SQLite plans it well either way."""
    return " NOT MATERIALIZED" if connection.vendor == "postgresql" else ""


def _holders_sql(alias: str) -> tuple[str, list[Any]]:
    """``alias`` (account roles) is a holder role of a customer in scope."""
    return (
        f"{alias}.role IN ({_placeholders(HOLDERS)}) "  # noqa: S608  # nosec B608
        f"AND {alias}.party_id IN (SELECT c0.party_key FROM cust c0)",
        list(HOLDERS),
    )


# Numbers each holder row of an account (1 for one of them): the account's balance and
# bookings are counted on row 1 alone, once however many holders it has.
_FIRST_HOLDER = "ROW_NUMBER() OVER (PARTITION BY {account} ORDER BY r.party_id)"


def _holdings_with(
    customers: tuple[str, list[Any]], accounts: tuple[str, list[Any]]
) -> tuple[str, list[Any]]:
    """The common table expressions of the holdings part: ``cust`` (the customers),
    ``hold`` (each holder role of a customer in scope on an open account the viewer may see,
    with its category, currency and stored balance: the roles and accounts are read once),
    ``acc_held`` (those accounts, each once), ``held`` (each customer's distinct category and
    currency pairs) and ``pflags`` (each holder's mask of categories)."""
    holders, holder_params = _holders_sql("r")
    bits, bit_params = _bit_case("h.category", CATEGORY_BITS)
    first = _FIRST_HOLDER.format(account="a.acc_id")
    sql = (
        f"WITH cust AS{_inline()} ({customers[0]}), "  # noqa: S608  # nosec B608
        "hold AS (SELECT r.party_id AS party_id, a.acc_id AS acc_id, a.acc_category AS category, "
        f"a.acc_currency AS currency, a.acc_balance AS balance, {first} AS n "
        f"FROM ({accounts[0]}) a JOIN {_table(AccountRole)} r ON r.account_id = a.acc_id "
        f"WHERE {holders}), "
        "acc_held AS (SELECT h.acc_id, h.category, h.currency, h.balance FROM hold h "
        "WHERE h.n = 1), "
        "held AS (SELECT DISTINCT h.party_id, h.category, h.currency FROM hold h), "
        f"pflags AS (SELECT h.party_id AS party_id, SUM(DISTINCT {bits}) AS mask FROM held h "
        "GROUP BY h.party_id)"
    )
    return sql, [*customers[1], *accounts[1], *holder_params, *bit_params]


def _channels_with(
    customers: tuple[str, list[Any]], accounts: tuple[str, list[Any]], window: ReportWindow
) -> tuple[str, list[Any]]:
    """The common table expressions of the channel part: ``cust``, ``hold`` (each holder
    role of a customer in scope on an account whose bookings the viewer may read), ``txh``
    (the period's bookings on those accounts, one row per holder: the bookings are read
    once, in one pass bank-wide, account by account for a narrow scope), ``chan_use`` (each
    customer's distinct channel and currency pairs) and ``cflags`` (each customer's mask of
    channels)."""
    holders, holder_params = _holders_sql("r")
    readable = f" AND r.account_id IN ({accounts[0]})" if accounts[0] else ""
    # Every channel a booking may carry (the bulk loads accept no other), listed so that
    # the period can be read from the (channel, booking date) index.
    stored = [code for code in CHANNELS if code != UNRECORDED] + [""]
    channel = f"CASE WHEN t.channel = '' THEN '{UNRECORDED}' ELSE t.channel END"
    bits, bit_params = _bit_case("s.channel", CHANNEL_BITS)
    first = _FIRST_HOLDER.format(account="r.account_id")
    sql = (
        f"WITH cust AS{_inline()} ({customers[0]}), "  # noqa: S608  # nosec B608
        f"hold AS (SELECT r.party_id AS party_id, r.account_id AS account_id, {first} AS n "
        f"FROM {_table(AccountRole)} r WHERE {holders}{readable}), "
        f"txh AS (SELECT h.party_id AS party_id, h.n AS n, {channel} AS channel, "
        f"t.currency AS currency, t.amount AS amount FROM {_table(Transaction)} t "
        "JOIN hold h ON h.account_id = t.account_id "
        f"WHERE t.channel IN ({_placeholders(stored)}) "
        "AND t.booking_date >= %s AND t.booking_date <= %s), "
        "chan_use AS (SELECT DISTINCT x.party_id AS party_id, x.channel AS channel, "
        "x.currency AS currency FROM txh x), "
        f"cflags AS (SELECT s.party_id AS party_id, SUM(DISTINCT {bits}) AS mask FROM chan_use s "
        "GROUP BY s.party_id)"
    )
    return sql, [
        *customers[1],
        *holder_params,
        *accounts[1],
        *stored,
        window.period_from,
        window.period_to,
        *bit_params,
    ]


def _run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


# --------------------------------------------------------------------------- masks


def _count_bits(value: int) -> int:
    return bin(value).count("1")


def _products_rule(number: int) -> Callable[[int], bool]:
    if number >= MAX_PRODUCTS:
        return lambda value: _count_bits(value) >= MAX_PRODUCTS
    return lambda value: _count_bits(value) == number


def _cross_rule(category: str, other: str) -> Callable[[int], bool]:
    both = CATEGORY_BITS[category] | CATEGORY_BITS[other]
    return lambda value: value & both == both


def _channel_rule(channel: str) -> Callable[[int], bool]:
    bit = CHANNEL_BITS[channel]
    return lambda value: bool(value & bit)


def _channels_rule(number: int) -> Callable[[int], bool]:
    if number >= MAX_CHANNELS:
        return lambda value: _count_bits(value & CUSTOMER_CHANNEL_MASK) >= MAX_CHANNELS
    return lambda value: _count_bits(value & CUSTOMER_CHANNEL_MASK) == number


def _is_digital_only(value: int) -> bool:
    return bool(value & DIGITAL_MASK) and not value & BRANCH_MASK


def _is_branch_only(value: int) -> bool:
    return bool(value & BRANCH_MASK) and not value & DIGITAL_MASK


def _all_customers(value: int) -> bool:
    return True


def _count(masks: dict[int, int], rule: Callable[[int], bool]) -> int:
    """Customers whose mask passes ``rule``, from the counts per mask."""
    return sum(n for value, n in masks.items() if rule(value))


def _mask_condition(
    column: str, rule: Callable[[int], bool], bits: dict[str, int]
) -> tuple[str, list[Any]]:
    """``column`` (a mask) passes ``rule``: the masks that pass, listed."""
    universe = range(1 << len(bits))
    passing = [value for value in universe if rule(value)]
    if len(passing) == len(universe):
        return "1 = 1", []
    if not passing:
        return "1 = 0", []
    return f"{column} IN ({_placeholders(passing)})", passing


def _decode(value: int, bits: dict[str, int]) -> tuple[str, ...]:
    return tuple(code for code, bit in bits.items() if value & bit)


# --------------------------------------------------------------------------- the report


def _order(codes: Iterable[str], known: tuple[str, ...]) -> dict[str, int]:
    return {code: known.index(code) if code in known else len(known) for code in codes}


def _holdings(
    customers: tuple[str, list[Any]], accounts: tuple[str, list[Any]], as_of: dt.date
) -> Holdings:
    with_sql, params = _holdings_with(customers, accounts)
    kinds = tuple(str(kind) for kind in Transaction.Kind.values)
    balance = _scaled("a.balance")
    sql = (
        f"{with_sql}, later AS (SELECT t.account_id AS account_id, "  # noqa: S608  # nosec B608
        f"SUM({_scaled('t.amount')}) AS later FROM {_table(Transaction)} t "
        f"WHERE t.kind IN ({_placeholders(kinds)}) AND t.booking_date > %s "
        "AND t.account_id IN (SELECT a2.acc_id FROM acc_held a2) GROUP BY t.account_id) "
        "SELECT 'a' AS part, a.category AS k1, a.currency AS k2, "
        "CAST(NULL AS BIGINT) AS mask, COUNT(*) AS n, "
        f"SUM({balance} - COALESCE(l.later, 0)) AS amount "
        "FROM acc_held a LEFT JOIN later l ON l.account_id = a.acc_id "
        "GROUP BY a.category, a.currency "
        "UNION ALL SELECT 'h', h.category, h.currency, NULL, COUNT(*), NULL FROM held h "
        "GROUP BY h.category, h.currency "
        "UNION ALL SELECT 'm', NULL, NULL, COALESCE(f.mask, 0), COUNT(*), NULL "
        "FROM cust c LEFT JOIN pflags f ON f.party_id = c.party_key GROUP BY COALESCE(f.mask, 0)"
    )
    rows = _run(sql, [*params, *kinds, as_of])
    accounts_by: dict[tuple[str, str], tuple[int, Decimal]] = {}
    holders_by: dict[tuple[str, str], int] = {}
    masks: dict[int, int] = {}
    for part, key1, key2, value, n, amount in rows:
        if part == "a":
            accounts_by[(str(key1), str(key2))] = (int(n), _amount(amount))
        elif part == "h":
            holders_by[(str(key1), str(key2))] = int(n)
        else:
            masks[int(value or 0)] = masks.get(int(value or 0), 0) + int(n)
    order = _order((key[0] for key in accounts_by), CATEGORIES)
    lines = [
        HoldingLine(
            category=key[0],
            currency=key[1],
            accounts=count,
            holders=holders_by.get(key, 0),
            balance=amount,
        )
        for key, (count, amount) in sorted(
            accounts_by.items(), key=lambda item: (order[item[0][0]], item[0])
        )
    ]
    total = sum(masks.values())
    buckets = [
        CountBucket(
            number=number,
            label=products_label(number),
            customers=(count := _count(masks, _products_rule(number))),
            share=_share(count, total),
        )
        for number in range(MAX_PRODUCTS + 1)
    ]
    matrix = [
        CrossRow(
            category=category,
            cells=[
                CrossCell(category, other, _count(masks, _cross_rule(category, other)))
                for other in CATEGORIES
            ],
        )
        for category in CATEGORIES
    ]
    return Holdings(
        customers=total,
        lines=lines,
        buckets=buckets,
        matrix=matrix,
        category_holdings=sum(_count_bits(value) * n for value, n in masks.items()),
    )


def _channel_usage(
    customers: tuple[str, list[Any]], accounts: tuple[str, list[Any]], window: ReportWindow
) -> ChannelUsage:
    with_sql, params = _channels_with(customers, accounts, window)
    amount = _scaled("x.amount")
    sql = (
        f"{with_sql} SELECT 'c' AS part, x.channel AS k1, x.currency AS k2, "  # noqa: S608  # nosec B608
        "CAST(NULL AS BIGINT) AS mask, COUNT(*) AS n, "
        f"SUM(CASE WHEN x.amount > 0 THEN {amount} ELSE 0 END) AS amount_in, "
        f"SUM(CASE WHEN x.amount < 0 THEN -{amount} ELSE 0 END) AS amount_out "
        "FROM txh x WHERE x.n = 1 GROUP BY x.channel, x.currency "
        "UNION ALL SELECT 'h', s.channel, s.currency, NULL, COUNT(*), NULL, NULL FROM chan_use s "
        "GROUP BY s.channel, s.currency "
        "UNION ALL SELECT 'm', NULL, NULL, COALESCE(f.mask, 0), COUNT(*), NULL, NULL "
        "FROM cust c LEFT JOIN cflags f ON f.party_id = c.party_key GROUP BY COALESCE(f.mask, 0)"
    )
    rows = _run(sql, params)
    bookings: dict[tuple[str, str], tuple[int, Decimal, Decimal]] = {}
    users: dict[tuple[str, str], int] = {}
    masks: dict[int, int] = {}
    for part, key1, key2, value, n, money_in, money_out in rows:
        if part == "c":
            bookings[(str(key1), str(key2))] = (int(n), _amount(money_in), _amount(money_out))
        elif part == "h":
            users[(str(key1), str(key2))] = int(n)
        else:
            masks[int(value or 0)] = masks.get(int(value or 0), 0) + int(n)
    lines = []
    for channel in CHANNELS:
        line = ChannelLine(channel=channel, customers=_count(masks, _channel_rule(channel)))
        for (code, currency), (count, money_in, money_out) in sorted(bookings.items()):
            if code == channel:
                line.currencies.append(
                    ChannelCurrency(
                        currency=currency,
                        customers=users.get((code, currency), 0),
                        bookings=count,
                        money_in=money_in,
                        money_out=money_out,
                    )
                )
        lines.append(line)
    total = sum(masks.values())
    buckets = [
        CountBucket(
            number=number,
            label=channels_label(number),
            customers=(count := _count(masks, _channels_rule(number))),
            share=_share(count, total),
        )
        for number in range(MAX_CHANNELS + 1)
    ]
    return ChannelUsage(
        period_from=window.period_from,
        period_to=window.period_to,
        customers=total,
        lines=lines,
        buckets=buckets,
        digital_only=_count(masks, _is_digital_only),
        branch_only=_count(masks, _is_branch_only),
    )


def _customer_count(actor: Any, unit: OrgUnit | None, segment: str | None) -> int:
    customers = _customers(actor, unit, segment)
    if customers is None:
        return 0
    return int(_run(f"SELECT COUNT(*) FROM ({customers[0]}) c", customers[1])[0][0])  # noqa: S608  # nosec B608


def product_holding_report(
    *,
    actor: Any,
    as_of: dt.date | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    unit: OrgUnit | None = None,
    segment: str | None = None,
) -> ProductHoldingReport:
    """The product holdings on ``as_of`` (default today) and the channel usage from
    ``period_from`` to ``period_to`` (default the last 90 days) of the active and dormant
    customers ``actor`` may see (of ``unit`` and below it, of ``segment``, when given). A
    part whose records the actor may not read is None. ValidationError naming ``as_of``,
    ``period_from``, ``period_to`` or ``segment``."""
    window = _check(as_of, period_from, period_to, segment)
    customers = _customers(actor, unit, segment)
    holdings = channels = None
    count: int | None = None
    if customers is not None:
        accounts = _accounts(actor, ACCOUNT_PERMISSION, window.as_of)
        if accounts is not None:
            holdings = _holdings(customers, accounts, window.as_of)
            count = holdings.customers
        booked = _accounts(actor, TRANSACTION_PERMISSION, None)
        if booked is not None:
            channels = _channel_usage(customers, booked, window)
            count = channels.customers
        if count is None:
            count = _customer_count(actor, unit, segment)
    return ProductHoldingReport(
        as_of=window.as_of,
        period_from=window.period_from,
        period_to=window.period_to,
        unit=unit,
        segment=segment or None,
        customers=count,
        holdings=holdings,
        channels=channels,
    )


# --------------------------------------------------------------------------- the lists


def _invalid(name: str, message: str) -> ValidationError:
    return ValidationError({name: [message]}, code="invalid")


def _choose(name: str, value: str | None, choices: Iterable[str]) -> str:
    options = list(choices)
    if value not in options:
        raise _invalid(
            name, _("Choose one of %(choices)s.") % {"choices": ", ".join(options) or "—"}
        )
    return str(value)


def _number(value: int | None, largest: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= largest:
        raise _invalid("number", _("Enter a whole number from 0 to %(max)s.") % {"max": largest})
    return value


def _list_condition(
    kind: str,
    *,
    category: str | None,
    other: str | None,
    currency: str | None,
    channel: str | None,
    number: int | None,
) -> tuple[str, list[Any]]:
    """The WHERE condition (over ``cust c`` joined to the flags ``f``) of the customers
    behind a figure; ValidationError naming each bad argument."""
    flags = "COALESCE(f.mask, 0)"
    if kind == "holding":
        if not category or len(category) > 20:
            raise _invalid("category", _("Choose a product category."))
        if not currency or not _CURRENCY.match(currency):
            raise _invalid("currency", _("Enter a three-letter currency code."))
        return (
            "c.party_key IN (SELECT h.party_id FROM held h "
            "WHERE h.category = %s AND h.currency = %s)",
            [category, currency],
        )
    if kind == "products":
        count = _number(number, MAX_PRODUCTS)
        rule = _all_customers if count is None else _products_rule(count)
        return _mask_condition(flags, rule, CATEGORY_BITS)
    if kind == "cross":
        first = _choose("category", category, CATEGORIES)
        second = _choose("other", other or first, CATEGORIES)
        return _mask_condition(flags, _cross_rule(first, second), CATEGORY_BITS)
    if kind == "channel":
        code = _choose("channel", channel, CHANNELS)
        if currency:
            if not _CURRENCY.match(currency):
                raise _invalid("currency", _("Enter a three-letter currency code."))
            return (
                "c.party_key IN (SELECT s.party_id FROM chan_use s "
                "WHERE s.channel = %s AND s.currency = %s)",
                [code, currency],
            )
        return _mask_condition(flags, _channel_rule(code), CHANNEL_BITS)
    if kind == "channels":
        count = _number(number, MAX_CHANNELS)
        rule = _all_customers if count is None else _channels_rule(count)
        return _mask_condition(flags, rule, CHANNEL_BITS)
    if kind == "digital_only":
        return _mask_condition(flags, _is_digital_only, CHANNEL_BITS)
    return _mask_condition(flags, _is_branch_only, CHANNEL_BITS)


def _party_key(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def product_holding_customer_list(
    *,
    actor: Any,
    kind: str,
    as_of: dt.date | None = None,
    period_from: dt.date | None = None,
    period_to: dt.date | None = None,
    unit: OrgUnit | None = None,
    segment: str | None = None,
    category: str | None = None,
    other: str | None = None,
    currency: str | None = None,
    channel: str | None = None,
    number: int | None = None,
    limit: int | None = LIST_LIMIT,
) -> list[HoldingCustomer]:
    """The customers behind one figure of the report, by name (masked), at most ``limit``
    (None: all):

    * ``holding``: holding an open account of ``category`` in ``currency``;
    * ``products``: holding ``number`` distinct categories (4: four or more; None: every
      customer in scope);
    * ``cross``: holding both ``category`` and ``other`` (``category`` alone when equal);
    * ``channel``: holding an account booked through ``channel`` in the period (in
      ``currency`` when given);
    * ``channels``: having used ``number`` channels (3: three or more; None: every
      customer in scope);
    * ``digital_only``, ``branch_only``.

    ValidationError naming each bad argument; PermissionDenied when the figure's part is
    out of the actor's reach."""
    if kind not in KINDS:
        raise _invalid("kind", _("Choose one of %(choices)s.") % {"choices": ", ".join(KINDS)})
    window = _check(as_of, period_from, period_to, segment)
    condition, condition_params = _list_condition(
        kind, category=category, other=other, currency=currency, channel=channel, number=number
    )
    customers = _customers(actor, unit, segment, names=True)
    is_holding = kind in HOLDING_KINDS
    if is_holding:
        accounts = _accounts(actor, ACCOUNT_PERMISSION, window.as_of)
    else:
        accounts = _accounts(actor, TRANSACTION_PERMISSION, None)
    if customers is None or accounts is None:
        raise PermissionDenied(_("These figures are not in your reach."))
    if is_holding:
        with_sql, params = _holdings_with(customers, accounts)
        flags = "pflags"
    else:
        with_sql, params = _channels_with(customers, accounts, window)
        flags = "cflags"
    sql = (
        f"{with_sql} SELECT c.party_key, c.party_name, c.party_unit, c.party_segment, "  # noqa: S608  # nosec B608
        f"c.party_status, COALESCE(f.mask, 0) FROM cust c "
        f"LEFT JOIN {flags} f ON f.party_id = c.party_key WHERE {condition} "
        "ORDER BY c.party_name, c.party_key"
    )
    params = [*params, *condition_params]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    rows = _run(sql, params)
    segment_names = dict(Party.Segment.choices)
    status_names = dict(Party.Status.choices)
    return [
        HoldingCustomer(
            party_pk=_party_key(row[0]),
            display_name=mask(str(row[1] or ""), "name"),
            unit=str(row[2] or ""),
            segment=str(segment_names.get(row[3], row[3])),
            status=str(status_names.get(row[4], row[4])),
            categories=_decode(int(row[5]), CATEGORY_BITS) if is_holding else (),
            channels=() if is_holding else _decode(int(row[5]), CHANNEL_BITS),
        )
        for row in rows
    ]


__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "CHANNEL_KINDS",
    "CUSTOMER_CHANNELS",
    "DEFAULT_PERIOD_DAYS",
    "DIGITAL_CHANNELS",
    "HOLDING_KINDS",
    "KINDS",
    "KIND_TITLES",
    "LIST_LIMIT",
    "MAX_CHANNELS",
    "MAX_PERIOD_DAYS",
    "MAX_PRODUCTS",
    "UNRECORDED",
    "ChannelCurrency",
    "ChannelLine",
    "ChannelUsage",
    "CountBucket",
    "CrossCell",
    "CrossRow",
    "HoldingCustomer",
    "HoldingLine",
    "Holdings",
    "ProductHoldingReport",
    "ReportWindow",
    "category_label",
    "channel_label",
    "channels_label",
    "product_holding_customer_list",
    "product_holding_report",
    "product_holding_unit",
    "product_holding_units",
    "product_holding_window",
    "products_label",
]
