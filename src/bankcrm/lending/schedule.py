"""Loan repayment schedules: what falls due when, split into principal, interest and fees.

Pure calculation: no database, no models. ``schedule_build(terms)`` turns a
``ScheduleTerms`` into a ``Schedule``; ``schedule_after_prepayment`` and
``schedule_reschedule`` recompute the rest of a loan after an early repayment or a
restructuring; ``schedule_to_dict`` gives the JSON form used by the command line and the API.

Every line obeys three identities an auditor can check with a pencil::

    instalment      = principal + interest + fee
    closing_balance = opening_balance - principal
    sum of principal parts = the amount lent (exactly, to the minor unit)

Periods and due dates
    Frequencies: monthly, quarterly, semi_annual, annual (calendar months: 1, 3, 6, 12)
    and weekly, fortnightly (7 and 14 days). The first instalment falls due one regular
    period after disbursement unless ``first_due`` is given (it may make the first period
    short or long, up to two regular periods). Later due dates are counted from that anchor
    (the disbursement date, or ``first_due``) and keep its day of the month; in shorter
    months they fall on the last day (31 Jan, 28/29 Feb, 31 Mar, 30 Apr …). Each period runs
    from the previous due date (the disbursement date for the first) to its due date;
    ``days`` is the number of calendar days in it.

Day counts (the fraction of a year a period counts for)
    - ``act365`` ACT/365 (Fixed): actual days / 365, also in leap years.
    - ``act360`` ACT/360: actual days / 360.
    - ``30360`` 30/360 Bond Basis, as in the 2006 ISDA Definitions section 4.16(f):
      days = 360 × (Y2 − Y1) + 30 × (M2 − M1) + (D2 − D1), where D1 = 31 becomes 30, and
      D2 = 31 becomes 30 when D1 (after that change) is 30; divided by 360. The end-of-
      February rules of the "30/360 US" (SIA) variant are NOT applied: 31 Jan → 28 Feb
      counts 28 days and 28 Feb → 31 Mar counts 33. A monthly loan with due dates on the
      1st–28th counts exactly 30 days, one twelfth of a year, every period.

Rounding
    Every amount is rounded to the currency's minor unit (CNY 2 decimals, JPY 0, KWD 3)
    half-up (0.005 → 0.01, 四舍五入), the convention of loan contracts. This is fixed on
    purpose and does not follow ``MONEY_ROUNDING`` (banker's rounding by default, used when
    money is shown): a contractual schedule must not change with a display setting.
    Intermediate quotients carry 34 significant digits and are rounded once, at the end.

Interest
    interest of a period = opening balance × annual rate / 100 × day-count fraction of the
    period, rounded to the minor unit. The total interest is the sum of the line interests,
    so it is exact to the minor unit.

Methods
    - ``annuity`` (等额本息, equal instalments): the level instalment that repays the
      balance over the amortizing periods when each period's interest follows its own day
      count: balance / Σ_k Π_{j≤k} 1 / (1 + r_j), with r_j = annual rate / 100 × the
      day-count fraction of period j, rounded half-up (balance / m when the rate is 0).
      With equal periods (30/360 and due dates on the 1st–28th, or any count with equal
      period lengths) this is the textbook payment balance × i / (1 − (1 + i)^−m) with
      i = annual rate / 100 / periods per year. Each line's principal = instalment − that
      line's interest; the LAST line repays whatever balance is left, so it absorbs the
      cent rounding only: for 1,000,000 over 360 months at 4.9 % from 15 Jan 2026 the
      instalments are 5,308.71 and the last 5,305.06 under ACT/365, 5,350.17 and 5,351.63
      under ACT/360, 5,307.27 and 5,305.19 under 30/360. Where the interest of a long
      period exceeds the instalment (very high rates on very long terms), the principal
      part is negative: the unpaid interest is added to the balance. In the rare case
      where cent rounding would repay the loan before its last period (a few minor units a
      period over hundreds of periods), the instalment is the largest lower one that does
      not. A schedule whose balance would pass 10^16 is refused.
    - ``equal_principal`` (等额本金): principal part = balance / m rounded half-up
      (rounded down instead where rounding up would leave a negative last part); the last
      line takes the remainder. Interest falls with the balance.
    - ``interest_only``: each line pays the period's interest; the last also repays the
      whole principal (balloon).
    - ``bullet``: nothing but period fees falls due before maturity; the last line repays
      the principal and all the interest, which is simple interest (not compounded) on the
      principal from disbursement to maturity, one day-count fraction over the whole term.

Grace
    ``grace_periods`` = N: for annuity and equal principal, the first N lines repay no
    principal; amortization runs over the remaining periods − N. During grace the
    interest is paid each period, or, with ``capitalise_grace_interest``, not paid but
    added to the balance (the line shows principal = −interest, instalment = fee only), and
    the larger balance is then amortized.

Fees
    ``upfront_fee`` (an amount) or ``upfront_fee_percent`` (of the principal, rounded
    half-up) is deducted from the amount paid out: net disbursed = principal − upfront fee;
    the borrower still repays the whole principal. ``period_fee`` is added to every
    scheduled instalment. ``total_fees`` is the sum of the period fees in the instalments;
    ``total_payable`` = ``total_principal`` + ``total_interest`` + ``total_fees`` (the sum
    of the instalments); the upfront fee is reported apart.

APR and effective rate
    Let x be the periodic internal rate of return that equates the net amount disbursed with
    the instalments discounted on the period grid (instalment k at k periods; an irregular
    first period counts as one period; a prepayment at its fraction of its period):
    net disbursed = Σ instalment_k / (1 + x)^k. Then
    APR = x × periods per year (a nominal annual rate) and
    effective annual rate = (1 + x)^(periods per year) − 1,
    both in percent, rounded half-up to 4 decimals. x is solved on binary floats, bracketed
    and then refined by the Illinois variant of regula falsi to about 14 significant
    digits: the only float computation here (it is a rate, never an amount); the money
    amounts are all exact decimals. Without fees, a monthly annuity under 30/360 has
    APR = the nominal rate to 4 decimals (off by at most 0.0001 on small amounts, where
    the cent rounding of each line's interest weighs more).

Early repayment and rescheduling
    ``schedule_after_prepayment`` returns the rest of the loan from the early repayment: a
    first line dated on the repayment day (principal = the amount repaid, interest = the
    interest accrued since it was last paid, no fee), then the remaining due dates, with
    the instalment kept (reduce the term: fewer lines) or recomputed over the periods left
    (reduce the instalment: same maturity). ``schedule_reschedule`` builds a new schedule
    for an outstanding principal from a date on new terms.

Limits
    Principal and fees below 10^15, rates from 0 to 100 % with up to 6 decimals, 1 to
    3,000 periods, dates up to the year 9999; bad input raises ``ValidationError`` naming
    each bad field.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import enum
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from itertools import accumulate, groupby, repeat
from operator import attrgetter, mul, sub
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from bankcrm.core.money import UnknownCurrency, currency_info

__all__ = [
    "MAX_PERIODS",
    "MAX_PRINCIPAL",
    "DayCount",
    "Frequency",
    "Method",
    "PrepaymentMode",
    "Schedule",
    "ScheduleLine",
    "ScheduleTerms",
    "schedule_after_prepayment",
    "schedule_build",
    "schedule_reschedule",
    "schedule_to_dict",
]


class Method(enum.StrEnum):
    """How the principal is paid back (the values match ``lending.models.Method``)."""

    ANNUITY = "annuity"
    EQUAL_PRINCIPAL = "equal_principal"
    INTEREST_ONLY = "interest_only"
    BULLET = "bullet"


class DayCount(enum.StrEnum):
    """How a period's days become a fraction of a year (values match the model choices)."""

    ACT_365 = "act365"
    ACT_360 = "act360"
    THIRTY_360 = "30360"


