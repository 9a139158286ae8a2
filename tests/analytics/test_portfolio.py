"""The portfolio quality report: NPL ratio and portfolio at risk, roll rates and vintage
curves against figures computed by hand on a small loan book; the loans behind each figure;
the viewer's scope; the permissions; the exports; the page's query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.analytics.catalogue import REPORTS
from bankcrm.analytics.selectors_portfolio import (
    LoanDrill,
    PortfolioFilters,
    portfolio_loan_list,
    portfolio_quality,
    portfolio_roll_rates,
    portfolio_vintages,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.lending.models import DelinquencyChange, Loan, Repayment
from tests.factories import RoleFactory, UserFactory
from tests.factories.banking import AccountFactory
from tests.factories.lending import LoanProductFactory, MortgageProductFactory

pytestmark = pytest.mark.django_db

D = Decimal
AS_OF = dt.date(2025, 6, 30)
FILTERS = {"as_of": AS_OF.isoformat(), "months": "4"}


@pytest.fixture(autouse=True)
def _exports_dir(settings, tmp_path):
    settings.ANALYTICS_EXPORT_DIR = str(tmp_path / "exports")


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _loan(reference, *, account, product, disbursed, principal, outstanding, **values):
    loan = Loan.objects.create(
        reference=reference,
        product=product,
        borrower=account.owner,
        account=account,
        branch=account.branch,
        principal=D(principal),
        currency=product.currency,
        annual_rate=D("6"),
        term_months=12,
        method="annuity",
        day_count="30360",
        disbursed_on=_day(disbursed),
        maturity_date=_day(disbursed).replace(year=_day(disbursed).year + 1),
        outstanding_principal=D(outstanding),
        **values,
    )
    return loan


def _history(loan, *moves):
    """Record the delinquency run's bucket changes and leave the loan in the last bucket."""
    for day, old, new in moves:
        DelinquencyChange.objects.create(
            loan=loan,
            as_of=_day(day),
            from_bucket=old,
            to_bucket=new,
            days_past_due=0,
            is_deterioration=new > old,
        )
    day, _old, new = moves[-1]
    Loan.objects.filter(pk=loan.pk).update(bucket=new, bucket_since=_day(day))


def _repaid(loan, day, principal):
    Repayment.objects.create(
        loan=loan, received_on=_day(day), amount=D(principal), principal=D(principal)
    )


