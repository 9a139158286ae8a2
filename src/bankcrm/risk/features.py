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
aggregate queries, on PostgreSQL and SQLite alike; :func:`party_features` is the same
computation for one customer, so both always agree.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, transaction

from bankcrm.banking.models import Account, AccountRole, FxRate, Product, Transaction
from bankcrm.banking.selectors import base_currency, fx_rates_latest
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

HOLDER_ROLES = (AccountRole.Role.OWNER.value, AccountRole.Role.JOINT_OWNER.value)
# Bookings made with a card: card payments, and withdrawals at an ATM.
CARD_CHANNELS = (Transaction.Channel.CARD.value, Transaction.Channel.ATM.value)
INCOME_KINDS = (Transaction.Kind.SALARY.value, Transaction.Kind.PENSION.value)

_CUTOFF_TABLE = "risk_feature_cutoff"
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


def _quoted(values: Iterable[str]) -> str:
    # Only the module's own constants come here (choices of the models), never input.
    return ", ".join(f"'{value}'" for value in values)


# --- The cut-off table: one row per (customer, day) whose features are wanted ---------------


def _cutoffs_load(
    cursor: Any,
    dialect: _Dialect,
    pairs: Sequence[tuple[Any, dt.date]] | None,
    every_party_on: dt.date | None,
) -> None:
    columns = "subject, party_id, as_of, d3, d6, m6, m0, y1"
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
        cut = _Cutoff.of(every_party_on)
        dates = [cut.as_of, cut.d3, cut.d6, cut.m6, cut.m0, cut.y1]
        cursor.execute(
            f"INSERT INTO {_CUTOFF_TABLE} ({columns}) "  # noqa: S608  # nosec B608
            f"SELECT ROW_NUMBER() OVER (ORDER BY id) - 1, id, %s, %s, %s, %s, %s, %s "
            f"FROM {party_table}",
            dates if dialect.postgres else [d.isoformat() for d in dates],
        )
    else:
        rows = []
        for subject, (party_id, as_of) in enumerate(pairs or ()):
            cut = _Cutoff.of(as_of)
            dates = [cut.as_of, cut.d3, cut.d6, cut.m6, cut.m0, cut.y1]
            if dialect.postgres:
                rows.append((subject, party_id, *dates))
            else:
                rows.append((subject, dialect.key(party_id), *[d.isoformat() for d in dates]))
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


def _frame(cursor: Any, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    cursor.execute(sql, list(params))
    names = [column[0] for column in cursor.description]
    frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
    return frame.set_index("subject") if "subject" in frame.columns else frame


def _fx_expression(dialect: _Dialect, on: dt.date) -> tuple[str, list[Any]]:
    """A SQL factor turning an amount of ``t.currency`` into the base currency."""
    # Only currencies with a rate can be converted (the rates table is small).
    currencies = set(FxRate.objects.values_list("currency", flat=True).distinct())
    base = base_currency()
    rates = {
        currency: rate
        for currency, rate in fx_rates_latest(currencies, on=on).items()
        if currency != base and rate != 1
    }
    if not rates:
        return "1.0", []
    params: list[Any] = []
    cases = []
    for currency, rate in sorted(rates.items()):
        cases.append("WHEN %s THEN %s")
        params.extend([currency, float(rate)])
    return f"(CASE t.currency {' '.join(cases)} ELSE 1.0 END)", params


def _holdings_load(cursor: Any, dialect: _Dialect) -> None:
    """Fill the holdings table: (subject, account) of the deposit accounts each customer
    held as owner or joint owner, with the subject's window dates, indexed by account."""
    role = AccountRole._meta.db_table
    account = Account._meta.db_table
    product = Product._meta.db_table
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
        f"INSERT INTO {_HOLDING_TABLE} (subject, account_id, as_of, d3, d6, m6, m0) "  # noqa: S608  # nosec B608
        "SELECT DISTINCT c.subject, r.account_id, c.as_of, c.d3, c.d6, c.m6, c.m0 "
        f"FROM {_CUTOFF_TABLE} c "
        f"JOIN {role} r ON r.party_id = c.party_id AND r.role IN ({_quoted(HOLDER_ROLES)}) "
        f"JOIN {account} a ON a.id = r.account_id "
        f"JOIN {product} p ON p.id = a.product_id AND NOT p.is_liability"
    )
    cursor.execute(
        f"CREATE INDEX IF NOT EXISTS {_HOLDING_TABLE}_account ON {_HOLDING_TABLE} (account_id)"
    )
    cursor.execute(f"ANALYZE {_HOLDING_TABLE}")


