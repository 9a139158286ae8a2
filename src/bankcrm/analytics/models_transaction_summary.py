"""The nightly transaction summary: the bookings of every day up to the run's last day,
counted and summed per branch, product, type, channel, direction, counterparty country and
currency (see :mod:`bankcrm.analytics.services_transaction_summary`).

A report-builder report on transactions that only groups, filters and sums along those
columns (the standard transaction summaries among them) reads the summary for the days it
covers and the bookings themselves for the days after, instead of grouping millions of
bookings (see :mod:`bankcrm.analytics.summary_source`).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.money import AmountField, CurrencyField


class TransactionSummaryRun(models.Model):
    """One computation of the summary: the bookings dated up to ``through``."""

    through = models.DateField(_("bookings up to"))
    row_count = models.PositiveIntegerField(_("rows"), default=0)
    transaction_count = models.PositiveBigIntegerField(_("transactions"), default=0)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("transaction summary run")
        verbose_name_plural = _("transaction summary runs")
        ordering = ["-finished_at", "-id"]

    def __str__(self) -> str:
        return f"{self.through} ({self.transaction_count})"


class TransactionDaySummary(models.Model):
    """The bookings of one day with the same branch (of the account), product, type,
    channel, direction, counterparty country and currency: how many, and their sum."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        TransactionSummaryRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="rows",
    )
    day = models.DateField(_("booking date"))
    branch = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("branch"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    product = models.ForeignKey(
        "banking.Product",
        verbose_name=_("product"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    kind = models.CharField(_("type"), max_length=20)
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    direction = models.CharField(_("credit or debit"), max_length=6)
    counterparty_country = models.CharField(_("counterparty country"), max_length=2, blank=True)
    currency = CurrencyField(_("currency"))
    transaction_count = models.PositiveIntegerField(_("transactions"))
    # Signed, in ``currency``: credits positive, debits negative (as the bookings).
    amount_total = AmountField(_("amount"))

    # The same unit scope as the bookings it sums (the branch of the account).
    scope_unit_field = "branch"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("daily transaction summary")
        verbose_name_plural = _("daily transaction summaries")
        ordering = ["run", "day"]
        indexes = [models.Index(fields=["run", "day"], name="analytics_txnsum_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} {self.direction} {self.transaction_count}"
