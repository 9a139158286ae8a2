"""The risk early-warning report: warning signals on the customers a viewer may see.

Seven signals, each computed by ONE aggregate SQL statement over the viewer's customers
(never a loop per customer in Python), on SQLite and PostgreSQL alike:

* ``balance_drop``: a customer's deposit balance in one currency fell by more than a share
  and by more than an amount over the window (the balance then is today's stored balance
  less the bookings since; currencies are never added together);
* ``salary_stopped``: salary credited in each of the calendar months before the last
  weeks, none in those weeks;
* ``large_outflow``: money out of the deposit accounts in the last days above an amount or
  above a share of the balance they started with;
* ``dormant_reactivated``: a deposit account booked in the window after a year or more
  without a booking of the customer's own;
* ``delinquency_migration``: an open loan that moved to a worse delinquency bucket in the
  window and is still worse than the bucket it left;
* ``kyc_review_due``: the customer's periodic KYC review due within the horizon or overdue;
* ``document_expiring``: the customer's latest identity document of a kind expires within
  the horizon or has expired.

Scope: a customer is in the report when the viewer may see them
(``Party.objects.visible_to``) and they are not closed; each signal's records must also be
visible to the viewer under that module's own permission and scope (accounts and their
transactions, loans, KYC profiles, identifiers). A signal whose records the viewer may not
read is left out (its count is None), never shown empty by mistake.

How the statements stay fast (bank-wide, a window of bookings is read once from the
(type, booking date) index; for a relationship manager, account by account from the
(account, booking date) index) is told in docs/analytics.md, "Risk early warnings".

Amount thresholds are in the bank's base currency; a figure in another currency is compared
with the threshold converted at that currency's latest rate on or before the as-of day (as
it stands when no rate is known).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.models import OrgUnit, Portfolio, Role
from bankcrm.access.permissions import (
    actor_has_perm,
    actor_perm_scope,
    actor_scope_key,
    actor_unit_paths,
)
from bankcrm.access.querysets import unit_path_lookup
from bankcrm.banking.models import (
    HOLDER_ROLES,
    Account,
    AccountRole,
    FxRate,
    Product,
    Transaction,
)
from bankcrm.banking.selectors import base_currency
from bankcrm.compliance.models import KycProfile
from bankcrm.compliance.models.kyc import RiskBand
from bankcrm.core.actor import SystemActor
from bankcrm.core.masking import mask
from bankcrm.core.money import Money, format_money
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Identifier, Party
from bankcrm.lending.models import BUCKET_RANK, Bucket, DelinquencyChange, Loan

from .rfm import BANK_BOOKED_KINDS

CENT = Decimal("0.01")
PAGE_SIZE = 50
DASHBOARD_LIMIT = 10
# Identity documents that lapse (as the compliance module's expiry reminders read them).
EXPIRING_DOCUMENT_TYPES = (
    Identifier.Type.CN_RESIDENT_ID,
    Identifier.Type.PASSPORT,
    Identifier.Type.BUSINESS_LICENCE,
)


# --------------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of the signals, with the day they are computed for."""

    as_of: dt.date
    # Balance drop, dormant reactivation and delinquency migration look back this far.
    window_days: int = 30
    drop_percent: int = 50
    drop_amount: Decimal = Decimal("10000")
    outflow_days: int = 7
    outflow_amount: Decimal = Decimal("100000")
    outflow_percent: int = 50
    salary_days: int = 35
    salary_months: int = 3
    dormant_months: int = 12
    due_days: int = 30

    @property
    def dormant_days(self) -> int:
        """The dormancy in days: a month is 365/12 days (12 months: 365 days)."""
        return self.dormant_months * 365 // 12

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            **{name: getattr(self, name) for name in THRESHOLD_BOUNDS},
        }


# Each threshold's bounds (inclusive): what the filters accept.
THRESHOLD_BOUNDS: dict[str, tuple[Any, Any]] = {
    "window_days": (7, 366),
    "drop_percent": (1, 100),
    "drop_amount": (Decimal(0), Decimal("1000000000000")),
    "outflow_days": (1, 31),
    "outflow_amount": (Decimal(0), Decimal("1000000000000")),
    "outflow_percent": (1, 100),
    "salary_days": (28, 92),
    "salary_months": (1, 12),
    "dormant_months": (3, 120),
    "due_days": (0, 366),
}


def default_thresholds(as_of: dt.date | None = None) -> Thresholds:
    """The report's default thresholds as of ``as_of`` (default today)."""
    return Thresholds(as_of=as_of or bank_today())


def thresholds_check(thresholds: Thresholds) -> Thresholds:
    """``thresholds`` when each lies within its bounds; ValidationError naming each one that
    does not."""
    errors: dict[str, list[str]] = {}
    for name, (low, high) in THRESHOLD_BOUNDS.items():
        value = getattr(thresholds, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | Decimal)
            or not (low <= value <= high)
        ):
            errors[name] = [
                _("Enter a number from %(low)s to %(high)s.") % {"low": low, "high": high}
            ]
    if not isinstance(thresholds.as_of, dt.date) or isinstance(thresholds.as_of, dt.datetime):
        errors["as_of"] = [_("Enter a date.")]
    if errors:
        raise ValidationError(errors, code="invalid")
    return thresholds


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class Signal:
    """One kind of warning: its code, name, the permissions its records need, and how
    its definition reads with the thresholds in force."""

    code: str
    name: Any
    permissions: tuple[str, ...]
    # "newest" (the latest observation first) or "soonest" (the earliest due date first).
    order: str

    def definition(self, thresholds: Thresholds, currency: str) -> str:
        return DEFINITIONS[self.code](thresholds, currency)


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "balance_drop",
        gettext_lazy("Balance drop"),
        ("banking.view_account", "banking.view_transaction"),
        "newest",
    ),
    Signal(
        "salary_stopped",
        gettext_lazy("Salary stopped"),
        ("banking.view_account", "banking.view_transaction"),
        "newest",
    ),
    Signal(
        "large_outflow",
        gettext_lazy("Large outflows"),
        ("banking.view_account", "banking.view_transaction"),
        "newest",
    ),
    Signal(
        "dormant_reactivated",
        gettext_lazy("Dormant account reactivated"),
        ("banking.view_account", "banking.view_transaction"),
        "newest",
    ),
    Signal(
        "delinquency_migration",
        gettext_lazy("Delinquency migration"),
        ("lending.view_loan", "lending.view_delinquencychange"),
        "newest",
    ),
    Signal(
        "kyc_review_due",
        gettext_lazy("KYC review due"),
        ("compliance.view_kycprofile",),
        "soonest",
    ),
    Signal(
        "document_expiring",
        gettext_lazy("Identity document expiring"),
        ("customers.view_identifier",),
        "soonest",
    ),
)
SIGNAL_CODES = tuple(signal.code for signal in SIGNALS)
SIGNALS_BY_CODE = {signal.code: signal for signal in SIGNALS}


def _amount_text(value: Decimal) -> str:
    return f"{value:,}"