def _balances_and_flows(
    cursor: Any, dialect: _Dialect, fx: str, fx_params: list[Any]
) -> pd.DataFrame:
    """Per subject: day-weighted balance sums over 3 and 6 months, minimum, overdrawn days,
    the last balance, first and last booking, and the 3/6-month activity figures."""
    booking = Transaction._meta.db_table
    amount = f"{dialect.real('t.amount')} * {fx}"
    running = f"{dialect.real('t.running_balance')} * {fx}"
    days = {
        w: dialect.greatest(
            "0", dialect.days("x.next_date", dialect.greatest("x.booking_date", f"x.d{w}"))
        )
        for w in (3, 6)
    }
    in6 = "x.booking_date >= x.d6"
    card = (
        f"(x.kind = '{Transaction.Kind.CARD_PAYMENT.value}' "
        f"OR x.channel IN ({_quoted(CARD_CHANNELS)}))"
    )
    cash = f"x.kind = '{Transaction.Kind.CASH_WITHDRAWAL.value}'"
    sql = (
        "WITH booked AS ("  # noqa: S608  # nosec B608
        "SELECT h.subject, h.as_of, h.d3, h.d6, t.account_id, t.id, t.booking_date, t.kind, "
        f"t.channel, {amount} AS amount, "
        f"COALESCE({running}, SUM({amount}) OVER account_order) AS balance "
        f"FROM {_HOLDING_TABLE} h JOIN {booking} t ON t.account_id = h.account_id "
        "AND t.booking_date < h.as_of "
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
    # The factor appears twice per booking (amount and running balance) in "booked", and
    # the amount expression once more inside the running sum.
    params = fx_params * 3
    return _frame(cursor, sql, params)


def _monthly_inflows(cursor: Any, dialect: _Dialect, fx: str, fx_params: list[Any]) -> pd.DataFrame:
    """Per subject, over the six whole months before the day's month: months with money in,
    months with salary or pension, and the sum and sum of squares of monthly inflows."""
    booking = Transaction._meta.db_table
    amount = f"{dialect.real('t.amount')} * {fx}"
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
        "AND t.booking_date >= h.m6 AND t.booking_date < h.m0 "
        f"GROUP BY h.subject, {month}) m GROUP BY m.subject"
    )
    return _frame(cursor, sql, fx_params)


def _customer_facts(cursor: Any, dialect: _Dialect) -> pd.DataFrame:
    party = Party._meta.db_table
    person = PersonProfile._meta.db_table
    return _frame(
        cursor,
        "SELECT c.subject, c.party_id, p.kind AS party_kind, p.segment, "  # noqa: S608  # nosec B608
        "p.customer_since, p.owning_unit_id, pp.birth_year "
        f"FROM {_CUTOFF_TABLE} c JOIN {party} p ON p.id = c.party_id "
        f"LEFT JOIN {person} pp ON pp.party_id = p.id",
    )


def _holding_facts(cursor: Any, dialect: _Dialect) -> pd.DataFrame:
    role = AccountRole._meta.db_table
    account = Account._meta.db_table
    product = Product._meta.db_table
    is_open = "(a.closed_on IS NULL OR a.closed_on >= c.as_of)"
    accounts = _frame(
        cursor,
        f"SELECT c.subject, COUNT(DISTINCT CASE WHEN {is_open} THEN a.id END) "  # noqa: S608  # nosec B608
        "AS accounts_count, "
        f"COUNT(DISTINCT CASE WHEN {is_open} THEN a.product_id END) AS products_count, "
        f"COUNT(DISTINCT CASE WHEN {is_open} AND p.category = "
        f"'{Product.Category.CREDIT_CARD.value}' THEN a.id END) AS card_accounts, "
        "MIN(a.opened_on) AS first_opened "
        f"FROM {_CUTOFF_TABLE} c "
        f"JOIN {role} r ON r.party_id = c.party_id AND r.role IN ({_quoted(HOLDER_ROLES)}) "
        f"JOIN {account} a ON a.id = r.account_id AND a.opened_on < c.as_of "
        f"JOIN {product} p ON p.id = a.product_id GROUP BY c.subject",
    )
    # A card holder's role from the day the card was issued (or, undated, recorded).
    cards = _frame(
        cursor,
        "SELECT c.subject, COUNT(DISTINCT r.account_id) AS card_roles "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {role} r ON r.party_id = c.party_id "
        f"AND r.role = '{AccountRole.Role.CARD_HOLDER.value}' "
        "AND (r.start_on < c.as_of OR (r.start_on IS NULL AND r.created_at < c.as_of)) "
        "AND (r.end_on IS NULL OR r.end_on >= c.as_of) GROUP BY c.subject",
    )
    return accounts.join(cards, how="outer")


