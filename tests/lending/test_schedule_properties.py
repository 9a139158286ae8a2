"""Properties every schedule keeps, whatever the amount, rate, term, method and day count."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bankcrm.lending.schedule import (
    DayCount,
    Frequency,
    Method,
    ScheduleTerms,
    schedule_after_prepayment,
    schedule_build,
)

# 1.00 to 10,000,000.00, to the cent.
amounts = st.integers(min_value=100, max_value=1_000_000_000).map(
    lambda cents: Decimal(cents) / 100
)
# 0 % to 36 %, with 0 % drawn often: it takes its own branch of the instalment formula.
rates = st.one_of(
    st.just(Decimal(0)),
    st.integers(min_value=0, max_value=3600).map(lambda bp: Decimal(bp) / 100),
)
methods = st.sampled_from(list(Method))
day_counts = st.sampled_from(list(DayCount))
starts = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2060, 12, 31))
fees = st.one_of(
    st.just(Decimal(0)), st.integers(0, 10_000).map(lambda cents: Decimal(cents) / 100)
)


@st.composite
def monthly_terms(draw: st.DrawFn) -> ScheduleTerms:
    method = draw(methods)
    periods = draw(st.integers(min_value=1, max_value=480))
    grace = 0
    if method in (Method.ANNUITY, Method.EQUAL_PRINCIPAL) and draw(st.booleans()):
        grace = draw(st.integers(min_value=0, max_value=periods - 1))
    return ScheduleTerms(
        principal=draw(amounts),
        annual_rate=draw(rates),
        periods=periods,
        method=method,
        day_count=draw(day_counts),
        start=draw(starts),
        grace_periods=grace,
        capitalise_grace_interest=draw(st.booleans()),
        period_fee=draw(fees),
    )


@st.composite
def any_frequency_terms(draw: st.DrawFn) -> ScheduleTerms:
    frequency = draw(st.sampled_from(list(Frequency)))
    per_year = {"weekly": 52, "fortnightly": 26, "monthly": 12, "quarterly": 4}.get(
        frequency, 2 if frequency == Frequency.SEMI_ANNUAL else 1
    )
    return ScheduleTerms(
        principal=draw(amounts),
        annual_rate=draw(rates),
        periods=draw(st.integers(min_value=1, max_value=min(480, 30 * per_year))),
        method=draw(methods),
        day_count=draw(day_counts),
        frequency=frequency,
        start=draw(starts),
        period_fee=draw(fees),
    )


def check_schedule(terms: ScheduleTerms) -> None:
    schedule = schedule_build(terms)
    lines = schedule.lines
    assert len(lines) == terms.periods
    # The principal parts repay exactly the amount lent; the last line closes the loan.
    assert sum(line.principal for line in lines) == terms.principal
    assert lines[-1].closing_balance == 0
    for line in lines:
        assert line.closing_balance >= 0
        assert line.interest >= 0
        assert line.instalment == line.principal + line.interest + line.fee
        assert line.closing_balance == line.opening_balance - line.principal
    for before, after in itertools.pairwise(lines):
        assert after.opening_balance == before.closing_balance
        assert after.due_date > before.due_date
    # Totals are the column sums, to the cent.
    assert schedule.total_interest == sum(line.interest for line in lines)
    assert schedule.total_payable == sum(line.instalment for line in lines)
    assert schedule.total_fees == terms.period_fee * terms.periods
    grace = terms.grace_periods
    if terms.method == Method.ANNUITY:
        # Equal instalments but for the last (and the grace lines before them).
        assert len({line.instalment for line in lines[grace:-1]}) <= 1
    if terms.method == Method.EQUAL_PRINCIPAL:
        assert len({line.principal for line in lines[grace:-1]}) <= 1
    for line in lines[:grace]:
        expected = -line.interest if terms.capitalise_grace_interest else 0
        assert line.principal == expected
    assert schedule.apr >= 0
    assert schedule.effective_rate >= schedule.apr


@settings(max_examples=300, deadline=None)
@given(terms=monthly_terms())
def test_monthly_schedules_keep_their_invariants(terms):
    check_schedule(terms)


@settings(max_examples=150, deadline=None)
@given(terms=any_frequency_terms())
def test_every_frequency_keeps_the_invariants(terms):
    check_schedule(terms)


@settings(max_examples=150, deadline=None)
@given(
    principal=st.integers(min_value=25_000_000, max_value=1_000_000_000).map(
        lambda cents: Decimal(cents) / 100
    ),
    rate=st.integers(min_value=0, max_value=3600).map(lambda bp: Decimal(bp) / 100),
    periods=st.integers(min_value=1, max_value=480),
    day=st.integers(min_value=1, max_value=28),
)
def test_without_fees_the_apr_is_the_nominal_rate(principal, rate, periods, day):
    # 30/360 with due dates on the 1st–28th: every period is a twelfth of a year, so the
    # APR differs from the nominal rate only through cent rounding. Each line's interest is
    # off by at most 0.005, which moves the annual rate by at most 0.005 × 1200 / (average
    # balance) percentage points: under 0.00005 from 250,000.00 on (the average balance of
    # an annuity is at least half the amount), plus 0.00005 for showing 4 decimals.
    schedule = schedule_build(
        ScheduleTerms(
            principal=principal,
            annual_rate=rate,
            periods=periods,
            method="annuity",
            day_count="30360",
            start=dt.date(2026, 1, day),
        )
    )
    assert abs(schedule.apr - rate) <= Decimal("0.0001")


@settings(max_examples=200, deadline=None)
@given(terms=monthly_terms(), data=st.data())
def test_prepayments_keep_the_invariants(terms, data):
    schedule = schedule_build(terms)
    dues = [line.due_date for line in schedule.lines]
    if terms.periods < 2 or (dues[-1] - terms.start).days < 2:
        return
    on = terms.start + dt.timedelta(
        days=data.draw(st.integers(1, (dues[-1] - terms.start).days - 1))
    )
    paid = sum(1 for due in dues if due <= on)
    outstanding = schedule.lines[paid - 1].closing_balance if paid else terms.principal
    whole = data.draw(st.booleans())
    share = data.draw(st.integers(min_value=1, max_value=999))
    amount = (
        outstanding
        if whole
        else max(Decimal("0.01"), (outstanding * share / 1000).quantize(Decimal("0.01")))
    )
    modes = ["reduce_instalment"]
    if terms.method in (Method.ANNUITY, Method.EQUAL_PRINCIPAL):
        modes.append("reduce_term")
    for mode in modes:
        after = schedule_after_prepayment(terms, on=on, amount=amount, mode=mode)
        lines = after.lines
        assert lines[0].is_prepayment and lines[0].principal == amount
        assert sum(line.principal for line in lines) == outstanding
        assert lines[-1].closing_balance == 0
        assert all(line.closing_balance >= 0 and line.interest >= 0 for line in lines)
        assert all(line.instalment == line.principal + line.interest + line.fee for line in lines)
        # Never longer than what was left; a full repayment is the only line.
        assert len(lines) - 1 <= terms.periods - paid
        if amount == outstanding:
            assert len(lines) == 1