DEFINITIONS: dict[str, Callable[[Thresholds, str], str]] = {
    "balance_drop": lambda t, currency: (
        _(
            "The deposit balance in one currency fell by more than %(percent)s%% and by more "
            "than %(amount)s %(currency)s over the last %(days)s days."
        )
        % {
            "percent": t.drop_percent,
            "amount": _amount_text(t.drop_amount),
            "currency": currency,
            "days": t.window_days,
        }
    ),
    "salary_stopped": lambda t, _currency: (
        _(
            "Salary credited in each of the %(months)s calendar months before the last "
            "%(days)s days, and none in those %(days)s days."
        )
        % {"months": t.salary_months, "days": t.salary_days}
    ),
    "large_outflow": lambda t, currency: (
        _(
            "Money out of the deposit accounts in the last %(days)s days above %(amount)s "
            "%(currency)s, or above %(percent)s%% of the balance they started with."
        )
        % {
            "days": t.outflow_days,
            "amount": _amount_text(t.outflow_amount),
            "currency": currency,
            "percent": t.outflow_percent,
        }
    ),
    "dormant_reactivated": lambda t, _currency: (
        _(
            "A deposit account booked in the last %(days)s days after at least %(months)s "
            "months (%(dormant)s days) without a booking of the customer's own."
        )
        % {"days": t.window_days, "months": t.dormant_months, "dormant": t.dormant_days}
    ),
    "delinquency_migration": lambda t, _currency: (
        _(
            "An open loan that moved to a worse delinquency bucket in the last %(days)s days "
            "and is still in a worse bucket than the one it left."
        )
        % {"days": t.window_days}
    ),
    "kyc_review_due": lambda t, _currency: (
        _("The periodic KYC review falls due within %(days)s days or is overdue.")
        % {"days": t.due_days}
    ),
    "document_expiring": lambda t, _currency: (
        _(
            "The customer's latest resident ID card, passport or business licence expires "
            "within %(days)s days or has expired."
        )
        % {"days": t.due_days}
    ),
}


# --------------------------------------------------------------------------- results


@dataclass
class EarlyWarning:
    """One warning on one customer: what was observed, when, and who looks after them."""

    signal: str
    party_pk: str
    customer: str  # masked, as lists show names
    observed_on: dt.date
    reference: str  # the account (last four digits), loan, document type or risk band
    currency: str
    amount: Decimal | None  # the signal's main figure
    before: Decimal | None
    after: Decimal | None
    percent: Decimal | None
    observation: str
    relationship_manager: str
    branch: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def signal_name(self) -> str:
        return str(SIGNALS_BY_CODE[self.signal].name)

    def as_dict(self) -> dict[str, Any]:
        def text(value: Any) -> Any:
            return None if value is None else str(value)

        return {
            "signal": self.signal,
            "party": self.party_pk,
            "customer": self.customer,
            "observed_on": self.observed_on.isoformat(),
            "reference": self.reference,
            "currency": self.currency,
            "amount": text(self.amount),
            "before": text(self.before),
            "after": text(self.after),
            "percent": text(self.percent),
            "observation": self.observation,
            "relationship_manager": self.relationship_manager,
            "branch": self.branch,
        }


@dataclass
class EarlyWarningReport:
    """The counts per signal (None: the viewer may not read that signal's records) and
    one page of warnings, in signal order, each signal's rows in its own order."""

    thresholds: Thresholds
    currency: str
    signal: str | None
    counts: dict[str, int | None]
    rows: list[EarlyWarning]
    page: int
    page_size: int
    total: int
    definitions: list[dict[str, Any]]
    # When the account-based signals were read from the nightly run: the run's end.
    computed_at: dt.datetime | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def unavailable(self) -> list[str]:
        return [str(SIGNALS_BY_CODE[code].name) for code, n in self.counts.items() if n is None]


# --------------------------------------------------------------------------- SQL helpers


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _placeholders(values: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(values))


def _number() -> str:
    """A numeric parameter (SQLite would compare a text parameter as text)."""
    return "CAST(%s AS NUMERIC)"


def _day_param() -> str:
    """A date parameter selected as a column."""
    return "CAST(%s AS date)" if connection.vendor == "postgresql" else "%s"


def _days_between(start: str, end: str) -> str:
    """Whole days from ``start`` to ``end`` (two date expressions)."""
    if connection.vendor == "postgresql":
        return f"(CAST({end} AS date) - CAST({start} AS date))"
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)"


def _compiled(queryset: QuerySet) -> tuple[str, list[Any]] | None:
    """The SQL of ``queryset`` (a one-column ``values``), or None when it selects nothing."""
    try:
        sql, params = queryset.query.sql_with_params()
    except EmptyResultSet:
        return None
    return sql, list(params)


def _restriction(queryset: QuerySet) -> tuple[str, list[Any]] | None:
    """``queryset``'s keys as SQL when a scope narrows it; ("", []) when it holds every row;
    None when it holds none."""
    if not queryset.query.where:
        return "", []
    return _compiled(queryset.order_by().values("pk"))


@dataclass(frozen=True)
class _Condition:
    """A condition (SQL and parameters) on a customer key column."""

    sql: str
    params: list[Any]


def _not_closed(column: str) -> _Condition:
    """``column`` (a customer key) is not one of the closed customers'."""
    closed = Party.objects.filter(status=Party.Status.CLOSED).order_by().values("pk")
    sql, params = closed.query.sql_with_params()
    return _Condition(f"{column} NOT IN ({sql})", list(params))


@dataclass
class _Scope:
    """What one actor sees, as SQL: the customers (per permission) and the restrictions of
    the accounts and loans."""

    actor: Any
    unit: OrgUnit | None

    def customers(self, column: str, permission: str | None = None) -> _Condition | None:
        """``column`` (a customer key) among the customers the actor may see who are not
        closed (within ``unit``, and within the scope under which the actor holds
        ``permission``); None when the actor may see none. Bank-wide this is the cheaper
        "not one of the closed customers"."""
        customer_scope = actor_perm_scope(self.actor, "customers.view_party")
        if customer_scope is None:
            return None
        visible = Party.objects.visible_to(self.actor)
        if permission is not None:
            scope = actor_perm_scope(self.actor, permission)
            if scope is None:
                return None
            if scope != customer_scope:
                visible = visible.within_scope(self.actor, scope)
        if self.unit is not None:
            visible = visible.filter(owning_unit__path__startswith=self.unit.path)
        if not visible.query.where:
            return _not_closed(column)
        compiled = _compiled(visible.exclude(status=Party.Status.CLOSED).order_by().values("pk"))
        if compiled is None:
            return None
        return _Condition(f"{column} IN ({compiled[0]})", compiled[1])

    @property
    def is_portfolio(self) -> bool:
        """Whether the actor sees the customers of their portfolios only (a few thousand at
        most: their bookings are best read account by account)."""
        return actor_perm_scope(self.actor, "customers.view_party") == Role.DataScope.PORTFOLIO

    def accounts(self) -> tuple[str, list[Any]] | None:
        return _restriction(Account.objects.visible_to(self.actor))

    def loans(self) -> tuple[str, list[Any]] | None:
        return _restriction(Loan.objects.visible_to(self.actor))