def _credit_facts(cursor: Any, dialect: _Dialect) -> pd.DataFrame:
    loan = Loan._meta.db_table
    change = DelinquencyChange._meta.db_table
    application = LoanApplication._meta.db_table
    loans = _frame(
        cursor,
        "SELECT c.subject, COUNT(l.id) AS loans_count, "  # noqa: S608  # nosec B608
        "SUM(CASE WHEN l.closed_on IS NULL OR l.closed_on >= c.as_of THEN 1 ELSE 0 END) "
        "AS open_loans, "
        "MAX(CASE WHEN l.delinquency_as_of < c.as_of THEN l.days_past_due END) AS dpd_known "
        f"FROM {_CUTOFF_TABLE} c JOIN {loan} l ON l.borrower_id = c.party_id "
        "AND l.disbursed_on < c.as_of GROUP BY c.subject",
    )
    history = _frame(
        cursor,
        "SELECT c.subject, MAX(d.days_past_due) AS dpd_history "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {loan} l ON l.borrower_id = c.party_id "
        "AND l.disbursed_on < c.as_of "
        f"JOIN {change} d ON d.loan_id = l.id AND d.as_of < c.as_of GROUP BY c.subject",
    )
    declined = _frame(
        cursor,
        "SELECT c.subject, COUNT(a.id) AS declined_applications_12m "  # noqa: S608  # nosec B608
        f"FROM {_CUTOFF_TABLE} c JOIN {application} a ON a.applicant_id = c.party_id "
        f"AND a.decision = '{LoanApplication.Decision.DECLINED.value}' "
        "AND a.decided_at < c.as_of AND a.decided_at >= c.y1 GROUP BY c.subject",
    )
    return loans.join(history, how="outer").join(declined, how="outer")


def _districts() -> dict[Any, dict[str, float | None]]:
    """District figures by the branch (org unit) they describe, from imported source records."""

    def number(value: Any) -> float | None:
        if value in (None, "", "?"):
            return None
        try:
            result = float(value)
        except (TypeError, ValueError):
            return None
        return result if math.isfinite(result) else None

    figures: dict[Any, dict[str, float | None]] = {}
    for unit, data in SourceRecord.objects.filter(kind="district").values_list(
        "owning_unit_id", "data"
    ):
        data = data or {}
        inhabitants = number(data.get("inhabitants"))
        crimes = number(data.get("crimes_1996"))
        if crimes is None:
            crimes = number(data.get("crimes_1995"))
        unemployment = number(data.get("unemployment_1996"))
        if unemployment is None:
            unemployment = number(data.get("unemployment_1995"))
        figures[unit] = {
            "district_unemployment": unemployment,
            "district_average_salary": number(data.get("average_salary")),
            "district_urban_ratio": number(data.get("urban_ratio")),
            "district_entrepreneurs_per_1000": number(data.get("entrepreneurs_per_1000")),
            "district_crimes_per_1000": (
                crimes / inhabitants * 1000 if crimes is not None and inhabitants else None
            ),
            "district_inhabitants": inhabitants,
        }
    return figures


