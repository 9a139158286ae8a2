"""Property tests for Money: allocation, rounding and the text round trip."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from bankcrm.core.currencies import CURRENCIES
from bankcrm.core.money import Money, format_money, parse_money

currencies = st.sampled_from(sorted(CURRENCIES))
amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    allow_nan=False,
    allow_infinity=False,
    places=6,
)


@given(
    amount=amounts,
    currency=currencies,
    ratios=st.lists(st.integers(min_value=0, max_value=1000), min_size=1, max_size=12).filter(any),
)
def test_allocation_sums_to_the_rounded_whole(amount, currency, ratios):
    money = Money(amount, currency)
    parts = money.allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum(parts) == money.rounded()
    assert all(part.is_rounded() for part in parts)
    # No part is off its exact share by a whole minor unit or more.
    whole = money.rounded().amount
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        assert abs(part.amount - whole * ratio / total) < money.quantum


@given(amount=amounts, currency=currencies, parts=st.integers(min_value=1, max_value=50))
def test_split_parts_differ_by_at_most_one_minor_unit(amount, currency, parts):
    shares = Money(amount, currency).split(parts)
    values = [share.amount for share in shares]
    assert max(values) - min(values) <= Money(0, currency).quantum


@given(amount=amounts, currency=currencies)
def test_rounding_is_idempotent(amount, currency):
    once = Money(amount, currency).rounded()
    assert once.rounded() == once
    assert once.is_rounded()
    assert abs(once.amount - amount) <= once.quantum / 2


@given(amount=amounts, currency=currencies, language=st.sampled_from(["en", "zh-hans"]))
def test_format_then_parse_gives_the_rounded_amount(amount, currency, language):
    money = Money(amount, currency)
    assert parse_money(format_money(money, language)) == money.rounded()
