"""The CRM's own features for credit models, computed from customer 360, banking and lending.

Every feature is taken *as of* a day and uses only what the bank knew before that day:
transactions booked strictly before it, accounts opened before it, loans disbursed before
it, delinquency recorded before it. A model trained on loans with their features as of the
day each loan started therefore sees what an underwriter could have seen.

Balances are end-of-day balances: each booking's balance after (``running_balance``, or
the running sum of the account's bookings when core banking sends none) holds until the
customer's next booking, and the customer's balance is the sum over the accounts they hold
(owner or joint owner) of deposit products (loan and card accounts, owed to the bank, are
left out). Averages, spreads and minimum are weighted by the days each balance held within
the window. Amounts are converted to the base currency with the latest rate on or before
the day; a currency without a rate is taken as it is.

Windows: "3m" and "6m" are the three and six calendar months before the day (e.g. for
2024-07-15, 2024-01-15 up to 2024-07-14); monthly inflow figures use the six whole calendar
months before the day's month. A figure that cannot be known (no transactions, no date of
birth, no loans) is None: models score it through their "missing" bin.

:func:`party_features_bulk` computes all customers (or a list) in a handful of SQL
aggregate queries over temporary tables, on PostgreSQL and SQLite alike.
:func:`party_features` and :func:`application_features` compute one customer in real time
(a couple of milliseconds): the same aggregate queries over that customer's rows, plus their
bookings, whose balances and monthly money in are rebuilt here step by step as the set-based
queries rebuild them. Both ways end in one function that turns those figures into the
features, so a formula is written once; the tests hold the two ways equal over generated
histories.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import hashlib
import json
import math
import re
import uuid
import weakref
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db import DatabaseError, connection, transaction

from bankcrm.banking.models import HOLDER_ROLES, Account, AccountRole, FxRate, Product, Transaction
from bankcrm.banking.selectors import base_currency
from bankcrm.customers.models import Party, PersonProfile
from bankcrm.integrations.models import SourceRecord
from bankcrm.lending.models import DelinquencyChange, Loan, LoanApplication


@dataclass(frozen=True)
class FeatureDef:
    """A feature the CRM derives itself, with the words a credit officer reads."""

    name: str
    label_en: str
    label_zh: str
    # The adverse-action reason when this feature costs the most points.
    reason_en: str
    reason_zh: str
    kind: str = "numeric"  # numeric | categorical


def _feature(
    name: str, label_en: str, label_zh: str, reason_en: str, reason_zh: str, kind: str = "numeric"
) -> tuple[str, FeatureDef]:
    return name, FeatureDef(name, label_en, label_zh, reason_en, reason_zh, kind)


FEATURE_CATALOGUE: dict[str, FeatureDef] = dict(
    [
        # --- The customer -------------------------------------------------------------------
        _feature("age", "Age (years)", "年龄（岁）", "Age of applicant", "申请人年龄"),
        _feature(
            "party_kind",
            "Person or organisation",
            "个人或机构",
            "Type of customer",
            "客户类型",
            "categorical",
        ),
        _feature(
            "segment", "Customer segment", "客户分层", "Customer segment", "客户分层", "categorical"
        ),
        _feature(
            "customer_years",
            "Years as a customer",
            "成为客户的年数",
            "Short relationship with the bank",
            "与本行往来时间较短",
        ),
        _feature(
            "account_age_months",
            "Age of the oldest account (months)",
            "最早账户的账龄（月）",
            "Accounts opened recently",
            "账户开立时间较短",
        ),
        _feature(
            "accounts_count",
            "Accounts held",
            "持有账户数",
            "Number of accounts held",
            "持有账户数量",
        ),
        _feature(
            "products_count",
            "Products held",
            "持有产品数",
            "Few products with the bank",
            "在本行持有的产品较少",
        ),
        _feature("cards_count", "Cards held", "持卡数", "Number of cards held", "持卡数量"),
        # --- Balances -----------------------------------------------------------------------
        _feature(
            "last_balance",
            "Balance on the day before",
            "前一日余额",
            "Low current balance",
            "当前余额偏低",
        ),
        _feature(
            "avg_balance_3m",
            "Average balance, 3 months",
            "近3个月平均余额",
            "Low average balance",
            "平均余额偏低",
        ),
        _feature(
            "avg_balance_6m",
            "Average balance, 6 months",
            "近6个月平均余额",
            "Low average balance",
            "平均余额偏低",
        ),
        _feature(
            "min_balance_3m",
            "Lowest balance, 3 months",
            "近3个月最低余额",
            "Low minimum balance",
            "最低余额偏低",
        ),
        _feature(
            "min_balance_6m",
            "Lowest balance, 6 months",
            "近6个月最低余额",
            "Low minimum balance",
            "最低余额偏低",
        ),
        _feature(
            "balance_volatility_3m",
            "Balance volatility, 3 months (std / mean)",
            "近3个月余额波动率（标准差/均值）",
            "Unstable account balance",
            "账户余额波动较大",
        ),
        _feature(
            "balance_volatility_6m",
            "Balance volatility, 6 months (std / mean)",
            "近6个月余额波动率（标准差/均值）",
            "Unstable account balance",
            "账户余额波动较大",
        ),
        _feature(
            "negative_balance_days_6m",
            "Days overdrawn, 6 months",
            "近6个月透支天数",
            "Account overdrawn",
            "账户出现透支",
        ),
        # --- Activity -----------------------------------------------------------------------
        _feature(
            "history_days",
            "Days of transaction history",
            "交易记录天数",
            "Short transaction history",
            "交易记录时间较短",
        ),
        _feature(
            "days_since_last_transaction",
            "Days since the last transaction",
            "距上次交易天数",
            "Account inactive recently",
            "账户近期不活跃",
        ),
        _feature(
            "transactions_3m",
            "Transactions, 3 months",
            "近3个月交易笔数",
            "Little account activity",
            "账户交易较少",
        ),
        _feature(
            "transactions_6m",
            "Transactions, 6 months",
            "近6个月交易笔数",
            "Little account activity",
            "账户交易较少",
        ),
        _feature(
            "inflow_6m",
            "Money in, 6 months",
            "近6个月流入金额",
            "Low income into accounts",
            "账户收入偏低",
        ),
        _feature(
            "outflow_6m",
            "Money out, 6 months",
            "近6个月流出金额",
            "High spending from accounts",
            "账户支出偏高",
        ),
        _feature(
            "outflow_inflow_ratio_6m",
            "Money out / money in, 6 months",
            "近6个月流出/流入比",
            "Spending close to or above income",
            "支出接近或超过收入",
        ),
        _feature(
            "avg_monthly_inflow_6m",
            "Average monthly money in",
            "月均流入金额",
            "Low monthly income",
            "月收入偏低",
        ),
        _feature(
            "inflow_months_6m",
            "Months with money in (of 6)",
            "有资金流入的月数（近6个月）",
            "Irregular income",
            "收入不规律",
        ),
        _feature(
            "salary_months_6m",
            "Months with salary or pension (of 6)",
            "有工资或养老金入账的月数（近6个月）",
            "No regular salary or pension",
            "无固定工资或养老金收入",
        ),
        _feature(
            "inflow_cv_6m",
            "Variation of monthly money in (std / mean)",
            "月度流入变异系数（标准差/均值）",
            "Irregular income",
            "收入不规律",
        ),
        _feature(
            "card_payments_6m",
            "Card transactions, 6 months",
            "近6个月银行卡交易笔数",
            "Card usage",
            "银行卡使用情况",
        ),
        _feature(
            "card_amount_6m",
            "Card transaction amount, 6 months",
            "近6个月银行卡交易金额",
            "Card usage",
            "银行卡使用情况",
        ),
        _feature(
            "cash_withdrawal_share_6m",
            "Cash withdrawals / money out, 6 months",
            "近6个月取现占支出比例",
            "High share of cash withdrawals",
            "取现比例偏高",
        ),
        # --- Credit history -----------------------------------------------------------------
        _feature(
            "loans_count",
            "Loans taken before",
            "以往贷款笔数",
            "Limited credit history",
            "信贷记录有限",
        ),
        _feature(
            "open_loans",
            "Loans outstanding",
            "未结清贷款笔数",
            "Number of loans outstanding",
            "未结清贷款较多",
        ),
        _feature(
            "worst_days_past_due",
            "Worst days past due on earlier loans",
            "以往贷款最长逾期天数",
            "Late payments on earlier loans",
            "以往贷款有逾期",
        ),
        _feature(
            "declined_applications_12m",
            "Applications declined, 12 months",
            "近12个月被拒贷款申请数",
            "Recent declined applications",
            "近期有被拒的贷款申请",
        ),
        # --- Where the customer lives -------------------------------------------------------
        _feature(
            "district_unemployment",
            "Unemployment rate of the district (%)",
            "所在地区失业率（%）",
            "High unemployment in the district",
            "所在地区失业率较高",
        ),
        _feature(
            "district_average_salary",
            "Average salary of the district",
            "所在地区平均工资",
            "Low average salary in the district",
            "所在地区平均工资较低",
        ),
        _feature(
            "district_urban_ratio",
            "Urban population of the district (%)",
            "所在地区城镇人口比例（%）",
            "District profile",
            "所在地区情况",
        ),
        _feature(
            "district_entrepreneurs_per_1000",
            "Entrepreneurs per 1,000 inhabitants",
            "每千人企业主数",
            "District profile",
            "所在地区情况",
        ),
        _feature(
            "district_crimes_per_1000",
            "Crimes per 1,000 inhabitants",
            "每千人犯罪数",
            "District profile",
            "所在地区情况",
        ),
        _feature(
            "district_inhabitants",
            "Inhabitants of the district",
            "所在地区人口",
            "District profile",
            "所在地区情况",
        ),
        # --- The loan asked for -------------------------------------------------------------
        _feature("loan_amount", "Amount requested", "申请金额", "Amount requested", "申请金额较高"),
        _feature("term_months", "Term (months)", "期限（月）", "Length of the loan", "贷款期限"),
        _feature(
            "instalment",
            "Monthly instalment",
            "月供",
            "High monthly instalment",
            "月供金额较高",
        ),
        _feature(
            "instalment_to_inflow",
            "Instalment / average monthly money in",
            "月供/月均流入",
            "Instalment high compared with income",
            "月供相对收入偏高",
        ),
        _feature(
            "instalment_to_balance",
            "Instalment / average balance",
            "月供/平均余额",
            "Instalment high compared with balances",
            "月供相对存款余额偏高",
        ),
        _feature(
            "declared_income",
            "Declared monthly income",
            "申报月收入",
            "Low declared income",
            "申报收入偏低",
        ),
        _feature(
            "debt_to_income",
            "Debt to income (%)",
            "负债收入比（%）",
            "High debt compared with income",
            "负债收入比偏高",
        ),
        _feature(
            "product_type",
            "Loan product type",
            "贷款产品类型",
            "Type of loan",
            "贷款类型",
            "categorical",
        ),
    ]
)

# The columns of party_features_bulk, in order.
PARTY_FEATURES: tuple[str, ...] = (
    "age",
    "party_kind",
    "segment",
    "customer_years",
    "account_age_months",
    "accounts_count",
    "products_count",
    "cards_count",
    "last_balance",
    "avg_balance_3m",
    "avg_balance_6m",
    "min_balance_3m",
    "min_balance_6m",
    "balance_volatility_3m",
    "balance_volatility_6m",
    "negative_balance_days_6m",
    "history_days",
    "days_since_last_transaction",
    "transactions_3m",
    "transactions_6m",
    "inflow_6m",
    "outflow_6m",
    "outflow_inflow_ratio_6m",
    "avg_monthly_inflow_6m",
    "inflow_months_6m",
    "salary_months_6m",
    "inflow_cv_6m",
    "card_payments_6m",
    "card_amount_6m",
    "cash_withdrawal_share_6m",
    "loans_count",
    "open_loans",
    "worst_days_past_due",
    "declined_applications_12m",
    "district_unemployment",
    "district_average_salary",
    "district_urban_ratio",
    "district_entrepreneurs_per_1000",
    "district_crimes_per_1000",
    "district_inhabitants",
)

# The columns application_features adds to the applicant's party features.
APPLICATION_FEATURES: tuple[str, ...] = (
    "loan_amount",
    "term_months",
    "instalment",
    "instalment_to_inflow",
    "instalment_to_balance",
    "declared_income",
    "debt_to_income",
    "product_type",
)

CATEGORICAL_FEATURES = frozenset(
    name for name, feature in FEATURE_CATALOGUE.items() if feature.kind == "categorical"
)

# Bookings made with a card: card payments, and withdrawals at an ATM.
CARD_CHANNELS = (Transaction.Channel.CARD.value, Transaction.Channel.ATM.value)
INCOME_KINDS = (Transaction.Kind.SALARY.value, Transaction.Kind.PENSION.value)

_CUTOFF_TABLE = "risk_feature_cutoff"
_RATE_TABLE = "risk_feature_rate"
_HOLDING_TABLE = "risk_feature_holding"


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months (negative: back), clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class _Cutoff:
    """The dates that bound the windows of one customer's features."""

    as_of: dt.date
    d3: dt.date  # three months before
    d6: dt.date  # six months before
    m6: dt.date  # first day of the sixth whole month before as_of's month
    m0: dt.date  # first day of as_of's month
    y1: dt.date  # twelve months before

    @classmethod
    def of(cls, as_of: dt.date) -> _Cutoff:
        month = as_of.replace(day=1)
        return cls(
            as_of=as_of,
            d3=add_months(as_of, -3),
            d6=add_months(as_of, -6),
            m6=add_months(month, -6),
            m0=month,
            y1=add_months(as_of, -12),
        )

    def dates(self) -> list[dt.date]:
        """The dates in the cut-off table's column order."""
        return [self.as_of, self.d3, self.d6, self.m6, self.m0, self.y1]