@pytest.fixture
def book(bank):
    """Ten loans (CNY unless said; branch A unless said), as of 30 June 2025:

    L1  P1  disbursed 2025-01-10, 10,000 lent, 6,000 outstanding now; repaid 500 of
        principal on 10 June and 1,000 on 10 July (outstanding 7,000 on 30 June, 7,500 on
        31 May); always current.
    L2  P1  2025-01-15, 20,000 / 20,000: 1-30 from 16 Feb, 31-60 from 18 Mar, 61-90 from
        17 Apr, 90+ from 17 May.
    L3  P1  2025-03-05, 8,000 / 8,000: 1-30 from 6 Apr, 31-60 from 6 May.
    L4  P2  branch B, 2025-03-20, 50,000 lent, 40,000 outstanding, status defaulted: 1-30
        from 21 Apr, 31-60 from 21 May, back to 1-30 on 20 June.
    L5  P1  2025-02-01, 12,000; repaid (9,000 of principal) and closed on 15 May.
    L6  P1  2024-11-01, 15,000 / 15,000, written off (no closing day): off the book.
    L7  P3  USD, 2025-04-10, 1,000 / 1,000, current.
    L8  P1  branch B, 2025-05-05, 30,000 / 30,000, current.
    L9  P1  disbursed 2025-07-05, after the as-of day.
    L10 P1  2025-02-03, 6,000 / 6,000: 1-30 from 4 Mar, 31-60 from 3 Apr, 61-90 from 3 May,
        90+ from 2 June.
    """
    p1 = LoanProductFactory(code="pf-personal", name="Personal")
    p2 = MortgageProductFactory(code="pf-mortgage", name="Mortgage")
    p3 = LoanProductFactory(code="pf-usd", name="Dollar loan", currency="USD")
    account_a = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    account_b = AccountFactory(owner=bank.customer_b, branch=bank.branch_b)
    a = {"account": account_a}
    b = {"account": account_b}
    loans = {}
    loans["L1"] = _loan("L1", **a, product=p1, disbursed="2025-01-10", principal="10000",
                        outstanding="6000")  # fmt: skip
    _repaid(loans["L1"], "2025-06-10", "500")
    _repaid(loans["L1"], "2025-07-10", "1000")
    loans["L2"] = _loan("L2", **a, product=p1, disbursed="2025-01-15", principal="20000",
                        outstanding="20000")  # fmt: skip
    _history(
        loans["L2"],
        ("2025-02-16", "current", "1-30"),
        ("2025-03-18", "1-30", "31-60"),
        ("2025-04-17", "31-60", "61-90"),
        ("2025-05-17", "61-90", "90+"),
    )
    loans["L3"] = _loan("L3", **a, product=p1, disbursed="2025-03-05", principal="8000",
                        outstanding="8000")  # fmt: skip
    _history(loans["L3"], ("2025-04-06", "current", "1-30"), ("2025-05-06", "1-30", "31-60"))
    loans["L4"] = _loan("L4", **b, product=p2, disbursed="2025-03-20", principal="50000",
                        outstanding="40000", status=Loan.Status.DEFAULTED)  # fmt: skip
    _history(
        loans["L4"],
        ("2025-04-21", "current", "1-30"),
        ("2025-05-21", "1-30", "31-60"),
        ("2025-06-20", "31-60", "1-30"),
    )
    loans["L5"] = _loan("L5", **a, product=p1, disbursed="2025-02-01", principal="12000",
                        outstanding="0", status=Loan.Status.CLOSED,
                        closed_on=_day("2025-05-15"))  # fmt: skip
    _repaid(loans["L5"], "2025-05-15", "9000")
    loans["L6"] = _loan("L6", **a, product=p1, disbursed="2024-11-01", principal="15000",
                        outstanding="15000", status=Loan.Status.WRITTEN_OFF)  # fmt: skip
    _history(loans["L6"], ("2025-03-01", "61-90", "90+"))
    usd_account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    loans["L7"] = _loan("L7", account=usd_account, product=p3, disbursed="2025-04-10",
                        principal="1000", outstanding="1000")  # fmt: skip
    loans["L8"] = _loan("L8", **b, product=p1, disbursed="2025-05-05", principal="30000",
                        outstanding="30000")  # fmt: skip
    loans["L9"] = _loan("L9", **a, product=p1, disbursed="2025-07-05", principal="5000",
                        outstanding="5000")  # fmt: skip
    loans["L10"] = _loan("L10", **a, product=p1, disbursed="2025-02-03", principal="6000",
                         outstanding="6000")  # fmt: skip
    _history(
        loans["L10"],
        ("2025-03-04", "current", "1-30"),
        ("2025-04-03", "1-30", "31-60"),
        ("2025-05-03", "31-60", "61-90"),
        ("2025-06-02", "61-90", "90+"),
    )
    return {"products": (p1, p2, p3), "loans": loans}


def _filters(**values):
    return PortfolioFilters(as_of=AS_OF, months=4, **values)


def _figures(figures):
    return (
        figures.currency,
        figures.loans,
        figures.outstanding,
        figures.npl_loans,
        figures.npl_outstanding,
        figures.npl_ratio,
        figures.par30_loans,
        figures.par30_outstanding,
        figures.par30,
        figures.par90_loans,
        figures.par90_outstanding,
        figures.par90,
        figures.written_off_loans,
        figures.written_off_outstanding,
    )


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


# --------------------------------------------------------------------------- figures