@dataclass
class _RunScope(_Scope):
    """What a stored run reads: every customer who is not closed (the viewer's customers are
    chosen when the run is read) and the accounts of ``account_scope`` ("" the whole bank,
    else the accounts of the branches under that unit path), read window by window."""

    account_scope: str = ""

    def customers(self, column: str, permission: str | None = None) -> _Condition | None:
        return _not_closed(column)

    @property
    def is_portfolio(self) -> bool:
        return False

    def accounts(self) -> tuple[str, list[Any]] | None:
        if not self.account_scope:
            return "", []
        lookup = f"{unit_path_lookup(Account)}__startswith"
        return _restriction(Account.objects.filter(**{lookup: self.account_scope}))


@dataclass
class _Statement:
    """A signal's statement: its SQL (the standard columns below) and parameters."""

    sql: str
    params: list[Any]


# Every signal's statement selects these columns, in this order.
COLUMNS = (
    "party_id",
    "observed_on",
    "ref",
    "currency",
    "amount",
    "before_amount",
    "after_amount",
    "other_on",
    "code_a",
    "code_b",
    "number",
    "row_key",
)

# Every type of booking (the bulk loads accept no other), and those of the customer's own
# (not interest and fees, which the bank books itself): listed, so that a window of bookings
# is read from the (type, booking date) index rather than from the whole table.
ALL_KINDS = tuple(str(kind) for kind in Transaction.Kind.values)
CUSTOMER_KINDS = tuple(kind for kind in ALL_KINDS if kind not in BANK_BOOKED_KINDS)
HOLDERS = tuple(str(role) for role in HOLDER_ROLES)


def _holder_join(alias: str, on: str, party: _Condition | None = None) -> tuple[str, list[Any]]:
    """``JOIN`` the account roles of holders (owner or joint owner) as ``alias`` on ``on``,
    each customer once per account (a joint-owner role beside an owner role is left out),
    and within ``party`` when given."""
    roles = _table(AccountRole)
    sql = (
        f" JOIN {roles} {alias} ON {on} AND {alias}.role IN ({_placeholders(HOLDERS)}) "  # noqa: S608  # nosec B608
        f"AND ({alias}.role = %s OR NOT EXISTS (SELECT 1 FROM {roles} {alias}o "
        f"WHERE {alias}o.account_id = {alias}.account_id AND {alias}o.party_id = {alias}.party_id "
        f"AND {alias}o.role = %s))"
    )
    params: list[Any] = [*HOLDERS, HOLDERS[0], HOLDERS[0]]
    if party is not None:
        sql += f" AND {party.sql}"
        params += party.params
    return sql, params


def _held_by(column: str, scope: _Scope) -> tuple[str, list[Any]] | None:
    """`` AND column IN (the accounts the visible customers hold)`` for a relationship
    manager (a portfolio's bookings are read account by account from the (account, booking
    date) index); nothing for a unit or the bank, whose window of bookings is read from the
    (type, booking date) index at once."""
    party = scope.customers("h0.party_id")
    if party is None:
        return None
    if not scope.is_portfolio:
        return "", []
    sql = (
        f" AND {column} IN (SELECT h0.account_id FROM {_table(AccountRole)} h0 "  # noqa: S608  # nosec B608
        f"WHERE h0.role IN ({_placeholders(HOLDERS)}) AND {party.sql})"
    )
    return sql, [*HOLDERS, *party.params]


def _account_filter(alias: str, scope: _Scope) -> tuple[str, list[Any]] | None:
    restriction = scope.accounts()
    if restriction is None:
        return None
    sql, params = restriction
    return (f" AND {alias}.id IN ({sql})" if sql else ""), params


def _threshold_case(column: str, amount: Decimal, rates: dict[str, Decimal]) -> tuple[str, list]:
    """``amount`` (base currency) in the currency held in ``column``: converted at each
    currency's rate, as it stands for the base currency and currencies without a rate."""
    whens, params = [], []
    for currency, rate in sorted(rates.items()):
        whens.append(f"WHEN %s THEN {_number()}")
        params += [currency, (amount / rate).quantize(Decimal("0.0001"))]
    if not whens:
        return _number(), [amount]
    return f"(CASE {column} {' '.join(whens)} ELSE {_number()} END)", [*params, amount]


# --------------------------------------------------------------------------- the statements


def _deposit_movements(
    scope: _Scope, t: Thresholds, start: dt.date, *, outflow: bool, prefilter: tuple[str, list]
) -> tuple[str, list[Any]] | None:
    """Per customer and currency whose deposit accounts booked after ``start``: the bookings
    after ``start`` and after the as-of day (and, with ``outflow``, the money out up to the
    as-of day and its last day), kept when ``prefilter`` (over the grouped rows) holds, with
    the balance of all their deposit accounts in that currency.

    Read in three steps inside one statement: the window's bookings per account (from the
    (type, booking date) index bank-wide, account by account for a narrowed scope), the
    customers and currencies that pass the prefilter, then only their accounts' balances."""
    party = scope.customers("r.party_id")
    held = _held_by("t.account_id", scope)
    accounts = _account_filter("a", scope)
    accounts2 = _account_filter("a2", scope)
    if party is None or held is None or accounts is None or accounts2 is None:
        return None
    columns = (
        "SUM(t.amount) AS after_start, "
        "SUM(CASE WHEN t.booking_date > %s THEN t.amount ELSE 0 END) AS after_end"
    )
    column_params: list[Any] = [t.as_of]
    moved_columns = "SUM(f.after_start) AS after_start, SUM(f.after_end) AS after_end"
    kept = "m.after_start, m.after_end"
    if outflow:
        is_out = (
            f"t.booking_date <= %s AND t.direction = %s "
            f"AND t.kind IN ({_placeholders(CUSTOMER_KINDS)})"
        )
        out_params = [t.as_of, Transaction.Direction.DEBIT.value, *CUSTOMER_KINDS]
        columns += (
            f", SUM(CASE WHEN {is_out} THEN -t.amount ELSE 0 END) AS outflow, "
            f"MAX(CASE WHEN {is_out} THEN t.booking_date END) AS last_out"
        )
        column_params += [*out_params, *out_params]
        moved_columns += ", SUM(f.outflow) AS outflow, MAX(f.last_out) AS last_out"
        kept += ", m.outflow, m.last_out"
    flows = (
        f"SELECT t.account_id AS account_id, {columns} "  # noqa: S608  # nosec B608
        f"FROM {_table(Transaction)} t "
        f"WHERE t.kind IN ({_placeholders(ALL_KINDS)}) AND t.booking_date > %s{held[0]} "
        "GROUP BY t.account_id"
    )
    flow_params = [*column_params, *ALL_KINDS, start, *held[1]]
    holders, holder_params = _holder_join("r", "r.account_id = a.id", party)
    moved = (
        f"SELECT r.party_id AS party_id, a.currency AS currency, {moved_columns} "  # noqa: S608  # nosec B608
        f"FROM ({flows}) f JOIN {_table(Account)} a ON a.id = f.account_id "
        f"JOIN {_table(Product)} pr ON pr.id = a.product_id{holders} "
        f"WHERE pr.is_liability = %s AND a.opened_on <= %s{accounts[0]} "
        f"GROUP BY r.party_id, a.currency HAVING {prefilter[0]}"
    )
    moved_params = [
        *flow_params,
        *holder_params,
        False,
        t.as_of,
        *accounts[1],
        *prefilter[1],
    ]
    holders2, holder2_params = _holder_join("r2", "r2.party_id = m.party_id")
    sql = (
        f"SELECT m.party_id AS party_id, m.currency AS currency, {kept}, "  # noqa: S608  # nosec B608
        "SUM(a2.balance) AS balance "
        f"FROM ({moved}) m{holders2} "
        f"JOIN {_table(Account)} a2 ON a2.id = r2.account_id AND a2.currency = m.currency "
        f"JOIN {_table(Product)} pr2 ON pr2.id = a2.product_id "
        f"WHERE pr2.is_liability = %s AND a2.opened_on <= %s{accounts2[0]} "
        f"GROUP BY m.party_id, m.currency, {kept}"
    )
    return sql, [*moved_params, *holder2_params, False, t.as_of, *accounts2[1]]