def _dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce")


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator where the denominator is positive, else missing."""
    denominator = denominator.astype(float)
    return (numerator.astype(float) / denominator.where(denominator > 0)).astype(float)


def _assemble(subjects: pd.Index, as_of: pd.Series, parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The feature columns from the query results (vectorised; no loop over customers)."""
    facts = parts["customer"].reindex(subjects)
    balances = parts["balances"].reindex(subjects)
    months = parts["months"].reindex(subjects)
    holdings = parts["holdings"].reindex(subjects)
    credit = parts["credit"].reindex(subjects)
    day = _dates(as_of)
    out: dict[str, pd.Series] = {}

    birth_year = pd.to_numeric(facts["birth_year"], errors="coerce")
    out["age"] = (day.dt.year - birth_year).astype(float)
    out["party_kind"] = facts["party_kind"].astype(object)
    out["segment"] = facts["segment"].astype(object)

    first_opened = _dates(holdings["first_opened"])
    since = _dates(facts["customer_since"]).fillna(first_opened)
    since = since.where(since < day)
    out["customer_years"] = ((day - since).dt.days / 365.25).astype(float)
    opened = first_opened.where(first_opened < day)
    out["account_age_months"] = (
        (day.dt.year - opened.dt.year) * 12
        + (day.dt.month - opened.dt.month)
        - (day.dt.day < opened.dt.day).astype(int)
    ).astype(float)
    out["accounts_count"] = holdings["accounts_count"].fillna(0).astype(float)
    out["products_count"] = holdings["products_count"].fillna(0).astype(float)
    out["cards_count"] = (
        holdings["card_accounts"].fillna(0) + holdings["card_roles"].fillna(0)
    ).astype(float)

    numeric = balances.apply(pd.to_numeric, errors="coerce")
    out["last_balance"] = numeric["last_balance"]
    for window in (3, 6):
        days = numeric[f"days{window}"].where(numeric[f"days{window}"] > 0)
        mean = numeric[f"sum{window}"] / days
        variance = (numeric[f"square{window}"] / days - mean**2).clip(lower=0)
        out[f"avg_balance_{window}m"] = mean
        out[f"min_balance_{window}m"] = numeric[f"min_balance_{window}m"]
        out[f"balance_volatility_{window}m"] = np.sqrt(variance) / mean.abs().where(mean != 0)
    out["negative_balance_days_6m"] = numeric["negative_days6"].where(numeric["days6"] > 0)
    first_booking = _dates(balances["first_booking"])
    last_booking = _dates(balances["last_booking"])
    out["history_days"] = (day - first_booking).dt.days.astype(float)
    out["days_since_last_transaction"] = (day - last_booking).dt.days.astype(float)
    has_history = first_booking.notna()
    for column in (
        "transactions_3m",
        "transactions_6m",
        "inflow_6m",
        "outflow_6m",
        "card_payments_6m",
        "card_amount_6m",
    ):
        out[column] = numeric[column].where(has_history)
    out["outflow_inflow_ratio_6m"] = _ratio(numeric["outflow_6m"], numeric["inflow_6m"])
    out["cash_withdrawal_share_6m"] = _ratio(numeric["cash_out_6m"], numeric["outflow_6m"])

    # Whole months observed: from the month of the first booking (or six months back).
    month0 = _dates(pd.Series(as_of, index=subjects).map(lambda d: d.replace(day=1)))
    first_month = first_booking.dt.to_period("M").dt.to_timestamp()
    month6 = month0 - pd.DateOffset(months=6)
    start = first_month.where(first_month > month6, month6)
    observed = (month0.dt.year - start.dt.year) * 12 + (month0.dt.month - start.dt.month)
    observed = observed.where(has_history & (observed > 0)).astype(float)
    month_numbers = months.apply(pd.to_numeric, errors="coerce")
    month_sum = month_numbers["month_sum"].fillna(0)
    month_square = month_numbers["month_square"].fillna(0)
    monthly_mean = month_sum / observed
    monthly_variance = (month_square / observed - monthly_mean**2).clip(lower=0)
    out["avg_monthly_inflow_6m"] = monthly_mean
    out["inflow_months_6m"] = month_numbers["inflow_months_6m"].fillna(0).where(observed.notna())
    out["salary_months_6m"] = month_numbers["salary_months_6m"].fillna(0).where(observed.notna())
    out["inflow_cv_6m"] = np.sqrt(monthly_variance) / monthly_mean.where(monthly_mean > 0)

    credit_numbers = credit.apply(pd.to_numeric, errors="coerce")
    has_loans = credit_numbers["loans_count"].fillna(0) > 0
    out["loans_count"] = credit_numbers["loans_count"].fillna(0).astype(float)
    out["open_loans"] = credit_numbers["open_loans"].fillna(0).astype(float)
    worst = pd.concat([credit_numbers["dpd_known"], credit_numbers["dpd_history"]], axis=1).max(
        axis=1
    )
    out["worst_days_past_due"] = worst.fillna(0).where(has_loans)
    out["declined_applications_12m"] = (
        credit_numbers["declined_applications_12m"].fillna(0).astype(float)
    )

    districts = _districts()
    units = facts["owning_unit_id"]
    for column in (
        "district_unemployment",
        "district_average_salary",
        "district_urban_ratio",
        "district_entrepreneurs_per_1000",
        "district_crimes_per_1000",
        "district_inhabitants",
    ):
        lookup = {unit: figures[column] for unit, figures in districts.items()}
        out[column] = units.map(lookup).astype(float)

    frame = pd.DataFrame({"party_id": facts["party_id"]} | {n: out[n] for n in PARTY_FEATURES})
    numbers = [name for name in PARTY_FEATURES if name not in CATEGORICAL_FEATURES]
    values = frame[numbers].astype(float)
    frame[numbers] = values.where(np.isfinite(values.to_numpy()))
    return frame