def test_npl_ratio_and_portfolio_at_risk_by_hand(bank, book):
    quality = portfolio_quality(actor=bank.analyst, filters=_filters())
    # On the book on 30 June, CNY: L1 7,000 (6,000 + the 1,000 repaid in July), L2 20,000,
    # L3 8,000, L4 40,000, L8 30,000, L10 6,000 = 111,000.
    # Non-performing: L2 and L10 (90+), L4 (defaulted, though 1-30): 66,000 → 59.46 %.
    # PAR30: L2, L3 (31-60), L10 = 34,000 → 30.63 %; PAR90: L2, L10 = 26,000 → 23.42 %.
    # Written off: L6, 15,000, outside the ratios. L5 closed in May, L9 not yet lent.
    assert [_figures(item) for item in quality.totals] == [
        ("CNY", 6, D("111000.00"), 3, D("66000.00"), D("59.46"), 3, D("34000.00"),
         D("30.63"), 2, D("26000.00"), D("23.42"), 1, D("15000.00")),
        ("USD", 1, D("1000.00"), 0, D("0"), D("0.00"), 0, D("0"), D("0.00"), 0, D("0"),
         D("0.00"), 0, D("0")),
    ]  # fmt: skip
    products = {
        group.code: [_figures(item) for item in group.figures] for group in quality.by_product
    }
    assert products == {
        # P1: L1, L2, L3, L8, L10 = 71,000; NPL 26,000; PAR30 34,000.
        "pf-personal": [
            ("CNY", 5, D("71000.00"), 2, D("26000.00"), D("36.62"), 3, D("34000.00"),
             D("47.89"), 2, D("26000.00"), D("36.62"), 1, D("15000.00")),
        ],
        # P2: L4 alone, defaulted: all of it non-performing, none of it 30+ days past due.
        "pf-mortgage": [
            ("CNY", 1, D("40000.00"), 1, D("40000.00"), D("100.00"), 0, D("0"), D("0.00"),
             0, D("0"), D("0.00"), 0, D("0")),
        ],
        "pf-usd": [
            ("USD", 1, D("1000.00"), 0, D("0"), D("0.00"), 0, D("0"), D("0.00"), 0, D("0"),
             D("0.00"), 0, D("0")),
        ],
    }  # fmt: skip
    branches = {
        group.name: [_figures(item) for item in group.figures] for group in quality.by_branch
    }
    assert branches == {
        # A: L1, L2, L3, L10 = 41,000; NPL 26,000; PAR30 34,000; and L7 in USD.
        "Branch A": [
            ("CNY", 4, D("41000.00"), 2, D("26000.00"), D("63.41"), 3, D("34000.00"),
             D("82.93"), 2, D("26000.00"), D("63.41"), 1, D("15000.00")),
            ("USD", 1, D("1000.00"), 0, D("0"), D("0.00"), 0, D("0"), D("0.00"), 0, D("0"),
             D("0.00"), 0, D("0")),
        ],
        # B: L4 40,000 (defaulted) and L8 30,000.
        "Branch B": [
            ("CNY", 2, D("70000.00"), 1, D("40000.00"), D("57.14"), 0, D("0"), D("0.00"), 0,
             D("0"), D("0.00"), 0, D("0")),
        ],
    }  # fmt: skip


def test_a_past_day_reads_the_bucket_history_and_adds_back_later_repayments(bank, book):
    # 30 April: L1 7,500 current; L2 61-90; L3 1-30; L4 1-30 (defaulted); L5 9,000 current
    # (repaid in May); L10 31-60. NPL: L4 40,000; PAR30: L2, L10 26,000; PAR90: none.
    quality = portfolio_quality(actor=bank.analyst, filters=_filters(currency="CNY"))
    assert quality.totals[0].loans == 6
    april = PortfolioFilters(as_of=dt.date(2025, 4, 30), months=1, currency="CNY")
    totals = portfolio_quality(actor=bank.analyst, filters=april).totals
    assert [_figures(item) for item in totals] == [
        ("CNY", 6, D("90500.00"), 1, D("40000.00"), D("44.20"), 2, D("26000.00"),
         D("28.73"), 0, D("0"), D("0.00"), 1, D("15000.00")),
    ]  # fmt: skip


def _matrix(rates, month, currency="CNY"):
    matrix = next(m for m in rates.matrices if m.month == month and m.currency == currency)
    return {
        row.bucket: (
            row.loans,
            row.outstanding,
            {
                cell.state: (cell.loans, cell.outstanding, cell.loan_share, cell.outstanding_share)
                for cell in row.cells
                if cell.loans
            },
        )
        for row in matrix.rows
        if row.loans
    }