def _as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{what} must be a date (YYYY-MM-DD), not {value!r}")


class _Dialect:
    """The few SQL spellings that differ between PostgreSQL and SQLite."""

    def __init__(self, vendor: str) -> None:
        self.postgres = vendor == "postgresql"

    def days(self, later: str, earlier: str) -> str:
        if self.postgres:
            return f"({later} - {earlier})"
        return f"(julianday({later}) - julianday({earlier}))"

    def greatest(self, *terms: str) -> str:
        return f"{'GREATEST' if self.postgres else 'MAX'}({', '.join(terms)})"

    def real(self, term: str) -> str:
        return f"CAST({term} AS {'double precision' if self.postgres else 'REAL'})"

    def month(self, term: str) -> str:
        if self.postgres:
            return f"date_trunc('month', {term})"
        return f"strftime('%%Y-%%m-01', {term})"

    def key(self, pk: Any) -> Any:
        return pk if self.postgres else uuid.UUID(str(pk)).hex

    def text(self, term: str) -> str:
        return f"CAST({term} AS text)" if self.postgres else term

    def day_number(self, term: str) -> str:
        """Days since 1970-01-01 of a date column, as an integer."""
        if self.postgres:
            return f"({term} - DATE '1970-01-01')"
        return f"CAST(julianday({term}) - 2440587.5 AS INTEGER)"

    def date(self, day: dt.date) -> Any:
        return day if self.postgres else day.isoformat()

    def typed(self, sql_type: str) -> str:
        """A parameter placeholder of ``sql_type`` (SQLite keeps dates and keys as text)."""
        return f"CAST(%s AS {sql_type})" if self.postgres else "%s"


# PostgreSQL: the statements this connection has prepared (see _execute).
_PREPARED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _execute(cursor: Any, dialect: _Dialect, sql: str, params: Sequence[Any]) -> None:
    """Run one of the single-customer statements: on PostgreSQL as a statement prepared
    once per connection (planning these joins costs more than running them for one
    customer, and their plans do not depend on which customer)."""
    if not dialect.postgres:
        cursor.execute(sql, params)
        return
    prepared = _PREPARED.setdefault(connection.connection, set())
    name = f"risk_features_{hashlib.sha256(sql.encode()).hexdigest()[:24]}"
    if name not in prepared:
        numbered = iter(range(1, len(params) + 1))
        body = re.sub(r"%([%s])", lambda m: "%" if m[1] == "%" else f"${next(numbered)}", sql)
        cursor.execute(f"PREPARE {name} AS {body}")
        prepared.add(name)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    cursor.execute(f"EXECUTE {name}{arguments}", params)