def _compute(
    pairs: Sequence[tuple[Any, dt.date]] | None = None, every_party_on: dt.date | None = None
) -> pd.DataFrame:
    """Features for each (party pk, day) of ``pairs`` (or every customer on one day), one
    row per pair in the order given, indexed 0..n-1, with a ``party_id`` column."""
    dialect = _Dialect(connection.vendor)
    latest = every_party_on or max((day for _party, day in pairs or ()), default=None)
    if latest is None:
        return pd.DataFrame(columns=["party_id", *PARTY_FEATURES])
    with transaction.atomic(), connection.cursor() as cursor:
        _cutoffs_load(cursor, dialect, pairs, every_party_on)
        _holdings_load(cursor, dialect)
        fx, fx_params = _fx_expression(dialect, latest)
        parts = {
            "customer": _customer_facts(cursor, dialect),
            "balances": _balances_and_flows(cursor, dialect, fx, fx_params),
            "months": _monthly_inflows(cursor, dialect, fx, fx_params),
            "holdings": _holding_facts(cursor, dialect),
            "credit": _credit_facts(cursor, dialect),
        }
        for table in (_CUTOFF_TABLE, _HOLDING_TABLE):
            if dialect.postgres:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
            else:
                cursor.execute(f"DELETE FROM {table}")  # noqa: S608  # nosec B608
    for name, part in parts.items():
        expected = _EMPTY_COLUMNS[name]
        for column in expected:
            if column not in part.columns:
                part[column] = pd.Series(dtype=object)
    if every_party_on is not None:
        subjects = parts["customer"].index.sort_values()
        as_of = pd.Series([every_party_on] * len(subjects), index=subjects)
    else:
        subjects = pd.RangeIndex(len(pairs or ()))
        as_of = pd.Series([day for _party, day in pairs or ()], index=subjects)
    frame = _assemble(subjects, as_of, parts)
    if not dialect.postgres:
        frame["party_id"] = frame["party_id"].map(_uuid_or_none)
    return frame


_EMPTY_COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": (
        "party_id",
        "party_kind",
        "segment",
        "customer_since",
        "owning_unit_id",
        "birth_year",
    ),
    "balances": (
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
    ),
    "months": ("inflow_months_6m", "salary_months_6m", "month_sum", "month_square"),
    "holdings": (
        "accounts_count",
        "products_count",
        "card_accounts",
        "first_opened",
        "card_roles",
    ),
    "credit": (
        "loans_count",
        "open_loans",
        "dpd_known",
        "dpd_history",
        "declined_applications_12m",
    ),
}


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
    """The features of one customer as of ``as_of`` (only what was known before that day)."""
    pk = getattr(party, "pk", party)
    frame = _compute(pairs=[(pk, _as_date(as_of, "as_of"))])
    if frame.empty or pd.isna(frame.iloc[0]["party_id"]):
        raise Party.DoesNotExist(f"No customer with key {pk}.")
    row = frame.iloc[0]
    return {name: _plain(row[name]) for name in PARTY_FEATURES}


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
    out = pd.DataFrame(index=party.index)

    def numbers(values: Sequence[Any]) -> pd.Series:
        return pd.Series(
            [None if v is None else float(v) for v in values], index=party.index, dtype=float
        )

    out["loan_amount"] = numbers(loan_amount)
    out["term_months"] = numbers(term_months)
    out["instalment"] = numbers(instalment)
    out["instalment_to_inflow"] = _ratio(out["instalment"], party["avg_monthly_inflow_6m"])
    out["instalment_to_balance"] = _ratio(out["instalment"], party["avg_balance_6m"])
    income = numbers(declared_income)
    income = income.where(income > 0)
    out["declared_income"] = income
    obligations = numbers(declared_obligations).fillna(0)
    out["debt_to_income"] = _ratio((obligations + out["instalment"]) * 100, income)
    out["product_type"] = pd.Series(list(product_type), index=party.index, dtype=object)
    return out[list(APPLICATION_FEATURES)]


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
    party = _compute(pairs=[(application.applicant_id, day)])
    try:
        instalment: Decimal | None = new_instalment(application, day)[0]
    except (ValidationError, ValueError, ArithmeticError):
        instalment = None
    loan = loan_facts_frame(
        party,
        loan_amount=[application.amount],
        term_months=[application.term_months],
        instalment=[instalment],
        declared_income=[application.monthly_income],
        declared_obligations=[application.monthly_obligations],
        product_type=[application.product.type],
    )
    row = pd.concat([party, loan], axis=1).iloc[0]
    return {name: _plain(row[name]) for name in (*PARTY_FEATURES, *APPLICATION_FEATURES)}


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