class Frequency(enum.StrEnum):
    """How often an instalment falls due (values match ``lending.models.Frequency``)."""

    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    SEMI_ANNUAL = "semi_annual"
    ANNUAL = "annual"


class PrepaymentMode(enum.StrEnum):
    """What an early partial repayment shortens: the term or the instalment."""

    REDUCE_TERM = "reduce_term"
    REDUCE_INSTALMENT = "reduce_instalment"


# Calendar months and days in one regular period, and periods in a year.
_MONTHS = {
    Frequency.MONTHLY: 1,
    Frequency.QUARTERLY: 3,
    Frequency.SEMI_ANNUAL: 6,
    Frequency.ANNUAL: 12,
}
_DAYS = {Frequency.WEEKLY: 7, Frequency.FORTNIGHTLY: 14}
_PER_YEAR = {
    Frequency.WEEKLY: 52,
    Frequency.FORTNIGHTLY: 26,
    Frequency.MONTHLY: 12,
    Frequency.QUARTERLY: 4,
    Frequency.SEMI_ANNUAL: 2,
    Frequency.ANNUAL: 1,
}
_YEAR_BASIS = {DayCount.ACT_365: 365, DayCount.ACT_360: 360, DayCount.THIRTY_360: 360}

# Other spellings people type ("ACT/365", "30/360", "equal-principal", "semi-annual").
_ALIASES = {
    "act365f": "act365",
    "actual365": "act365",
    "actual365fixed": "act365",
    "actual360": "act360",
    "30e360": None,  # a different convention: refused rather than silently mapped
    "bondbasis": "30360",
    "semiannual": "semi_annual",
    "biweekly": "fortnightly",
    "equalprincipal": "equal_principal",
    "interestonly": "interest_only",
}

# A bound on what one schedule may hold: 3,000 periods is over 57 years of weekly
# instalments, and AmountField stores at most 16 integer digits.
MAX_PERIODS = 3000
MAX_PRINCIPAL = Decimal("1e15")
_MAX_BALANCE = Decimal("1e16")
_MAX_RATE_PLACES = 6

# Quotients carry 34 significant digits; a balance × rate × days product has at most 31,
# so it is exact and each interest amount is rounded once.
_CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
_ZERO = Decimal(0)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_RATE_QUANTUM = Decimal("0.0001")

_MONTH_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleTerms:
    """The terms a schedule is computed from; invalid terms raise ``ValidationError``.

    ``annual_rate`` is in percent a year (``Decimal("6")`` is 6 %). ``method``,
    ``day_count`` and ``frequency`` take the enum values (or common spellings such as
    "ACT/365", "equal-principal"), normalised to the enums. Amounts are given in the
    currency and may not have more decimals than its minor units; they are stored with
    exactly that many. ``start`` is the disbursement date.
    """

    principal: Decimal
    annual_rate: Decimal
    periods: int
    method: str
    day_count: str
    frequency: str = Frequency.MONTHLY
    start: dt.date
    first_due: dt.date | None = None
    grace_periods: int = 0
    capitalise_grace_interest: bool = False
    upfront_fee: Decimal = _ZERO
    upfront_fee_percent: Decimal = _ZERO
    period_fee: Decimal = _ZERO
    currency: str = "CNY"

    def __post_init__(self) -> None:
        _validate_terms(self)

    @property
    def periods_per_year(self) -> int:
        return _PER_YEAR[Frequency(self.frequency)]

    @property
    def quantum(self) -> Decimal:
        """One minor unit of the currency (0.01 for CNY, 1 for JPY)."""
        return Decimal(1).scaleb(-currency_info(self.currency).minor_units)

    @property
    def upfront_fee_amount(self) -> Decimal:
        """The upfront fee in money, whether given as an amount or as a percent."""
        if self.upfront_fee_percent:
            with decimal.localcontext(_CONTEXT):
                fee = self.principal * self.upfront_fee_percent / _HUNDRED
            return fee.quantize(self.quantum, rounding=ROUND_HALF_UP)
        return self.upfront_fee

    @property
    def net_disbursed(self) -> Decimal:
        """What the borrower receives: the principal less the upfront fee."""
        return self.principal - self.upfront_fee_amount

    @property
    def due_dates(self) -> list[dt.date]:
        """The scheduled due dates, one per period."""
        return _due_dates(self.start, self.first_due, Frequency(self.frequency), self.periods)

    @property
    def maturity_date(self) -> dt.date:
        return self.due_dates[-1]


def _error(message: str, code: str, **params: Any) -> ValidationError:
    return ValidationError(message, code=code, params=params or None)


