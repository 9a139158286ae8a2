"""The product holding and channel usage page, its customer lists and exports: the catalogue
and index, figures linked to the customers behind them (and agreeing with them), the
definitions and charts, the HTMX body, a part out of the viewer's reach left out with a
note, bad filters named (and refused by the export with nothing recorded), a branch
manager's page, list and export holding only their branch, the permissions (403, nothing
recorded), CSV/XLSX/PDF with their audit records, a valid file of no customers, and the
pages' query counts."""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.analytics.catalogue import REPORTS
from bankcrm.audit.models import AuditEvent
from tests.analytics.test_exports import pdf_text
from tests.analytics.test_product_holding import (  # noqa: F401
    A1,
    A2,
    A3,
    A6,
    FILTERS,
    LI,
    W,
    accounts_reader,
    holdings,
    manager_b,
)
from tests.factories import RoleFactory, UserFactory
from tests.factories.banking import AccountFactory, TransactionFactory
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

PAGE = "analytics:report_product_holding"
CUSTOMERS = "analytics:report_product_holding_customers"


@pytest.fixture(autouse=True)
def _exports_dir(settings, tmp_path):
    settings.ANALYTICS_EXPORT_DIR = str(tmp_path / "exports")


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


def section(rows: list[list[str]], title: str) -> list[list[str]]:
    """The heading and rows of one section of a sectioned CSV."""
    start = rows.index([f"# {title}"]) + 1
    end = next((i for i in range(start, len(rows)) if not rows[i]), len(rows))
    return rows[start:end]


def export(client, key, fmt, **filters):
    return client.get(reverse("analytics:report_export", args=[key, fmt]), {**FILTERS, **filters})


def listed(client, url) -> set[str]:
    response = client.get(url)
    assert response.status_code == 200
    return {row.display_name for row in response.context["customers"]}


# --------------------------------------------------------------------------- the page


def test_the_report_is_in_the_catalogue_and_the_index(client, bank):
    assert REPORTS["product_holding"].url_name == PAGE
    response = login(client, bank.manager_a).get(reverse("analytics:report_index"))
    assert "product_holding" in [report["key"] for report in response.context["reports"]]
    assert reverse(PAGE) in response.content.decode()
    assert reverse(PAGE) == "/analytics/reports/product-holding/"
    assert reverse(CUSTOMERS) == "/analytics/reports/product-holding/customers/"


def test_the_page_shows_the_figures_linked_to_their_customers(client, bank, holdings):  # noqa: F811
    response = login(client, bank.manager_a).get(reverse(PAGE), FILTERS)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-figure="customers">5<' in html
    assert 'data-figure="average-products">1.60<' in html
    assert 'data-figure="digital-only">1<' in html and 'data-figure="branch-only">1<' in html
    savings = next(
        row
        for row in response.context["holding_lines"]
        if (row["line"].category, row["line"].currency) == ("savings", "CNY")
    )
    assert savings["balance"] == "CNY 6,100.00" and savings["average"] == "CNY 1,525.00"
    query = parse_qs(urlparse(savings["url"]).query)
    assert query["kind"] == ["holding"] and query["category"] == ["savings"]
    assert query["as_of"] == ["2024-06-30"] and query["period_from"] == ["2024-04-01"]
    assert listed(client, savings["url"]) == {W, A1, A2, A3}
    assert savings["url"].replace("&", "&amp;") in html
    # Products per customer: every bucket opens its customers, which agree with it.
    for item in response.context["product_buckets"]:
        assert len(listed(client, item["url"])) == item["bucket"].customers
    cell = response.context["cross_rows"][0]["cells"][1]  # current × savings
    assert (cell["cell"].category, cell["cell"].other, cell["cell"].customers) == (
        "current",
        "savings",
        2,
    )
    assert listed(client, cell["url"]) == {W, A1}
    assert listed(client, response.context["all_customers_url"]) == {W, A1, A2, A3, A6}
    # Channels: each channel and each of its currencies open their customers.
    rows = {
        (row["channel"].channel, row["currency"]): row for row in response.context["channel_rows"]
    }
    assert listed(client, rows[("branch", "CNY")]["url"]) == {W, A1, A2}
    assert listed(client, rows[("online", "USD")]["currency_url"]) == {W}
    assert rows[("branch", "CNY")]["money_in_text"] == "CNY 1,000.00"
    assert rows[("other", "")]["currency_url"] == ""
    for item in response.context["channel_buckets"]:
        assert len(listed(client, item["url"])) == item["bucket"].customers
    assert listed(client, response.context["digital_only_url"]) == {A3}
    assert listed(client, response.context["branch_only_url"]) == {A2}


