"""The customer acquisition and attrition report on a small hand-computed fixture: joining
and closing days (from ``customer_since``, the accounts, the audit trail in the bank's zone),
the monthly and window figures per unit and segment, the customers behind each figure, the
churn view, the viewer's scope, the permissions, the exports and the page's query count."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics.selectors_acquisition import (
    acquisition_churn_view,
    acquisition_customer_list,
    acquisition_report,
    month_starts,
)
from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Party
from bankcrm.customers.services import party_close
from bankcrm.risk.models import ModelVersion, Score
from tests.factories import RoleFactory, UserFactory
from tests.factories.banking import AccountFactory
from tests.factories.customers import PersonFactory

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2024, 6, 30)
# Three months: April (0), May (1), June (2) 2024.
FILTERS = {"as_of": AS_OF.isoformat(), "months": "3"}
CLOSED = Party.Status.CLOSED


def closed_at(actor, party, moment: dt.datetime) -> None:
    """Close ``party`` through the service, its audit event stamped ``moment`` (UTC)."""
    with mock.patch("bankcrm.audit.services.timezone.now", return_value=moment):
        party_close(actor=actor, party=party, reason="Customer moved abroad")


@pytest.fixture
def manager_b(bank):
    return UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )


@pytest.fixture
def executive(bank):
    return UserFactory(
        username="executive", org_unit=bank.head_office, roles=[Role.objects.get(code="executive")]
    )


@pytest.fixture
def movers(bank, manager_b):
    """Customers of branches A and B joining and leaving around April–June 2024.

    Branch A (with the bank fixture's 王小明: active, no joining day, counted from before):
    A1 since 2023 · A2 joined by its account opened 2024-04-15 · A3 since 2024-05-20
    (affluent) · A4 since 2022, closed through the service at 2024-05-31 17:00 UTC, which is
    1 June in Shanghai · A5 closed, its last account closed 2024-04-10 · A6 closed without
    any closing day · A7 closed, its account closed 2024-02-01 (before the window) · A8 a
    prospect · A9 since 2024-07-05 (after the as-of day) · A10 since 2024-05-03 (affluent),
    closed, its account closed 2024-04-20, before it joined: it leaves in May.
    Branch B (with 李大伟: no joining day): B1 since 2024-06-10 · B2 since 2023, closed
    through the service at 2024-04-30 15:00 UTC (23:00 in Shanghai, still April)."""
    a, b = bank.branch_a, bank.branch_b

    def person(name, unit=a, **values):
        return PersonFactory(display_name=name, owning_unit=unit, **values)

    people = {
        "A1": person("Alpha One", customer_since=dt.date(2023, 1, 10)),
        "A2": person("Alpha Two"),
        "A3": person(
            "Alpha Three", customer_since=dt.date(2024, 5, 20), segment=Party.Segment.AFFLUENT
        ),
        "A4": person("Alpha Four", customer_since=dt.date(2022, 5, 1)),
        "A5": person("Alpha Five", customer_since=dt.date(2021, 1, 1), status=CLOSED),
        "A6": person("Alpha Six", customer_since=dt.date(2020, 1, 1), status=CLOSED),
        "A7": person("Alpha Seven", customer_since=dt.date(2020, 1, 1), status=CLOSED),
        "A8": person("Alpha Eight", status=Party.Status.PROSPECT),
        "A9": person("Alpha Nine", customer_since=dt.date(2024, 7, 5)),
        "A10": person(
            "Alpha Ten",
            customer_since=dt.date(2024, 5, 3),
            status=CLOSED,
            segment=Party.Segment.AFFLUENT,
        ),
        "B1": person("Beta One", b, customer_since=dt.date(2024, 6, 10)),
        "B2": person("Beta Two", b, customer_since=dt.date(2023, 6, 1)),
    }
    AccountFactory(owner=people["A2"], branch=a, opened_on=dt.date(2024, 4, 15))
    for name, opened, closed in (
        ("A5", dt.date(2021, 1, 1), dt.date(2024, 4, 10)),
        ("A7", dt.date(2020, 1, 1), dt.date(2024, 2, 1)),
        ("A10", dt.date(2024, 4, 1), dt.date(2024, 4, 20)),
    ):
        AccountFactory(
            owner=people[name], branch=a, opened_on=opened, closed_on=closed, status="closed"
        )
    closed_at(bank.manager_a, people["A4"], dt.datetime(2024, 5, 31, 17, 0, tzinfo=dt.UTC))
    closed_at(manager_b, people["B2"], dt.datetime(2024, 4, 30, 15, 0, tzinfo=dt.UTC))
    people["王小明"] = bank.customer_a
    people["李大伟"] = bank.customer_b
    return people


@pytest.fixture
def churn_model(movers):
    model = ModelVersion.objects.create(
        name="churn",
        version=1,
        purpose="churn",
        method="gbm",
        status="production",
        spec={},
        metrics={"auc_cv_mean": 0.8651, "auc_cv_std": 0.0071, "rows": 10000},
    )

    def score(name: str, probability: str) -> None:
        Score.objects.create(
            model_version=model,
            subject_kind=Score.Subject.PARTY,
            subject_id=str(movers[name].pk),
            score=600,
            probability_of_default=Decimal(probability),
        )

    score("A1", "0.10")  # replaced by A1's later score
    score("A1", "0.72")
    score("A2", "0.55")
    score("A3", "0.20")
    score("A4", "0.95")  # closed: not a current customer
    score("李大伟", "0.99")  # branch B
    return model


def figures(line) -> tuple:
    return (line.start, line.new, line.lost, line.net, line.end, line.attrition)


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


# --------------------------------------------------------------------------- figures


def test_the_window_is_the_calendar_months_ending_with_the_as_of_month():
    assert month_starts(AS_OF, 3) == [dt.date(2024, 4, 1), dt.date(2024, 5, 1), dt.date(2024, 6, 1)]
    assert month_starts(dt.date(2024, 2, 10), 2) == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    assert month_starts(dt.date(2024, 1, 31), 2) == [dt.date(2023, 12, 1), dt.date(2024, 1, 1)]


def test_a_branch_managers_figures_by_month_unit_and_segment(bank, movers):
    report = acquisition_report(actor=bank.manager_a, as_of=AS_OF, months=3)
    assert report.window_from == dt.date(2024, 4, 1)
    # At the start 王小明, A1, A4, A5; new A2, A3, A10; lost A5 (Apr), A10 (May), A4 (Jun).
    assert figures(report.total) == (4, 3, 3, 0, 4, 0.75)
    assert [(m.label, *figures(m)) for m in report.by_month] == [
        ("2024-04", 4, 1, 1, 0, 4, 0.25),
        ("2024-05", 4, 2, 1, 1, 5, 0.25),
        ("2024-06", 5, 0, 1, -1, 4, 0.2),
    ]
    assert [(line.label, *figures(line)) for line in report.by_unit] == [
        ("Branch A", 4, 3, 3, 0, 4, 0.75)
    ]
    assert [(line.key, *figures(line)) for line in report.by_segment] == [
        ("mass", 4, 1, 2, -1, 3, 0.5),
        ("affluent", 0, 2, 1, 1, 1, None),
    ]
    assert [(c.unit, c.label, c.start, c.new, c.lost) for c in report.by_unit_month] == [
        ("Branch A", "2024-04", 4, 1, 1),
        ("Branch A", "2024-05", 4, 2, 1),
        ("Branch A", "2024-06", 5, 0, 1),
    ]
    assert (report.joined_without_date, report.closed_without_date) == (1, 1)
    assert (report.lost_dated_by_audit, report.lost_dated_by_accounts) == (1, 2)


def test_bank_wide_figures_add_up_both_branches(executive, movers):
    report = acquisition_report(actor=executive, as_of=AS_OF, months=3)
    assert figures(report.total) == (6, 4, 4, 0, 6, 0.6667)
    by_unit = {line.label: figures(line) for line in report.by_unit}
    assert by_unit == {
        "Branch A": (4, 3, 3, 0, 4, 0.75),
        "Branch B": (2, 1, 1, 0, 2, 0.5),
    }
    # B2 closed at 23:00 on 30 April in Shanghai: April, not May.
    assert [(m.start, m.new, m.lost) for m in report.by_month] == [
        (6, 1, 2),
        (5, 2, 1),
        (6, 1, 1),
    ]
    assert report.joined_without_date == 2
    assert (report.lost_dated_by_audit, report.lost_dated_by_accounts) == (2, 2)


def test_filters_narrow_to_a_unit_and_a_segment(executive, bank, movers):
    report = acquisition_report(actor=executive, as_of=AS_OF, months=3, unit=bank.branch_b)
    assert figures(report.total) == (2, 1, 1, 0, 2, 0.5)
    report = acquisition_report(actor=executive, as_of=AS_OF, months=3, segment="affluent")
    assert figures(report.total) == (0, 2, 1, 1, 1, None)
    # One month, as of the end of May: the window is May alone.
    report = acquisition_report(actor=executive, as_of=dt.date(2024, 5, 31), months=1)
    assert figures(report.total) == (5, 2, 1, 1, 6, 0.2)


def test_the_customers_behind_each_figure(bank, movers):
    def names(kind, month=None):
        rows = acquisition_customer_list(
            actor=bank.manager_a, kind=kind, month=month, as_of=AS_OF, months=3
        )
        return {row.display_name for row in rows}

    may, june = dt.date(2024, 5, 1), dt.date(2024, 6, 1)
    assert names("new", may) == {"Alpha Three", "Alpha Ten"}
    assert names("lost", may) == {"Alpha Ten"}
    assert names("start", june) == {"王小明", "Alpha One", "Alpha Two", "Alpha Three", "Alpha Four"}
    assert names("end", june) == {"王小明", "Alpha One", "Alpha Two", "Alpha Three"}
    assert names("new") == {"Alpha Two", "Alpha Three", "Alpha Ten"}
    assert names("lost") == {"Alpha Five", "Alpha Four", "Alpha Ten"}
    assert names("start") == {"王小明", "Alpha One", "Alpha Four", "Alpha Five"}
    lost = {
        row.display_name: (row.closed_on, row.closed_from)
        for row in acquisition_customer_list(
            actor=bank.manager_a, kind="lost", as_of=AS_OF, months=3
        )
    }
    assert lost == {
        "Alpha Four": (dt.date(2024, 6, 1), "audit"),
        "Alpha Five": (dt.date(2024, 4, 10), "accounts"),
        "Alpha Ten": (dt.date(2024, 4, 20), "accounts"),
    }
    joined = {
        row.display_name: row.joined_on
        for row in acquisition_customer_list(
            actor=bank.manager_a, kind="new", as_of=AS_OF, months=3
        )
    }
    assert joined["Alpha Two"] == dt.date(2024, 4, 15)
    with pytest.raises(ValidationError) as error:
        acquisition_customer_list(
            actor=bank.manager_a, kind="new", month=dt.date(2024, 1, 1), as_of=AS_OF, months=3
        )
    assert "month" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        acquisition_customer_list(actor=bank.manager_a, kind="nope", as_of=AS_OF, months=3)
    assert "kind" in error.value.message_dict


def test_the_churn_view_counts_current_customers_in_the_high_bands(bank, churn_model):
    view = acquisition_churn_view(actor=bank.manager_a)
    assert (view.model_label, view.scored, view.high, view.high_share) == (
        "churn v1",
        3,
        2,
        0.6667,
    )
    assert [(str(band.low), str(band.high), band.customers) for band in view.bands] == [
        ("0.5", "0.6", 1),
        ("0.6", "0.7", 0),
        ("0.7", "0.8", 1),
        ("0.8", "0.9", 0),
        ("0.9", "1.0", 0),
    ]
    rows = acquisition_customer_list(actor=bank.manager_a, kind="churn", as_of=AS_OF, months=3)
    assert [(row.display_name, row.churn_probability) for row in rows] == [
        ("Alpha One", Decimal("0.720000")),
        ("Alpha Two", Decimal("0.550000")),
    ]


def test_without_a_churn_model_the_view_says_so(bank, movers):
    view = acquisition_churn_view(actor=bank.manager_a)
    assert view.has_model is False and view.scored == 0
    assert acquisition_customer_list(actor=bank.manager_a, kind="churn", as_of=AS_OF) == []


def test_bad_filters_name_the_filter(bank):
    for arguments, name in (
        ({"months": 0}, "months"),
        ({"months": 61}, "months"),
        ({"segment": "vip"}, "segment"),
    ):
        with pytest.raises(ValidationError) as error:
            acquisition_report(actor=bank.manager_a, as_of=AS_OF, **arguments)
        assert name in error.value.message_dict


# --------------------------------------------------------------------------- scope


def test_a_branch_manager_never_sees_another_branchs_customers(client, bank, movers, manager_b):
    response = login(client, bank.manager_a).get(reverse("analytics:report_acquisition"), FILTERS)
    assert response.status_code == 200
    report = response.context["report"]
    assert [line.label for line in report.by_unit] == ["Branch A"]
    assert "Branch B" not in response.content.decode()
    listed = client.get(
        reverse("analytics:report_acquisition_customers"), {**FILTERS, "kind": "new"}
    )
    assert {row.display_name for row in listed.context["customers"]} == {
        "Alpha Two",
        "Alpha Three",
        "Alpha Ten",
    }
    # Another branch's unit is not a filter the manager may choose.
    response = client.get(
        reverse("analytics:report_acquisition"), {**FILTERS, "unit": bank.branch_b.pk}
    )
    assert response.context["report"] is None
    assert "unit" in response.context["form"].errors
    rows = csv_rows(
        client.get(
            reverse("analytics:report_export", args=["acquisition_customers", "csv"]),
            {**FILTERS, "kind": "start"},
        )
    )
    assert {row[1] for row in rows[1:]} == {"王小明", "Alpha One", "Alpha Four", "Alpha Five"}
    # Branch B's manager sees branch B alone.
    report = acquisition_report(actor=manager_b, as_of=AS_OF, months=3)
    assert [(line.label, line.start, line.new, line.lost) for line in report.by_unit] == [
        ("Branch B", 2, 1, 1)
    ]


def test_pages_and_exports_need_their_permissions(client, bank, movers):
    teller = UserFactory(
        username="teller",
        org_unit=bank.branch_a,
        roles=[RoleFactory(code="teller", permissions=["customers.view_party"])],
    )
    before = AuditEvent.objects.count()
    login(client, teller)
    assert client.get(reverse("analytics:report_acquisition"), FILTERS).status_code == 403
    assert client.get(reverse("analytics:report_acquisition_customers")).status_code == 403
    # A relationship manager reads reports but may not export them.
    login(client, bank.rm_a)
    assert client.get(reverse("analytics:report_acquisition"), FILTERS).status_code == 200
    for key in ("acquisition", "acquisition_customers"):
        for fmt in ("csv", "xlsx", "pdf"):
            url = reverse("analytics:report_export", args=[key, fmt])
            assert client.get(url, FILTERS).status_code == 403
    assert AuditEvent.objects.count() == before
    assert Party.objects.filter(status=CLOSED).count() == 6


# --------------------------------------------------------------------------- page and exports


def test_the_page_shows_the_figures_charts_and_links(client, bank, churn_model):
    response = login(client, bank.manager_a).get(reverse("analytics:report_acquisition"), FILTERS)
    html = response.content.decode()
    assert 'data-figure="attrition">75.0 %' in html
    assert 'id="chart-acquisition-customers"' in html and 'id="chart-acquisition-lost"' in html
    lost_may = response.context["month_rows"][1]["urls"]["lost"]
    assert lost_may.startswith(reverse("analytics:report_acquisition_customers"))
    assert "kind=lost" in lost_may and "month=2024-05" in lost_may
    listed = client.get(lost_may)
    assert [row.display_name for row in listed.context["customers"]] == ["Alpha Ten"]
    assert reverse("customers:detail", args=[movers_pk(listed, "Alpha Ten")]) in (
        listed.content.decode()
    )
    assert reverse("analytics:report_churn") in html
    churn_list = client.get(response.context["churn_url"])
    assert [row.display_name for row in churn_list.context["customers"]] == [
        "Alpha One",
        "Alpha Two",
    ]
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]
    # The unit rows narrow the report to the unit.
    unit_row = response.context["unit_rows"][0]
    assert f"unit={bank.branch_a.pk}" in unit_row["filter_url"]
    assert client.get(unit_row["filter_url"]).context["report"].total.start == 4


def movers_pk(response, name: str) -> str:
    return next(row.party_pk for row in response.context["customers"] if row.display_name == name)


def test_bad_filters_are_shown_and_refused_by_the_export(client, bank, movers):
    login(client, bank.manager_a)
    response = client.get(reverse("analytics:report_acquisition"), {"months": "0"})
    assert response.status_code == 200 and "months" in response.context["form"].errors
    response = client.get(
        reverse("analytics:report_export", args=["acquisition", "csv"]), {"months": "0"}
    )
    assert response.status_code == 400 and "months" in response.content.decode()
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


def test_the_exports_hold_the_figures_and_are_audited(client, bank, churn_model):
    login(client, bank.manager_a)
    url = reverse("analytics:report_export", args=["acquisition", "csv"])
    rows = csv_rows(client.get(url, FILTERS))
    assert section(rows, "By month")[1:] == [
        ["2024-04", "4", "1", "1", "0", "4", "0.25"],
        ["2024-05", "4", "2", "1", "1", "5", "0.25"],
        ["2024-06", "5", "0", "1", "-1", "4", "0.2"],
    ]
    assert section(rows, "Window")[1] == ["4", "3", "3", "0", "4", "0.75"]
    assert section(rows, "By unit")[1:] == [["Branch A", "4", "3", "3", "0", "4", "0.75"]]
    assert [row[2] for row in section(rows, "High churn bands")[1:]] == ["1", "0", "1", "0", "0"]
    event = AuditEvent.objects.filter(action="analytics.report_export").latest("id")
    assert event.after["report"] == "analytics.acquisition"
    assert event.after["filters"] == FILTERS and event.after["format"] == "csv"
    response = client.get(reverse("analytics:report_export", args=["acquisition", "xlsx"]), FILTERS)
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    sheet = book["By month"]
    assert [cell.value for cell in sheet[2]] == ["2024-04", 4, 1, 1, 0, 4, 0.25]
    response = client.get(reverse("analytics:report_export", args=["acquisition", "pdf"]), FILTERS)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_an_export_of_no_customers_is_still_a_valid_file(client, bank, movers):
    login(client, bank.manager_a)
    empty = {**FILTERS, "kind": "new", "month": "2024-06"}  # nobody joined branch A in June
    rows = csv_rows(
        client.get(reverse("analytics:report_export", args=["acquisition_customers", "csv"]), empty)
    )
    assert rows == [
        [
            "Customer key",
            "Customer",
            "Unit",
            "Segment",
            "Status",
            "Joined on",
            "Closed on",
            "Closing day from",
            "Probability of leaving",
        ]
    ]
    assert (
        AuditEvent.objects.filter(action="analytics.report_export").latest("id").after["rows"] == 0
    )
    url = reverse("analytics:report_export", args=["acquisition_customers", "xlsx"])
    response = client.get(url, empty)
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.max_row == 1
    url = reverse("analytics:report_export", args=["acquisition_customers", "pdf"])
    response = client.get(url, empty)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


def test_the_page_reads_a_fixed_number_of_queries(
    client, bank, churn_model, django_assert_max_num_queries
):
    login(client, bank.manager_a)
    client.get(reverse("analytics:report_acquisition"), FILTERS)
    with django_assert_max_num_queries(13):
        client.get(reverse("analytics:report_acquisition"), FILTERS)
    with django_assert_max_num_queries(13):
        client.get(reverse("analytics:report_acquisition"), {**FILTERS, "months": "12"})