def _balance_drop(scope: _Scope, t: Thresholds, rates: dict[str, Decimal]) -> _Statement | None:
    start = t.as_of - dt.timedelta(days=t.window_days)
    threshold, threshold_params = _threshold_case("a.currency", t.drop_amount, rates)
    # The drop over the window is the window's bookings, sign turned: it must pass the amount
    # before the balances are read.
    prefilter = (f"SUM(f.after_end) - SUM(f.after_start) > {threshold}", threshold_params)
    totals = _deposit_movements(scope, t, start, outflow=False, prefilter=prefilter)
    if totals is None:
        return None
    before = "(b.balance - b.after_start)"
    drop = "(b.after_end - b.after_start)"
    sql = (
        f"SELECT b.party_id AS party_id, {_day_param()} AS observed_on, NULL AS ref, "  # noqa: S608  # nosec B608
        f"b.currency AS currency, {drop} AS amount, {before} AS before_amount, "
        f"(b.balance - b.after_end) AS after_amount, {_day_param()} AS other_on, "
        "NULL AS code_a, NULL AS code_b, NULL AS number, b.currency AS row_key "
        f"FROM ({totals[0]}) b WHERE {before} > 0 AND {drop} * 100 > {_number()} * {before}"
    )
    return _Statement(sql, [t.as_of, start, *totals[1], Decimal(t.drop_percent)])


def _large_outflow(scope: _Scope, t: Thresholds, rates: dict[str, Decimal]) -> _Statement | None:
    start = t.as_of - dt.timedelta(days=t.outflow_days)
    totals = _deposit_movements(scope, t, start, outflow=True, prefilter=("SUM(f.outflow) > 0", []))
    if totals is None:
        return None
    before = "(b.balance - b.after_start)"
    threshold, threshold_params = _threshold_case("b.currency", t.outflow_amount, rates)
    sql = (
        "SELECT b.party_id AS party_id, b.last_out AS observed_on, NULL AS ref, "  # noqa: S608  # nosec B608
        f"b.currency AS currency, b.outflow AS amount, {before} AS before_amount, "
        f"(b.balance - b.after_end) AS after_amount, {_day_param()} AS other_on, "
        "NULL AS code_a, NULL AS code_b, NULL AS number, b.currency AS row_key "
        f"FROM ({totals[0]}) b WHERE b.outflow > {threshold} "
        f"OR ({before} > 0 AND b.outflow * 100 > {_number()} * {before})"
    )
    return _Statement(sql, [start, *totals[1], *threshold_params, Decimal(t.outflow_percent)])


