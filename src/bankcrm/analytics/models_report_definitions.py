"""Saved report definitions: data, versioned, shared with roles.

A report keeps every version of its definition (:mod:`bankcrm.analytics.builder`); editing it
adds a version and the report shows the newest. Exports and schedules name the version they
ran, so a figure can always be traced back to the definition that produced it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models import TimeStampedModel


class ReportDefinition(TimeStampedModel):
    """A named report defined without code, owned by the person who made it."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="report_definitions",
    )
    # Role codes whose holders may open and run the report (besides its owner).
    shared_with_roles = models.JSONField(_("shared with roles"), default=list, blank=True)
    current_version = models.PositiveIntegerField(_("version"), default=1)
    is_archived = models.BooleanField(_("archived"), default=False)

    class Meta:
        verbose_name = _("report definition")
        verbose_name_plural = _("report definitions")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="report_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class ReportDefinitionVersion(models.Model):
    """One version of a report's definition, as saved; never changed afterwards."""

    report = models.ForeignKey(
        ReportDefinition,
        verbose_name=_("report"),
        on_delete=models.CASCADE,
        related_name="versions",
    )
    version = models.PositiveIntegerField(_("version"))
    definition = models.JSONField(_("definition"))
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("saved by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    class Meta:
        verbose_name = _("report definition version")
        verbose_name_plural = _("report definition versions")
        ordering = ["report", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["report", "version"], name="report_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.report_id} v{self.version}"


class ReportSchedule(TimeStampedModel):
    """A report sent by e-mail on a schedule to named members of staff.

    Each recipient receives the report as they themselves would export it: their own
    permission and data scope apply, so a branch manager never receives another branch's
    rows. Small reports are attached; a report above the export-job threshold is written as
    an export job of the recipient and the e-mail links to it.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Every day")
        WEEKLY = "weekly", _("Every week")
        MONTHLY = "monthly", _("Every month")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        PDF = "pdf", "PDF"

    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="report_schedules",
    )
    # The export's key in bankcrm.analytics.exports.SOURCES and the parameters it reads.
    source = models.CharField(_("report"), max_length=64)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices)
    time_of_day = models.TimeField(_("time of day"))
    # Weekly: 0 = Monday … 6 = Sunday. Monthly: 1 … 31 (the month's last day when shorter).
    weekday = models.PositiveSmallIntegerField(_("weekday"), null=True, blank=True)
    day_of_month = models.PositiveSmallIntegerField(_("day of the month"), null=True, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("recipients"), related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    next_run_at = models.DateTimeField(_("next run"), db_index=True)
    last_run_at = models.DateTimeField(_("last run"), null=True, blank=True)
    last_outcome = models.TextField(_("last outcome"), blank=True)

    class Meta:
        verbose_name = _("report schedule")
        verbose_name_plural = _("report schedules")
        ordering = ["next_run_at", "id"]

    def __str__(self) -> str:
        return self.name