def test_roll_rates_by_hand(bank, book):
    rates = portfolio_roll_rates(actor=bank.analyst, filters=_filters())
    assert [(start.isoformat(), end.isoformat()) for start, end in rates.months] == [
        ("2025-02-28", "2025-03-31"),
        ("2025-03-31", "2025-04-30"),
        ("2025-04-30", "2025-05-31"),
        ("2025-05-31", "2025-06-30"),
    ]
    # L7 (USD) was lent on 10 April: on the book from May's start.
    assert [(m.month, m.currency) for m in rates.matrices] == [
        ("2025-03", "CNY"),
        ("2025-04", "CNY"),
        ("2025-05", "CNY"),
        ("2025-05", "USD"),
        ("2025-06", "CNY"),
        ("2025-06", "USD"),
    ]
    # May: on the book on 30 April: L1 (7,500) and L5 (9,000) current, L3 (8,000) and L4
    # (40,000) 1-30, L10 (6,000) 31-60, L2 (20,000) 61-90. By 31 May: L1 current, L5 repaid,
    # L3 and L4 31-60, L10 61-90, L2 90+.
    assert _matrix(rates, "2025-05") == {
        "current": (2, D("16500.00"), {
            "current": (1, D("7500.00"), D("50.00"), D("45.45")),
            "closed": (1, D("9000.00"), D("50.00"), D("54.55")),
        }),
        "1-30": (2, D("48000.00"), {"31-60": (2, D("48000.00"), D("100.00"), D("100.00"))}),
        "31-60": (1, D("6000.00"), {"61-90": (1, D("6000.00"), D("100.00"), D("100.00"))}),
        "61-90": (1, D("20000.00"), {"90+": (1, D("20000.00"), D("100.00"), D("100.00"))}),
    }  # fmt: skip
    # June: L8 joined (current); L4 cured to 1-30, L3 stayed 31-60.
    assert _matrix(rates, "2025-06") == {
        "current": (2, D("37500.00"), {"current": (2, D("37500.00"), D("100.00"), D("100.00"))}),
        "31-60": (2, D("48000.00"), {
            "1-30": (1, D("40000.00"), D("50.00"), D("83.33")),
            "31-60": (1, D("8000.00"), D("50.00"), D("16.67")),
        }),
        "61-90": (1, D("6000.00"), {"90+": (1, D("6000.00"), D("100.00"), D("100.00"))}),
        "90+": (1, D("20000.00"), {"90+": (1, D("20000.00"), D("100.00"), D("100.00"))}),
    }  # fmt: skip
    # March: on the book on 28 February: L1, L5, L10 current and L2 1-30 (L6 is written off
    # without a day: never on the book). L3 and L4 were lent during March.
    assert _matrix(rates, "2025-03") == {
        "current": (3, D("22500.00"), {
            "current": (2, D("16500.00"), D("66.67"), D("73.33")),
            "1-30": (1, D("6000.00"), D("33.33"), D("26.67")),
        }),
        "1-30": (1, D("20000.00"), {"31-60": (1, D("20000.00"), D("100.00"), D("100.00"))}),
    }  # fmt: skip
    assert _matrix(rates, "2025-06", "USD") == {
        "current": (1, D("1000.00"), {"current": (1, D("1000.00"), D("100.00"), D("100.00"))}),
    }
    # Every matrix has the five buckets as rows and seven states as columns.
    assert {len(row.cells) for m in rates.matrices for row in m.rows} == {7}
    assert {len(m.rows) for m in rates.matrices} == {5}


