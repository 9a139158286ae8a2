"""RFM segmentation on a small hand-computed fixture: figures, quintile scores (ties),
segments, the currency conversion, the viewer's scope and the segment table's checks."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.analytics.rfm import (
    RFM_SEGMENTS,
    quintile_scores,
    rfm_segments_clean,
    segment_for,
    window_start,
)
from bankcrm.analytics.selectors_rfm import rfm_customer_list, rfm_report
from bankcrm.banking.activity import party_activity_rebuild
from bankcrm.banking.models import AccountRole
from bankcrm.core.actor import SystemActor
from tests.factories.banking import (
    AccountFactory,
    AccountRoleFactory,
    FxRateFactory,
    ProductFactory,
    TransactionFactory,
)
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 6, 30)


def book(account, day: dt.date, amount: str, kind: str = "card_payment") -> None:
    TransactionFactory(account=account, booking_date=day, amount=Decimal(amount), kind=kind)


@pytest.fixture
def rfm_bank(bank):
    """Five customers of branch A with hand-computed figures as of 2026-06-30 over 12 months
    (window 2025-07-01 … 2026-06-30), one of branch B, one of branch A without bookings."""
    cny = ProductFactory(code="CUR", currency="CNY")
    usd = ProductFactory(code="CUR-USD", currency="USD")
    FxRateFactory(currency="USD", rate_to_base=Decimal("7"), as_of=dt.date(2026, 1, 1))
    # After the as-of day: not used.
    FxRateFactory(currency="USD", rate_to_base=Decimal("8"), as_of=dt.date(2026, 12, 31))
    people = {}
    for name in "ABCDEG":
        people[name] = PersonFactory(display_name=f"Customer {name}", owning_unit=bank.branch_a)
    people["F"] = PersonFactory(display_name="Customer F", owning_unit=bank.branch_b)

    def account(name, product=cny):
        unit = bank.branch_b if name == "F" else bank.branch_a
        return AccountFactory(owner=people[name], product=product, branch=unit)

    a = account("A")
    book(a, dt.date(2026, 6, 28), "-500")
    book(a, dt.date(2026, 6, 1), "-300")
    book(a, dt.date(2026, 5, 10), "1000", kind="salary")
    book(a, dt.date(2026, 3, 1), "-200")
    book(a, dt.date(2026, 7, 5), "-99999")  # after the as-of day
    b = account("B")
    book(b, dt.date(2026, 6, 20), "-100")
    book(b, dt.date(2026, 6, 20), "50", kind="transfer_in")
    book(b, dt.date(2025, 7, 1), "-50")  # the window's first day
    book(b, dt.date(2025, 6, 30), "-9999")  # the day before the window
    c = account("C", usd)
    book(c, dt.date(2026, 4, 1), "-100")  # 700 CNY at 7
    book(c, dt.date(2026, 4, 2), "10", kind="transfer_in")
    book(c, dt.date(2026, 6, 29), "-5", kind="fee")  # booked by the bank: left out
    d = account("D")
    book(d, dt.date(2025, 3, 15), "-10000")
    book(d, dt.date(2026, 6, 30), "1", kind="interest")  # booked by the bank: left out
    e = account("E")
    book(e, dt.date(2026, 6, 28), "-1000")
    book(e, dt.date(2026, 6, 28), "-20", kind="cash_withdrawal")
    # D may sign on E's account but does not hold it: E's bookings are not D's.
    AccountRoleFactory(account=e, party=people["D"], role=AccountRole.Role.SIGNATORY)
    account("G")
    f = account("F")
    book(f, dt.date(2026, 6, 29), "-5")
    party_activity_rebuild()
    return bank, people


EXPECTED = {
    # name: (last booking, recency days, frequency, monetary, (R, F, M), segment)
    "A": (dt.date(2026, 6, 28), 2, 4, Decimal("1000.00"), (4, 5, 4), "champions"),
    "B": (dt.date(2026, 6, 20), 10, 3, Decimal("150.00"), (3, 4, 2), "loyal"),
    "C": (dt.date(2026, 4, 2), 89, 2, Decimal("700.00"), (2, 2, 3), "hibernating"),
    "D": (dt.date(2025, 3, 15), 472, 0, Decimal("0.00"), (1, 1, 1), "lost"),
    "E": (dt.date(2026, 6, 28), 2, 2, Decimal("1020.00"), (4, 2, 5), "potential_loyalists"),
}


def test_figures_scores_and_segments_equal_the_hand_computed_ones(rfm_bank):
    bank, people = rfm_bank
    with CaptureQueriesContext(connection) as queries:
        rows = rfm_customer_list(actor=bank.manager_a, as_of=AS_OF, months=12, limit=None)
    # The viewer's scope and permission checks aside, the customers come in one statement.
    assert sum("RANK() OVER" in query["sql"] for query in queries.captured_queries) == 1
    found = {
        row.display_name[-1]: (
            row.last_booking,
            row.recency_days,
            row.frequency,
            row.monetary,
            (row.recency_score, row.frequency_score, row.monetary_score),
            row.segment,
        )
        for row in rows
    }
    assert found == EXPECTED
    # Largest monetary first.
    assert [row.display_name[-1] for row in rows] == ["E", "A", "C", "B", "D"]
    assert {row.party_pk for row in rows} == {str(people[name].pk) for name in "ABCDE"}


def test_report_counts_and_averages_per_segment(rfm_bank):
    bank, _people = rfm_bank
    report = rfm_report(actor=bank.manager_a, as_of=AS_OF, months=12)
    assert report.customers == 5
    assert report.window_from == dt.date(2025, 7, 1)
    assert report.currency == "CNY"
    assert report.currencies_without_rate == []
    by_code = {item.code: item for item in report.segments}
    assert [item.code for item in report.segments] == [item.code for item in RFM_SEGMENTS]
    assert {code: item.customers for code, item in by_code.items() if item.customers} == {
        "champions": 1,
        "loyal": 1,
        "hibernating": 1,
        "lost": 1,
        "potential_loyalists": 1,
    }
    loyal = by_code["loyal"]
    assert (loyal.avg_recency_days, loyal.avg_frequency, loyal.avg_monetary) == (
        10.0,
        3.0,
        Decimal("150.00"),
    )
    assert (loyal.avg_recency_score, loyal.avg_frequency_score, loyal.avg_monetary_score) == (
        3.0,
        4.0,
        2.0,
    )
    assert loyal.share == 0.2
    empty = by_code["at_risk"]
    assert (empty.customers, empty.avg_frequency, empty.total_monetary) == (0, None, Decimal("0"))
    # The definitions travel with the report.
    assert report.definitions[0] == {
        "code": "champions",
        "name": "Champions",
        "recency": [4, 5],
        "frequency": [4, 5],
        "monetary": [4, 5],
        "description": "Booked recently, often and for large amounts.",
    }
    data = report.as_dict()
    assert data["window"] == {"from": "2025-07-01", "to": "2026-06-30"}
    assert sum(item["customers"] for item in data["segments"]) == 5


def test_a_segments_customer_list(rfm_bank):
    bank, people = rfm_bank
    rows = rfm_customer_list(actor=bank.manager_a, as_of=AS_OF, segment="lost")
    assert [row.party_pk for row in rows] == [str(people["D"].pk)]
    assert rfm_customer_list(actor=bank.manager_a, as_of=AS_OF, segment="at_risk") == []
    with pytest.raises(ValidationError) as error:
        rfm_customer_list(actor=bank.manager_a, as_of=AS_OF, segment="whales")
    assert "segment" in error.value.message_dict


def test_scope_other_branch_and_bank_wide(rfm_bank):
    bank, _people = rfm_bank
    # Branch B's relationship manager sees F only (in their portfolio? no: F has none).
    assert rfm_customer_list(actor=bank.rm_b, as_of=AS_OF) == []
    assert rfm_report(actor=bank.rm_b, as_of=AS_OF).customers == 0
    # The bank-wide job sees all six with bookings; one customer alone scores 1-1-1.
    everyone = rfm_customer_list(actor=SystemActor("test"), as_of=AS_OF, limit=None)
    assert {row.display_name[-1] for row in everyone} == set("ABCDEF")
    f_row = next(row for row in everyone if row.display_name.endswith("F"))
    assert (f_row.recency_days, f_row.frequency, f_row.monetary) == (1, 1, Decimal("5.00"))
    # Six customers: F has the latest booking (rank 6 of 6 → score 1 + 5*5//6 = 5).
    assert f_row.recency_score == 5


def test_a_currency_without_rate_is_left_out_and_named(rfm_bank):
    bank, people = rfm_bank
    eur = ProductFactory(code="CUR-EUR", currency="EUR")
    account = AccountFactory(owner=people["G"], product=eur, branch=bank.branch_a)
    book(account, dt.date(2026, 6, 1), "-40")
    party_activity_rebuild([people["G"].pk])
    report = rfm_report(actor=bank.manager_a, as_of=AS_OF)
    assert report.currencies_without_rate == ["EUR"]
    g_row = rfm_customer_list(actor=bank.manager_a, as_of=AS_OF, segment=None, limit=None)
    g = next(row for row in g_row if row.display_name.endswith("G"))
    assert (g.frequency, g.monetary) == (1, Decimal("0.00"))


def test_bad_window_is_refused():
    with pytest.raises(ValidationError) as error:
        rfm_report(actor=SystemActor("test"), as_of=AS_OF, months=0)
    assert "months" in error.value.message_dict


def test_window_start_moves_back_calendar_months():
    assert window_start(dt.date(2026, 6, 30), 12) == dt.date(2025, 6, 30)
    assert window_start(dt.date(2024, 3, 31), 1) == dt.date(2024, 2, 29)
    assert window_start(dt.date(2026, 1, 15), 3) == dt.date(2025, 10, 15)


def test_quintiles_give_ties_the_score_of_their_middle_rank():
    assert quintile_scores([5, 1, 3, 2, 4]) == [5, 1, 3, 2, 4]
    assert quintile_scores([10, 10, 20, 30, 40, 50, 60, 70, 80, 90]) == [
        1, 1, 2, 2, 3, 3, 4, 4, 5, 5,
    ]  # fmt: skip
    # Three tied at the bottom span ranks 1-3 of 4: the middle, rank 2, is in quintile 2.
    assert quintile_scores([0, 0, 0, 7]) == [2, 2, 2, 4]


def test_the_segment_table_covers_every_score_combination_once_read_top_down():
    assert rfm_segments_clean(RFM_SEGMENTS) == RFM_SEGMENTS
    names = {segment_for(r, f, m).code for r, f, m in itertools.product(range(1, 6), repeat=3)}
    assert names == {segment.code for segment in RFM_SEGMENTS}
    assert segment_for(5, 5, 5).code == "champions"
    assert segment_for(1, 5, 5).code == "cannot_lose"
    assert segment_for(1, 5, 1).code == "at_risk"
    assert segment_for(5, 1, 1).code == "new"


def test_an_incomplete_or_bad_table_is_refused():
    rows = [segment.as_dict() for segment in RFM_SEGMENTS[:-1]]  # no "lost"
    with pytest.raises(ValidationError) as error:
        rfm_segments_clean(rows)
    assert "R1 F1 M1" in str(error.value)
    bad = [segment.as_dict() for segment in RFM_SEGMENTS]
    bad[2]["recency"] = [4, 2]
    with pytest.raises(ValidationError) as error:
        rfm_segments_clean(bad)
    assert "segments.2.recency" in error.value.message_dict


def test_rfm_command_prints_the_report_as_json(rfm_bank):
    _bank, people = rfm_bank
    out = io.StringIO()
    call_command(
        "analytics", "rfm", "--as-of", "2026-06-30", "--months", "12", "--segment", "lost",
        stdout=out,
    )  # fmt: skip
    result = json.loads(out.getvalue())
    # The command runs bank-wide: A-F (G booked nothing).
    assert result["customers"] == 6
    assert sum(item["customers"] for item in result["segments"]) == 6
    assert [item["code"] for item in result["definitions"]] == [s.code for s in RFM_SEGMENTS]
    assert result["left_out"] == ["interest", "fee"]
    lost = result["customers_of_segment"]
    assert lost["segment"] == "lost"
    assert [row["party"] for row in lost["customers"]] == [str(people["D"].pk)]
    assert lost["customers"][0]["recency_days"] == 472


def test_rfm_command_names_a_bad_option():
    with pytest.raises(CommandError, match="--as-of"):
        call_command("analytics", "rfm", "--as-of", "30/06/2026")
    with pytest.raises(CommandError, match="--months"):
        call_command("analytics", "rfm", "--months", "0")
