"""The stored early warnings: the nightly run of the account-based signals of the risk
early-warning report (balance drop, salary stopped, large outflows, dormant account
reactivated), computed once for the whole bank and once for each branch or region whose
staff read accounts within their unit, and read back by the report for the viewers whose
account scope is the run's (see :mod:`bankcrm.analytics.services_early_warning`).

A run holds the warnings of every customer who is not closed; which of them a viewer sees
is decided when the report is read (``Party.objects.visible_to``), never stored.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.money import AmountField, CurrencyField


class EarlyWarningRun(models.Model):
    """One computation of the stored signals for one account scope and as-of day."""

    # "" for the whole bank; else the materialised path of the unit ("/1/4/") whose accounts
    # (by the account's branch) the signals read.
    account_scope = models.CharField(_("account scope"), max_length=255, blank=True)
    as_of = models.DateField(_("as of"))
    # The thresholds in force (Thresholds.as_dict()): a run is read only for the same ones.
    thresholds = models.JSONField(_("thresholds"), default=dict)
    counts = models.JSONField(_("warnings per signal"), default=dict)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("early-warning run")
        verbose_name_plural = _("early-warning runs")
        ordering = ["-finished_at", "-id"]
        indexes = [
            models.Index(
                fields=["account_scope", "as_of", "finished_at"],
                name="analytics_ewrun_scope_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.as_of} {self.account_scope or 'bank'}"


class StoredEarlyWarning(models.Model):
    """One warning of a run: the columns every signal's statement selects (a text column a
    signal leaves NULL is stored empty, which the report reads alike)."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        EarlyWarningRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="warnings",
        db_index=False,
    )
    signal = models.CharField(_("signal"), max_length=32)
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    observed_on = models.DateField(_("observed on"))
    ref = models.CharField(_("reference"), max_length=64, blank=True)
    currency = CurrencyField(_("currency"), blank=True)
    amount = AmountField(_("amount"), null=True, blank=True)
    before_amount = AmountField(_("before"), null=True, blank=True)
    after_amount = AmountField(_("after"), null=True, blank=True)
    other_on = models.DateField(_("other day"), null=True, blank=True)
    code_a = models.CharField(_("code"), max_length=32, blank=True)
    code_b = models.CharField(_("code"), max_length=32, blank=True)
    number = models.BigIntegerField(_("number"), null=True, blank=True)
    row_key = models.CharField(_("row key"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("stored early warning")
        verbose_name_plural = _("stored early warnings")
        ordering = ["run", "signal", "id"]
        indexes = [
            models.Index(fields=["run", "signal"], name="analytics_ew_run_signal_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.signal} {self.observed_on}"
