"""Records of the analytics app: the background export jobs, and (in
:mod:`.models_report_definitions`) the saved report definitions and report schedules."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models.base import TimeStampedModel


class ExportJob(TimeStampedModel):
    """A large export of a report or list, written in the background for the person who
    asked for it, with its progress and, once done, the file to download."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        PDF = "pdf", "PDF"

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="export_jobs",
    )
    # The export's key in bankcrm.analytics.exports.SOURCES ("banking.transactions" …).
    source = models.CharField(_("report"), max_length=64)
    title = models.CharField(_("title"), max_length=200)
    # The filters the export was asked with, as the source reads them again.
    parameters = models.JSONField(_("filters"), default=dict, blank=True)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    rows_total = models.PositiveBigIntegerField(_("rows to write"), null=True, blank=True)
    rows_done = models.PositiveBigIntegerField(_("rows written"), default=0)
    # Relative to the exports folder (settings.ANALYTICS_EXPORT_DIR, var/exports by default).
    file_path = models.CharField(_("file"), max_length=255, blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    file_size = models.PositiveBigIntegerField(_("file size"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["requester", "created_at"], name="analytics_exportjob_req_idx"),
            models.Index(fields=["status", "finished_at"], name="analytics_exportjob_fin_idx"),
        ]
        permissions = [
            ("view_report", _("Can view reports")),
            ("export_report", _("Can export reports")),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.format})"

    @property
    def percent(self) -> int:
        """How far the job is, 0–100."""
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, int(self.rows_done * 100 / self.rows_total))

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED, self.Status.EXPIRED}


from .models_early_warning import EarlyWarningRun, StoredEarlyWarning  # noqa: E402
from .models_report_definitions import (  # noqa: E402
    ReportDefinition,
    ReportDefinitionVersion,
    ReportSchedule,
)
from .models_rfm import RfmRun, StoredRfmScore  # noqa: E402
from .models_transaction_summary import TransactionDaySummary, TransactionSummaryRun  # noqa: E402

__all__ = [
    "EarlyWarningRun",
    "ExportJob",
    "ReportDefinition",
    "ReportDefinitionVersion",
    "ReportSchedule",
    "RfmRun",
    "StoredEarlyWarning",
    "StoredRfmScore",
    "TransactionDaySummary",
    "TransactionSummaryRun",
]
