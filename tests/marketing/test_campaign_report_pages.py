"""The campaign report's page, CSV file and API: the same figures, permission
``marketing.view_campaign`` (403 without it) and 404 outside the viewer's reach, with
nothing changed by a refused request."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from bankcrm.marketing.models import CampaignTarget

from .test_campaign_report import build_campaign, reported  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def api_url(campaign) -> str:
    return f"/api/v1/marketing/campaigns/{campaign.pk}/report"


def csv_sections(body: bytes) -> dict[str, list[list[str]]]:
    assert body.startswith(b"\xef\xbb\xbf")
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] = []
    for row in csv.reader(io.StringIO(body.decode("utf-8-sig"))):
        if row and row[0].startswith("# "):
            current = sections.setdefault(row[0][2:], [])
        elif row:
            current.append(row)
    return sections


def test_the_report_page_shows_the_figures(marketing_bank, reported):  # noqa: F811
    response = client_for(marketing_bank.marketer).get(
        reverse("marketing:campaign_report", args=[reported.pk])
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert reported.name in html
    for figure in ('data-figure="rate_treatment">15.0 %', 'data-figure="rate_control">10.0 %',
                   'data-figure="uplift">5.00', 'data-figure="roi">55.9 %'):  # fmt: skip
        assert figure in html
    assert 'id="report-variants"' in html and 'id="report-segments"' in html
    assert 'data-key="A"' in html and 'data-key="affluent"' in html
    assert 'style="width: 100.0%"' in html and 'style="width: 66.7%"' in html  # 15 vs 10
    assert reverse("marketing:campaign_report_csv", args=[reported.pk]) in html
    context = response.context
    # 0.05 -/+ 1.959964 * sqrt(0.0121875) = [-0.166383, 0.266383], in percentage points
    assert context["overall"]["ci_low"] == "-16.64" and context["overall"]["ci_high"] == "26.64"


def test_an_htmx_request_gets_the_report_body_alone(marketing_bank, reported):  # noqa: F811
    response = client_for(marketing_bank.marketer).get(
        reverse("marketing:campaign_report", args=[reported.pk]), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'id="report-summary"' in html


def test_the_csv_file_has_one_section_per_table(marketing_bank, reported):  # noqa: F811
    response = client_for(marketing_bank.marketer).get(
        reverse("marketing:campaign_report_csv", args=[reported.pk])
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="campaign-{reported.pk}-report.csv"'
    )
    sections = csv_sections(response.content)
    # The download is recorded: who, which campaign, how many lines.
    from bankcrm.audit.models import AuditEvent

    event = AuditEvent.objects.get(action="campaign.report_export")
    assert event.actor_user_id == marketing_bank.marketer.pk
    assert event.after == {
        "filters": {"campaign": reported.pk},
        "format": "csv",
        "rows": response.content.count(b"\r\n"),
    }
    assert list(sections) == [
        "Campaign", "Groups", "Suppressed customers", "Messages by channel and status",
        "Message funnel", "Effect overall", "Effect per variant", "Effect per customer segment",
    ]  # fmt: skip
    assert sections["Groups"][1:] == [
        ["treatment", "Treatment", "40"], ["control", "Control (held out)", "10"],
        ["suppressed", "Suppressed", "3"],
    ]  # fmt: skip
    assert sections["Message funnel"][1:] == [
        ["email", "37", "30", "15", "7", "0.50", "18.50"],
        ["sms", "4", "4", "0", "0", "2.00", "8.00"],
    ]
    headings, overall = sections["Effect overall"]
    row = dict(zip(headings, overall, strict=True))
    assert (row["Treatment customers"], row["Treatment conversions"]) == ("40", "6")
    assert (row["Control customers"], row["Control conversions"]) == ("10", "1")
    assert float(row["Uplift"]) == pytest.approx(0.05, abs=1e-12)
    assert (row["Cost"], row["Cost per acquisition"]) == ("1026.50", "171.08")
    assert row["Cost per incremental acquisition"] == "513.25"
    assert (row["Value"], row["Return on investment"]) == ("1600.00", "0.5587")
    variants = [dict(zip(headings, r, strict=True)) for r in sections["Effect per variant"][1:]]
    assert [(v["Key"], v["Cost"], v["Return on investment"]) for v in variants] == [
        ("A", "517.50", "2.0918"), ("B", "509.00", "-1.0000"),
    ]  # fmt: skip
    segments = sections["Effect per customer segment"][1:]
    assert [r[0] for r in segments] == ["mass", "affluent"]


def test_the_api_returns_the_report(marketing_bank, reported):  # noqa: F811
    response = client_for(marketing_bank.marketer).get(api_url(reported))
    assert response.status_code == 200
    data = response.json()
    assert data["campaign"]["id"] == reported.pk
    assert data["currency"] == "CNY" and data["confidence"] == 0.95
    assert data["groups"] == {"treatment": 40, "control": 10, "suppressed": 3}
    assert data["window_from"] == "2026-10-01" and data["window_to"] == "2026-10-31"
    overall = data["overall"]
    assert overall["uplift"]["difference"] == pytest.approx(0.05, abs=1e-12)
    assert overall["uplift"]["measurable"] is True
    assert (overall["cost"], overall["cpa"], overall["roi"]) == ("1026.50", "171.08", "0.5587")
    assert overall["incremental_conversions"] == 2.0
    assert [v["key"] for v in data["variants"]] == ["A", "B"]
    assert [s["key"] for s in data["segments"]] == ["mass", "affluent"]
    email = data["funnel"][0]
    assert (email["channel"], email["sent"], email["cost"]) == ("email", 37, "18.50")
    assert email["by_status"]["queued"] == 1


def _unchanged(campaign):
    return list(
        CampaignTarget.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list("pk", "group", "converted_at", "conversion_ref")
    )


def test_outside_reach_is_404_and_without_permission_403(marketing_bank, reported):  # noqa: F811
    mb = marketing_bank
    before = _unchanged(reported)
    page = reverse("marketing:campaign_report", args=[reported.pk])
    download = reverse("marketing:campaign_report_csv", args=[reported.pk])
    branch_marketer = client_for(mb.marketer_a)  # branch A: the head office's campaign is out
    assert branch_marketer.get(page).status_code == 404
    assert branch_marketer.get(download).status_code == 404
    problem = branch_marketer.get(api_url(reported))
    assert problem.status_code == 404
    assert problem["Content-Type"].startswith("application/problem+json")
    assert problem.json()["code"] == "not_found"
    analyst = client_for(mb.bank.analyst)  # no marketing permission at all
    assert analyst.get(page).status_code == 403
    assert analyst.get(download).status_code == 403
    assert analyst.get(api_url(reported)).status_code == 403
    missing = reverse("marketing:campaign_report", args=[reported.pk + 1000])
    assert client_for(mb.marketer).get(missing).status_code == 404
    assert _unchanged(reported) == before
    # Within reach: a branch A campaign opens for branch A's marketer and RM, not branch B's.
    branch = build_campaign(mb, unit=mb.branch_a)
    mine = reverse("marketing:campaign_report", args=[branch.pk])
    assert branch_marketer.get(mine).status_code == 200
    assert client_for(mb.rm_a).get(api_url(branch)).status_code == 200
    assert client_for(mb.rm_b).get(mine).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(reported):  # noqa: F811
    response = Client().get(reverse("marketing:campaign_report", args=[reported.pk]))
    assert response.status_code == 302
