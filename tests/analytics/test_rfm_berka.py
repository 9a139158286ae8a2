"""RFM on the Berka PKDD'99 data (the first 49,102 bookings, 1993-01 … 1994-03) imported by
``bankcrm import berka``, checked customer by customer against a plain-Python computation
over the imported bookings and account roles."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

import pytest

from bankcrm.analytics.rfm import RFM_SEGMENTS
from bankcrm.analytics.selectors_rfm import rfm_customer_list, rfm_report
from bankcrm.banking.models import AccountRole, FxRate, Transaction
from bankcrm.core.actor import SystemActor
from bankcrm.integrations.services import berka_import

pytestmark = pytest.mark.django_db

AS_OF = dt.date(1994, 3, 31)
WINDOW_AFTER = dt.date(1993, 3, 31)  # 12 months back: the window is 1993-04-01 … 1994-03-31
# CZK to the base currency: a whole number keeps the converted cents exact on both databases.
RATE = Decimal("2")


def independent_rfm() -> dict[str, tuple]:
    """Per customer holding an account (owner or joint owner): last booking, recency,
    frequency, monetary, quintile scores and segment — from the raw rows, in Python."""
    accounts_of = defaultdict(set)
    for party, account in AccountRole.objects.filter(role__in=("owner", "joint_owner")).values_list(
        "party_id", "account_id"
    ):
        accounts_of[str(party)].add(account)
    bookings = defaultdict(list)
    for account, day, amount, direction in Transaction.objects.exclude(
        kind__in=("interest", "fee")
    ).values_list("account_id", "booking_date", "amount", "direction"):
        bookings[account].append((day, amount, direction))
    figures = {}
    for party, accounts in accounts_of.items():
        rows = [row for account in accounts for row in bookings[account] if row[0] <= AS_OF]
        if not rows:
            continue
        in_window = [row for row in rows if row[0] > WINDOW_AFTER]
        last = max(row[0] for row in rows)
        monetary = sum(
            (-amount * RATE for _day, amount, direction in in_window if direction == "debit"),
            Decimal(0),
        ).quantize(Decimal("0.01"))
        figures[party] = (last, (AS_OF - last).days, len(in_window), monetary)

    count = len(figures)

    def scores(position: int) -> dict[str, int]:
        # Ties take the quintile of the middle of the ranks they span.
        ordered = sorted(value[position] for value in figures.values())
        first, last = {}, {}
        for rank, value in enumerate(ordered, start=1):
            first.setdefault(value, rank)
            last[value] = rank
        return {
            party: 1 + 5 * (first[value[position]] + last[value[position]] - 2) // (2 * count)
            for party, value in figures.items()
        }

    r, f, m = scores(0), scores(2), scores(3)
    result = {}
    for party, (last, recency, frequency, monetary) in figures.items():
        segment = next(
            s.code
            for s in RFM_SEGMENTS
            if s.recency[0] <= r[party] <= s.recency[1]
            and s.frequency[0] <= f[party] <= s.frequency[1]
            and s.monetary[0] <= m[party] <= s.monetary[1]
        )
        result[party] = (
            last,
            recency,
            frequency,
            monetary,
            (r[party], f[party], m[party]),
            segment,
        )
    return result


def test_rfm_on_berka_equals_an_independent_computation(berka_dir):
    actor = SystemActor("test-rfm")
    berka_import(actor=SystemActor("import-berka"), directory=berka_dir)
    FxRate.objects.create(currency="CZK", rate_to_base=RATE, as_of=dt.date(1993, 1, 1))

    expected = independent_rfm()
    rows = rfm_customer_list(actor=actor, as_of=AS_OF, months=12, limit=None)
    found = {
        str(row.party_pk): (
            row.last_booking,
            row.recency_days,
            row.frequency,
            row.monetary,
            (row.recency_score, row.frequency_score, row.monetary_score),
            row.segment,
        )
        for row in rows
    }
    assert len(rows) == len(found) == len(expected)
    # The owners with a booking of their own by 1994-03-31 in the first 49,102 bookings.
    assert len(expected) == 1229
    assert found == expected

    report = rfm_report(actor=actor, as_of=AS_OF, months=12)
    assert report.customers == len(expected)
    assert report.currencies_without_rate == []
    counts = {item.code: item.customers for item in report.segments}
    wanted = defaultdict(int)
    for value in expected.values():
        wanted[value[5]] += 1
    assert counts == {segment.code: wanted[segment.code] for segment in RFM_SEGMENTS}
    # Each quintile holds about a fifth of the customers where the figure has few ties.
    monetary_scores = [value[4][2] for value in expected.values()]
    for score in range(1, 6):
        share = monetary_scores.count(score) / len(monetary_scores)
        assert 0.15 < share < 0.25, (score, share)