def _quoted(values: Iterable[str]) -> str:
    # Only the module's own constants come here (choices of the models), never input.
    return ", ".join(f"'{value}'" for value in values)


# --- The aggregate queries ------------------------------------------------------------------
#
# Every query reads the customers and days wanted from the cut-off table (``c``: subject,
# party_id and the window dates), the deposit accounts they held from the holding table and
# the exchange rates of their days from the rate table, and returns one row per subject.
# Many customers: these are temporary tables filled first. One customer: common table
# expressions of the same names over the statement's parameters (see _single_party_sql).

_CUTOFF_COLUMNS = ("subject", "party_id", "as_of", "d3", "d6", "m6", "m0", "y1")


def _holding_select() -> str:
    """(subject, account) of the deposit accounts each customer held as owner or joint
    owner, with the subject's window dates."""
    role = AccountRole._meta.db_table
    account = Account._meta.db_table
    product = Product._meta.db_table
    return (
        "SELECT DISTINCT c.subject, r.account_id, c.as_of, c.d3, c.d6, c.m6, c.m0 "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c "
        f"JOIN {role} r ON r.party_id = c.party_id AND r.role IN ({_quoted(HOLDER_ROLES)}) "
        f"JOIN {account} a ON a.id = r.account_id "
        f"JOIN {product} p ON p.id = a.product_id AND NOT p.is_liability"
    )


def _card_booking(alias: str) -> str:
    """SQL: the booking was made with a card (a card payment, or by card or at an ATM)."""
    return (
        f"({alias}.kind = '{Transaction.Kind.CARD_PAYMENT.value}' "
        f"OR {alias}.channel IN ({_quoted(CARD_CHANNELS)}))"
    )


def _cash_booking(alias: str) -> str:
    """SQL: the booking is a cash withdrawal."""
    return f"{alias}.kind = '{Transaction.Kind.CASH_WITHDRAWAL.value}'"


def _converted(dialect: _Dialect, column: str, rates: bool) -> str:
    """SQL: a booking's amount column ``t.<column>`` in the base currency, as a double: at
    the rate of its currency on the subject's day (``x``, see :func:`_rate_join`)."""
    return f"{dialect.real(column)} * {'COALESCE(x.rate, 1.0)' if rates else '1.0'}"


def _rate_join(rates: bool) -> str:
    """SQL: the rate table's row (``x``) of a booking's currency on the subject's day; none
    for the base currency and currencies without a rate, whose amounts stay as they are."""
    if not rates:
        return ""
    return f"LEFT JOIN {_RATE_TABLE} x ON x.as_of = h.as_of AND x.currency = t.currency "


def _balances_sql(dialect: _Dialect, rates: bool) -> str:
    """Per subject: day-weighted balance sums over 3 and 6 months, minimum, overdrawn days,
    the last balance, first and last booking, and the 3/6-month activity figures.

    :func:`_booking_facts` computes the same figures from one customer's bookings: a
    change here is a change there."""
    amount = _converted(dialect, "t.amount", rates)
    running = _converted(dialect, "t.running_balance", rates)
    booking = Transaction._meta.db_table
    days = {
        w: dialect.greatest(
            "0", dialect.days("x.next_date", dialect.greatest("x.booking_date", f"x.d{w}"))
        )
        for w in (3, 6)
    }
    in6 = "x.booking_date >= x.d6"
    card = _card_booking("x")
    cash = _cash_booking("x")
    sql = (
        "WITH booked AS ("  # noqa: S608  # nosec B608
        "SELECT h.subject, h.as_of, h.d3, h.d6, t.account_id, t.id, t.booking_date, t.kind, "
        f"t.channel, {amount} AS amount, "
        f"COALESCE({running}, SUM({amount}) OVER account_order) AS balance "
        f"FROM {_HOLDING_TABLE} h JOIN {booking} t ON t.account_id = h.account_id "
        f"AND t.booking_date < h.as_of {_rate_join(rates)}"
        "WINDOW account_order AS (PARTITION BY h.subject, t.account_id "
        "ORDER BY t.booking_date, t.id ROWS UNBOUNDED PRECEDING)), "
        "moves AS ("
        "SELECT b.*, b.balance - COALESCE(LAG(b.balance) OVER (PARTITION BY b.subject, "
        "b.account_id ORDER BY b.booking_date, b.id), 0) AS delta FROM booked b), "
        "days AS ("
        "SELECT m.subject, m.as_of, m.d3, m.d6, m.booking_date, m.kind, m.channel, m.amount, "
        "SUM(m.delta) OVER customer_order AS party_balance, "
        "COALESCE(LEAD(m.booking_date) OVER customer_order, m.as_of) AS next_date, "
        "CASE WHEN LEAD(m.id) OVER customer_order IS NULL THEN 1 ELSE 0 END AS is_last "
        "FROM moves m WINDOW customer_order AS (PARTITION BY m.subject "
        "ORDER BY m.booking_date, m.account_id, m.id ROWS UNBOUNDED PRECEDING)), "
        "weighted AS ("
        f"SELECT x.*, {days[3]} AS days3, {days[6]} AS days6 FROM days x) "
        "SELECT x.subject, MIN(x.booking_date) AS first_booking, "
        "MAX(x.booking_date) AS last_booking, "
        "MAX(CASE WHEN x.is_last = 1 THEN x.party_balance END) AS last_balance, "
        "SUM(x.days3) AS days3, SUM(x.days6) AS days6, "
        "SUM(x.party_balance * x.days3) AS sum3, SUM(x.party_balance * x.days6) AS sum6, "
        "SUM(x.party_balance * x.party_balance * x.days3) AS square3, "
        "SUM(x.party_balance * x.party_balance * x.days6) AS square6, "
        "MIN(CASE WHEN x.days3 > 0 THEN x.party_balance END) AS min_balance_3m, "
        "MIN(CASE WHEN x.days6 > 0 THEN x.party_balance END) AS min_balance_6m, "
        "SUM(CASE WHEN x.party_balance < 0 THEN x.days6 ELSE 0 END) AS negative_days6, "
        "SUM(CASE WHEN x.booking_date >= x.d3 THEN 1 ELSE 0 END) AS transactions_3m, "
        f"SUM(CASE WHEN {in6} THEN 1 ELSE 0 END) AS transactions_6m, "
        f"SUM(CASE WHEN {in6} AND x.amount > 0 THEN x.amount ELSE 0 END) AS inflow_6m, "
        f"SUM(CASE WHEN {in6} AND x.amount < 0 THEN -x.amount ELSE 0 END) AS outflow_6m, "
        f"SUM(CASE WHEN {in6} AND {card} THEN 1 ELSE 0 END) AS card_payments_6m, "
        f"SUM(CASE WHEN {in6} AND {card} THEN ABS(x.amount) ELSE 0 END) AS card_amount_6m, "
        f"SUM(CASE WHEN {in6} AND {cash} AND x.amount < 0 THEN -x.amount ELSE 0 END) "
        "AS cash_out_6m "
        "FROM weighted x GROUP BY x.subject"
    )
    return sql


def _monthly_inflows_sql(dialect: _Dialect, rates: bool) -> str:
    """Per subject, over the six whole months before the day's month: months with money in,
    months with salary or pension, and the sum and sum of squares of monthly inflows
    (:func:`_booking_facts` too, for one customer)."""
    booking = Transaction._meta.db_table
    amount = _converted(dialect, "t.amount", rates)
    month = dialect.month("t.booking_date")
    sql = (
        "SELECT m.subject, "  # noqa: S608  # nosec B608
        "SUM(CASE WHEN m.inflow > 0 THEN 1 ELSE 0 END) AS inflow_months_6m, "
        "SUM(m.income) AS salary_months_6m, SUM(m.inflow) AS month_sum, "
        "SUM(m.inflow * m.inflow) AS month_square FROM ("
        f"SELECT h.subject, {month} AS month, "
        f"SUM(CASE WHEN t.amount > 0 THEN {amount} ELSE 0 END) AS inflow, "
        f"MAX(CASE WHEN t.amount > 0 AND t.kind IN ({_quoted(INCOME_KINDS)}) THEN 1 ELSE 0 END) "
        "AS income "
        f"FROM {_HOLDING_TABLE} h JOIN {booking} t ON t.account_id = h.account_id "
        f"AND t.booking_date >= h.m6 AND t.booking_date < h.m0 {_rate_join(rates)}"
        f"GROUP BY h.subject, {month}) m GROUP BY m.subject"
    )
    return sql


