"""Segments: groups of customers defined by rules (dynamic) or frozen as a list (static)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel


class Segment(TimeStampedModel):
    """A named group of customers: rules over their data, re-evaluated on a schedule
    (dynamic), or the members those rules gave once, kept as they were (static)."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic (re-evaluated)")
        STATIC = "static", _("Static (snapshot)")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # The rule tree (bankcrm.marketing.segments.rules documents its JSON form).
    definition = models.JSONField(_("rules"), default=dict)
    # The unit whose customers the segment may hold: the maker's unit, or a unit below it.
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="marketing_segments",
    )
    # Hours between scheduled re-evaluations of a dynamic segment; 0: on demand only.
    refresh_hours = models.PositiveIntegerField(_("re-evaluate every (hours)"), default=24)
    is_archived = models.BooleanField(_("archived"), default=False)
    member_count = models.PositiveIntegerField(_("members"), default=0)
    last_evaluated_at = models.DateTimeField(_("last evaluated"), null=True, blank=True)
    evaluation_seconds = models.FloatField(_("evaluation time (s)"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    scope_unit_field = "owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["dynamic", "static"]), name="segment_kind_known"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A customer in a segment as of its last evaluation (or its snapshot, if static)."""

    id = models.BigAutoField(primary_key=True)
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="members"
    )
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="segment_memberships",
    )
    added_at = models.DateTimeField(_("added"))

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        ordering = ["segment", "id"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "party"], name="segmentmember_unique"),
        ]
        indexes = [models.Index(fields=["party"], name="segmentmember_party_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.party_id}"