def _choice(enum_cls: type[enum.StrEnum], value: object) -> enum.StrEnum | None:
    """The enum member ``value`` names (also in a common other spelling), or None."""
    if isinstance(value, enum_cls):
        return value
    if not isinstance(value, str):
        return None
    key = value.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return enum_cls(key)
    except ValueError:
        pass
    compact = "".join(ch for ch in key if ch.isalnum())
    try:
        return enum_cls(compact)
    except ValueError:
        pass
    alias = _ALIASES.get(compact)
    if alias is None:
        return None
    try:
        return enum_cls(alias)
    except ValueError:
        return None


def _as_decimal(value: object) -> Decimal | None:
    """A finite Decimal from a Decimal, int or numeric text; None for anything else."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except decimal.InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


def _is_date(value: object) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _choices_text(enum_cls: type[enum.StrEnum]) -> str:
    return ", ".join(member.value for member in enum_cls)


def _validate_amount(
    errors: dict[str, list[ValidationError]],
    name: str,
    value: object,
    minor_units: int | None,
    *,
    positive: bool,
) -> Decimal | None:
    amount = _as_decimal(value)
    if amount is None:
        errors[name] = [_error(_("Enter an amount as a decimal number."), "invalid")]
        return None
    if positive and amount <= 0:
        errors[name] = [_error(_("Enter an amount greater than zero."), "min_value")]
        return None
    if amount < 0:
        errors[name] = [_error(_("The amount cannot be negative."), "min_value")]
        return None
    if amount >= MAX_PRINCIPAL:
        errors[name] = [
            _error(
                _("The amount must be less than %(limit)s."),
                "max_value",
                limit=f"{MAX_PRINCIPAL:,.0f}",
            )
        ]
        return None
    if minor_units is not None:
        quantum = Decimal(1).scaleb(-minor_units)
        if amount != amount.quantize(quantum, rounding=ROUND_FLOOR):
            errors[name] = [
                _error(
                    _("The amount has more than %(places)s decimal places."),
                    "decimal_places",
                    places=minor_units,
                )
            ]
            return None
        return amount.quantize(quantum)
    return amount


def _validate_percent(
    errors: dict[str, list[ValidationError]], name: str, value: object, *, upper_inclusive: bool
) -> Decimal | None:
    percent = _as_decimal(value)
    if percent is None:
        errors[name] = [_error(_("Enter a percentage as a decimal number."), "invalid")]
        return None
    too_high = percent > 100 if upper_inclusive else percent >= 100
    if percent < 0 or too_high:
        message = (
            _("Enter a percentage from 0 to 100.")
            if upper_inclusive
            else _("Enter a percentage from 0 up to, but not including, 100.")
        )
        errors[name] = [_error(message, "out_of_range")]
        return None
    exponent = percent.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MAX_RATE_PLACES:
        errors[name] = [
            _error(
                _("Use at most %(places)s decimal places."),
                "decimal_places",
                places=_MAX_RATE_PLACES,
            )
        ]
        return None
    return percent


def _validate_terms(terms: ScheduleTerms) -> None:
    """Check every field, normalise it in place, and raise one error naming each bad field."""
    errors: dict[str, list[ValidationError]] = {}
    values: dict[str, Any] = {}

    code = terms.currency.strip().upper() if isinstance(terms.currency, str) else None
    minor_units: int | None = None
    with contextlib.suppress(UnknownCurrency):
        minor_units = currency_info(code).minor_units if code else None
    if minor_units is None:
        errors["currency"] = [
            _error(
                _("%(value)s is not an ISO 4217 currency code."),
                "invalid_currency",
                value=terms.currency,
            )
        ]
    else:
        values["currency"] = code

    principal = _validate_amount(errors, "principal", terms.principal, minor_units, positive=True)
    values["principal"] = principal
    rate = _validate_percent(errors, "annual_rate", terms.annual_rate, upper_inclusive=True)
    values["annual_rate"] = rate

    periods: int | None = terms.periods
    if isinstance(periods, bool) or not isinstance(periods, int) or not 1 <= periods <= MAX_PERIODS:
        errors["periods"] = [
            _error(
                _("Enter a whole number of periods from 1 to %(limit)s."),
                "out_of_range",
                limit=MAX_PERIODS,
            )
        ]
        periods = None

    method = _choice(Method, terms.method)
    day_count = _choice(DayCount, terms.day_count)
    frequency = _choice(Frequency, terms.frequency)
    for name, member, enum_cls in (
        ("method", method, Method),
        ("day_count", day_count, DayCount),
        ("frequency", frequency, Frequency),
    ):
        if member is None:
            errors[name] = [
                _error(
                    _("Choose one of: %(choices)s."),
                    "invalid_choice",
                    choices=_choices_text(enum_cls),
                )
            ]
        else:
            values[name] = member

    start: dt.date | None = terms.start
    if not _is_date(start):
        errors["start"] = [_error(_("Enter the disbursement date."), "invalid")]
        start = None
    first_due = terms.first_due
    if first_due is not None and not _is_date(first_due):
        errors["first_due"] = [_error(_("Enter a date."), "invalid")]
    elif first_due is not None and start is not None and frequency is not None:
        latest = _step(start, Frequency(frequency), 2)
        if first_due <= start:
            errors["first_due"] = [
                _error(
                    _("The first due date must fall after the disbursement date %(start)s."),
                    "too_early",
                    start=start.isoformat(),
                )
            ]
        elif latest is not None and first_due > latest:
            errors["first_due"] = [
                _error(
                    _("The first due date must fall on or before %(latest)s (two periods on)."),
                    "too_late",
                    latest=latest.isoformat(),
                )
            ]
    if (
        periods is not None
        and start is not None
        and frequency is not None
        and "first_due" not in errors
    ):
        anchor = first_due or start
        if _step(anchor, Frequency(frequency), periods) is None:
            errors["periods"] = [
                _error(_("The last due date would fall after the year 9999."), "out_of_range")
            ]

    grace = terms.grace_periods
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        errors["grace_periods"] = [
            _error(_("Enter a whole number of grace periods, 0 or more."), "invalid")
        ]
    elif periods is not None and grace >= periods:
        errors["grace_periods"] = [
            _error(
                _("The grace periods must be fewer than the periods (%(periods)s)."),
                "too_long",
                periods=periods,
            )
        ]
    elif grace and method in (Method.INTEREST_ONLY, Method.BULLET):
        errors["grace_periods"] = [
            _error(
                _("Grace periods apply to annuity and equal principal loans only."),
                "not_applicable",
            )
        ]
    if not isinstance(terms.capitalise_grace_interest, bool):
        errors["capitalise_grace_interest"] = [_error(_("Enter true or false."), "invalid")]

    fee = _validate_amount(errors, "upfront_fee", terms.upfront_fee, minor_units, positive=False)
    values["upfront_fee"] = fee
    fee_percent = _validate_percent(
        errors, "upfront_fee_percent", terms.upfront_fee_percent, upper_inclusive=False
    )
    values["upfront_fee_percent"] = fee_percent
    if fee and fee_percent:
        message = _("Give the upfront fee as an amount or as a percent, not both.")
        errors["upfront_fee"] = [_error(message, "ambiguous")]
        errors["upfront_fee_percent"] = [_error(message, "ambiguous")]
    elif fee and principal is not None and fee >= principal:
        errors["upfront_fee"] = [
            _error(_("The upfront fee must be less than the principal."), "too_large")
        ]
    elif fee_percent and principal is not None and minor_units is not None:
        quantum = Decimal(1).scaleb(-minor_units)
        with decimal.localcontext(_CONTEXT):
            fee_amount = (principal * fee_percent / _HUNDRED).quantize(quantum, ROUND_HALF_UP)
        if fee_amount >= principal:
            errors["upfront_fee_percent"] = [
                _error(_("The upfront fee must be less than the principal."), "too_large")
            ]
    values["period_fee"] = _validate_amount(
        errors, "period_fee", terms.period_fee, minor_units, positive=False
    )

    if errors:
        raise ValidationError(errors)
    for name, value in values.items():
        object.__setattr__(terms, name, value)


# --- dates and day counts ---------------------------------------------------------------------


def _month_end(year: int, month_index: int) -> int:
    if month_index == 1:
        return 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28
    return _MONTH_LENGTHS[month_index]


def _add_months(anchor: dt.date, months: int) -> dt.date:
    """``anchor`` moved by whole months, keeping its day or the month's last day."""
    total = anchor.year * 12 + anchor.month - 1 + months
    year, month_index = divmod(total, 12)
    day = anchor.day
    if day > 28:
        day = min(day, _month_end(year, month_index))
    return dt.date(year, month_index + 1, day)