def _customer_sql() -> str:
    party = Party._meta.db_table
    person = PersonProfile._meta.db_table
    return (
        "SELECT c.subject, c.party_id, p.kind AS party_kind, p.segment, "  # noqa: S608  # nosec B608
        "p.customer_since, p.owning_unit_id, pp.birth_year "
        f"FROM {_CUTOFF_TABLE} c JOIN {party} p ON p.id = c.party_id "
        f"LEFT JOIN {person} pp ON pp.party_id = p.id"
    )


def _accounts_sql() -> str:
    role = AccountRole._meta.db_table
    account = Account._meta.db_table
    product = Product._meta.db_table
    is_open = "(a.closed_on IS NULL OR a.closed_on >= c.as_of)"
    return (
        f"SELECT c.subject, COUNT(DISTINCT CASE WHEN {is_open} THEN a.id END) "  # noqa: S608  # nosec B608
        "AS accounts_count, "
        f"COUNT(DISTINCT CASE WHEN {is_open} THEN a.product_id END) AS products_count, "
        f"COUNT(DISTINCT CASE WHEN {is_open} AND p.category = "
        f"'{Product.Category.CREDIT_CARD.value}' THEN a.id END) AS card_accounts, "
        "MIN(a.opened_on) AS first_opened "
        f"FROM {_CUTOFF_TABLE} c "
        f"JOIN {role} r ON r.party_id = c.party_id AND r.role IN ({_quoted(HOLDER_ROLES)}) "
        f"JOIN {account} a ON a.id = r.account_id AND a.opened_on < c.as_of "
        f"JOIN {product} p ON p.id = a.product_id GROUP BY c.subject"
    )


def _card_roles_sql() -> str:
    # A card holder's role from the day the card was issued (or, undated, recorded).
    role = AccountRole._meta.db_table
    return (
        "SELECT c.subject, COUNT(DISTINCT r.account_id) AS card_roles "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {role} r ON r.party_id = c.party_id "
        f"AND r.role = '{AccountRole.Role.CARD_HOLDER.value}' "
        "AND (r.start_on < c.as_of OR (r.start_on IS NULL AND r.created_at < c.as_of)) "
        "AND (r.end_on IS NULL OR r.end_on >= c.as_of) GROUP BY c.subject"
    )


def _loans_sql() -> str:
    loan = Loan._meta.db_table
    return (
        "SELECT c.subject, COUNT(l.id) AS loans_count, "  # noqa: S608  # nosec B608
        "SUM(CASE WHEN l.closed_on IS NULL OR l.closed_on >= c.as_of THEN 1 ELSE 0 END) "
        "AS open_loans, "
        "MAX(CASE WHEN l.delinquency_as_of < c.as_of THEN l.days_past_due END) AS dpd_known "
        f"FROM {_CUTOFF_TABLE} c JOIN {loan} l ON l.borrower_id = c.party_id "
        "AND l.disbursed_on < c.as_of GROUP BY c.subject"
    )


def _delinquency_sql() -> str:
    loan = Loan._meta.db_table
    change = DelinquencyChange._meta.db_table
    return (
        "SELECT c.subject, MAX(d.days_past_due) AS dpd_history "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {loan} l ON l.borrower_id = c.party_id "
        "AND l.disbursed_on < c.as_of "
        f"JOIN {change} d ON d.loan_id = l.id AND d.as_of < c.as_of GROUP BY c.subject"
    )


def _declined_sql() -> str:
    application = LoanApplication._meta.db_table
    return (
        "SELECT c.subject, COUNT(a.id) AS declined_applications_12m "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {application} a ON a.applicant_id = c.party_id "
        f"AND a.decision = '{LoanApplication.Decision.DECLINED.value}' "
        "AND a.decided_at < c.as_of AND a.decided_at >= c.y1 GROUP BY c.subject"
    )


def _party_queries() -> list[str]:
    """The aggregate queries of the customer, the accounts and cards they hold and their
    credit history (they read the cut-off table only)."""
    return [
        _customer_sql(),
        _accounts_sql(),
        _card_roles_sql(),
        _loans_sql(),
        _delinquency_sql(),
        _declined_sql(),
    ]


# The columns of _balances_sql and _monthly_inflows_sql (besides ``subject``).
BALANCE_FACTS: tuple[str, ...] = (
    "first_booking",
    "last_booking",
    "last_balance",
    "days3",
    "days6",
    "sum3",
    "sum6",
    "square3",
    "square6",
    "min_balance_3m",
    "min_balance_6m",
    "negative_days6",
    "transactions_3m",
    "transactions_6m",
    "inflow_6m",
    "outflow_6m",
    "card_payments_6m",
    "card_amount_6m",
    "cash_out_6m",
)
MONTH_FACTS: tuple[str, ...] = ("inflow_months_6m", "salary_months_6m", "month_sum", "month_square")


# The columns the aggregate queries return (besides ``subject``), which the features are
# computed from.
FACT_COLUMNS: tuple[str, ...] = (
    # The customer.
    "party_id",
    "party_kind",
    "segment",
    "customer_since",
    "owning_unit_id",
    "birth_year",
    # Balances and flows.
    *BALANCE_FACTS,
    # Monthly money in.
    *MONTH_FACTS,
    # Accounts and cards held.
    "accounts_count",
    "products_count",
    "card_accounts",
    "first_opened",
    "card_roles",
    # Credit history.
    "loans_count",
    "open_loans",
    "dpd_known",
    "dpd_history",
    "declined_applications_12m",
)


def _latest_rates_sql(day: str) -> str:
    """SQL: (currency, rate_to_base), the latest rate on or before ``day`` (an SQL
    expression) of every currency that has one, but the base currency (the parameter
    after ``day``'s) and those at 1, whose amounts stay as they are."""
    table = FxRate._meta.db_table
    return (
        f"SELECT f.currency, f.rate_to_base FROM {table} f JOIN ("  # noqa: S608  # nosec B608
        f"SELECT currency, MAX(as_of) AS as_of FROM {table} WHERE as_of <= {day} "
        "GROUP BY currency) m ON m.currency = f.currency AND m.as_of = f.as_of "
        "WHERE f.currency <> %s AND f.rate_to_base <> 1"
    )


def _rates_on(dialect: _Dialect, days: Iterable[dt.date]) -> list[tuple[dt.date, str, float]]:
    """(day, currency, rate) of each day: the latest rate on or before the day of every
    currency that has one, but the base currency and those at 1 (their amounts stay as
    they are)."""
    wanted = sorted(set(days))
    if not wanted:
        return []
    table = FxRate._meta.db_table
    base = base_currency()
    found: list[tuple[dt.date, str, Any]] = []
    with connection.cursor() as cursor:
        if len(wanted) == 1:
            cursor.execute(_latest_rates_sql("%s"), [dialect.date(wanted[0]), base])
            found = [(wanted[0], currency, rate) for currency, rate in cursor.fetchall()]
        else:
            cursor.execute(
                f"SELECT currency, as_of, rate_to_base FROM {table} "  # noqa: S608  # nosec B608
                "WHERE as_of <= %s ORDER BY currency, as_of",
                [dialect.date(wanted[-1])],
            )
            history: dict[str, tuple[list[dt.date], list[Any]]] = {}
            for currency, as_of, rate in cursor.fetchall():
                dates, values = history.setdefault(currency, ([], []))
                dates.append(_as_date(as_of, "as_of"))
                values.append(rate)
            for currency, (dates, values) in history.items():
                for day in wanted:
                    position = bisect.bisect_right(dates, day) - 1
                    if position >= 0:
                        found.append((day, currency, values[position]))
    return [
        (day, currency, float(rate))
        for day, currency, rate in found
        if currency != base and rate != 1
    ]


# --- Many customers: temporary tables -------------------------------------------------------


