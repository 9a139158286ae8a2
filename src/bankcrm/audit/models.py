"""The audit trail: an append-only, hash-chained record of every change and PII read."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditEvent(models.Model):
    """One thing someone (or a job) did: who, what, to which record, before and after."""

    # Chain position, assigned under the chain lock: 1, 2, 3 … with no gaps.
    id = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.CharField(_("actor"), max_length=150, db_index=True)
    actor_user_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    channel = models.CharField(_("channel"), max_length=16)
    action = models.CharField(_("action"), max_length=80, db_index=True)
    object_type = models.CharField(_("object type"), max_length=80, blank=True, db_index=True)
    object_pk = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    changed_secrets = models.JSONField(_("secret fields changed"), default=list, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    ip = models.CharField(_("IP address"), max_length=45, blank=True)
    prev_hash = models.CharField(max_length=64)
    row_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_pk"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor} {self.action} {self.object_type}:{self.object_pk}"


class AuditChainHead(models.Model):
    """The newest link of the chain; locking this one row serialises appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self) -> str:
        return f"#{self.last_event_id} {self.last_hash[:12]}"