def test_vintage_curves_by_hand(bank, book):
    vintages = portfolio_vintages(actor=bank.analyst, filters=_filters())
    assert vintages.mobs == [1, 2, 3, 4]
    table = {
        (cohort.label, cohort.currency): (
            cohort.loans,
            cohort.disbursed,
            [
                (cell.share_30, cell.amount_share_30, cell.share_90, cell.amount_share_90)
                if cell.observed
                else None
                for cell in cohort.cells
            ],
        )
        for cohort in vintages.cohorts
    }
    zero = (D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    assert table == {
        # February: L5 (12,000, never behind) and L10 (6,000: 31-60 on 3 April, month on
        # book 2; 90+ on 2 June, month on book 4).
        ("2025-02", "CNY"): (2, D("18000.00"), [
            zero,
            (D("50.00"), D("33.33"), D("0.00"), D("0.00")),
            (D("50.00"), D("33.33"), D("0.00"), D("0.00")),
            (D("50.00"), D("33.33"), D("50.00"), D("33.33")),
        ]),
        # March: L3 (8,000) and L4 (50,000) both 31-60 in May (month on book 2).
        ("2025-03", "CNY"): (2, D("58000.00"), [
            zero,
            (D("100.00"), D("100.00"), D("0.00"), D("0.00")),
            (D("100.00"), D("100.00"), D("0.00"), D("0.00")),
            None,
        ]),
        ("2025-04", "USD"): (1, D("1000.00"), [zero, zero, None, None]),
        ("2025-05", "CNY"): (1, D("30000.00"), [zero, None, None, None]),
    }  # fmt: skip


def test_buckets_set_without_a_recorded_change(bank):
    """Loans imported in a bucket (no change recorded): in it since ``bucket_since``; before
    their first recorded change, in that change's "from" bucket."""
    product = LoanProductFactory(code="pf-import")
    account = AccountFactory(owner=bank.customer_a, branch=bank.branch_a)
    imported = _loan("IM1", account=account, product=product, disbursed="2025-03-10",
                     principal="4000", outstanding="4000")  # fmt: skip
    Loan.objects.filter(pk=imported.pk).update(bucket="31-60", bucket_since=_day("2025-05-20"))
    moved = _loan("IM2", account=account, product=product, disbursed="2025-03-12",
                  principal="6000", outstanding="6000")  # fmt: skip
    _history(moved, ("2025-06-15", "61-90", "90+"))

    def buckets(day):
        queryset = portfolio_loan_list(
            actor=bank.analyst,
            filters=PortfolioFilters(as_of=_day(day), months=1),
            drill=LoanDrill(measure="book"),
        )
        return {loan.reference: loan.day_bucket for loan in queryset}

    assert buckets("2025-04-30") == {"IM1": "current", "IM2": "61-90"}
    assert buckets("2025-05-31") == {"IM1": "31-60", "IM2": "61-90"}
    assert buckets("2025-06-30") == {"IM1": "31-60", "IM2": "90+"}
    rates = portfolio_roll_rates(actor=bank.analyst, filters=_filters())
    assert _matrix(rates, "2025-06") == {
        "31-60": (1, D("4000.00"), {"31-60": (1, D("4000.00"), D("100.00"), D("100.00"))}),
        "61-90": (1, D("6000.00"), {"90+": (1, D("6000.00"), D("100.00"), D("100.00"))}),
    }
    # Vintage of March: IM1 past 30 days from 20 May (month on book 2, from its
    # bucket_since); IM2 past 90 days on 15 June (month on book 3), past 30 since then too
    # (its history begins there).
    vintages = portfolio_vintages(actor=bank.analyst, filters=_filters())
    march = next(cohort for cohort in vintages.cohorts if cohort.label == "2025-03")
    assert [(cell.loans_30, cell.loans_90) for cell in march.cells] == [
        (0, 0),
        (1, 0),
        (2, 1),
        (0, 0),  # month on book 4 (July) is not over by 30 June
    ]
    assert [cell.observed for cell in march.cells] == [True, True, True, False]


def test_the_loans_behind_each_figure(bank, book):
    def references(**drill):
        queryset = portfolio_loan_list(
            actor=bank.analyst, filters=_filters(currency="CNY"), drill=LoanDrill(**drill)
        )
        return sorted(loan.reference for loan in queryset)

    assert references(measure="book") == ["L1", "L10", "L2", "L3", "L4", "L8"]
    assert references(measure="npl") == ["L10", "L2", "L4"]
    assert references(measure="par30") == ["L10", "L2", "L3"]
    assert references(measure="par90") == ["L10", "L2"]
    assert references(measure="written_off") == ["L6"]
    may = dt.date(2025, 5, 31)
    assert references(month_end=may, from_bucket="current") == ["L1", "L5"]
    assert references(month_end=may, from_bucket="current", to_state="closed") == ["L5"]
    assert references(cohort=dt.date(2025, 2, 1)) == ["L10", "L5"]
    assert references(cohort=dt.date(2025, 2, 1), mob=3, threshold=90) == []
    assert references(cohort=dt.date(2025, 2, 1), mob=4, threshold=90) == ["L10"]
    listed = portfolio_loan_list(
        actor=bank.analyst,
        filters=_filters(),
        drill=LoanDrill(month_end=may, from_bucket="current", to_state="closed"),
    ).get()
    assert (listed.day_bucket, listed.day_outstanding, listed.end_state) == (
        "current",
        D("9000.00"),
        "closed",
    )


# --------------------------------------------------------------------------- pages


def test_the_page_shows_the_figures_with_links_to_their_loans(client, bank, book):
    response = login(client, bank.analyst).get(reverse("analytics:report_portfolio"), FILTERS)
    assert response.status_code == 200
    html = response.content.decode()
    total = response.context["quality"]["totals"][0]
    assert (total["npl_ratio"], total["par30"], total["par90"]) == ("59.46 %", "30.63 %", "23.42 %")
    npl_url = total["links"]["npl"]
    assert npl_url in html.replace("&amp;", "&")
    listed = client.get(npl_url)
    assert listed.status_code == 200
    assert sorted(loan.reference for loan in listed.context["loans"]) == ["L10", "L2", "L4"]
    # A roll-rate cell and a vintage cell open their loans too.
    may = next(item for item in response.context["rolls"] if item["matrix"].month == "2025-05")
    closed = next(entry for entry in may["rows"][0]["cells"] if entry["cell"].state == "closed")
    assert [loan.reference for loan in client.get(closed["url"]).context["loans"]] == ["L5"]
    february = response.context["vintages"][0]
    cell = february["cells"][3]
    assert [loan.reference for loan in client.get(cell["url_90"]).context["loans"]] == ["L10"]
    # The chart: one line per cohort, its points linked to the same lists.
    chart = response.context["chart"]
    assert [line["label"] for line in chart["series"]] == [
        "2025-02 CNY",
        "2025-03 CNY",
        "2025-04 USD",
        "2025-05 CNY",
    ]
    assert chart["series"][0]["points"][3]["url"] == february["cells"][3]["url_30"]
    assert 'id="portfolio-vintage-chart"' in html and "<polyline" in html
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]