def _cutoffs_load(
    cursor: Any,
    dialect: _Dialect,
    pairs: Sequence[tuple[Any, dt.date]] | None,
    every_party_on: dt.date | None,
) -> None:
    columns = ", ".join(_CUTOFF_COLUMNS)
    party_type = "uuid" if dialect.postgres else "char(32)"
    if dialect.postgres:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CUTOFF_TABLE} (subject bigint, "
            f"party_id {party_type}, as_of date, d3 date, d6 date, m6 date, m0 date, y1 date) "
            "ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_CUTOFF_TABLE}")
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_CUTOFF_TABLE} (subject integer, "
            f"party_id {party_type}, as_of date, d3 date, d6 date, m6 date, m0 date, y1 date)"
        )
        cursor.execute(f"DELETE FROM {_CUTOFF_TABLE}")  # noqa: S608  # nosec B608
    party_table = Party._meta.db_table
    if every_party_on is not None:
        dates = [dialect.date(day) for day in _Cutoff.of(every_party_on).dates()]
        cursor.execute(
            f"INSERT INTO {_CUTOFF_TABLE} ({columns}) "  # noqa: S608  # nosec B608
            f"SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id, %s, %s, %s, %s, %s, %s "
            f"FROM {party_table}",
            dates,
        )
    else:
        rows = [
            (
                subject,
                dialect.key(party_id),
                *[dialect.date(day) for day in _Cutoff.of(as_of).dates()],
            )
            for subject, (party_id, as_of) in enumerate(pairs or ())
        ]
        if dialect.postgres:
            with cursor.cursor.copy(f"COPY {_CUTOFF_TABLE} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {_CUTOFF_TABLE} ({columns}) "  # noqa: S608  # nosec B608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
    # A temporary table has no statistics until analysed: the planner would guess (SQLite
    # then builds a Bloom filter over every account role for a single customer).
    cursor.execute(f"ANALYZE {_CUTOFF_TABLE}")


def _holdings_load(cursor: Any, dialect: _Dialect) -> None:
    """Fill the holdings table from the cut-off table, indexed by account."""
    columns = "subject bigint, account_id {key}, as_of date, d3 date, d6 date, m6 date, m0 date"
    if dialect.postgres:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_HOLDING_TABLE} "
            f"({columns.format(key='uuid')}) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_HOLDING_TABLE}")
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_HOLDING_TABLE} "
            f"({columns.format(key='char(32)')})"
        )
        cursor.execute(f"DELETE FROM {_HOLDING_TABLE}")  # noqa: S608  # nosec B608
    cursor.execute(
        f"INSERT INTO {_HOLDING_TABLE} (subject, account_id, as_of, d3, d6, m6, m0) "  # nosec B608
        f"{_holding_select()}"
    )
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {_HOLDING_TABLE}_account ON {_HOLDING_TABLE} (account_id)"
    )
    cursor.execute(f"ANALYZE {_HOLDING_TABLE}")


def _rates_load(
    cursor: Any, dialect: _Dialect, rates: Sequence[tuple[dt.date, str, float]]
) -> bool:
    """Fill the rate table (day, currency, rate) from :func:`_rates_on`; False when there
    is nothing to convert (the queries then leave it out)."""
    if not rates:
        return False
    columns = "as_of date, currency varchar(8), rate {real}"
    if dialect.postgres:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_RATE_TABLE} "
            f"({columns.format(real='double precision')}) ON COMMIT DROP"
        )
        cursor.execute(f"TRUNCATE {_RATE_TABLE}")
    else:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_RATE_TABLE} ({columns.format(real='REAL')})"
        )
        cursor.execute(f"DELETE FROM {_RATE_TABLE}")  # noqa: S608  # nosec B608
    cursor.executemany(
        f"INSERT INTO {_RATE_TABLE} (as_of, currency, rate) VALUES (%s, %s, %s)",  # noqa: S608  # nosec B608
        [(dialect.date(day), currency, rate) for day, currency, rate in rates],
    )
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {_RATE_TABLE}_day ON {_RATE_TABLE} (as_of, currency)"
    )
    cursor.execute(f"ANALYZE {_RATE_TABLE}")
    return True