def test_the_page_has_its_charts_definitions_and_exports(client, bank, holdings):  # noqa: F811
    response = login(client, bank.manager_a).get(reverse(PAGE), FILTERS)
    html = response.content.decode()
    for chart in ("products", "channels", "channel-count"):
        assert f'id="chart-product-holding-{chart}"' in html
    assert [row.value for row in response.context["products_chart"].rows] == [1, 2, 1, 0, 1]
    assert [row.value for row in response.context["channel_chart"].rows] == [
        3, 1, 1, 1, 2, 1, 1, 0, 1,
    ]  # fmt: skip
    assert 'id="product-holding-definitions"' in html
    assert "How these figures are counted" in html
    assert "Digital channels: Online banking, Mobile app, Card, ATM." in html
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]
    assert "/analytics/reports/product_holding/export.csv?" in html


def test_the_htmx_request_gets_the_body(client, bank, holdings):  # noqa: F811
    login(client, bank.manager_a)
    partial = client.get(reverse(PAGE), FILTERS, HTTP_HX_REQUEST="true")
    assert next(t.name for t in partial.templates) == "analytics/reports/product_holding_body.html"
    assert "<html" not in partial.content.decode()
    assert partial.context["report"].customers == 5


def test_a_part_out_of_reach_is_left_out_with_a_note(client, accounts_reader, holdings):  # noqa: F811
    response = login(client, accounts_reader).get(reverse(PAGE), FILTERS)
    html = response.content.decode()
    assert response.context["report"].channels is None
    assert 'data-part="channels"' in html and 'data-part="holdings"' not in html
    assert "Channel usage is not in your reach" in html
    assert 'id="product-holding-channels"' not in html and 'data-figure="digital-only"' not in html
    assert 'id="product-holding-lines"' in html
    response = client.get(reverse(CUSTOMERS), {**FILTERS, "kind": "digital_only"})
    assert response.status_code == 403


# --------------------------------------------------------------------------- bad input


def test_bad_filters_are_named_and_refused_by_the_export(client, bank, holdings):  # noqa: F811
    login(client, bank.manager_a)
    for filters, name in (
        ({"as_of": "2999-01-01"}, "as_of"),
        ({"as_of": "not-a-day"}, "as_of"),
        ({"period_from": "2024-06-01", "period_to": "2024-05-01"}, "period_from"),
        ({"segment": "vip"}, "segment"),
        ({"unit": str(bank.branch_b.pk)}, "unit"),
    ):
        response = client.get(reverse(PAGE), {**FILTERS, **filters})
        assert response.status_code == 200
        assert response.context["report"] is None
        assert name in response.context["form"].errors
        assert f'data-error-for="{name}"' in response.content.decode()
        refused = export(client, "product_holding", "csv", **filters)
        assert refused.status_code == 400 and name in refused.content.decode()
    for figure, name in (
        ({"kind": "holding", "category": "savings"}, "currency"),
        ({"kind": "channel", "channel": "pigeon"}, "channel"),
        ({"kind": "channels", "number": "3", "as_of": "2999-01-01"}, "as_of"),
        ({"kind": "whatever"}, "kind"),
    ):
        response = client.get(reverse(CUSTOMERS), {**FILTERS, **figure})
        assert response.status_code == 200
        assert response.context["customers"] == [] and name in response.context["form"].errors
        refused = export(client, "product_holding_customers", "csv", **figure)
        assert refused.status_code == 400 and name in refused.content.decode()
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