def test_the_report_is_listed_in_the_catalogue(client, bank):
    assert REPORTS["portfolio"].url_name == "analytics:report_portfolio"
    response = login(client, bank.analyst).get(reverse("analytics:report_index"))
    assert "portfolio" in [report["key"] for report in response.context["reports"]]


def test_bad_filters_are_named(client, bank, book):
    login(client, bank.analyst)
    response = client.get(reverse("analytics:report_portfolio"), {"months": "99", "as_of": "x"})
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"months", "as_of"}
    assert response.context["report"] is None
    url = reverse("analytics:report_export", args=["portfolio", "csv"])
    refused = client.get(url, {"months": "0"})
    assert refused.status_code == 400
    assert refused.content.decode().startswith("months:")
    future = client.get(url, {"as_of": "2999-01-31"})
    assert future.status_code == 400 and "as_of" in future.content.decode()
    listed = client.get(reverse("analytics:report_portfolio_loans"), {"month": "2025-13"})
    assert "month" in listed.context["form"].errors and listed.context["loans"] == []


# --------------------------------------------------------------------------- scope


def test_a_branch_manager_never_sees_another_branchs_loans(client, bank, book):
    quality = portfolio_quality(actor=bank.manager_a, filters=_filters())
    assert [(item.currency, item.loans, item.outstanding) for item in quality.totals] == [
        ("CNY", 4, D("41000.00")),
        ("USD", 1, D("1000.00")),
    ]
    assert [group.name for group in quality.by_branch] == ["Branch A"]
    rates = portfolio_roll_rates(actor=bank.manager_a, filters=_filters())
    june = _matrix(rates, "2025-06")
    # L4 (31-60 → 1-30) and L8 (current) are branch B's: not here.
    assert june["31-60"] == (
        1,
        D("8000.00"),
        {"31-60": (1, D("8000.00"), D("100.00"), D("100.00"))},
    )
    assert june["current"][0] == 1
    vintages = portfolio_vintages(actor=bank.manager_a, filters=_filters())
    assert [(c.label, c.loans) for c in vintages.cohorts] == [
        ("2025-02", 2),
        ("2025-03", 1),
        ("2025-04", 1),
    ]

    login(client, bank.manager_a)
    response = client.get(reverse("analytics:report_portfolio"), FILTERS)
    html = response.content.decode()
    assert "Branch B" not in html and "L4" not in html
    every = client.get(reverse("analytics:report_portfolio_loans"), {**FILTERS, "measure": "book"})
    assert sorted(loan.reference for loan in every.context["loans"]) == [
        "L1",
        "L10",
        "L2",
        "L3",
        "L7",
    ]
    # Another branch cannot be asked for: it is not among the manager's choices.
    other = client.get(
        reverse("analytics:report_portfolio_loans"),
        {**FILTERS, "measure": "book", "branch": str(bank.branch_b.pk)},
    )
    assert "branch" in other.context["form"].errors and other.context["loans"] == []
    export = client.get(
        reverse("analytics:report_export", args=["portfolio_loans", "csv"]),
        {**FILTERS, "measure": "book"},
    )
    assert export.status_code == 200
    references = sorted(row[0] for row in csv_rows(export)[1:] if row)
    assert references == ["L1", "L10", "L2", "L3", "L7"]
    refused = client.get(
        reverse("analytics:report_export", args=["portfolio", "csv"]),
        {**FILTERS, "branch": str(bank.branch_b.pk)},
    )
    assert refused.status_code == 400


