"""Pricing a loan product: its rate on a date, its fees, and the schedule it implies.

A fixed-rate product lends at its nominal rate. A floating-rate product lends at the
reference rate in force on the day (the latest published on or before it) plus the
product's margin. Rates are annual percentages with up to 6 decimals.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from bankcrm.core.money import currency_info

from .models import LoanProduct
from .schedule import Schedule, ScheduleTerms, schedule_build
from .selectors import reference_rate_on

RATE_QUANTUM = Decimal("0.000001")

# Calendar months in one period of the month-based frequencies; weeks and fortnights are
# counted from the term in years.
_MONTHS_PER_PERIOD = {"monthly": 1, "quarterly": 3, "semi_annual": 6, "annual": 12}
_PERIODS_PER_YEAR = {"weekly": 52, "fortnightly": 26}


def loan_product_rate(product: LoanProduct, on: dt.date) -> Decimal:
    """The annual rate (percent) the product lends at on ``on``.

    Raises ValidationError (field ``rate``) when the product floats over a reference rate
    that has not been published on or before that date.
    """
    if product.rate_type != LoanProduct.RateType.FLOATING:
        return Decimal(product.nominal_rate).quantize(RATE_QUANTUM)
    reference = reference_rate_on(code=product.reference_rate_code, on=on)
    if reference is None:
        raise ValidationError(
            {
                "rate": _(
                    "No reference rate “%(code)s” is published on or before %(date)s, so the "
                    "product “%(product)s” cannot be priced. Publish the rate first."
                )
                % {
                    "code": product.reference_rate_code,
                    "date": date_format(on),
                    "product": product.code,
                }
            },
            code="lending_no_reference_rate",
        )
    return (Decimal(reference) + Decimal(product.margin)).quantize(RATE_QUANTUM)


def schedule_periods(term_months: int, frequency: str) -> int:
    """The number of instalments of a loan of ``term_months`` repaid at ``frequency``.

    Month-based frequencies need a term that is a whole number of their periods; weekly
    and fortnightly loans have 52 and 26 instalments a year (rounded half-up for terms that
    are not whole years).
    """
    if frequency in _MONTHS_PER_PERIOD:
        months = _MONTHS_PER_PERIOD[frequency]
        if term_months % months:
            raise ValidationError(
                {
                    "term_months": _(
                        "The term must be a whole number of repayment periods "
                        "(%(months)s months each)."
                    )
                    % {"months": months}
                },
                code="lending_term_not_whole_periods",
            )
        return term_months // months
    per_year = _PERIODS_PER_YEAR.get(frequency)
    if per_year is None:
        raise ValidationError(
            {"frequency": _("Unknown repayment frequency “%(value)s”.") % {"value": frequency}}
        )
    periods = (Decimal(term_months) * per_year / 12).to_integral_value(ROUND_HALF_UP)
    return max(1, int(periods))


def upfront_fee(product: LoanProduct, amount: Decimal) -> Decimal:
    """The arrangement fee on ``amount``: the fixed fee plus the percentage, to the minor unit
    (half-up, as the schedule rounds)."""
    quantum = Decimal(1).scaleb(-currency_info(product.currency).minor_units)
    fee = Decimal(product.upfront_fee_amount) + Decimal(amount) * Decimal(
        product.upfront_fee_percent
    ) / Decimal(100)
    return fee.quantize(quantum, ROUND_HALF_UP)


def product_schedule(
    product: LoanProduct,
    *,
    amount: Decimal,
    term_months: int,
    annual_rate: Decimal,
    start: dt.date,
    first_due: dt.date | None = None,
) -> Schedule:
    """The schedule of a loan of the product on these terms, with the product's repayment
    method, day count, frequency, grace periods and fees."""
    quantum = Decimal(1).scaleb(-currency_info(product.currency).minor_units)
    terms = ScheduleTerms(
        principal=Decimal(amount).quantize(quantum, ROUND_HALF_UP),
        annual_rate=Decimal(annual_rate).quantize(RATE_QUANTUM),
        periods=schedule_periods(term_months, product.frequency),
        method=product.method,
        day_count=product.day_count,
        frequency=product.frequency,
        start=start,
        first_due=first_due,
        grace_periods=product.grace_periods,
        upfront_fee=upfront_fee(product, amount),
        period_fee=Decimal(product.period_fee).quantize(quantum, ROUND_HALF_UP),
        currency=product.currency,
    )
    return schedule_build(terms)