# --------------------------------------------------------------------------- scope


def test_a_branch_managers_page_list_and_export_hold_their_branch_only(
    client,
    bank,
    holdings,  # noqa: F811
    manager_b,  # noqa: F811
):
    response = login(client, bank.manager_a).get(reverse(PAGE), FILTERS)
    html = response.content.decode()
    assert "Branch B" not in html and "李" not in html
    assert listed(client, response.context["all_customers_url"]) == {W, A1, A2, A3, A6}
    rows = csv_rows(export(client, "product_holding_customers", "csv", kind="products"))
    assert {row[1] for row in rows[1:]} == {W, A1, A2, A3, A6}
    rows = csv_rows(export(client, "product_holding", "csv"))
    assert [row[0] for row in section(rows, "Holdings by product category and currency")[1:]] == [
        "current",
        "savings",
        "savings",
        "loan",
        "credit_card",
    ]
    response = login(client, manager_b).get(reverse(PAGE), FILTERS)
    assert response.context["report"].customers == 1
    assert listed(client, response.context["all_customers_url"]) == {LI}
    # Another branch's unit is not a filter the manager may choose.
    response = client.get(reverse(PAGE), {**FILTERS, "unit": bank.branch_a.pk})
    assert response.context["report"] is None and "unit" in response.context["form"].errors


def test_pages_and_exports_need_their_permissions(client, bank, holdings):  # noqa: F811
    teller = UserFactory(
        username="teller",
        org_unit=bank.branch_a,
        roles=[RoleFactory(code="teller", permissions=["customers.view_party"])],
    )
    before = AuditEvent.objects.count()
    login(client, teller)
    assert client.get(reverse(PAGE), FILTERS).status_code == 403
    assert client.get(reverse(CUSTOMERS), FILTERS).status_code == 403
    # A relationship manager reads reports but may not export them.
    login(client, bank.rm_a)
    response = client.get(reverse(PAGE), FILTERS)
    assert response.status_code == 200 and response.context["export_links"] == []
    for key in ("product_holding", "product_holding_customers"):
        for fmt in ("csv", "xlsx", "pdf"):
            assert export(client, key, fmt).status_code == 403
    assert AuditEvent.objects.count() == before


# --------------------------------------------------------------------------- exports


