"""The campaign effectiveness and SLA performance pages and their exports: figures and links
on the page, the CSV, XLSX and PDF files (with their audit records), a file of no rows, the
viewer's scope, the permissions (403, nothing recorded) and the number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from tests.analytics.test_effectiveness_campaigns import PERIOD, campaigns  # noqa: F401
from tests.analytics.test_effectiveness_service_levels import RANGE, desk  # noqa: F401
from tests.factories import RoleFactory, UserFactory
from tests.marketing.conftest import access_seeds, marketing_bank  # noqa: F401
from tests.support.conftest import service_bank  # noqa: F401

pytestmark = pytest.mark.django_db

CAMPAIGN_FILTERS = {key: value.isoformat() for key, value in PERIOD.items()}
SLA_FILTERS = {key: value.isoformat() for key, value in RANGE.items()}
EMPTY = {"date_from": "2020-01-01", "date_to": "2020-03-31"}


@pytest.fixture(autouse=True)
def _exports_dir(settings, tmp_path):
    settings.ANALYTICS_EXPORT_DIR = str(tmp_path / "exports")


def login(client, user):
    client.force_login(user)
    return client


def sections(response) -> dict[str, list[list[str]]]:
    """A sectioned CSV export as {section title: rows (heading first)}."""
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    found: dict[str, list[list[str]]] = {}
    current = None
    for row in csv.reader(io.StringIO(body.removeprefix("\ufeff"))):
        if row and row[0].startswith("# "):
            current = found.setdefault(row[0][2:], [])
        elif row and current is not None:
            current.append(row)
    return found


def as_dicts(rows: list[list[str]]) -> list[dict[str, str]]:
    heading, *body = rows
    return [dict(zip(heading, row, strict=True)) for row in body]


def export(client, key, fmt, filters):
    return client.get(reverse("analytics:report_export", args=[key, fmt]), filters)


# --------------------------------------------------------------------------- campaigns


def test_campaign_page_figures_chart_and_links(client, marketing_bank, campaigns):  # noqa: F811
    page = reverse("analytics:report_campaign_effectiveness")
    response = login(client, marketing_bank.marketer).get(page, CAMPAIGN_FILTERS)
    assert response.status_code == 200
    rows = {item["row"].campaign.name: item for item in response.context["rows"]}
    assert list(rows) == ["Branch B savings", "Card activation", "Term deposit push"]
    push = rows["Term deposit push"]
    assert (push["uplift"], push["rate_treatment"], push["rate_control"]) == (
        "15.00",
        "25.0",
        "10.0",
    )
    assert push["roi"] == "136.1"
    html = response.content.decode()
    for item in rows.values():
        assert f'href="{item["row"].url}"' in html
    # The chart: the two campaigns with a control group, each bar linking to its report.
    chart = response.context["chart"]
    assert [(row.label, str(row.value), row.url) for row in chart.rows] == [
        ("Term deposit push", "15.00", push["row"].url),
        ("Card activation", "0.00", rows["Card activation"]["row"].url),
    ]
    assert 'id="chart-uplift-table"' in html
    assert [link["format"] for link in response.context["export_links"]] == ["CSV", "XLSX", "PDF"]
    # A total links to the page narrowed to it.
    objectives = {item["total"].key: item["url"] for item in response.context["objectives"]}
    assert objectives["activation"] == (
        f"{page}?date_from=2026-09-01&date_to=2026-11-30&objective=activation"
    )
    assert client.get(objectives["activation"]).context["rows"][0]["row"].campaign.name == (
        "Card activation"
    )
    # The campaign's own report opens from its row.
    assert client.get(push["row"].url).status_code == 200
    # An HTMX request gets the report's body alone.
    body = client.get(page, CAMPAIGN_FILTERS, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in body and 'id="effectiveness-campaigns"' in body
    # Bad filters are named on the form.
    bad = client.get(page, {"date_from": "2026-12-01", "date_to": "2026-01-01"})
    assert bad.status_code == 200 and "date_to" in bad.context["form"].errors


def test_campaign_exports_in_three_formats(client, marketing_bank, campaigns):  # noqa: F811
    login(client, marketing_bank.marketer)
    response = export(client, "campaign_effectiveness", "csv", CAMPAIGN_FILTERS)
    assert response.status_code == 200
    found = sections(response)
    assert list(found) == [
        "Campaigns", "Totals by channel", "Totals by objective", "Totals by product",
        "All campaigns",
    ]  # fmt: skip
    push = next(
        row for row in as_dicts(found["Campaigns"]) if row["Campaign"] == "Term deposit push"
    )
    assert (push["Cost"], push["Cost per acquisition"], push["Return on investment"]) == (
        "1016.50", "203.30", "1.3610",
    )  # fmt: skip
    assert (push["Treatment customers"], push["Control customers"], push["Messages sent"]) == (
        "20", "10", "21",
    )  # fmt: skip
    (total,) = as_dicts(found["All campaigns"])
    assert (total["Cost"], total["Cost per acquisition"], total["Campaigns"]) == (
        "1224.70", "153.09", "3",
    )  # fmt: skip
    recorded = AuditEvent.objects.filter(action="analytics.report_export").get()
    assert recorded.after["report"] == "analytics.campaign_effectiveness"
    assert recorded.after["rows"] == 3 + 2 + 2 + 2 + 1
    assert recorded.after["filters"] == CAMPAIGN_FILTERS

    xlsx = export(client, "campaign_effectiveness", "xlsx", CAMPAIGN_FILTERS)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    sheet = book["Campaigns"]
    heading = [cell.value for cell in next(sheet.iter_rows(max_row=1))]
    values = [
        dict(zip(heading, [cell.value for cell in row], strict=True))
        for row in sheet.iter_rows(min_row=2)
    ]
    push_row = next(row for row in values if row["Campaign"] == "Term deposit push")
    assert push_row["Cost"] == 1016.5 and push_row["Treatment customers"] == 20
    pdf = export(client, "campaign_effectiveness", "pdf", CAMPAIGN_FILTERS)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="analytics.report_export").count() == 3


def test_campaign_export_of_no_rows_is_a_valid_file(client, marketing_bank, campaigns):  # noqa: F811
    login(client, marketing_bank.marketer)
    found = sections(export(client, "campaign_effectiveness", "csv", EMPTY))
    assert found["Campaigns"][0][:2] == ["Campaign number", "Campaign"]
    assert all(len(rows) == 1 for rows in found.values())  # headings only
    book = load_workbook(
        io.BytesIO(export(client, "campaign_effectiveness", "xlsx", EMPTY).content)
    )
    assert book["Campaigns"].max_row == 1
    pdf = export(client, "campaign_effectiveness", "pdf", EMPTY)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_campaign_report_scope(client, marketing_bank, campaigns):  # noqa: F811
    login(client, marketing_bank.marketer_a)
    response = client.get(reverse("analytics:report_campaign_effectiveness"), CAMPAIGN_FILTERS)
    assert [item["row"].campaign.name for item in response.context["rows"]] == ["Card activation"]
    found = sections(export(client, "campaign_effectiveness", "csv", CAMPAIGN_FILTERS))
    assert [row["Campaign"] for row in as_dicts(found["Campaigns"])] == ["Card activation"]


def test_campaign_report_permissions(client, marketing_bank, campaigns):  # noqa: F811
    page = reverse("analytics:report_campaign_effectiveness")
    # A credit analyst reads and exports reports, but not campaigns.
    login(client, marketing_bank.bank.analyst)
    assert client.get(page).status_code == 403
    for fmt in ("csv", "xlsx", "pdf"):
        assert export(client, "campaign_effectiveness", fmt, CAMPAIGN_FILTERS).status_code == 403
    # Campaigns without the report permission.
    campaigner = UserFactory(
        username="campaigner",
        org_unit=marketing_bank.head_office,
        roles=[RoleFactory(code="campaigner", permissions=["marketing.view_campaign"])],
    )
    login(client, campaigner)
    assert client.get(page).status_code == 403
    # A relationship manager reads the page but may not export it.
    login(client, marketing_bank.rm_a)
    assert client.get(page).status_code == 200
    assert export(client, "campaign_effectiveness", "csv", CAMPAIGN_FILTERS).status_code == 403
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


def test_campaign_page_queries(client, marketing_bank, campaigns, django_assert_max_num_queries):  # noqa: F811
    login(client, marketing_bank.marketer)
    page = reverse("analytics:report_campaign_effectiveness")
    client.get(page, CAMPAIGN_FILTERS)
    with django_assert_max_num_queries(12):
        assert client.get(page, CAMPAIGN_FILTERS).status_code == 200


# --------------------------------------------------------------------------- SLA


def test_sla_page_figures_and_links_to_the_cases(client, desk):  # noqa: F811
    page = reverse("analytics:report_service_levels")
    response = login(client, desk.supervisor).get(page, SLA_FILTERS)
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.total.opened, report.total.closed, report.open_past_sla_now) == (10, 7, 1)
    september, october = response.context["periods"]
    assert september["resolution_share"] == "40.0"
    assert september["first_response_share"] == "83.3"
    # October's open case past its SLA links to the case list, narrowed to it.
    link = october["breached_url"]
    assert link == ("/support/cases/?received_from=2026-10-01&received_to=2026-10-31&breached=on")
    listed = client.get(link)
    assert [row.case.reference for row in listed.context["rows"]] == [
        case.reference for case in report_cases(desk, "A5")
    ]
    # The opened cases of a period, every status.
    opened = client.get(september["opened_url"])
    assert len(opened.context["rows"]) == 8
    # The queue chart's bars link to each queue's cases past SLA.
    chart = response.context["past_chart"]
    assert [(row.label, row.value) for row in chart.rows] == [
        ("Branch A desk", 1), ("Branch B desk", 0), ("Contact centre", 0),
    ]  # fmt: skip
    assert chart.rows[0].url == (
        f"/support/cases/?queue={desk.queue_a.pk}&received_from=2026-09-01"
        "&received_to=2026-10-31&breached=on"
    )
    trend = response.context["trend_chart"]
    assert [(row.label, str(row.value)) for row in trend.rows] == [
        ("2026-09", "40.0"), ("2026-10", "100.0"),
    ]  # fmt: skip
    html = response.content.decode()
    assert 'id="chart-sla-trend-table"' in html and 'id="sla-complaints"' in html
    body = client.get(page, SLA_FILTERS, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in body and 'id="sla-periods"' in body
    # Complaints received in a period open the register of that period.
    complaints = response.context["complaint_periods"]
    assert complaints[0]["url"] == ("/support/complaints/?date_from=2026-09-01&date_to=2026-09-30")
    assert client.get(complaints[0]["url"]).status_code == 200


def report_cases(desk, *names):  # noqa: F811
    from bankcrm.support.models import ServiceCase

    received = {"A5": (2026, 10, 5)}
    return [ServiceCase.objects.get(received_at__date=dt.date(*received[name])) for name in names]


def test_sla_exports_in_three_formats(client, desk):  # noqa: F811
    login(client, desk.supervisor)
    response = export(client, "service_levels", "csv", SLA_FILTERS)
    assert response.status_code == 200
    found = sections(response)
    assert list(found) == [
        "Per period", "Per queue", "Total", "Complaints per period", "Complaints per category",
    ]  # fmt: skip
    september = as_dicts(found["Per period"])[0]
    assert september["Period or group"] == "2026-09"
    assert september["Resolution, median (hours)"] == "6.00"
    assert september["Resolution, 90th percentile (hours)"] == "22.00"
    assert september["Share resolved within SLA"] == "0.4"
    (total,) = as_dicts(found["Total"])
    assert (total["Cases opened"], total["First response, 90th percentile (hours)"]) == (
        "10",
        "5.80",
    )
    categories = as_dicts(found["Complaints per category"])
    assert [(row["Period or category"], row["Complaints received"]) for row in categories] == [
        ("Credit cards", "4"), ("Savings and deposits", "2"), ("Total", "6"),
    ]  # fmt: skip
    xlsx = export(client, "service_levels", "xlsx", SLA_FILTERS)
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames[:3] == ["Per period", "Per queue", "Total"]
    assert book["Total"]["D2"].value == 10
    pdf = export(client, "service_levels", "pdf", SLA_FILTERS)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    events = AuditEvent.objects.filter(action="analytics.report_export")
    assert events.count() == 3
    assert events.first().after["filters"] == {**SLA_FILTERS, "period": "month", "group": "queue"}


def test_sla_export_of_no_rows_is_a_valid_file(client, desk):  # noqa: F811
    login(client, desk.supervisor)
    found = sections(export(client, "service_levels", "csv", EMPTY))
    # Periods are listed with zeros; no queue had a case; the total is zero.
    assert [row[0] for row in found["Per period"][1:]] == ["2020-01", "2020-02", "2020-03"]
    assert len(found["Per queue"]) == 1
    assert as_dicts(found["Total"])[0]["Cases opened"] == "0"
    book = load_workbook(io.BytesIO(export(client, "service_levels", "xlsx", EMPTY).content))
    assert book["Per queue"].max_row == 1
    pdf = export(client, "service_levels", "pdf", EMPTY)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_sla_scope_of_a_branch_manager(client, desk):  # noqa: F811
    login(client, desk.manager_a)
    response = client.get(reverse("analytics:report_service_levels"), SLA_FILTERS)
    assert [item["row"].label for item in response.context["groups"]] == ["Branch A desk"]
    found = sections(export(client, "service_levels", "csv", SLA_FILTERS))
    assert [row["Period or group"] for row in as_dicts(found["Per queue"])] == ["Branch A desk"]
    assert as_dicts(found["Total"])[0]["Cases opened"] == "7"


def test_sla_permissions(client, desk):  # noqa: F811
    page = reverse("analytics:report_service_levels")
    marketer = UserFactory(
        username="mk",
        org_unit=desk.head_office,
        roles=[Role.objects.get(code="marketing_manager")],
    )
    login(client, marketer)
    assert client.get(page).status_code == 403
    for fmt in ("csv", "xlsx", "pdf"):
        assert export(client, "service_levels", fmt, SLA_FILTERS).status_code == 403
    # A service agent works cases but reads no reports.
    login(client, desk.agent_a)
    assert client.get(page).status_code == 403
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()
    # Bad filters: 400 naming them on export, errors on the page.
    login(client, desk.supervisor)
    bad = export(client, "service_levels", "csv", {"period": "day", "queue": "999999"})
    assert bad.status_code == 400
    assert "period" in bad.content.decode() and "queue" in bad.content.decode()
    assert client.get(page, {"group": "nope"}).context["form"].errors["group"]


def test_sla_page_queries(client, desk, django_assert_max_num_queries):  # noqa: F811
    login(client, desk.supervisor)
    page = reverse("analytics:report_service_levels")
    client.get(page, SLA_FILTERS)
    with django_assert_max_num_queries(31):
        assert client.get(page, SLA_FILTERS).status_code == 200


def test_the_index_lists_both_reports(client, desk, marketing_bank):  # noqa: F811
    response = login(client, desk.supervisor).get(reverse("analytics:report_index"))
    keys = [report["key"] for report in response.context["reports"]]
    assert {"campaign_effectiveness", "service_levels"} <= set(keys)
    # A marketer reads campaigns but not service cases.
    response = login(client, marketing_bank.marketer).get(reverse("analytics:report_index"))
    keys = [report["key"] for report in response.context["reports"]]
    assert "campaign_effectiveness" in keys and "service_levels" not in keys


def test_pages_in_chinese(client, desk, marketing_bank, campaigns):  # noqa: F811
    client.cookies["django_language"] = "zh-hans"
    login(client, desk.supervisor)
    response = client.get(reverse("analytics:report_service_levels"), SLA_FILTERS)
    assert response.status_code == 200
    categories = [item["row"].label for item in response.context["complaint_categories"]]
    assert categories == ["信用卡", "储蓄"]
    assert 'lang="zh-hans"' in response.content.decode()
    login(client, marketing_bank.marketer)
    response = client.get(reverse("analytics:report_campaign_effectiveness"), CAMPAIGN_FILTERS)
    assert response.status_code == 200
    assert response.context["rows"][0]["channels"] == "电子邮箱"


def test_a_schedule_sends_each_recipient_their_own_cases(client, desk, marketing_bank):  # noqa: F811
    import json
    from urllib.parse import parse_qs, urlsplit

    from django.core import mail
    from django.utils import timezone

    from bankcrm.analytics.services_report_schedules import (
        report_schedule_create,
        report_schedules_run_due,
    )

    page = login(client, desk.supervisor).get(
        reverse("analytics:report_service_levels"), SLA_FILTERS
    )
    link = urlsplit(page.context["schedule_url"])
    assert link.path == reverse("analytics:schedule_create")
    query = parse_qs(link.query)
    assert query["source"] == ["analytics.service_levels"]
    parameters = json.loads(query["parameters"][0])
    assert parameters == {**SLA_FILTERS, "period": "month", "group": "queue"}
    assert client.get(page.context["schedule_url"]).status_code == 200

    for user, address in (
        (desk.supervisor, "sup@bank.example"),
        (desk.manager_a, "bma@bank.example"),
        (marketing_bank.marketer, "mk@bank.example"),
    ):
        user.email = address
        user.save(update_fields=["email"])
    schedule = report_schedule_create(
        actor=desk.supervisor,
        name="SLA",
        source="analytics.service_levels",
        parameters=parameters,
        fmt="csv",
        frequency="daily",
        time_of_day=dt.time(8, 0),
        recipients=[desk.supervisor, desk.manager_a, marketing_bank.marketer],
        now=timezone.now(),
    )
    assert report_schedules_run_due(now=schedule.next_run_at) == 1
    by_address = {message.to[0]: message for message in mail.outbox}
    assert set(by_address) == {"sup@bank.example", "bma@bank.example"}

    def queues(message):
        _name, content, _type = message.attachments[0]
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
        start = rows.index(["# Per queue"]) + 2
        end = rows.index([], start)
        return [row[0] for row in rows[start:end]]

    assert queues(by_address["sup@bank.example"]) == [
        "Branch A desk", "Branch B desk", "Contact centre",
    ]  # fmt: skip
    assert queues(by_address["bma@bank.example"]) == ["Branch A desk"]
    schedule.refresh_from_db()
    # The marketer may export reports but not read service cases: named, nothing sent.
    assert "marketer" in schedule.last_outcome