def test_permissions(client, bank, book):
    # Reads reports but not loans (a marketing manager's kind of role): 403, nothing exported.
    reader = UserFactory(
        username="reader",
        org_unit=bank.branch_a,
        roles=[
            RoleFactory(
                code="report_reader",
                permissions=["analytics.view_report", "analytics.export_report"],
            )
        ],
    )
    teller = UserFactory(
        username="teller",
        org_unit=bank.branch_a,
        roles=[RoleFactory(code="teller", permissions=["lending.view_loan"])],
    )
    for user in (reader, teller):
        login(client, user)
        assert client.get(reverse("analytics:report_portfolio"), FILTERS).status_code == 403
        assert client.get(reverse("analytics:report_portfolio_loans"), FILTERS).status_code == 403
        for key in ("portfolio", "portfolio_loans"):
            url = reverse("analytics:report_export", args=[key, "csv"])
            assert client.get(url, FILTERS).status_code == 403
    login(client, reader)
    index = client.get(reverse("analytics:report_index"))
    assert "portfolio" not in [report["key"] for report in index.context["reports"]]
    # A relationship manager reads the report but may not export it.
    login(client, bank.rm_a)
    assert client.get(reverse("analytics:report_portfolio"), FILTERS).status_code == 200
    url = reverse("analytics:report_export", args=["portfolio", "xlsx"])
    assert client.get(url, FILTERS).status_code == 403
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()
    assert Loan.objects.count() == 10


# --------------------------------------------------------------------------- exports