def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    """The first day of the calendar month ``months_back`` months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def salary_months(t: Thresholds) -> list[tuple[dt.date, dt.date]]:
    """The calendar months that must each hold a salary: the ``salary_months`` months before
    the one in which the last ``salary_days`` days begin, as (first day, next first day)."""
    recent_first = t.as_of - dt.timedelta(days=t.salary_days - 1)
    return [
        (month_start(recent_first, back), month_start(recent_first, back - 1))
        for back in range(t.salary_months, 0, -1)
    ]


def _salary_stopped(scope: _Scope, t: Thresholds) -> _Statement | None:
    party = scope.customers("r.party_id")
    held = _held_by("t.account_id", scope)
    accounts = _account_filter("a", scope)
    if party is None or held is None or accounts is None:
        return None
    months = salary_months(t)
    first, end = months[0][0], months[-1][1]
    recent_after = t.as_of - dt.timedelta(days=t.salary_days)
    flags = ", ".join(
        f"MAX(CASE WHEN t.booking_date >= %s AND t.booking_date < %s THEN 1 ELSE 0 END) AS m{n}"
        for n in range(len(months))
    )
    flag_params = [day for month in months for day in month]
    # Per account: a flag per month, one for the last weeks, the last salary day, and the
    # months' salaries (amount and credits).
    per_account = (
        f"SELECT t.account_id AS account_id, {flags}, "  # noqa: S608  # nosec B608
        "MAX(CASE WHEN t.booking_date > %s THEN 1 ELSE 0 END) AS recent, "
        "MAX(t.booking_date) AS last_on, "
        "SUM(CASE WHEN t.booking_date < %s THEN t.amount ELSE 0 END) AS early_amount, "
        "SUM(CASE WHEN t.booking_date < %s THEN 1 ELSE 0 END) AS early_count "
        f"FROM {_table(Transaction)} t "
        "WHERE t.kind = %s AND t.direction = %s AND t.booking_date >= %s "
        f"AND t.booking_date <= %s{held[0]} "
        "GROUP BY t.account_id"
    )
    per_account_params = [
        *flag_params,
        recent_after,
        end,
        end,
        Transaction.Kind.SALARY.value,
        Transaction.Direction.CREDIT.value,
        first,
        t.as_of,
        *held[1],
    ]
    holders, holder_params = _holder_join("r", "r.account_id = a.id", party)
    paid = "CASE WHEN s.early_count > 0 THEN a.currency END"
    each_month = " AND ".join(f"MAX(s.m{n}) = 1" for n in range(len(months)))
    sql = (
        f"SELECT r.party_id AS party_id, {_day_param()} AS observed_on, NULL AS ref, "  # noqa: S608  # nosec B608
        f"CASE WHEN MIN({paid}) = MAX({paid}) THEN MIN({paid}) END AS currency, "
        f"CASE WHEN MIN({paid}) = MAX({paid}) THEN SUM(s.early_amount) END AS amount, "
        "NULL AS before_amount, NULL AS after_amount, MAX(s.last_on) AS other_on, "
        "NULL AS code_a, NULL AS code_b, SUM(s.early_count) AS number, '' AS row_key "
        f"FROM ({per_account}) s JOIN {_table(Account)} a ON a.id = s.account_id{holders} "
        f"WHERE 1 = 1{accounts[0]} "
        f"GROUP BY r.party_id HAVING {each_month} AND MAX(s.recent) = 0"
    )
    return _Statement(sql, [t.as_of, *per_account_params, *holder_params, *accounts[1]])


def _dormant_reactivated(scope: _Scope, t: Thresholds) -> _Statement | None:
    party = scope.customers("r.party_id")
    held = _held_by("t.account_id", scope)
    accounts = _account_filter("a", scope)
    if party is None or held is None or accounts is None:
        return None
    start = t.as_of - dt.timedelta(days=t.window_days)
    kinds = _placeholders(CUSTOMER_KINDS)
    # Accounts the customer also booked on in the weeks before the window are not dormant:
    # taken out as a set (one more month of the (type, booking date) index) before the
    # account-by-account look back, which then runs for the few accounts left (exact while
    # those weeks lie within the dormancy).
    quiet_days = min(31, t.dormant_days - t.window_days)
    quiet, quiet_params = "", []
    if quiet_days > 0:
        quiet_held = _held_by("q.account_id", scope) or ("", [])
        quiet = (
            f" LEFT JOIN (SELECT DISTINCT q.account_id AS account_id FROM {_table(Transaction)} q "  # noqa: S608  # nosec B608
            f"WHERE q.kind IN ({kinds}) AND q.booking_date > %s AND q.booking_date <= %s"
            f"{quiet_held[0]}) qa ON qa.account_id = t.account_id"
        )
        quiet_params = [
            *CUSTOMER_KINDS,
            start - dt.timedelta(days=quiet_days),
            start,
            *quiet_held[1],
        ]
    recent = (
        "SELECT t.account_id AS account_id, MIN(t.booking_date) AS first_recent, "  # noqa: S608  # nosec B608
        f"SUM(t.amount) AS net FROM {_table(Transaction)} t{quiet} "
        f"WHERE t.kind IN ({kinds}) AND t.booking_date > %s AND t.booking_date <= %s{held[0]}"
        f"{' AND qa.account_id IS NULL' if quiet else ''} "
        "GROUP BY t.account_id"
    )
    recent_params = [*quiet_params, *CUSTOMER_KINDS, start, t.as_of, *held[1]]
    holders, holder_params = _holder_join("r", "r.account_id = a.id", party)
    booked = (
        "SELECT r.party_id AS party_id, x.account_id AS account_id, a.number_last4 AS last4, "  # noqa: S608  # nosec B608
        "a.currency AS currency, a.opened_on AS opened_on, x.first_recent AS first_recent, "
        f"x.net AS net FROM ({recent}) x JOIN {_table(Account)} a ON a.id = x.account_id "
        f"JOIN {_table(Product)} pr ON pr.id = a.product_id{holders} "
        f"WHERE pr.is_liability = %s{accounts[0]}"
    )
    booked_params = [*recent_params, *holder_params, False, *accounts[1]]
    # The customer's latest booking before the window (the one before the first in it),
    # read backwards on the account's (account, booking date) index.
    previous = (
        f"(SELECT p.booking_date FROM {_table(Transaction)} p "  # noqa: S608  # nosec B608
        f"WHERE p.account_id = j.account_id AND p.booking_date <= %s AND p.kind IN ({kinds}) "
        "ORDER BY p.booking_date DESC LIMIT 1)"
    )
    gap = _days_between("COALESCE(y.previous, y.opened_on)", "y.first_recent")
    sql = (
        "SELECT y.party_id AS party_id, y.first_recent AS observed_on, y.last4 AS ref, "  # noqa: S608  # nosec B608
        "y.currency AS currency, y.net AS amount, NULL AS before_amount, "
        "NULL AS after_amount, COALESCE(y.previous, y.opened_on) AS other_on, "
        "NULL AS code_a, NULL AS code_b, "
        "CASE WHEN y.previous IS NULL THEN 1 ELSE 0 END AS number, "
        f"{_text_key('y.account_id')} AS row_key "
        f"FROM (SELECT j.*, {previous} AS previous FROM ({booked}) j) y "
        f"WHERE {gap} >= %s"
    )
    return _Statement(sql, [start, *CUSTOMER_KINDS, *booked_params, t.dormant_days])


def _text_key(column: str) -> str:
    return f"CAST({column} AS TEXT)"


def _rank_case(column: str) -> tuple[str, list[Any]]:
    """The delinquency bucket in ``column`` as its rank (best 0)."""
    whens = " ".join("WHEN %s THEN %s" for _bucket in BUCKET_RANK)
    params: list[Any] = []
    for bucket, rank in BUCKET_RANK.items():
        params += [bucket, rank]
    return f"(CASE {column} {whens} END)", params


def _delinquency_migration(scope: _Scope, t: Thresholds) -> _Statement | None:
    from bankcrm.lending.servicing import OPEN_STATUSES

    party = scope.customers("l.borrower_id")
    loans = scope.loans()
    if party is None or loans is None:
        return None
    loan_filter = f" AND l.id IN ({loans[0]})" if loans[0] else ""
    start = t.as_of - dt.timedelta(days=t.window_days)
    from_rank, from_params = _rank_case("dc.from_bucket")
    now_rank, now_params = _rank_case("l.bucket")
    statuses = [str(status) for status in OPEN_STATUSES]
    moves = (
        f"SELECT dc.loan_id AS loan_id, MIN({from_rank}) AS from_rank, "  # noqa: S608  # nosec B608
        "MAX(dc.as_of) AS last_on "
        f"FROM {_table(DelinquencyChange)} dc "
        "WHERE dc.is_deterioration = %s AND dc.as_of > %s AND dc.as_of <= %s "
        "GROUP BY dc.loan_id"
    )
    sql = (
        "SELECT l.borrower_id AS party_id, m.last_on AS observed_on, l.reference AS ref, "  # noqa: S608  # nosec B608
        "l.currency AS currency, l.arrears AS amount, NULL AS before_amount, "
        "l.outstanding_principal AS after_amount, NULL AS other_on, "
        f"{_text_key('m.from_rank')} AS code_a, l.bucket AS code_b, "
        "l.days_past_due AS number, l.reference AS row_key "
        f"FROM ({moves}) m JOIN {_table(Loan)} l ON l.id = m.loan_id "
        f"WHERE l.status IN ({_placeholders(statuses)}) AND {now_rank} > m.from_rank "
        f"AND {party.sql}{loan_filter}"
    )
    params = [
        *from_params,
        True,
        start,
        t.as_of,
        *statuses,
        *now_params,
        *party.params,
        *loans[1],
    ]
    return _Statement(sql, params)


def _kyc_review_due(scope: _Scope, t: Thresholds) -> _Statement | None:
    party = scope.customers("k.party_id", "compliance.view_kycprofile")
    if party is None:
        return None
    horizon = t.as_of + dt.timedelta(days=t.due_days)
    sql = (
        "SELECT k.party_id AS party_id, k.next_review_on AS observed_on, k.risk_band AS ref, "  # noqa: S608  # nosec B608
        "NULL AS currency, NULL AS amount, NULL AS before_amount, NULL AS after_amount, "
        "k.last_review_on AS other_on, k.due_diligence AS code_a, NULL AS code_b, "
        f"NULL AS number, {_text_key('k.id')} AS row_key "
        f"FROM {_table(KycProfile)} k "
        f"WHERE k.next_review_on IS NOT NULL AND k.next_review_on <= %s AND {party.sql}"
    )
    return _Statement(sql, [horizon, *party.params])


def _document_expiring(scope: _Scope, t: Thresholds) -> _Statement | None:
    party = scope.customers("i.party_id", "customers.view_identifier")
    if party is None:
        return None
    horizon = t.as_of + dt.timedelta(days=t.due_days)
    types = [str(kind) for kind in EXPIRING_DOCUMENT_TYPES]
    table = _table(Identifier)
    sql = (
        "SELECT i.party_id AS party_id, i.expires_on AS observed_on, i.type AS ref, "  # noqa: S608  # nosec B608
        "NULL AS currency, NULL AS amount, NULL AS before_amount, NULL AS after_amount, "
        "i.issued_on AS other_on, NULL AS code_a, NULL AS code_b, NULL AS number, "
        f"{_text_key('i.id')} AS row_key "
        f"FROM {table} i "
        f"WHERE i.type IN ({_placeholders(types)}) AND i.expires_on IS NOT NULL "
        f"AND i.expires_on <= %s AND {party.sql} "
        # A renewed document of the same type (expiring later, or never) answers it.
        f"AND NOT EXISTS (SELECT 1 FROM {table} j WHERE j.party_id = i.party_id "
        "AND j.type = i.type AND (j.expires_on IS NULL OR j.expires_on > %s))"
    )
    return _Statement(sql, [*types, horizon, *party.params, horizon])


def _statement(
    code: str, scope: _Scope, thresholds: Thresholds, rates: dict[str, Decimal]
) -> _Statement | None:
    """The statement of signal ``code`` for ``scope``; None when the viewer may not read its
    records."""
    if not all(actor_has_perm(scope.actor, perm) for perm in SIGNALS_BY_CODE[code].permissions):
        return None
    if code == "balance_drop":
        return _balance_drop(scope, thresholds, rates)
    if code == "large_outflow":
        return _large_outflow(scope, thresholds, rates)
    if code == "salary_stopped":
        return _salary_stopped(scope, thresholds)
    if code == "dormant_reactivated":
        return _dormant_reactivated(scope, thresholds)
    if code == "delinquency_migration":
        return _delinquency_migration(scope, thresholds)
    if code == "kyc_review_due":
        return _kyc_review_due(scope, thresholds)
    return _document_expiring(scope, thresholds)


# --------------------------------------------------------------------------- reading rows


def latest_rates(as_of: dt.date) -> dict[str, Decimal]:
    """Each currency's latest rate to the base currency on or before ``as_of`` (one query)."""
    latest = (
        FxRate.objects.filter(currency=OuterRef("currency"), as_of__lte=as_of)
        .order_by("-as_of")
        .values("as_of")[:1]
    )
    rows = FxRate.objects.filter(as_of=Subquery(latest)).values_list("currency", "rate_to_base")
    base = base_currency()
    return {currency: Decimal(rate) for currency, rate in rows if currency != base}