def _step(anchor: dt.date, frequency: Frequency, count: int) -> dt.date | None:
    """The date ``count`` regular periods after ``anchor``; None past the calendar's end."""
    try:
        if frequency in _MONTHS:
            return _add_months(anchor, _MONTHS[frequency] * count)
        return anchor + dt.timedelta(days=_DAYS[frequency] * count)
    except (ValueError, OverflowError):
        return None


def _due_dates(
    start: dt.date, first_due: dt.date | None, frequency: Frequency, periods: int
) -> list[dt.date]:
    """The ``periods`` due dates of a loan disbursed on ``start``."""
    anchor, shift = (start, 1) if first_due is None else (first_due, 0)
    step_months = _MONTHS.get(frequency)
    if step_months is None:
        step = dt.timedelta(days=_DAYS[frequency])
        return [anchor + step * (k + shift) for k in range(periods)]
    # Month arithmetic in one comprehension: this runs once per line of every schedule.
    first = anchor.year * 12 + anchor.month - 1 + step_months * shift
    months = range(first, first + step_months * periods, step_months)
    day = anchor.day
    date = dt.date
    if day <= 28:
        return [date(month // 12, month % 12 + 1, day) for month in months]
    dates: list[dt.date] = []
    append = dates.append
    for month in months:
        year, month_index = divmod(month, 12)
        if month_index == 1:
            last = 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
        else:
            last = _MONTH_LENGTHS[month_index]
        append(date(year, month_index + 1, day if day < last else last))
    return dates


def _days_30_360(first: dt.date, second: dt.date) -> int:
    """Days between two dates under 30/360 Bond Basis (ISDA 2006, 4.16(f))."""
    day1 = first.day
    day2 = second.day
    if day1 == 31:
        day1 = 30
    if day2 == 31 and day1 == 30:
        day2 = 30
    return (second.year - first.year) * 360 + (second.month - first.month) * 30 + day2 - day1


def _count_days(day_count: str, first: dt.date, second: dt.date) -> int:
    """The numerator of the day-count fraction between two dates."""
    if day_count == DayCount.THIRTY_360:
        return _days_30_360(first, second)
    return (second - first).days


# --- outputs ----------------------------------------------------------------------------------


class ScheduleLine(NamedTuple):
    """One instalment: instalment = principal + interest + fee; closing = opening − principal.

    ``days`` counts the calendar days of the period ending on ``due_date``.
    ``is_prepayment`` marks an unscheduled early repayment line. Immutable; a named tuple
    rather than a frozen dataclass because a schedule makes hundreds of them and a tuple is
    built several times faster.
    """

    number: int
    due_date: dt.date
    days: int
    opening_balance: Decimal
    instalment: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    closing_balance: Decimal
    is_prepayment: bool = False


@dataclass(frozen=True, slots=True)
class Schedule:
    """A repayment schedule with its totals, APR and effective annual rate.

    ``total_principal`` is the amount the lines repay (the principal, or for a schedule
    after a prepayment, the principal outstanding before it); ``net_disbursed`` is the
    amount the APR is measured against.
    """

    currency: str
    method: Method
    day_count: DayCount
    frequency: Frequency
    annual_rate: Decimal
    lines: list[ScheduleLine]
    total_principal: Decimal
    total_interest: Decimal
    total_fees: Decimal
    total_payable: Decimal
    upfront_fee: Decimal
    net_disbursed: Decimal
    apr: Decimal
    effective_rate: Decimal

    @property
    def maturity_date(self) -> dt.date:
        return self.lines[-1].due_date


# --- the engine -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Built:
    """A schedule with what a recomputation needs: its due dates and regular amount."""

    schedule: Schedule
    due_dates: list[dt.date]
    # The annuity instalment (without fee) or the equal principal part; None otherwise.
    regular: Decimal | None


def _annuity_instalment_on_days(
    balance: Decimal, rate_days: list[Decimal], denominator: Decimal, q: Decimal
) -> Decimal:
    """The level instalment that repays ``balance`` when each period's interest follows its
    own day count: balance / Σ_k Π_{j≤k} 1 / (1 + r_j), r_j = rate × counted days_j / basis.

    With equal periods (30/360, due dates on the 1st–28th) it is the textbook annuity.
    Under ACT/365 and ACT/360 it spreads the months' different lengths over the term, so
    that the last instalment differs from the others by cents of rounding only.
    """
    if not any(rate_days):
        return (balance / len(rate_days)).quantize(q, rounding=ROUND_HALF_UP)
    factors = {value: _ONE / (_ONE + value / denominator) for value in set(rate_days)}
    discount = _ONE
    total = _ZERO
    for value in rate_days:
        discount *= factors[value]
        total += discount
    return (balance / total).quantize(q, rounding=ROUND_HALF_UP)


def _equal_share(balance: Decimal, periods: int, q: Decimal) -> Decimal:
    if periods == 1:
        return balance
    share = (balance / periods).quantize(q, rounding=ROUND_HALF_UP)
    if share * (periods - 1) > balance:
        # Rounding up would leave a negative last part: round down (the last part grows).
        share = (balance / (periods - 1)).quantize(q, rounding=ROUND_FLOOR)
    return share


def _balance_too_large() -> ValidationError:
    # Capitalised or unpaid interest compounding over a very long term at a high rate.
    message = _(
        "At this rate over this many periods the balance would grow beyond %(limit)s: "
        "shorten the term or lower the rate."
    )
    params = {"limit": f"{_MAX_BALANCE:,.0f}"}
    return ValidationError(
        {
            "annual_rate": [ValidationError(message, code="balance_too_large", params=params)],
            "periods": [ValidationError(message, code="balance_too_large", params=params)],
        }
    )


def _lines(
    *,
    method: Method,
    opening: Decimal,
    dues: list[dt.date],
    period_start: dt.date,
    day_count: DayCount,
    rate: Decimal,
    q: Decimal,
    fee: Decimal,
    grace: int,
    capitalise: bool,
    regular: Decimal | None,
    stop_when_repaid: bool,
    bullet_days: int,
    number_from: int,
) -> tuple[list[ScheduleLine], Decimal | None]:
    """The lines of the periods ending on ``dues``, the first from ``period_start``.

    Runs inside ``_CONTEXT``. ``regular`` fixes the annuity instalment or the equal
    principal part (a reduce-term prepayment) instead of computing it; with
    ``stop_when_repaid`` the schedule ends as soon as the balance is repaid rather than
    on the last date. Returns the lines and the regular amount used.
    """
    denominator = Decimal(_YEAR_BASIS[day_count] * 100)
    zero = _ZERO.quantize(q)
    half_up = ROUND_HALF_UP
    limit = _MAX_BALANCE
    new = tuple.__new__  # ScheduleLine(...) without the named tuple's keyword handling
    cls = ScheduleLine
    count = len(dues)
    last = count - 1
    ordinals = [period_start.toordinal(), *map(dt.date.toordinal, dues)]
    days = list(map(sub, ordinals[1:], ordinals))
    if day_count == DayCount.THIRTY_360:
        counted = list(map(_days_30_360, [period_start, *dues[:-1]], dues))
    else:
        counted = days
    # rate × counted days, exact, once per distinct period length.
    by_days = {value: rate * value for value in set(counted)}
    rate_days = [by_days[value] for value in counted]

    out: list[ScheduleLine] = []
    append = out.append
    balance = opening
    number = number_from
    begin = min(grace, last)
    for k in range(begin):
        interest = (balance * rate_days[k] / denominator).quantize(q, ROUND_HALF_UP)
        if capitalise:
            closing = balance + interest
            if closing > limit:
                raise _balance_too_large()
            append(new(cls, (number, dues[k], days[k], balance, fee, -interest, interest, fee,
                             closing, False)))  # fmt: skip
            balance = closing
        else:
            append(new(cls, (number, dues[k], days[k], balance, interest + fee, zero, interest,
                             fee, balance, False)))  # fmt: skip
        number += 1
    body_numbers = range(number, number + last - begin)
    body_dues, body_days, body_rate_days = dues[begin:last], days[begin:last], rate_days[begin:last]

    def final(n: int, k: int, current: Decimal, interest: Decimal | None = None) -> ScheduleLine:
        if interest is None:
            interest = (current * rate_days[k] / denominator).quantize(q, ROUND_HALF_UP)
        return new(cls, (n, dues[k], days[k], current, current + interest + fee, current,
                         interest, fee, zero, False))  # fmt: skip

    if method == Method.ANNUITY:

        def amortize(amount: Decimal) -> tuple[list[ScheduleLine], str]:
            """The lines paying ``amount`` a period: "ok", "overshoot" or "too_large"."""
            lines: list[ScheduleLine] = []
            add = lines.append
            current = balance
            due_amount = amount + fee
            try:
                for n, due, length, rate_day in zip(
                    body_numbers, body_dues, body_days, body_rate_days, strict=True
                ):
                    interest = (current * rate_day / denominator).quantize(q, half_up)
                    principal = amount - interest
                    if principal >= current:
                        if stop_when_repaid:
                            add(final(n, n - number + begin, current, interest))
                            return lines, "ok"
                        if principal > current:
                            return lines, "overshoot"
                    closing = current - principal
                    add(new(cls, (n, due, length, current, due_amount, principal, interest, fee,
                                  closing, False)))  # fmt: skip
                    current = closing
            except decimal.InvalidOperation:
                # Past 34 digits: the balance compounded far beyond what may be stored.
                return lines, "too_large"
            # A balance only passes the limit by compounding (interest above the instalment
            # period after period), and then it keeps growing: checking the last is enough.
            if current > limit:
                return lines, "too_large"
            add(final(number + last - begin, last, current))
            return lines, "ok"

        amount = (
            regular
            if regular is not None
            else _annuity_instalment_on_days(balance, rate_days[begin:], denominator, q)
        )
        lines, outcome = amortize(amount)
        if outcome == "overshoot":
            # Cent rounding would repay the loan before its last period: use the largest
            # lower instalment that does not. A lower instalment leaves a higher balance at
            # every step, so the search can halve the range (0 never overshoots).
            low, high = 0, int(amount / q)
            while high - low > 1:
                middle = (low + high) // 2
                if amortize(q * middle)[1] == "overshoot":
                    high = middle
                else:
                    low = middle
            amount = q * low
            lines, outcome = amortize(amount)
        if outcome == "too_large":
            raise _balance_too_large()
        out.extend(lines)
        return out, amount

    if method == Method.EQUAL_PRINCIPAL:
        share = regular if regular is not None else _equal_share(balance, count - begin, q)
        for n, due, length, rate_day in zip(
            body_numbers, body_dues, body_days, body_rate_days, strict=True
        ):
            interest = (balance * rate_day / denominator).quantize(q, ROUND_HALF_UP)
            if stop_when_repaid and share >= balance:
                append(final(n, n - number + begin, balance, interest))
                return out, share
            closing = balance - share
            append(new(cls, (n, due, length, balance, share + interest + fee, share, interest,
                             fee, closing, False)))  # fmt: skip
            balance = closing
        append(final(number + last - begin, last, balance))
        return out, share

    if method == Method.INTEREST_ONLY:
        for n, due, length, rate_day in zip(
            body_numbers, body_dues, body_days, body_rate_days, strict=True
        ):
            interest = (balance * rate_day / denominator).quantize(q, ROUND_HALF_UP)
            append(new(cls, (n, due, length, balance, interest + fee, zero, interest, fee,
                             balance, False)))  # fmt: skip
        append(final(number + last - begin, last, balance))
        return out, None

    # Bullet: simple interest over the whole term, paid with the principal at maturity.
    for n, due, length in zip(body_numbers, body_dues, body_days, strict=True):
        append(new(cls, (n, due, length, balance, fee, zero, zero, fee, balance, False)))
    interest = (balance * rate * bullet_days / denominator).quantize(q, ROUND_HALF_UP)
    append(final(number + last - begin, last, balance, interest))
    return out, None


def _present_value(flows: list[Decimal], times: list[float] | None) -> Callable[[float], float]:
    """x ↦ Σ flow_k / (1 + x)^t_k, with t_k = k (periods 1, 2, …) when ``times`` is None.

    Instalments repeat (an annuity has one value but for the last line), so equal
    consecutive flows are summed as a geometric series:
    Σ_{k=a+1}^{a+L} (1 + x)^−k = (1 + x)^−a × (1 − (1 + x)^−L) / x, evaluated with
    log1p/expm1 so that it stays exact to the last digits for rates near zero.
    """
    if times is not None:
        values = [float(flow) for flow in flows]
        moments = times

        def present_value_at(x: float) -> float:
            log_growth = math.log1p(x)
            return math.fsum(
                value * math.exp(-moment * log_growth)
                for value, moment in zip(values, moments, strict=True)
            )

        return present_value_at

    if len(set(flows)) * 4 > len(flows):
        # Mostly different flows (equal principal): powers of the discount factor in C.
        per_period = list(map(float, flows))
        count = len(per_period)

        def present_value_per_period(x: float) -> float:
            discount = 1.0 / (1.0 + x)
            return sum(map(mul, per_period, accumulate(repeat(discount, count), mul)))

        return present_value_per_period

    runs = [(float(value), len(list(group))) for value, group in groupby(flows)]
    series = []
    before = 0
    for value, length in runs:
        series.append((value, before, length))
        before += length

    def present_value_by_runs(x: float) -> float:
        if x == 0.0:
            return math.fsum(value * length for value, _before, length in series)
        log_growth = math.log1p(x)
        return (
            math.fsum(
                value * math.exp(-before * log_growth) * -math.expm1(-length * log_growth)
                for value, before, length in series
            )
            / x
        )

    return present_value_by_runs


def _periodic_irr(
    net: Decimal, flows: list[Decimal], total: Decimal, times: list[float] | None, guess: float
) -> float:
    """The periodic rate x ≥ 0 with Σ flow_k / (1 + x)^t_k = net (t_k = k if no ``times``).

    The present value falls as x rises (every flow is ≥ 0) and is at least ``net`` at
    x = 0, so there is one root: bracketed around the nominal periodic rate ``guess``, then
    found by the Illinois variant of regula falsi, to about 14 significant digits.
    """
    if total <= net:  # no cost of credit at all (0 % and no fees)
        return 0.0
    present_value = _present_value(flows, times)
    target = float(net)

    def gap(x: float) -> float:
        return present_value(x) - target

    low = max(guess, 1e-9) * 0.999
    high = max(guess, 1e-9) * 1.001
    gap_low, gap_high = gap(low), gap(high)
    while gap_high > 0:  # the root lies above the bracket: move it up
        low, gap_low = high, gap_high
        high = high * 4 + 1e-6
        gap_high = gap(high)
    while gap_low < 0:  # the root lies below: move it down (the gap at 0 is positive)
        high, gap_high = low, gap_low
        low = low / 4 if low > 1e-12 else 0.0
        gap_low = gap(low)
    side = 0
    x = low
    for _iteration in range(200):
        if gap_low == 0 or gap_high == 0:
            return low if gap_low == 0 else high
        x = high - gap_high * (high - low) / (gap_high - gap_low)
        if not low < x < high:
            x = (low + high) / 2
        gap_x = gap(x)
        if gap_x > 0:
            low, gap_low = x, gap_x
            if side == 1:
                gap_high /= 2
            side = 1
        elif gap_x < 0:
            high, gap_high = x, gap_x
            if side == -1:
                gap_low /= 2
            side = -1
        else:
            return x
        if high - low <= 1e-14 * high:
            break
    return x


def _rates(periodic: float, per_year: int) -> tuple[Decimal, Decimal]:
    """APR and effective annual rate in percent, 4 decimals, from the periodic IRR."""
    with decimal.localcontext(_CONTEXT) as context:
        x = Decimal(repr(periodic))
        apr = (x * per_year * _HUNDRED).quantize(_RATE_QUANTUM, ROUND_HALF_UP)
        effective = ((_ONE + x) ** per_year - _ONE) * _HUNDRED
        # A huge rate (an upfront fee of nearly the whole principal) needs more digits.
        context.prec = max(34, effective.adjusted() + 8)
        effective = effective.quantize(_RATE_QUANTUM, ROUND_HALF_UP)
    return apr, effective


_INTEREST = attrgetter("interest")
_INSTALMENT = attrgetter("instalment")


def _assemble(
    *,
    currency: str,
    method: Method,
    day_count: DayCount,
    frequency: Frequency,
    annual_rate: Decimal,
    lines: list[ScheduleLine],
    principal: Decimal,
    period_fee: Decimal,
    prepayment_lines: int,
    upfront_fee: Decimal,
    net: Decimal,
    times: list[float] | None,
    guess: float,
    zero: Decimal,
) -> Schedule:
    # The line identities make the other totals exact without summing every column: the
    # principal parts telescope to the opening balance (the last line takes what is left),
    # every scheduled line carries the period fee (a prepayment line none), and each
    # instalment is principal + interest + fee. The tests check them against column sums.
    total_interest = sum(map(_INTEREST, lines), zero)
    total_fees = period_fee * (len(lines) - prepayment_lines)
    total_payable = principal + total_interest + total_fees
    periodic = _periodic_irr(net, list(map(_INSTALMENT, lines)), total_payable, times, guess)
    apr, effective = _rates(periodic, _PER_YEAR[frequency])
    return Schedule(
        currency=currency,
        method=method,
        day_count=day_count,
        frequency=frequency,
        annual_rate=annual_rate,
        lines=lines,
        total_principal=principal,
        total_interest=total_interest,
        total_fees=total_fees,
        total_payable=total_payable,
        upfront_fee=upfront_fee,
        net_disbursed=net,
        apr=apr,
        effective_rate=effective,
    )


def _build(terms: ScheduleTerms) -> _Built:
    method = Method(terms.method)
    day_count = DayCount(terms.day_count)
    frequency = Frequency(terms.frequency)
    per_year = _PER_YEAR[frequency]
    q = terms.quantum
    dues = _due_dates(terms.start, terms.first_due, frequency, terms.periods)
    with decimal.localcontext(_CONTEXT):
        periodic_rate = terms.annual_rate / _HUNDRED / per_year
        lines, regular = _lines(
            method=method,
            opening=terms.principal,
            dues=dues,
            period_start=terms.start,
            day_count=day_count,
            rate=terms.annual_rate,
            q=q,
            fee=terms.period_fee,
            grace=terms.grace_periods,
            capitalise=terms.capitalise_grace_interest,
            regular=None,
            stop_when_repaid=False,
            bullet_days=_count_days(day_count, terms.start, dues[-1]),
            number_from=1,
        )
        upfront = terms.upfront_fee_amount
        schedule = _assemble(
            currency=terms.currency,
            method=method,
            day_count=day_count,
            frequency=frequency,
            annual_rate=terms.annual_rate,
            lines=lines,
            principal=terms.principal,
            period_fee=terms.period_fee,
            prepayment_lines=0,
            upfront_fee=upfront,
            net=terms.principal - upfront,
            times=None,
            guess=float(periodic_rate),
            zero=_ZERO.quantize(q),
        )
    return _Built(schedule=schedule, due_dates=dues, regular=regular)


def schedule_build(terms: ScheduleTerms) -> Schedule:
    """The repayment schedule of ``terms`` (see the module docstring for every rule)."""
    return _build(terms).schedule


# --- recomputation ----------------------------------------------------------------------------


def _grid_position(moment: dt.date, start: dt.date, dues: list[dt.date]) -> float:
    """Where ``moment`` falls on the period grid: 0 at disbursement, k at the k-th due date."""
    index = bisect_right(dues, moment)
    if index and dues[index - 1] == moment:
        return float(index)
    if index >= len(dues):
        return float(len(dues))
    previous = dues[index - 1] if index else start
    return index + (moment - previous).days / (dues[index] - previous).days


def schedule_after_prepayment(
    terms: ScheduleTerms,
    *,
    on: dt.date,
    amount: Decimal,
    mode: str = PrepaymentMode.REDUCE_TERM,
    outstanding: Decimal | None = None,
    interest_paid_to: dt.date | None = None,
) -> Schedule:
    """The rest of a loan after an early repayment of ``amount`` (principal) on ``on``.

    The result starts with the prepayment line (dated ``on``, ``is_prepayment`` true): its
    principal is ``amount`` and its interest is the interest accrued on ``outstanding`` from
    ``interest_paid_to`` to ``on``, paid with it. The later lines keep the original due
    dates; the first of them runs from ``on``.

    - ``reduce_term``: the instalment (annuity) or principal part (equal principal) stays;
      the loan ends early, so there are fewer lines. Not for interest-only and bullet loans,
      whose principal is due at maturity anyway.
    - ``reduce_instalment``: the maturity stays; the instalment (or principal part) is
      recomputed over the periods left.
    - ``amount`` equal to ``outstanding`` repays the loan: the prepayment line is the last.

    By default the borrower is taken to have paid every instalment due on or before ``on``
    as scheduled: ``outstanding`` is the scheduled balance after them and
    ``interest_paid_to`` the last of those due dates (the disbursement date if none; for a
    bullet loan always the disbursement date). Servicing code that knows better passes its
    own figures. Grace periods not yet over stay. The totals cover the lines returned, and
    the APR is measured against ``outstanding``.
    """
    built = _build(terms)
    dues = built.due_dates
    original = built.schedule
    method = original.method
    errors: dict[str, list[ValidationError]] = {}
    q = terms.quantum

    chosen = _choice(PrepaymentMode, mode)
    if chosen is None:
        errors["mode"] = [
            _error(
                _("Choose one of: %(choices)s."),
                "invalid_choice",
                choices=_choices_text(PrepaymentMode),
            )
        ]
    elif chosen == PrepaymentMode.REDUCE_TERM and method in (Method.INTEREST_ONLY, Method.BULLET):
        errors["mode"] = [
            _error(
                _("Interest-only and bullet loans keep their maturity: reduce the instalment."),
                "not_applicable",
            )
        ]

    paid = 0
    if not _is_date(on):
        errors["on"] = [_error(_("Enter the date of the early repayment."), "invalid")]
    elif not terms.start < on < dues[-1]:
        errors["on"] = [
            _error(
                _("The early repayment must fall after %(start)s and before %(maturity)s."),
                "out_of_range",
                start=terms.start.isoformat(),
                maturity=dues[-1].isoformat(),
            )
        ]
    else:
        paid = bisect_right(dues, on)

    if outstanding is None:
        balance: Decimal | None = (
            original.lines[paid - 1].closing_balance if paid else terms.principal
        )
    else:
        balance = _validate_amount(
            errors,
            "outstanding",
            outstanding,
            currency_info(terms.currency).minor_units,
            positive=True,
        )
    if interest_paid_to is None:
        accrual_from = terms.start if method == Method.BULLET or not paid else dues[paid - 1]
    elif not _is_date(interest_paid_to):
        errors["interest_paid_to"] = [_error(_("Enter a date."), "invalid")]
        accrual_from = terms.start
    else:
        accrual_from = interest_paid_to
        if "on" not in errors and not terms.start <= accrual_from <= on:
            errors["interest_paid_to"] = [
                _error(
                    _("Interest can be paid up to a date from %(start)s to %(on)s."),
                    "out_of_range",
                    start=terms.start.isoformat(),
                    on=on.isoformat(),
                )
            ]
    prepaid = _validate_amount(
        errors, "amount", amount, currency_info(terms.currency).minor_units, positive=True
    )
    if prepaid is not None and balance is not None and prepaid > balance:
        errors["amount"] = [
            _error(
                _("The early repayment exceeds the principal outstanding (%(outstanding)s)."),
                "too_large",
                outstanding=format(balance, "f"),
            )
        ]
    if errors:
        raise ValidationError(errors)
    if not (balance is not None and prepaid is not None and chosen is not None):
        # Validated above: reaching here otherwise is a programming error.
        raise RuntimeError("invariant broken: values checked above are missing")

    day_count = original.day_count
    zero = _ZERO.quantize(q)
    with decimal.localcontext(_CONTEXT):
        denominator = Decimal(_YEAR_BASIS[day_count] * 100)
        accrued = (
            balance * terms.annual_rate * _count_days(day_count, accrual_from, on) / denominator
        ).quantize(q, ROUND_HALF_UP)
        remaining = balance - prepaid
        lines = [
            ScheduleLine(
                1,
                on,
                (on - accrual_from).days,
                balance,
                prepaid + accrued,
                prepaid,
                accrued,
                zero,
                remaining,
                is_prepayment=True,
            )
        ]
        if remaining:
            future = dues[paid:]
            rest, _regular = _lines(
                method=method,
                opening=remaining,
                dues=future,
                period_start=on,
                day_count=day_count,
                rate=terms.annual_rate,
                q=q,
                fee=terms.period_fee,
                grace=max(0, terms.grace_periods - paid),
                capitalise=terms.capitalise_grace_interest,
                regular=built.regular if chosen == PrepaymentMode.REDUCE_TERM else None,
                stop_when_repaid=chosen == PrepaymentMode.REDUCE_TERM,
                bullet_days=_count_days(day_count, on, dues[-1]),
                number_from=2,
            )
            lines.extend(rest)
        origin = _grid_position(accrual_from, terms.start, dues)
        times = [_grid_position(on, terms.start, dues) - origin]
        times.extend(paid + 1 + k - origin for k in range(len(lines) - 1))
        # The first interval may be empty (interest paid to the day of the prepayment).
        times = [max(t, 1e-9) for t in times]
        return _assemble(
            currency=terms.currency,
            method=method,
            day_count=day_count,
            frequency=original.frequency,
            annual_rate=terms.annual_rate,
            lines=lines,
            principal=balance,
            period_fee=terms.period_fee,
            prepayment_lines=1,
            upfront_fee=zero,
            net=balance,
            times=times,
            guess=float(terms.annual_rate) / 100 / terms.periods_per_year,
            zero=zero,
        )


# Field names of ScheduleTerms as the caller of schedule_reschedule knows them.
_RESCHEDULE_FIELDS = {"principal": "outstanding", "start": "from_date"}


def schedule_reschedule(
    outstanding: Decimal,
    from_date: dt.date,
    *,
    annual_rate: Decimal,
    periods: int,
    method: str,
    day_count: str,
    frequency: str = Frequency.MONTHLY,
    first_due: dt.date | None = None,
    grace_periods: int = 0,
    capitalise_grace_interest: bool = False,
    period_fee: Decimal = _ZERO,
    upfront_fee: Decimal = _ZERO,
    currency: str = "CNY",
) -> Schedule:
    """A new schedule for ``outstanding`` principal from ``from_date`` on new terms.

    A restructuring: the rate, the number of periods, the method, the frequency and the
    grace may all change. Interest accrued to ``from_date`` is the caller's to settle
    first, or to add to ``outstanding`` if the agreement capitalises it. ``upfront_fee``
    is a restructuring fee taken at ``from_date`` (it only affects the APR). Errors name
    ``outstanding`` and ``from_date`` rather than the principal and start.
    """
    try:
        terms = ScheduleTerms(
            principal=outstanding,
            annual_rate=annual_rate,
            periods=periods,
            method=method,
            day_count=day_count,
            frequency=frequency,
            start=from_date,
            first_due=first_due,
            grace_periods=grace_periods,
            capitalise_grace_interest=capitalise_grace_interest,
            upfront_fee=upfront_fee,
            period_fee=period_fee,
            currency=currency,
        )
    except ValidationError as exc:
        raise ValidationError(
            {_RESCHEDULE_FIELDS.get(name, name): errors for name, errors in exc.error_dict.items()}
        ) from None
    return schedule_build(terms)


# --- serialisation ----------------------------------------------------------------------------


def _text(amount: Decimal) -> str:
    return format(amount, "f")


def _line_dict(line: ScheduleLine) -> dict[str, Any]:
    return {
        "number": line.number,
        "due_date": line.due_date.isoformat(),
        "days": line.days,
        "opening_balance": _text(line.opening_balance),
        "instalment": _text(line.instalment),
        "principal": _text(line.principal),
        "interest": _text(line.interest),
        "fee": _text(line.fee),
        "closing_balance": _text(line.closing_balance),
        "is_prepayment": line.is_prepayment,
    }


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    """The schedule as JSON-ready data: decimals as strings, dates in ISO 8601."""
    return {
        "currency": schedule.currency,
        "method": str(schedule.method),
        "day_count": str(schedule.day_count),
        "frequency": str(schedule.frequency),
        "annual_rate": _text(schedule.annual_rate),
        "maturity_date": schedule.maturity_date.isoformat(),
        "total_principal": _text(schedule.total_principal),
        "total_interest": _text(schedule.total_interest),
        "total_fees": _text(schedule.total_fees),
        "total_payable": _text(schedule.total_payable),
        "upfront_fee": _text(schedule.upfront_fee),
        "net_disbursed": _text(schedule.net_disbursed),
        "apr": _text(schedule.apr),
        "effective_rate": _text(schedule.effective_rate),
        "lines": [_line_dict(line) for line in schedule.lines],
    }
