"""Maker-checker: an action proposed by one person and applied only when another approves."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .base import TimeStampedModel


class PendingApproval(TimeStampedModel):
    """A sensitive change (a limit, a merge, a role grant) awaiting a second person's decision."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Approved, but could not be applied")
        CANCELLED = "cancelled", _("Cancelled")

    action = models.CharField(_("action"), max_length=100, db_index=True)
    # The action's arguments: non-secret values only, they are shown to the checker.
    payload = models.JSONField(_("details"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_pk = models.CharField(_("object key"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    maker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="approvals_requested",
    )
    maker_reason = models.TextField(_("reason for the request"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approvals_decided",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_comment = models.TextField(_("decision comment"), blank=True)
    failure_reason = models.TextField(_("why it could not be applied"), blank=True)

    class Meta:
        verbose_name = _("pending approval")
        verbose_name_plural = _("pending approvals")
        ordering = ["-created_at"]
        constraints = [
            # The four-eyes rule, enforced by the database whatever code path writes.
            models.CheckConstraint(
                condition=~Q(checker=F("maker")), name="core_approval_checker_not_maker"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "cancelled"])
                | Q(checker__isnull=False, decided_at__isnull=False),
                name="core_approval_decision_has_checker",
            ),
            models.CheckConstraint(
                condition=~Q(maker_reason=""), name="core_approval_reason_not_empty"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "action"], name="core_approval_queue_idx"),
            models.Index(fields=["object_type", "object_pk"], name="core_approval_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} #{self.pk} ({self.status})"