def _count(statement: _Statement) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({statement.sql}) s", statement.params)  # noqa: S608  # nosec B608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _rows_sql(code: str, statement: _Statement, *, with_total: bool = False) -> str:
    """The warnings of ``statement`` with each customer's name, unit and relationship
    manager, in the signal's order. The names are looked up row by row on their keys: a
    signal's grouped rows are badly estimated, and a join would let the planner scan every
    customer."""
    user = _table(get_user_model())
    party, unit, portfolio = _table(Party), _table(OrgUnit), _table(Portfolio)
    direction = "ASC" if SIGNALS_BY_CODE[code].order == "soonest" else "DESC"
    # The number of warnings comes with the page's rows, counted before the LIMIT.
    total = ", COUNT(*) OVER () AS total_rows" if with_total else ""
    manager = "COALESCE(NULLIF(TRIM(m.first_name || ' ' || m.last_name), ''), m.username)"
    return (
        "SELECT w.*, "  # noqa: S608  # nosec B608
        f"(SELECT u.name FROM {party} p2 JOIN {unit} u ON u.id = p2.owning_unit_id "
        "WHERE p2.id = w.party_id) AS unit_name, "
        f"(SELECT {manager} FROM {party} p3 JOIN {portfolio} pf ON pf.id = p3.portfolio_id "
        f"JOIN {user} m ON m.id = pf.manager_id WHERE p3.id = w.party_id) AS manager_name "
        f"FROM (SELECT s.*, (SELECT p.display_name FROM {party} p WHERE p.id = s.party_id) "
        f"AS display_name{total} FROM ({statement.sql}) s) w "
        f"ORDER BY w.observed_on {direction}, w.display_name, w.party_id, w.row_key"
    )