def test_exports_hold_one_table_per_section(client, bank, book):
    login(client, bank.analyst)
    url = reverse("analytics:report_export", args=["portfolio", "csv"])
    response = client.get(url, FILTERS)
    assert response.status_code == 200
    rows = csv_rows(response)
    titles = [row[0] for row in rows if row and row[0].startswith("# ")]
    assert titles == ["# NPL ratio and portfolio at risk", "# Roll rates", "# Vintage curves"]
    total = next(row for row in rows if row[:3] == ["All loans", "All loans", "CNY"])
    assert total[3:8] == ["6", "111000.00", "3", "66000.00", "59.46"]
    assert total[10] == "30.63" and total[13] == "23.42"
    may_closed = next(
        row
        for row in rows
        if row[:1] == ["2025-05"] and row[4] == "Current" and row[7] == "Repaid and closed"
    )
    assert may_closed[8:] == ["1", "50.00", "9000.00", "54.55"]
    february_4 = next(row for row in rows if row[:2] == ["2025-02", "CNY"] and row[4] == "4")
    assert february_4[5:] == ["1", "50.00", "6000.00", "33.33", "1", "50.00", "6000.00", "33.33"]
    assert AuditEvent.objects.filter(action="analytics.report_export").count() == 1

    xlsx = client.get(reverse("analytics:report_export", args=["portfolio", "xlsx"]), FILTERS)
    assert xlsx.status_code == 200
    workbook = load_workbook(io.BytesIO(_content(xlsx)))
    assert len(workbook.sheetnames) == 3
    sheet = workbook[workbook.sheetnames[0]]
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[1][:8] == ["All loans", "All loans", "CNY", 6, 111000, 3, 66000, 59.46]
    pdf = client.get(reverse("analytics:report_export", args=["portfolio", "pdf"]), FILTERS)
    assert pdf.status_code == 200
    assert _content(pdf).startswith(b"%PDF")


def _content(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def test_an_export_of_no_loans_is_a_valid_file(client, bank, book):
    login(client, bank.analyst)
    empty = {"as_of": "2020-01-31", "months": "2"}
    response = client.get(reverse("analytics:report_export", args=["portfolio", "csv"]), empty)
    rows = csv_rows(response)
    assert [row[0] for row in rows if row and row[0].startswith("# ")] == [
        "# NPL ratio and portfolio at risk",
        "# Roll rates",
        "# Vintage curves",
    ]
    # Each section: its title, its heading line, no rows.
    assert len([row for row in rows if row]) == 6
    xlsx = client.get(reverse("analytics:report_export", args=["portfolio", "xlsx"]), empty)
    workbook = load_workbook(io.BytesIO(_content(xlsx)))
    assert [workbook[name].max_row for name in workbook.sheetnames] == [1, 1, 1]
    pdf = client.get(reverse("analytics:report_export", args=["portfolio", "pdf"]), empty)
    assert pdf.status_code == 200 and _content(pdf).startswith(b"%PDF")
    loans = client.get(
        reverse("analytics:report_export", args=["portfolio_loans", "xlsx"]),
        {**empty, "measure": "npl"},
    )
    assert loans.status_code == 200
    sheet = load_workbook(io.BytesIO(_content(loans))).active
    assert sheet.max_row == 1 and sheet.cell(1, 1).value == "Loan"
    page = client.get(reverse("analytics:report_portfolio"), empty)
    assert "No loans on the book on that day." in page.content.decode()


# --------------------------------------------------------------------------- queries


def test_the_page_reads_a_fixed_number_of_queries(
    client, bank, book, django_assert_max_num_queries
):
    login(client, bank.analyst)
    url = reverse("analytics:report_portfolio")
    client.get(url, FILTERS)  # warm the permission caches
    # Session, user, roles, products, branches (5); NPL and PAR: the loans, the repayments
    # after the day, the products' and branches' names (4); the roll rates of every month in
    # one statement (1); the vintages (5); the session's save (3). On PostgreSQL, the SET and
    # RESET around the two grouped statements (4). Never one per loan, nor one per month.
    expected = 18 + (4 if connection.vendor == "postgresql" else 0)
    with django_assert_max_num_queries(expected):
        assert client.get(url, FILTERS).status_code == 200
    with django_assert_max_num_queries(expected):
        assert client.get(url, {**FILTERS, "months": "12"}).status_code == 200
    with django_assert_max_num_queries(9):
        listed = client.get(
            reverse("analytics:report_portfolio_loans"), {**FILTERS, "measure": "npl"}
        )
        assert len(listed.context["loans"]) == 3
