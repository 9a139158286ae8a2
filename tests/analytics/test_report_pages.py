"""The report pages (index, RFM, an RFM segment's customers, churn), their exports through
the engine, the export jobs (lifecycle, progress, download by the requester only, purge),
the audit records, the viewer's scope and the permissions."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from bankcrm.access.models import Role
from bankcrm.analytics import exports, services_exports
from bankcrm.analytics.models import ExportJob
from bankcrm.analytics.rfm import RFM_SEGMENTS
from bankcrm.analytics.services_exports import export_job_start, export_jobs_purge
from bankcrm.analytics.standard_reports import STANDARD_REPORTS
from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Transaction
from bankcrm.risk.models import ModelVersion, Score
from tests.analytics.test_exports import pdf_text
from tests.analytics.test_rfm import AS_OF, rfm_bank  # noqa: F401  (fixture)
from tests.factories import RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

RFM_FILTERS = {"as_of": AS_OF.isoformat(), "months": "12"}


@pytest.fixture(autouse=True)
def _exports_dir(settings, tmp_path):
    settings.ANALYTICS_EXPORT_DIR = str(tmp_path / "exports")


@pytest.fixture
def manager_b(bank):
    return UserFactory(
        username="manager_b",
        org_unit=bank.branch_b,
        roles=[Role.objects.get(code="branch_manager")],
    )


def login(client, user):
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


# --------------------------------------------------------------------------- pages


def test_the_index_lists_the_reports_the_viewer_may_open(client, bank):
    response = login(client, bank.manager_a).get(reverse("analytics:report_index"))
    assert response.status_code == 200
    keys = [report["key"] for report in response.context["reports"]]
    # The RFM and churn reports, the catalogue's reports the branch manager may open (not
    # the audit trail's oversight report), then the standard summaries whose records they
    # may read (transactions, loans, customers: all seven).
    catalogue = [
        "acquisition",
        "early_warning",
        "campaign_effectiveness",
        "service_levels",
        "portfolio",
        "product_holding",
    ]
    assert keys == ["rfm", "churn", *catalogue, *[report.key for report in STANDARD_REPORTS]]
    html = response.content.decode()
    assert reverse("analytics:report_rfm") in html and reverse("analytics:report_churn") in html


def test_pages_and_exports_need_their_permissions(client, bank, rfm_bank):  # noqa: F811
    teller = UserFactory(
        username="teller",
        org_unit=bank.branch_a,
        roles=[RoleFactory(code="teller", permissions=["customers.view_party"])],
    )
    login(client, teller)
    for name in ("report_index", "report_rfm", "report_rfm_customers", "report_churn"):
        assert client.get(reverse(f"analytics:{name}")).status_code == 403
    # A relationship manager reads reports (analytics.view_*) but may not export them.
    login(client, bank.rm_a)
    assert client.get(reverse("analytics:report_rfm"), RFM_FILTERS).status_code == 200
    for key in ("rfm", "rfm_customers", "churn"):
        for fmt in ("csv", "xlsx", "pdf"):
            url = reverse("analytics:report_export", args=[key, fmt])
            assert client.get(url, RFM_FILTERS).status_code == 403
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()
    assert client.get(reverse("analytics:report_export", args=["rfm", "doc"])).status_code == 404
    assert client.get(reverse("analytics:report_export", args=["nope", "csv"])).status_code == 404


def test_the_rfm_page_shows_definitions_counts_and_links(client, rfm_bank):  # noqa: F811
    bank, _people = rfm_bank
    response = login(client, bank.manager_a).get(reverse("analytics:report_rfm"), RFM_FILTERS)
    assert response.status_code == 200
    rows = {row["summary"].code: row for row in response.context["rows"]}
    assert {
        code: row["summary"].customers for code, row in rows.items() if row["summary"].customers
    } == {
        "champions": 1,
        "loyal": 1,
        "hibernating": 1,
        "lost": 1,
        "potential_loyalists": 1,
    }
    assert rows["loyal"]["share_percent"] == "20.0"
    assert rows["champions"]["definition"]["recency"] == [4, 5]
    html = response.content.decode()
    assert "Booked recently, often and for large amounts." in html
    link = rows["lost"]["url"]
    assert link.startswith(reverse("analytics:report_rfm_customers") + "?segment=lost")
    listed = client.get(link)
    assert [row.display_name for row in listed.context["customers"]] == ["Customer D"]
    assert "Customer D" in listed.content.decode()
    exports_shown = [link["format"] for link in response.context["export_links"]]
    assert exports_shown == ["CSV", "XLSX", "PDF"]


def test_bad_rfm_filters_are_shown_and_refused_by_the_export(client, rfm_bank):  # noqa: F811
    bank, _people = rfm_bank
    login(client, bank.manager_a)
    page = client.get(reverse("analytics:report_rfm"), {"months": "0"})
    assert page.status_code == 200 and page.context["report"] is None
    assert "months" in page.context["form"].errors
    refused = client.get(reverse("analytics:report_export", args=["rfm", "csv"]), {"months": "x"})
    assert refused.status_code == 400 and b"months" in refused.content
    assert not AuditEvent.objects.filter(action="analytics.report_export").exists()


# --------------------------------------------------------------------------- exports


def test_rfm_report_exports_in_each_format_are_audited(client, rfm_bank):  # noqa: F811
    bank, _people = rfm_bank
    login(client, bank.manager_a)
    url = reverse("analytics:report_export", args=["rfm", "csv"])
    sections = csv_rows(client.get(url, RFM_FILTERS))
    assert sections[0] == ["# Segments"]
    champions = next(row for row in sections if row[:1] == ["champions"])
    assert champions[1:4] == ["Champions", "1", "0.2"]
    assert ["# Segment definitions"] in sections
    xlsx = client.get(reverse("analytics:report_export", args=["rfm", "xlsx"]), RFM_FILTERS)
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["Segments", "Segment definitions"]
    segments = book["Segments"]
    assert segments.freeze_panes == "A2"
    loyal = next(row for row in segments.iter_rows(values_only=True) if row[0] == "loyal")
    assert loyal[2:5] == (1, 0.2, 10)
    assert isinstance(loyal[6], int | float) and loyal[6] == 150  # a number, not text
    pdf = client.get(reverse("analytics:report_export", args=["rfm", "pdf"]), RFM_FILTERS)
    assert pdf["Content-Type"] == "application/pdf"
    assert "Champions" in pdf_text(pdf.content)
    events = AuditEvent.objects.filter(action="analytics.report_export").order_by("id")
    assert [event.after for event in events] == [
        {
            "report": "analytics.rfm",
            "filters": {"months": 12, "as_of": "2026-06-30"},
            "format": fmt,
            "rows": 2 * len(RFM_SEGMENTS),  # a row per segment and per definition
        }
        for fmt in ("csv", "xlsx", "pdf")
    ]
    assert {event.actor_user_id for event in events} == {bank.manager_a.pk}
    assert {event.object_type for event in events} == {"analytics.report"}


def test_a_branch_managers_export_holds_only_their_branch(client, rfm_bank, manager_b):  # noqa: F811
    bank, _people = rfm_bank
    url = reverse("analytics:report_export", args=["rfm_customers", "csv"])
    rows_a = csv_rows(login(client, bank.manager_a).get(url, RFM_FILTERS))
    assert rows_a[0][:2] == ["Customer", "Last booking"]
    assert sorted(row[0] for row in rows_a[1:]) == [f"Customer {n}" for n in "ABCDE"]
    rows_b = csv_rows(login(client, manager_b).get(url, RFM_FILTERS))
    assert [row[0] for row in rows_b[1:]] == ["Customer F"]
    empty = login(client, manager_b).get(
        reverse("analytics:report_export", args=["rfm_customers", "xlsx"]),
        {**RFM_FILTERS, "segment": "champions"},
    )
    sheet = load_workbook(io.BytesIO(empty.content)).active
    assert [list(row) for row in sheet.iter_rows(values_only=True)] == [
        ["Customer", "Last booking", "Days since last booking", "Bookings", "Spending",
         "R score", "F score", "M score", "Segment code"]
    ]  # fmt: skip
    last = AuditEvent.objects.filter(action="analytics.report_export").order_by("id").last()
    assert last.after["rows"] == 0


# --------------------------------------------------------------------------- churn


@pytest.fixture
def churn_scores(bank, rfm_bank):  # noqa: F811
    _bank, people = rfm_bank
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
            subject_id=str(people[name].pk),
            score=600,
            probability_of_default=Decimal(probability),
        )

    score("A", "0.90")  # replaced by A's later score
    score("A", "0.05")
    score("B", "0.15")
    score("C", "0.95")
    score("F", "0.55")  # branch B
    return model


def test_the_churn_report_shows_the_auc_and_the_viewers_scores(client, bank, churn_scores):
    response = login(client, bank.manager_a).get(reverse("analytics:report_churn"))
    report = response.context["report"]
    assert (report.auc, report.auc_std, report.learning_rows) == (0.8651, 0.0071, 10000)
    assert report.customers == 3
    assert [band.customers for band in report.bands] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 1]
    assert report.mean_probability == pytest.approx((0.05 + 0.15 + 0.95) / 3, abs=1e-4)
    assert "0.8651" in response.content.decode()
    rows = csv_rows(client.get(reverse("analytics:report_export", args=["churn", "csv"])))
    assert rows[2][:3] == ["churn v1", "Production", "0.8651"]
    band_rows = rows[rows.index(["# Churn scores by probability of leaving"]) + 2 :]
    assert [row[2] for row in band_rows] == ["1", "1", "0", "0", "0", "0", "0", "0", "0", "1"]


def test_the_churn_report_without_a_model_says_so(client, bank):
    response = login(client, bank.manager_a).get(reverse("analytics:report_churn"))
    assert response.context["report"].has_model is False
    assert "train-churn" in response.content.decode()


# --------------------------------------------------------------------------- jobs


def test_a_large_export_becomes_a_job_with_progress_and_a_download(
    client,
    rfm_bank,  # noqa: F811
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    bank, _people = rfm_bank
    settings.ANALYTICS_EXPORT_JOB_ROWS = 3
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 2)
    seen: list[int] = []
    original = services_exports._progress

    def spy(job_pk):
        report = original(job_pk)

        def wrapped(rows):
            report(rows)
            seen.append(ExportJob.objects.get(pk=job_pk).rows_done)

        return wrapped

    monkeypatch.setattr(services_exports, "_progress", spy)
    login(client, bank.manager_a)
    url = reverse("analytics:report_export", args=["rfm_customers", "xlsx"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url, RFM_FILTERS)
    assert response.status_code == 302
    assert response["Location"] == reverse("analytics:export_job_list")
    job = ExportJob.objects.get()
    assert (job.requester, job.source, job.format, job.status) == (
        bank.manager_a,
        "analytics.rfm_customers",
        "xlsx",
        "done",
    )
    assert (job.rows_total, job.rows_done, job.percent) == (5, 5, 100)
    assert seen == [2, 4]
    assert job.parameters == RFM_FILTERS
    start = AuditEvent.objects.get(action="analytics.export_job_start")
    assert start.after == {
        "report": "analytics.rfm_customers",
        "filters": RFM_FILTERS,
        "format": "xlsx",
        "rows": 5,
    }
    written = AuditEvent.objects.get(action="analytics.report_export")
    assert written.after == {
        "report": "analytics.rfm_customers",
        "filters": {"months": 12, "as_of": "2026-06-30"},
        "format": "xlsx",
        "rows": 5,
        "job": job.pk,
    }
    page = client.get(reverse("analytics:export_job_list"))
    assert page.context["jobs"] == [job] and page.context["is_running"] is False
    download = reverse("analytics:export_job_download", args=[job.pk])
    assert download in page.content.decode()
    file = client.get(download)
    assert file.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(file.streaming_content))).active
    assert sheet.max_row == 6 and sheet.freeze_panes == "A2"
    assert AuditEvent.objects.filter(action="analytics.export_job_download").count() == 1


def test_only_the_requester_downloads_a_job(
    client,
    rfm_bank,  # noqa: F811
    manager_b,
    django_capture_on_commit_callbacks,
):
    bank, _people = rfm_bank
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_start(
            actor=bank.manager_a,
            source="analytics.rfm_customers",
            parameters=RFM_FILTERS,
            fmt="csv",
            title="RFM customers",
        )
    job.refresh_from_db()
    assert job.status == "done"
    download = reverse("analytics:export_job_download", args=[job.pk])
    for other in (manager_b, bank.rm_a, bank.analyst):
        assert login(client, other).get(download).status_code == 404
        assert client.get(reverse("analytics:export_job_list")).context["jobs"] == []
    assert not AuditEvent.objects.filter(action="analytics.export_job_download").exists()
    body = b"".join(login(client, bank.manager_a).get(download).streaming_content)
    assert body.decode("utf-8").count("\r\n") == 6


def test_a_running_job_is_polled_and_a_failed_one_shows_its_error(
    client,
    rfm_bank,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    bank, _people = rfm_bank
    queued = ExportJob.objects.create(
        requester=bank.manager_a, source="analytics.rfm", format="csv", title="RFM", rows_total=10
    )
    login(client, bank.manager_a)
    page = client.get(reverse("analytics:export_job_list"))
    assert 'hx-trigger="every 2s"' in page.content.decode()
    partial = client.get(reverse("analytics:export_job_list"), HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="export-jobs"')
    assert client.get(reverse("analytics:export_job_download", args=[queued.pk])).status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        failed = export_job_start(
            actor=bank.manager_a,
            source="analytics.rfm",
            parameters={"months": "0"},
            fmt="csv",
            title="RFM",
        )
    failed.refresh_from_db()
    assert failed.status == "failed" and "months" not in failed.error
    assert "1 to 60" in failed.error or "greater than or equal to 1" in failed.error
    assert not failed.file_path
    assert AuditEvent.objects.filter(action="analytics.export_job_fail").count() == 1


def test_a_banking_list_above_the_threshold_is_a_job_in_scope(
    client,
    rfm_bank,  # noqa: F811
    settings,
    django_capture_on_commit_callbacks,
):
    bank, _people = rfm_bank
    settings.ANALYTICS_EXPORT_JOB_ROWS = 2
    login(client, bank.manager_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("banking:transaction_export", args=["csv"]))
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert (job.source, job.status) == ("banking.transactions", "done")
    body = b"".join(
        client.get(reverse("analytics:export_job_download", args=[job.pk])).streaming_content
    )
    lines = body.decode("utf-8").removeprefix("\ufeff").splitlines()
    # Branch A's 16 bookings only: branch B's customer F booked the 17th.
    assert Transaction.objects.count() == 17
    assert len(lines) - 1 == job.rows_done == 16
    assert "Customer F" not in body.decode("utf-8")
    assert AuditEvent.objects.get(action="transaction.export").after["rows"] == 16


def test_old_export_files_are_purged(rfm_bank, django_capture_on_commit_callbacks):  # noqa: F811
    bank, _people = rfm_bank
    with django_capture_on_commit_callbacks(execute=True):
        old = export_job_start(
            actor=bank.manager_a, source="analytics.rfm", parameters={}, fmt="csv", title="old"
        )
        new = export_job_start(
            actor=bank.manager_a, source="analytics.rfm", parameters={}, fmt="csv", title="new"
        )
    old.refresh_from_db()
    new.refresh_from_db()
    old_file = services_exports.export_job_file(old)
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(days=8))
    assert export_jobs_purge() == 1
    old.refresh_from_db()
    assert (old.status, old.file_path) == ("expired", "")
    assert not old_file.exists()
    assert services_exports.export_job_file(new).exists()
    event = AuditEvent.objects.get(action="analytics.export_jobs_purge")
    assert event.after == {"jobs": [old.pk], "retention_days": 7}
    assert export_jobs_purge() == 0