def _fetch(
    code: str,
    statement: _Statement,
    thresholds: Thresholds,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[EarlyWarning]:
    sql = _rows_sql(code, statement)
    params = list(statement.params)
    if limit is not None:
        sql += " LIMIT %s OFFSET %s"
        params += [int(limit), int(offset)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while True:
            chunk = cursor.fetchmany(2000)
            if not chunk:
                break
            for row in chunk:
                yield _warning(code, row, thresholds)


def _fetch_counted(
    code: str, statement: _Statement, thresholds: Thresholds, *, limit: int, offset: int
) -> tuple[int | None, list[EarlyWarning]]:
    """Up to ``limit`` warnings from ``offset`` on, and how many there are in all (None when
    no row came back past the first: the count is then read apart)."""
    sql = _rows_sql(code, statement, with_total=True) + " LIMIT %s OFFSET %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*statement.params, int(limit), int(offset)])
        found = cursor.fetchall()
    if not found:
        return (0 if offset == 0 else None), []
    at = len(COLUMNS) + 1  # the total follows the signal's columns and the name
    return int(found[0][at]), [
        _warning(code, (*row[:at], *row[at + 1 :]), thresholds) for row in found
    ]


def _party_key(value: Any) -> str:
    """A party key from the database as Python's UUID text (SQLite keeps 32 hex digits)."""
    return str(uuid.UUID(str(value)))


def _as_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(CENT)


def _percent(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"))


def _money_text(amount: Decimal | None, currency: str) -> str:
    """An amount as people read it in the active language (``CNY 1,234.50``, ``¥1,234.50``)."""
    if amount is None:
        return "—"
    try:
        return format_money(Money(amount, currency))
    except (TypeError, ValueError):
        return f"{amount} {currency}".strip()


def _date_text(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


def _bucket_label(code: str | None) -> str:
    if code is None:
        return ""
    try:
        return str(Bucket(code).label)
    except ValueError:
        return str(code)


def _warning(code: str, row: Sequence[Any], thresholds: Thresholds) -> EarlyWarning:
    values = dict(zip(COLUMNS, row[: len(COLUMNS)], strict=True))
    name, unit, manager = row[len(COLUMNS) :]
    observed = _as_date(values["observed_on"]) or thresholds.as_of
    currency = str(values["currency"] or "")
    amount = _money(values["amount"])
    before = _money(values["before_amount"])
    after = _money(values["after_amount"])
    other_on = _as_date(values["other_on"])
    percent: Decimal | None = None
    reference = ""
    figures: dict[str, Any] = {}
    if code == "balance_drop":
        percent = _percent(amount, before)
        observation = _(
            "%(before)s → %(after)s in %(days)s days: down %(drop)s (%(percent)s%%)"
        ) % {
            "before": _money_text(before, currency),
            "after": _money_text(after, currency),
            "days": thresholds.window_days,
            "drop": _money_text(amount, currency),
            "percent": percent,
        }
        figures = {"balance_on": other_on}
    elif code == "large_outflow":
        percent = _percent(amount, before) if before and before > 0 else None
        if percent is None:
            observation = _("%(amount)s out in %(days)s days, from a balance of %(before)s")
        else:
            observation = _(
                "%(amount)s out in %(days)s days, %(percent)s%% of a balance of %(before)s"
            )
        observation = observation % {
            "amount": _money_text(amount, currency),
            "days": thresholds.outflow_days,
            "before": _money_text(before, currency),
            "percent": percent,
        }
        figures = {"balance_on": other_on}
    elif code == "salary_stopped":
        credits = int(values["number"] or 0)
        months = thresholds.salary_months
        last_month_end = salary_months(thresholds)[-1][1] - dt.timedelta(days=1)
        if amount is not None and currency:
            amount = (amount / months).quantize(CENT)
            observation = _(
                "Salary in each of the %(months)s months to %(end)s (on average %(amount)s a "
                "month), the last on %(last)s; none in the last %(days)s days"
            ) % {
                "months": months,
                "end": _date_text(last_month_end),
                "amount": _money_text(amount, currency),
                "last": _date_text(other_on),
                "days": thresholds.salary_days,
            }
        else:
            amount = None
            observation = _(
                "Salary in each of the %(months)s months to %(end)s, the last on %(last)s; "
                "none in the last %(days)s days"
            ) % {
                "months": months,
                "end": _date_text(last_month_end),
                "last": _date_text(other_on),
                "days": thresholds.salary_days,
            }
        figures = {"last_salary_on": other_on, "salary_credits": credits}
    elif code == "dormant_reactivated":
        reference = f"**** {values['ref']}" if values["ref"] else ""
        never = int(values["number"] or 0) == 1
        gap = (observed - other_on).days if other_on else None
        if never:
            observation = _(
                "Account %(account)s booked on %(day)s, its first booking since it was "
                "opened on %(since)s (%(gap)s days)"
            )
        else:
            observation = _(
                "Account %(account)s booked on %(day)s after no booking since %(since)s "
                "(%(gap)s days)"
            )
        observation = observation % {
            "account": reference,
            "day": _date_text(observed),
            "since": _date_text(other_on),
            "gap": gap,
        }
        figures = {"previous_on": None if never else other_on, "gap_days": gap}
    elif code == "delinquency_migration":
        reference = str(values["ref"] or "")
        ranks = {rank: bucket for bucket, rank in BUCKET_RANK.items()}
        from_code = ranks.get(int(Decimal(str(values["code_a"]))))
        to_code = str(values["code_b"] or "")
        days = int(values["number"] or 0)
        observation = _(
            "Loan %(loan)s moved from %(from)s to %(to)s: %(days)s days past due, %(arrears)s "
            "overdue"
        ) % {
            "loan": reference,
            "from": _bucket_label(from_code),
            "to": _bucket_label(to_code),
            "days": days,
            "arrears": _money_text(amount, currency),
        }
        figures = {
            "from_bucket": from_code,
            "to_bucket": to_code,
            "days_past_due": days,
            "outstanding": after,
        }
        after = None
    elif code == "kyc_review_due":
        band = str(values["ref"] or "")
        try:
            band_label = str(RiskBand(band).label) if band else _("unrated")
        except ValueError:
            band_label = band
        reference = band_label
        if observed < thresholds.as_of:
            observation = _("KYC review overdue since %(due)s (risk: %(band)s)")
        else:
            observation = _("KYC review due on %(due)s (risk: %(band)s)")
        observation = observation % {"due": _date_text(observed), "band": band_label}
        figures = {"last_review_on": other_on, "days_to_due": (observed - thresholds.as_of).days}
    else:
        kind = str(values["ref"] or "")
        try:
            reference = str(Identifier.Type(kind).label)
        except ValueError:
            reference = kind
        if observed < thresholds.as_of:
            observation = _("%(document)s expired on %(date)s")
        else:
            observation = _("%(document)s expires on %(date)s")
        observation = observation % {"document": reference, "date": _date_text(observed)}
        figures = {"days_to_expiry": (observed - thresholds.as_of).days}
    return EarlyWarning(
        signal=code,
        party_pk=_party_key(values["party_id"]),
        customer=mask(str(name or ""), "name"),
        observed_on=observed,
        reference=reference,
        currency=currency,
        amount=amount,
        before=before,
        after=after,
        percent=percent,
        observation=observation,
        relationship_manager=str(manager or ""),
        branch=str(unit or ""),
        figures=figures,
    )


# --------------------------------------------------------------------------- public reads


def _check_signal(signal: str | None) -> None:
    if signal is not None and signal not in SIGNAL_CODES:
        raise ValidationError(
            {"signal": [_("Choose one of %(choices)s.") % {"choices": ", ".join(SIGNAL_CODES)}]},
            code="invalid_choice",
        )


def early_warning_definitions(thresholds: Thresholds) -> list[dict[str, Any]]:
    """Each signal's code, name and definition with ``thresholds`` in force."""
    currency = base_currency()
    return [
        {
            "code": signal.code,
            "name": str(signal.name),
            "definition": signal.definition(thresholds, currency),
        }
        for signal in SIGNALS
    ]


# --------------------------------------------------------------------------- stored runs

# The signals a nightly run stores: those that read a window of bookings (seconds each over
# millions of them); the others read a few rows through their own indexes and stay live.
STORED_SIGNALS = ("balance_drop", "salary_stopped", "large_outflow", "dormant_reactivated")


def run_statement(
    code: str, account_scope: str, thresholds: Thresholds, rates: dict[str, Decimal]
) -> _Statement:
    """Signal ``code``'s statement over every customer who is not closed and the accounts of
    ``account_scope`` (what a stored run holds)."""
    scope = _RunScope(SystemActor("analytics.early_warnings"), None, account_scope)
    statement = _statement(code, scope, thresholds, rates)
    if statement is None:  # the system reads every record
        raise RuntimeError(code)
    return statement


def account_scope_key(actor: Any) -> str | None:
    """The stored runs' account scope that equals what ``actor`` reads: "" when they read
    every account, their unit's path when they read their unit's; None when no run fits
    (accounts of a portfolio, or no unit)."""
    return actor_scope_key(actor, "banking.view_account")


def _stored_run(actor: Any, thresholds: Thresholds) -> Any:
    """The latest finished run for ``actor``'s account scope, as-of day and thresholds, or
    None (one query)."""
    from .models_early_warning import EarlyWarningRun

    key = account_scope_key(actor)
    if key is None:
        return None
    run = (
        EarlyWarningRun.objects.filter(
            account_scope=key, as_of=thresholds.as_of, finished_at__isnull=False
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    if run is None or run.thresholds != thresholds_json(thresholds):
        return None
    return run


def thresholds_json(thresholds: Thresholds) -> dict[str, Any]:
    """``thresholds`` as a run stores them (numbers as text)."""
    return {name: str(value) for name, value in thresholds.as_dict().items()}


def _stored_statement(code: str, scope: _Scope, run_pk: int) -> _Statement | None:
    """The warnings of signal ``code`` in run ``run_pk`` on the customers the viewer sees."""
    from .models_early_warning import StoredEarlyWarning

    if not all(actor_has_perm(scope.actor, perm) for perm in SIGNALS_BY_CODE[code].permissions):
        return None
    party = scope.customers("w.party_id")
    if party is None:
        return None
    sql = (
        f"SELECT w.party_id AS party_id, {', '.join(f'w.{c}' for c in COLUMNS[1:])} "  # noqa: S608  # nosec B608
        f"FROM {_table(StoredEarlyWarning)} w "
        f"WHERE w.run_id = %s AND w.signal = %s AND {party.sql}"
    )
    return _Statement(sql, [run_pk, code, *party.params])


def _statements(
    *, actor: Any, thresholds: Thresholds, unit: OrgUnit | None, codes: Sequence[str]
) -> tuple[dict[str, _Statement | None], Any]:
    """Each signal's statement, and the stored run the account-based ones read (None: they
    are computed now)."""
    scope = _Scope(actor, unit)
    run = _stored_run(actor, thresholds) if set(STORED_SIGNALS) & set(codes) else None
    needs_rates = {"balance_drop", "large_outflow"} & set(codes)
    rates = latest_rates(thresholds.as_of) if needs_rates and run is None else {}
    return {
        code: (
            _stored_statement(code, scope, run.pk)
            if run is not None and code in STORED_SIGNALS
            else _statement(code, scope, thresholds, rates)
        )
        for code in codes
    }, run


def early_warning_report(
    *,
    actor: Any,
    thresholds: Thresholds | None = None,
    signal: str | None = None,
    unit: OrgUnit | None = None,
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> EarlyWarningReport:
    """The early-warning report of the customers ``actor`` may see (within ``unit``'s subtree
    when given): the number of warnings of each signal and one page of warnings (those of
    ``signal`` only, when given), in signal order. ValidationError naming a bad threshold or
    signal."""
    thresholds = thresholds_check(thresholds or default_thresholds())
    _check_signal(signal)
    page = max(int(page), 1)
    statements, run = _statements(actor=actor, thresholds=thresholds, unit=unit, codes=SIGNAL_CODES)
    listed = [signal] if signal else list(SIGNAL_CODES)
    start = (page - 1) * page_size
    counts: dict[str, int | None] = {}
    rows: list[EarlyWarning] = []
    position = 0
    # Each statement runs once: the signals whose warnings reach into the page give their
    # count with their rows; the others are only counted.
    for code in listed:
        statement = statements[code]
        if statement is None:
            counts[code] = None
            continue
        if len(rows) < page_size:
            offset = max(start - position, 0)
            count, found = _fetch_counted(
                code, statement, thresholds, limit=page_size - len(rows), offset=offset
            )
            if count is None:
                count = _count(statement)
            rows += found
        else:
            count = _count(statement)
        counts[code] = count
        position += count
    for code in SIGNAL_CODES:
        if code not in counts:
            statement = statements[code]
            counts[code] = None if statement is None else _count(statement)
    counts = {code: counts[code] for code in SIGNAL_CODES}
    total = sum(counts[code] or 0 for code in listed)
    return EarlyWarningReport(
        thresholds=thresholds,
        currency=base_currency(),
        signal=signal,
        counts=counts,
        rows=rows,
        page=page,
        page_size=page_size,
        total=total,
        definitions=early_warning_definitions(thresholds),
        computed_at=run.finished_at if run is not None else None,
    )


@dataclass
class EarlyWarningList:
    """Every warning of the report (read lazily, signal by signal) and how many there are."""

    counts: dict[str, int | None]
    rows: Iterator[EarlyWarning]

    @property
    def total(self) -> int:
        return sum(n or 0 for n in self.counts.values())


def early_warning_list(
    *,
    actor: Any,
    thresholds: Thresholds | None = None,
    signal: str | None = None,
    unit: OrgUnit | None = None,
) -> EarlyWarningList:
    """Every warning of the report (those of ``signal`` when given), read lazily, with the
    counts per signal listed: what an export holds."""
    thresholds = thresholds_check(thresholds or default_thresholds())
    _check_signal(signal)
    codes = [signal] if signal else list(SIGNAL_CODES)
    statements, _run = _statements(actor=actor, thresholds=thresholds, unit=unit, codes=codes)
    counts = {
        code: None if statement is None else _count(statement)
        for code, statement in statements.items()
    }

    def rows() -> Iterator[EarlyWarning]:
        for code in codes:
            statement = statements[code]
            if statement is not None and counts[code]:
                yield from _fetch(code, statement, thresholds)

    return EarlyWarningList(counts=counts, rows=rows())


def early_warning_signals(
    *, actor: Any, limit: int = DASHBOARD_LIMIT, as_of: dt.date | None = None
) -> list[EarlyWarning]:
    """Early warnings on the customers ``actor`` may see, at the default thresholds, for a
    dashboard panel: at most ``limit`` of them, those nearest to today first (the latest
    observations and the nearest due dates), then in signal order. One statement per signal
    the actor may read."""
    limit = max(1, min(int(limit), 200))
    thresholds = default_thresholds(as_of)
    statements, _run = _statements(
        actor=actor, thresholds=thresholds, unit=None, codes=SIGNAL_CODES
    )
    found: list[EarlyWarning] = []
    for code, statement in statements.items():
        if statement is not None:
            found += _fetch(code, statement, thresholds, limit=limit)
    order = {code: index for index, code in enumerate(SIGNAL_CODES)}
    found.sort(key=lambda row: (abs((row.observed_on - thresholds.as_of).days), order[row.signal]))
    return found[:limit]


def early_warning_units(*, actor: Any) -> list[OrgUnit]:
    """The regions and branches whose customers the actor may see, to narrow the report
    (empty for a viewer whose reach is a portfolio)."""
    scope = actor_perm_scope(actor, "customers.view_party")
    if scope is None or scope == Role.DataScope.PORTFOLIO:
        return []
    queryset = OrgUnit.objects.filter(
        kind__in=(OrgUnit.Kind.REGION, OrgUnit.Kind.BRANCH), is_active=True
    )
    if scope != Role.DataScope.BANK:
        paths = actor_unit_paths(actor)
        if not paths:
            return []
        condition = Q()
        for path in paths:
            condition |= Q(path__startswith=path)
        queryset = queryset.filter(condition)
    return list(queryset.order_by("path"))


__all__ = [
    "SIGNALS",
    "SIGNAL_CODES",
    "STORED_SIGNALS",
    "THRESHOLD_BOUNDS",
    "EarlyWarning",
    "EarlyWarningList",
    "EarlyWarningReport",
    "Signal",
    "Thresholds",
    "account_scope_key",
    "default_thresholds",
    "early_warning_definitions",
    "early_warning_list",
    "early_warning_report",
    "early_warning_signals",
    "early_warning_units",
    "latest_rates",
    "run_statement",
    "salary_months",
    "thresholds_check",
    "thresholds_json",
]
