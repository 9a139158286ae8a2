"""Alerts from screening and monitoring, the investigation cases they are grouped into, and
the regulatory reports filed from those cases."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import EncryptedTextField
from bankcrm.core.models import TimeStampedModel, UUIDModel, WorkflowSubjectMixin
from bankcrm.customers.models import Party, PartyOwnedMixin

from .aml import Scenario
from .screening import ScreeningHit


class Alert(TimeStampedModel):
    """A scored signal for a compliance officer; one open alert per customer and scenario."""

    class Source(models.TextChoices):
        MONITORING = "monitoring", _("Transaction monitoring")
        SCREENING = "screening", _("Sanctions and PEP screening")

    class Status(models.TextChoices):
        NEW = "new", _("New")
        IN_REVIEW = "in_review", _("In review")
        IN_CASE = "in_case", _("In an investigation case")
        CLOSED_FALSE_POSITIVE = "closed_fp", _("Closed: no suspicion")
        CLOSED_REPORTED = "closed_reported", _("Closed: reported")

    OPEN_STATUSES = ("new", "in_review", "in_case")

    source = models.CharField(_("source"), max_length=12, choices=Source.choices)
    party = models.ForeignKey(
        Party,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    account = models.ForeignKey(
        "banking.Account",
        verbose_name=_("account"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    scenario = models.ForeignKey(
        Scenario, verbose_name=_("scenario"), null=True, blank=True, on_delete=models.PROTECT
    )
    hit = models.ForeignKey(
        ScreeningHit,
        verbose_name=_("screening hit"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    # The deduplication key: "<scenario or list>:<customer or account>"; one open alert each.
    dedup_key = models.CharField(max_length=200)
    score = models.DecimalField(_("score"), max_digits=6, decimal_places=2)
    title = models.CharField(_("title"), max_length=300)
    # {"rules": [{"code","value","threshold","fired"}], "transactions": [ids],
    #  "counterparties": [...]}
    evidence = models.JSONField(_("evidence"), default=dict)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.NEW, db_index=True
    )
    first_seen_at = models.DateTimeField(_("first raised"))
    last_seen_at = models.DateTimeField(_("last raised"))
    occurrences = models.PositiveIntegerField(_("times raised"), default=1)
    case = models.ForeignKey(
        "compliance.Case",
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    close_reason = models.TextField(_("reason"), blank=True)

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["dedup_key"],
                condition=Q(status__in=["new", "in_review", "in_case"]),
                name="alert_one_open_per_key",
            )
        ]
        indexes = [models.Index(fields=["status", "first_seen_at"], name="alert_status_age_idx")]

    def __str__(self) -> str:
        return self.title


class Case(PartyOwnedMixin, WorkflowSubjectMixin, UUIDModel):
    """An investigation of one customer's alerts, moving through the ``aml_case`` workflow."""

    class Decision(models.TextChoices):
        NONE = "", _("Not decided")
        NO_SUSPICION = "no_suspicion", _("No suspicion: closed")
        REPORTED = "reported", _("Suspicious: reported to the regulator")
        EXIT = "exit", _("Suspicious: reported and relationship ended")

    reference = models.CharField(_("reference"), max_length=24, unique=True)
    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="aml_cases"
    )
    title = models.CharField(_("title"), max_length=300)
    priority = models.PositiveSmallIntegerField(_("priority"), default=2)
    narrative = EncryptedTextField(_("narrative"), blank=True, default="")
    decision = models.CharField(
        _("decision"), max_length=14, choices=Decision.choices, blank=True, default=""
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("opened by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("investigation case")
        verbose_name_plural = _("investigation cases")
        permissions = [
            ("decide_case", _("Can decide investigation cases")),
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class CaseNote(PartyOwnedMixin, UUIDModel):
    """An investigator's note on a case; notes are never edited, only added."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    party = models.ForeignKey(Party, on_delete=models.CASCADE, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = EncryptedTextField(_("note"))

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("case note")
        verbose_name_plural = _("case notes")
        ordering = ["created_at"]


class RegulatoryReport(TimeStampedModel):
    """A suspicious-transaction or large-value report generated for filing."""

    class Kind(models.TextChoices):
        STR_CN = "str_cn", _("Suspicious transaction report (PBOC format)")
        LVTR_CN = "lvtr_cn", _("Large-value transaction report (PBOC format)")
        STR_GENERIC = "str_generic", _("Suspicious activity report (generic STR/SAR)")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    case = models.ForeignKey(
        Case,
        verbose_name=_("case"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reports",
    )
    period_from = models.DateField(_("from"), null=True, blank=True)
    period_to = models.DateField(_("to"), null=True, blank=True)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    sha256 = models.CharField(_("sha256"), max_length=64)
    file_name = models.CharField(_("file"), max_length=200)
    # None when a job or command generated it (the audit trail names the job).
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("regulatory report")
        verbose_name_plural = _("regulatory reports")
        permissions = [
            ("export_regulatoryreport", _("Can export regulatory reports")),
        ]
        ordering = ["-created_at"]