def test_the_exports_hold_the_figures_and_are_audited(client, bank, holdings):  # noqa: F811
    login(client, bank.manager_a)
    rows = csv_rows(export(client, "product_holding", "csv"))
    assert section(rows, "Holdings by product category and currency")[:3] == [
        [
            "Category code",
            "Product category",
            "Currency",
            "Open accounts",
            "Customers holding",
            "Total balance",
            "Average balance per holder",
        ],
        ["current", "Current account", "CNY", "2", "2", "3500.00", "1750.00"],
        ["savings", "Savings account", "CNY", "3", "4", "6100.00", "1525.00"],
    ]
    assert section(rows, "Products per customer")[1:] == [
        ["0", "1", "0.2"],
        ["1", "2", "0.4"],
        ["2", "1", "0.2"],
        ["3", "0", "0.0"],
        ["4+", "1", "0.2"],
    ]
    cross = section(rows, "Cross-holding")
    assert cross[0][:3] == ["Product category", "Current account", "Savings account"]
    assert cross[2][:3] == ["Savings account", "2", "4"]
    channels = section(rows, "Channel usage")
    assert ["branch", "Branch", "3", "CNY", "3", "2", "1000.00", "400.00"] in channels
    assert ["other", "Other", "0", "", "0", "0", "", ""] in channels
    assert section(rows, "Customers by number of channels used")[1:] == [
        ["0", "1", "0.2"],
        ["1", "1", "0.2"],
        ["2", "2", "0.4"],
        ["3+", "1", "0.2"],
    ]
    assert section(rows, "Digital only and branch only")[1:] == [
        ["Digital only", "1", "0.2"],
        ["Branch only", "1", "0.2"],
    ]
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("id")
    assert event.after["report"] == "analytics.product_holding"
    assert event.after["filters"] == FILTERS and event.after["format"] == "csv"
    response = export(client, "product_holding", "xlsx")
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["Products per customer"]
    assert [cell.value for cell in sheet[2]] == ["0", 1, 0.2]
    response = export(client, "product_holding", "pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert "Product holding and channel usage" in pdf_text(response.content)
    # The customers behind a figure, all of them, masked.
    rows = csv_rows(export(client, "product_holding_customers", "csv", kind="digital_only"))
    assert rows[0] == ["Customer key", "Customer", "Unit", "Segment", "Status", "Channels used"]
    assert [row[1:] for row in rows[1:]] == [
        [A3, "Branch A", "Mass retail", "Dormant", "Mobile app, Not recorded"]
    ]
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("id")
    assert event.after["report"] == "analytics.product_holding_customers"
    assert event.after["filters"] == {**FILTERS, "kind": "digital_only"}
    assert event.after["rows"] == 1


def test_an_export_of_no_customers_is_still_a_valid_file(client, bank, holdings):  # noqa: F811
    login(client, bank.manager_a)
    empty = {"kind": "cross", "category": "wealth"}  # nobody holds wealth management
    rows = csv_rows(export(client, "product_holding_customers", "csv", **empty))
    assert rows == [
        ["Customer key", "Customer", "Unit", "Segment", "Status", "Product categories held"]
    ]
    assert (
        AuditEvent.objects.filter(action="analytics.report_export").latest("id").after["rows"] == 0
    )
    response = export(client, "product_holding_customers", "xlsx", **empty)
    assert load_workbook(io.BytesIO(response.content)).active.max_row == 1
    response = export(client, "product_holding_customers", "pdf", **empty)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_the_report_export_of_a_viewer_without_transactions(client, accounts_reader, holdings):  # noqa: F811
    role = accounts_reader.roles.get()
    role.permissions = [*role.permissions, "analytics.export_report"]
    role.save()
    rows = csv_rows(export(login(client, accounts_reader), "product_holding", "csv"))
    titles = [row[0] for row in rows if row and row[0].startswith("# ")]
    assert titles == [
        "# Holdings by product category and currency",
        "# Products per customer",
        "# Cross-holding",
    ]
    response = export(client, "product_holding", "pdf")
    assert "Not in your reach" in pdf_text(response.content)
    assert export(client, "product_holding_customers", "csv", kind="branch_only").status_code == 403


# --------------------------------------------------------------------------- queries


def test_the_pages_read_a_fixed_number_of_queries(
    client,
    bank,
    holdings,  # noqa: F811
    django_assert_max_num_queries,
):
    login(client, bank.manager_a)
    client.get(reverse(PAGE), FILTERS)
    # The session and the viewer (3, with their roles), the units they may choose (2), one
    # statement per part (2), the session's refresh (3): the same with more customers.
    with django_assert_max_num_queries(10):
        client.get(reverse(PAGE), FILTERS)
    with django_assert_max_num_queries(10):
        client.get(reverse(CUSTOMERS), {**FILTERS, "kind": "products"})
    for number in range(5):
        account = AccountFactory(
            owner=PersonFactory(owning_unit=bank.branch_a), branch=bank.branch_a
        )
        TransactionFactory(account=account, booking_date=dt.date(2024, 5, number + 1))
    with django_assert_max_num_queries(10):
        response = client.get(reverse(PAGE), FILTERS)
    assert response.context["report"].customers == 10
    with django_assert_max_num_queries(10):
        client.get(reverse(CUSTOMERS), {**FILTERS, "kind": "products"})
