"""The stored RFM scores: the nightly run of the RFM segmentation at the default window,
computed once for the whole bank and once for each unit whose staff read the customers of
their unit (their quintiles are ranked among those customers), and read back by the report
and its customer lists for the viewers whose customer scope is the run's (see
:mod:`bankcrm.analytics.services_rfm`).

A run holds each customer's figures and R, F and M scores, not the segment: the segment
table is applied when the run is read. Which customers a viewer sees is decided then too.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from bankcrm.core.money import AmountField


class RfmRun(models.Model):
    """One scoring of the customers of one scope, as of one day, over ``months`` months."""

    # "" for the whole bank; else the materialised path of the unit ("/1/4/") whose
    # customers (by their owning unit) were scored together.
    party_scope = models.CharField(_("customer scope"), max_length=255, blank=True)
    as_of = models.DateField(_("as of"))
    months = models.PositiveSmallIntegerField(_("months"))
    customers = models.PositiveIntegerField(_("customers"), default=0)
    currencies_without_rate = models.JSONField(_("currencies without a rate"), default=list)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("RFM run")
        verbose_name_plural = _("RFM runs")
        ordering = ["-finished_at", "-id"]
        indexes = [
            models.Index(
                fields=["party_scope", "as_of", "months", "finished_at"],
                name="analytics_rfmrun_scope_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.as_of} {self.party_scope or 'bank'} {self.months}m"


class StoredRfmScore(models.Model):
    """One customer's figures and scores in a run."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(
        RfmRun,
        verbose_name=_("run"),
        on_delete=models.CASCADE,
        related_name="scores",
        db_index=False,
    )
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    last_day = models.DateField(_("last booking"))
    recency_days = models.IntegerField(_("days since the last booking"))
    frequency = models.IntegerField(_("bookings"))
    monetary = AmountField(_("spending"))
    r_score = models.PositiveSmallIntegerField(_("recency score"))
    f_score = models.PositiveSmallIntegerField(_("frequency score"))
    m_score = models.PositiveSmallIntegerField(_("monetary score"))

    class Meta:
        verbose_name = _("stored RFM score")
        verbose_name_plural = _("stored RFM scores")
        constraints = [
            models.UniqueConstraint(fields=["run", "party"], name="analytics_rfmscore_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.party_id} {self.r_score}{self.f_score}{self.m_score}"
