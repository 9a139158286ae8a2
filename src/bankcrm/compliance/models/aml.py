"""AML transaction monitoring: scenarios as data, their runs, and per-account streaming state."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models import TimeStampedModel


class Scenario(TimeStampedModel):
    """A monitoring scenario: rules over transaction windows combined into a typology.

    ``spec`` is validated by :mod:`bankcrm.compliance.aml.spec`; the same definition runs in
    streaming mode (each transaction as it is posted) and in batch mode (the nightly run).
    """

    class Mode(models.TextChoices):
        BOTH = "both", _("Streaming and batch")
        STREAMING = "streaming", _("Streaming only")
        BATCH = "batch", _("Batch only")

    code = models.SlugField(_("code"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    typology = models.CharField(_("typology"), max_length=64)
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.BOTH)
    spec = models.JSONField(_("specification"))
    version = models.PositiveIntegerField(_("version"), default=1)
    is_active = models.BooleanField(_("active"), default=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("monitoring scenario")
        verbose_name_plural = _("monitoring scenarios")
        permissions = [
            ("run_scenario", _("Can run monitoring scenarios")),
        ]
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class ScenarioRun(TimeStampedModel):
    """One batch run of the active scenarios over the loaded transactions."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    transactions = models.PositiveBigIntegerField(default=0)
    alerts_raised = models.PositiveIntegerField(default=0)
    alerts_updated = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    # {"scenario code": {"fired": n, "seconds": s}}
    per_scenario = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("scenario run")
        verbose_name_plural = _("scenario runs")
        ordering = ["-created_at"]


class AccountMonitorState(models.Model):
    """The streaming evaluator's state of one account: rolling windows, own-history statistics.

    Saved in batches by the streaming monitor; ``state`` is the evaluator's own format.
    """

    account = models.OneToOneField(
        "banking.Account", primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    state = models.JSONField(default=dict)
    last_transaction_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("account monitoring state")
        verbose_name_plural = _("account monitoring states")

    def __str__(self) -> str:
        return f"monitoring state of {self.account_id}"
