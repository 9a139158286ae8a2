"""The transactional outbox: domain events written with the change that caused them."""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxEvent(models.Model):
    """Something that happened in the bank (a customer created, a loan approved), to be passed on.

    The id is the idempotency key: every receiver sees the same id for the same event, however
    often a delivery is retried.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed, will retry")
        DEAD = "dead", _("Dead (retries exhausted)")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(_("type"), max_length=100, db_index=True)
    object_type = models.CharField(_("object type"), max_length=100, blank=True)
    object_pk = models.CharField(_("object key"), max_length=64, blank=True)
    payload = models.JSONField(_("payload"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    occurred_at = models.DateTimeField(_("occurred"), default=timezone.now, db_index=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        ordering = ["occurred_at"]
        indexes = [
            # The sweep's query: due rows that still need delivering.
            models.Index(fields=["status", "next_attempt_at"], name="events_outbox_due_idx"),
            models.Index(fields=["object_type", "object_pk"], name="events_outbox_object_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(type=""), name="events_outbox_type_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.pk}"


class EventDelivery(models.Model):
    """One subscriber's receipt of one event, so a failing subscriber never re-runs the others."""

    class Status(models.TextChoices):
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(
        OutboxEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries"
    )
    subscriber = models.CharField(_("subscriber"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("event delivery")
        verbose_name_plural = _("event deliveries")
        ordering = ["event", "subscriber"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber"], name="events_delivery_one_per_subscriber"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscriber}: {self.status}"