def _frame(cursor: Any, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    cursor.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
    return frame.set_index("subject") if "subject" in frame.columns else frame


def _compute(
    pairs: Sequence[tuple[Any, dt.date]] | None = None, every_party_on: dt.date | None = None
) -> pd.DataFrame:
    """Features for each (party pk, day) of ``pairs`` (or every customer on one day), one
    row per pair in the order given, indexed 0..n-1, with a ``party_id`` column."""
    dialect = _Dialect(connection.vendor)
    if every_party_on is None and not pairs:
        return pd.DataFrame(columns=["party_id", *PARTY_FEATURES])
    with transaction.atomic(), connection.cursor() as cursor:
        _cutoffs_load(cursor, dialect, pairs, every_party_on)
        _holdings_load(cursor, dialect)
        days = [every_party_on] if every_party_on else [day for _party, day in pairs or ()]
        rates = _rates_load(cursor, dialect, _rates_on(dialect, days))
        queries = [
            *_party_queries(),
            _monthly_inflows_sql(dialect, rates),
            _balances_sql(dialect, rates),
        ]
        parts = [_frame(cursor, sql) for sql in queries]
        for table in (_CUTOFF_TABLE, _HOLDING_TABLE, *([_RATE_TABLE] if rates else [])):
            if dialect.postgres:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            else:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608  # nosec B608
    if every_party_on is not None:
        subjects = parts[0].index.sort_values()
        as_of = np.full(len(subjects), np.datetime64(every_party_on, "D"))
    else:
        subjects = pd.RangeIndex(len(pairs or ()))
        as_of = np.array([day for _party, day in pairs or ()], dtype="datetime64[D]")
    facts: dict[str, Any] = {}
    for part in parts:
        aligned = part.reindex(subjects)
        for column in aligned.columns:
            facts[column] = aligned[column].to_numpy()
    missing = np.full(len(subjects), None, dtype=object)
    facts = {column: facts.get(column, missing) for column in FACT_COLUMNS}
    party_ids = facts["party_id"]
    if not dialect.postgres:
        party_ids = np.array([_uuid_or_none(value) for value in party_ids], dtype=object)
    frame = pd.DataFrame(
        {"party_id": party_ids} | _assemble(as_of, facts, _districts(), size=len(subjects)),
        index=pd.RangeIndex(len(subjects)),
    )
    return frame[["party_id", *PARTY_FEATURES]]


# --- One customer: two short statements, no temporary table ---------------------------------
#
# The customer's own facts come from the same aggregate queries as above, reading the
# cut-off table from a common table expression of the same name. The balances and monthly
# money in are computed here from the customer's bookings, step by step as
# _balances_sql and _monthly_inflows_sql compute them: window functions over a few hundred
# rows cost milliseconds in SQLite. A change to one is a change to the other (the tests
# compare both ways over generated histories).

_EPOCH = dt.date(1970, 1, 1)


def _single_cutoff(dialect: _Dialect, party_pk: uuid.UUID, cut: _Cutoff) -> tuple[str, list[Any]]:
    """The cut-off table of one (customer, day) as a common table expression."""
    date = dialect.typed("date")
    sql = (
        f"{_CUTOFF_TABLE} ({', '.join(_CUTOFF_COLUMNS)}) AS "
        f"(SELECT 0, {dialect.typed('uuid')}, {', '.join([date] * 6)})"
    )
    return sql, [dialect.key(party_pk), *[dialect.date(day) for day in cut.dates()]]


def _single_party_sql(cutoff: tuple[str, list[Any]]) -> tuple[str, list[Any]]:
    """One row: the cut-off's columns, those of every query of :func:`_party_queries`
    (``party_id`` NULL for an unknown customer), then the data of the district record of
    the customer's branch (the last one in the records' order, as :func:`_districts`).

    Each query has the cut-off row of its own: SQLite keeps a table expression read more
    than once in a table it knows nothing about, and would then sift every account role
    through a Bloom filter for the one customer."""
    records = SourceRecord._meta.db_table
    queries = _party_queries()
    joins = [
        f"LEFT JOIN (WITH {cutoff[0]} {sql}) q{index} ON q{index}.subject = c.subject"
        for index, sql in enumerate(queries)
    ]
    sql = (
        f"WITH {cutoff[0]} SELECT c.*, {', '.join(f'q{i}.*' for i in range(len(joins)))}, "  # noqa: S608  # nosec B608
        f"(SELECT s.data FROM {records} s WHERE s.kind = 'district' "
        "AND s.owning_unit_id = q0.owning_unit_id "
        "ORDER BY s.source_system DESC, s.id DESC LIMIT 1) AS district_data "
        f"FROM {_CUTOFF_TABLE} c {' '.join(joins)}"
    )
    return sql, list(cutoff[1]) * (len(queries) + 1)


def _single_bookings_sql(
    dialect: _Dialect, cutoff: tuple[str, list[Any]], as_of: dt.date
) -> tuple[str, list[Any]]:
    """One customer's bookings on the deposit accounts they held, before the day, in the
    customer order of :func:`_balances_sql`: account, day number, amount and balance after
    in the base currency, card, cash-withdrawal and salary-or-pension flags."""
    booking = Transaction._meta.db_table
    # The rates read the day from a parameter of their own: the cut-off row is read once
    # (see _single_party_sql).
    day = dialect.typed("date")
    sql = (
        f"WITH {cutoff[0]}, {_HOLDING_TABLE} AS ({_holding_select()}), "  # noqa: S608  # nosec B608
        f"{_RATE_TABLE} (as_of, currency, rate) AS (SELECT {day}, r.currency, "
        f"{dialect.real('r.rate_to_base')} FROM ({_latest_rates_sql(day)}) r) "
        f"SELECT {dialect.text('t.account_id')}, {dialect.day_number('t.booking_date')}, "
        f"{_converted(dialect, 't.amount', True)}, "
        f"{_converted(dialect, 't.running_balance', True)}, "
        f"CASE WHEN {_card_booking('t')} THEN 1 ELSE 0 END, "
        f"CASE WHEN {_cash_booking('t')} THEN 1 ELSE 0 END, "
        f"CASE WHEN t.kind IN ({_quoted(INCOME_KINDS)}) THEN 1 ELSE 0 END "
        # The few accounts drive the join (SQLite would read every booking in index order).
        f"FROM {_HOLDING_TABLE} h CROSS JOIN {booking} t {_rate_join(True)}"
        "WHERE t.account_id = h.account_id AND t.booking_date < h.as_of "
        "ORDER BY t.booking_date, t.account_id, t.id"
    )
    return sql, [*cutoff[1], dialect.date(as_of), dialect.date(as_of), base_currency()]


def _booking_facts(rows: Sequence[Sequence[Any]], cut: _Cutoff) -> dict[str, Any]:
    """The figures of :func:`_balances_sql` and :func:`_monthly_inflows_sql` for one
    customer, from the rows of :func:`_single_bookings_sql`, in the queries' order of
    operations (so that sums of floating-point numbers come out the same)."""
    facts = dict.fromkeys((*BALANCE_FACTS, *MONTH_FACTS))
    if not rows:
        return facts
    as_of, d3, d6 = ((day - _EPOCH).days for day in (cut.as_of, cut.d3, cut.d6))
    # "booked" and "moves": per account, the running sum of amounts (the balance when core
    # banking sent none) and the balance after its previous booking; "days": the
    # customer's balance, the running sum of every account's moves.
    account_sums: dict[Any, float] = {}
    account_balances: dict[Any, float] = {}
    party_balances: list[float] = []
    party_balance = 0.0
    for account, _day, amount, running, *_flags in rows:
        total = account_sums[account] = account_sums.get(account, 0.0) + amount
        balance = total if running is None else running
        party_balance += balance - account_balances.get(account, 0)
        account_balances[account] = balance
        party_balances.append(party_balance)

    # "weighted" and the aggregates: each balance holds until the next booking (or the day).
    following_days = [row[1] for row in rows[1:]]
    following_days.append(as_of)
    days3 = days6 = negative_days6 = transactions_3m = transactions_6m = card_payments = 0
    sum3 = sum6 = square3 = square6 = inflow = outflow = card_amount = cash_out = 0.0
    min3: float | None = None
    min6: float | None = None
    # The six whole months before the day's month: [starts[k], starts[k + 1]).
    starts = [(add_months(cut.m6, k) - _EPOCH).days for k in range(7)]
    months: dict[int, list[float]] = {}  # month → [money in, salary or pension seen]
    month = 0
    for balance, following, (_account, day, amount, _running, card, cash, income) in zip(
        party_balances, following_days, rows, strict=True
    ):
        weight3 = max(0, following - max(day, d3))
        weight6 = max(0, following - max(day, d6))
        days3 += weight3
        days6 += weight6
        sum3 += balance * weight3
        sum6 += balance * weight6
        square3 += balance * balance * weight3
        square6 += balance * balance * weight6
        if weight3 > 0 and (min3 is None or balance < min3):
            min3 = balance
        if weight6 > 0 and (min6 is None or balance < min6):
            min6 = balance
        if balance < 0:
            negative_days6 += weight6
        if day >= d3:
            transactions_3m += 1
        if day >= d6:
            transactions_6m += 1
            if amount > 0:
                inflow += amount
            elif amount < 0:
                outflow += -amount
            if card:
                card_payments += 1
                card_amount += abs(amount)
            if cash and amount < 0:
                cash_out += -amount
        if starts[0] <= day < starts[6]:
            while day >= starts[month + 1]:
                month += 1
            figures = months.setdefault(month, [0.0, 0])
            if amount > 0:
                figures[0] += amount
                if income:
                    figures[1] = 1
    last = len(rows) - 1
    facts.update(
        first_booking=_EPOCH + dt.timedelta(days=rows[0][1]),
        last_booking=_EPOCH + dt.timedelta(days=rows[last][1]),
        last_balance=party_balances[last],
        days3=days3,
        days6=days6,
        sum3=sum3,
        sum6=sum6,
        square3=square3,
        square6=square6,
        min_balance_3m=min3,
        min_balance_6m=min6,
        negative_days6=negative_days6,
        transactions_3m=transactions_3m,
        transactions_6m=transactions_6m,
        inflow_6m=inflow,
        outflow_6m=outflow,
        card_payments_6m=card_payments,
        card_amount_6m=card_amount,
        cash_out_6m=cash_out,
    )
    if months:
        month_sum = month_square = 0.0
        for month_inflow, _income in (months[key] for key in sorted(months)):
            month_sum += month_inflow
            month_square += month_inflow * month_inflow
        facts.update(
            inflow_months_6m=sum(1 for value, _income in months.values() if value > 0),
            salary_months_6m=sum(income for _value, income in months.values()),
            month_sum=month_sum,
            month_square=month_square,
        )
    return facts


def _single_facts(
    party_pk: Any, as_of: dt.date
) -> tuple[dict[str, Any], dict[Any, dict[str, float | None]]]:
    """The facts of one customer on one day (``party_id`` None for an unknown customer)
    and the figures of their branch's district."""
    dialect = _Dialect(connection.vendor)
    try:
        key = party_pk if isinstance(party_pk, uuid.UUID) else uuid.UUID(str(party_pk))
    except ValueError:
        return dict.fromkeys(FACT_COLUMNS), {}
    if not dialect.postgres:
        return _single_facts_read(dialect, key, as_of)
    # Inside a transaction, under a savepoint: a prepared statement the server has
    # forgotten (a DEALLOCATE, a pooler handing out another session) then costs one more
    # try, not the caller's transaction.
    try:
        with nullcontext() if connection.get_autocommit() else transaction.atomic():
            return _single_facts_read(dialect, key, as_of)
    except DatabaseError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != "26000":  # no such statement
            raise
    _PREPARED.pop(connection.connection, None)
    with transaction.atomic():  # both the PREPAREs and the EXECUTEs in one session
        return _single_facts_read(dialect, key, as_of)


def _single_facts_read(
    dialect: _Dialect, key: uuid.UUID, as_of: dt.date
) -> tuple[dict[str, Any], dict[Any, dict[str, float | None]]]:
    cut = _Cutoff.of(as_of)
    cutoff = _single_cutoff(dialect, key, cut)
    with connection.cursor() as cursor:
        _execute(cursor, dialect, *_single_party_sql(cutoff))
        names = [column[0] for column in cursor.description]
        row = cursor.fetchone()
        # The cut-off's columns come first; each query's columns follow under their names.
        values = dict(zip(names[len(_CUTOFF_COLUMNS) :], row[len(_CUTOFF_COLUMNS) :], strict=True))
        if values.get("party_id") is None:
            return dict.fromkeys(FACT_COLUMNS), {}
        _execute(cursor, dialect, *_single_bookings_sql(dialect, cutoff, as_of))
        bookings = cursor.fetchall()
    facts = {column: values.get(column) for column in FACT_COLUMNS}
    facts.update(_booking_facts(bookings, cut))
    data = values.get("district_data")
    if data is None:
        return facts, {}
    if isinstance(data, str):
        data = json.loads(data)
    return facts, {facts["owning_unit_id"]: _district_figures(data)}


def _single_features(party_pk: Any, as_of: dt.date) -> tuple[Any, dict[str, np.ndarray]]:
    """The party's key (None when unknown) and its feature columns, each of length one."""
    facts, districts = _single_facts(party_pk, as_of)
    columns = _assemble(
        np.array([as_of], dtype="datetime64[D]"),
        {name: [value] for name, value in facts.items()},
        districts,
        size=1,
    )
    return facts["party_id"], columns


# --- From the facts to the features (both ways) ---------------------------------------------


def _district_figures(data: Mapping[str, Any] | None) -> dict[str, float | None]:
    """The district features from the data of an imported district record."""

    def number(value: Any) -> float | None:
        if value in (None, "", "?"):
            return None
        try:
            result = float(value)
        except (TypeError, ValueError):
            return None
        return result if math.isfinite(result) else None

    data = data or {}
    inhabitants = number(data.get("inhabitants"))
    crimes = number(data.get("crimes_1996"))
    if crimes is None:
        crimes = number(data.get("crimes_1995"))
    unemployment = number(data.get("unemployment_1996"))
    if unemployment is None:
        unemployment = number(data.get("unemployment_1995"))
    return {
        "district_unemployment": unemployment,
        "district_average_salary": number(data.get("average_salary")),
        "district_urban_ratio": number(data.get("urban_ratio")),
        "district_entrepreneurs_per_1000": number(data.get("entrepreneurs_per_1000")),
        "district_crimes_per_1000": (
            crimes / inhabitants * 1000 if crimes is not None and inhabitants else None
        ),
        "district_inhabitants": inhabitants,
    }


def _districts() -> dict[Any, dict[str, float | None]]:
    """District figures by the branch (org unit) they describe, from imported source
    records (a branch with several records: the last one, in the records' order)."""
    return {
        unit: _district_figures(data)
        for unit, data in SourceRecord.objects.filter(kind="district").values_list(
            "owning_unit_id", "data"
        )
    }


DISTRICT_FEATURES: tuple[str, ...] = (
    "district_unemployment",
    "district_average_salary",
    "district_urban_ratio",
    "district_entrepreneurs_per_1000",
    "district_crimes_per_1000",
    "district_inhabitants",
)


def _numbers(values: Any) -> np.ndarray:
    """Numbers as floats, NaN where missing (None, NaN) or unreadable."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(dtype=float)


def _objects(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=object)


def _dates(values: Any) -> np.ndarray:
    """Dates (date objects or ISO text, as the database returns them) as ``datetime64[D]``,
    NaT where missing."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return values.astype("datetime64[D]")
    array = np.asarray(values, dtype=object)
    out = np.full(array.shape, np.datetime64("NaT"), dtype="datetime64[D]")
    present = ~pd.isna(array)
    if present.any():
        out[present] = array[present].astype("datetime64[D]")
    return out


def _day_numbers(days: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as floats, NaN for NaT."""
    return np.where(np.isnat(days), np.nan, days.astype("int64").astype(float))


def _month_numbers(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 as floats, NaN for NaT."""
    return np.where(np.isnat(days), np.nan, days.astype("datetime64[M]").astype("int64"))


def _calendar(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of the month as floats, NaN for NaT."""
    months = days.astype("datetime64[M]")
    missing = np.isnat(days)
    year = months.astype("datetime64[Y]").astype("int64") + 1970
    month = months.astype("int64") % 12 + 1
    day = (days - months.astype("datetime64[D]")).astype("int64") + 1
    return (
        np.where(missing, np.nan, year),
        np.where(missing, np.nan, month),
        np.where(missing, np.nan, day),
    )


def _zero(values: np.ndarray) -> np.ndarray:
    """Missing as zero (counts of nothing)."""
    return np.where(np.isnan(values), 0.0, values)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator where the denominator is positive, else missing."""
    return numerator / np.where(denominator > 0, denominator, np.nan)


def _assemble(
    as_of: np.ndarray,
    facts: Mapping[str, Any],
    districts: Mapping[Any, Mapping[str, float | None]],
    *,
    size: int,
) -> dict[str, np.ndarray]:
    """The feature columns (:data:`PARTY_FEATURES`) from the facts the queries return, one
    entry per subject (``size`` of them), each as of its day in ``as_of``.

    The one definition of every feature's formula: many customers and one customer both
    come through here, with arrays of ``size`` entries (no loop over customers)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _assemble_columns(_dates(as_of), facts, districts, size)


def _assemble_columns(
    day: np.ndarray,
    facts: Mapping[str, Any],
    districts: Mapping[Any, Mapping[str, float | None]],
    size: int,
) -> dict[str, np.ndarray]:
    number = {
        name: _numbers(facts[name])
        for name in FACT_COLUMNS
        if name
        not in (
            "party_id",
            "party_kind",
            "segment",
            "customer_since",
            "owning_unit_id",
            "first_booking",
            "last_booking",
            "first_opened",
        )
    }
    out: dict[str, np.ndarray] = {}
    today = _day_numbers(day)
    year, month, day_of_month = _calendar(day)

    out["age"] = year - number["birth_year"]
    out["party_kind"] = _objects(facts["party_kind"])
    out["segment"] = _objects(facts["segment"])

    # A customer since the recorded day, else since their first account was opened.
    first_opened = _dates(facts["first_opened"])
    since_dates = _dates(facts["customer_since"])
    since = _day_numbers(np.where(np.isnat(since_dates), first_opened, since_dates))
    since = np.where(since < today, since, np.nan)
    out["customer_years"] = (today - since) / 365.25
    opened = np.where(_day_numbers(first_opened) < today, first_opened, np.datetime64("NaT"))
    opened_year, opened_month, opened_day = _calendar(opened.astype("datetime64[D]"))
    out["account_age_months"] = (
        (year - opened_year) * 12
        + (month - opened_month)
        - (day_of_month < opened_day).astype(float)
    )
    out["accounts_count"] = _zero(number["accounts_count"])
    out["products_count"] = _zero(number["products_count"])
    out["cards_count"] = _zero(number["card_accounts"]) + _zero(number["card_roles"])

    # Day-weighted balances.
    out["last_balance"] = number["last_balance"]
    for window in (3, 6):
        days = number[f"days{window}"]
        days = np.where(days > 0, days, np.nan)
        mean = number[f"sum{window}"] / days
        variance = np.maximum(number[f"square{window}"] / days - mean**2, 0.0)
        out[f"avg_balance_{window}m"] = mean
        out[f"min_balance_{window}m"] = number[f"min_balance_{window}m"]
        out[f"balance_volatility_{window}m"] = np.sqrt(variance) / np.where(
            mean != 0, np.abs(mean), np.nan
        )
    out["negative_balance_days_6m"] = np.where(
        number["days6"] > 0, number["negative_days6"], np.nan
    )
    first_booking = _dates(facts["first_booking"])
    out["history_days"] = today - _day_numbers(first_booking)
    out["days_since_last_transaction"] = today - _day_numbers(_dates(facts["last_booking"]))
    has_history = ~np.isnat(first_booking)
    for column in (
        "transactions_3m",
        "transactions_6m",
        "inflow_6m",
        "outflow_6m",
        "card_payments_6m",
        "card_amount_6m",
    ):
        out[column] = np.where(has_history, number[column], np.nan)
    out["outflow_inflow_ratio_6m"] = _ratio(number["outflow_6m"], number["inflow_6m"])
    out["cash_withdrawal_share_6m"] = _ratio(number["cash_out_6m"], number["outflow_6m"])

    # Whole months observed: from the month of the first booking (or six months back).
    this_month = _month_numbers(day)
    first_month = _month_numbers(first_booking)
    six_back = this_month - 6
    observed = this_month - np.where(first_month > six_back, first_month, six_back)
    observed = np.where(has_history & (observed > 0), observed, np.nan)
    monthly_mean = _zero(number["month_sum"]) / observed
    monthly_variance = np.maximum(_zero(number["month_square"]) / observed - monthly_mean**2, 0.0)
    is_observed = ~np.isnan(observed)
    out["avg_monthly_inflow_6m"] = monthly_mean
    out["inflow_months_6m"] = np.where(is_observed, _zero(number["inflow_months_6m"]), np.nan)
    out["salary_months_6m"] = np.where(is_observed, _zero(number["salary_months_6m"]), np.nan)
    out["inflow_cv_6m"] = np.sqrt(monthly_variance) / np.where(
        monthly_mean > 0, monthly_mean, np.nan
    )

    # Credit history: the worst delinquency known before the day, on the loan or its log.
    loans = _zero(number["loans_count"])
    out["loans_count"] = loans
    out["open_loans"] = _zero(number["open_loans"])
    worst = np.fmax(number["dpd_known"], number["dpd_history"])
    out["worst_days_past_due"] = np.where(loans > 0, _zero(worst), np.nan)
    out["declined_applications_12m"] = _zero(number["declined_applications_12m"])

    # The figures of the district the customer's branch is in.
    known = {unit: position for position, unit in enumerate(districts)}
    positions = np.fromiter(
        (known.get(unit, -1) for unit in _objects(facts["owning_unit_id"])),
        dtype=np.intp,
        count=size,
    )
    for column in DISTRICT_FEATURES:
        figures = [district[column] for district in districts.values()]
        out[column] = np.array([*figures, None], dtype=float)[positions]

    for name in PARTY_FEATURES:
        if name not in CATEGORICAL_FEATURES:
            values = np.asarray(out[name], dtype=float)
            out[name] = np.where(np.isfinite(values), values, np.nan)
    return {name: out[name] for name in PARTY_FEATURES}


def _uuid_or_none(value: Any) -> Any:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if isinstance(value, float) and math.isnan(value):
        return None
    return uuid.UUID(str(value))


def _plain(value: Any) -> Any:
    """A frame cell as a plain Python value: None for missing, float or str otherwise."""
    if value is None:
        return None
    if isinstance(value, float | np.floating):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value


# --- Public API -----------------------------------------------------------------------------


def party_features_for(pairs: Iterable[tuple[Any, Any]]) -> pd.DataFrame:
    """Features of each (party or party pk, day) pair, each as of its own day: one row per
    pair, in order (index 0..n-1), with the party's pk in column ``party_id``.

    Used to build learning data, where every loan has its own start day.
    """
    cleaned = [(getattr(party, "pk", party), _as_date(day, "as_of")) for party, day in pairs]
    return _compute(pairs=cleaned)


def party_features_bulk(as_of: dt.date, *, party_ids: Iterable[Any] | None = None) -> pd.DataFrame:
    """Features of every customer (or of ``party_ids``) as of ``as_of``: one row per
    customer, indexed by the party's pk, computed by SQL aggregates."""
    day = _as_date(as_of, "as_of")
    if party_ids is None:
        frame = _compute(every_party_on=day)
    else:
        keys = list(dict.fromkeys(getattr(pk, "pk", pk) for pk in party_ids))
        frame = _compute(pairs=[(pk, day) for pk in keys])
    frame = frame.set_index("party_id")
    frame.index.name = "party_id"
    return frame


def party_features(party: Any, *, as_of: dt.date) -> dict[str, Any]:
    """The features of one customer as of ``as_of`` (only what was known before that day),
    in one statement over that customer's own rows."""
    pk = getattr(party, "pk", party)
    party_id, columns = _single_features(pk, _as_date(as_of, "as_of"))
    if party_id is None:
        raise Party.DoesNotExist(f"No customer with key {pk}.")
    return {name: _plain(values[0]) for name, values in columns.items()}


def _loan_columns(
    party: Mapping[str, Any],
    *,
    loan_amount: Sequence[Any],
    term_months: Sequence[Any],
    instalment: Sequence[Any],
    declared_income: Sequence[Any],
    declared_obligations: Sequence[Any],
    product_type: Sequence[Any],
) -> dict[str, np.ndarray]:
    """The application columns (:data:`APPLICATION_FEATURES`) from the loans asked for and
    the applicants' ``avg_monthly_inflow_6m`` and ``avg_balance_6m`` (same order)."""

    def numbers(values: Sequence[Any]) -> np.ndarray:
        return np.array([None if v is None else float(v) for v in values], dtype=float)

    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["loan_amount"] = numbers(loan_amount)
        out["term_months"] = numbers(term_months)
        out["instalment"] = numbers(instalment)
        out["instalment_to_inflow"] = _ratio(
            out["instalment"], _numbers(party["avg_monthly_inflow_6m"])
        )
        out["instalment_to_balance"] = _ratio(out["instalment"], _numbers(party["avg_balance_6m"]))
        income = numbers(declared_income)
        income = np.where(income > 0, income, np.nan)
        out["declared_income"] = income
        obligations = _zero(numbers(declared_obligations))
        out["debt_to_income"] = _ratio((obligations + out["instalment"]) * 100, income)
    out["product_type"] = _objects(list(product_type))
    return {name: out[name] for name in APPLICATION_FEATURES}


def loan_facts_frame(
    party: pd.DataFrame,
    *,
    loan_amount: Sequence[Any],
    term_months: Sequence[Any],
    instalment: Sequence[Any],
    declared_income: Sequence[Any],
    declared_obligations: Sequence[Any],
    product_type: Sequence[Any],
) -> pd.DataFrame:
    """The application columns beside ``party`` features (same row order): the loan asked
    for and how it compares with the customer's money in and balances."""
    columns = _loan_columns(
        {name: party[name].to_numpy() for name in ("avg_monthly_inflow_6m", "avg_balance_6m")},
        loan_amount=loan_amount,
        term_months=term_months,
        instalment=instalment,
        declared_income=declared_income,
        declared_obligations=declared_obligations,
        product_type=product_type,
    )
    return pd.DataFrame(columns, index=party.index)


def application_day(application: Any) -> dt.date:
    """The day an application's features are taken as of: submitted, else created."""
    moment = application.submitted_at or application.created_at
    return moment.date() if moment is not None else dt.date.today()


def application_features(application: Any, *, as_of: dt.date | None = None) -> dict[str, Any]:
    """The applicant's features as of the application day (or ``as_of``) and the loan asked
    for: amount, term, estimated instalment and its ratios to money in and balances."""
    from django.core.exceptions import ValidationError

    from bankcrm.lending.underwriting import new_instalment

    day = _as_date(as_of, "as_of") if as_of is not None else application_day(application)
    _party_id, party = _single_features(application.applicant_id, day)
    try:
        instalment: Decimal | None = new_instalment(application, day)[0]
    except (ValidationError, ValueError, ArithmeticError):
        instalment = None
    loan = _loan_columns(
        party,
        loan_amount=[application.amount],
        term_months=[application.term_months],
        instalment=[instalment],
        declared_income=[application.monthly_income],
        declared_obligations=[application.monthly_obligations],
        product_type=[application.product.type],
    )
    return {name: _plain(values[0]) for name, values in (party | loan).items()}


def feature_names() -> list[str]:
    """Every feature application scoring can use, in column order."""
    return [*PARTY_FEATURES, *APPLICATION_FEATURES]


def feature_label(name: str, language: str | None = None) -> str:
    """The feature's label in ``language`` (English unless Chinese is asked for)."""
    feature = FEATURE_CATALOGUE.get(name)
    if feature is None:
        return name
    if language and language.lower().startswith("zh"):
        return feature.label_zh
    return feature.label_en


__all__ = [
    "APPLICATION_FEATURES",
    "FEATURE_CATALOGUE",
    "PARTY_FEATURES",
    "FeatureDef",
    "add_months",
    "application_day",
    "application_features",
    "feature_label",
    "feature_names",
    "loan_facts_frame",
    "party_features",
    "party_features_bulk",
    "party_features_for",
]
