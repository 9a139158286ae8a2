"""Data-encryption keys, each wrapped by the keyring's key-encryption key."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class DataKey(models.Model):
    """A data-encryption key (DEK) for one customer or one table, stored only wrapped.

    Destroying a customer's key (crypto-shredding) makes every value encrypted under it
    unreadable, while the bank's ledger rows stay in place.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # What the key protects: "table:<db_table>" or "<model label>:<pk>" for a customer key.
    scope = models.CharField(_("scope"), max_length=120, unique=True)
    # The DEK wrapped (AES-256-GCM) under key-encryption-key version ``kek_version``,
    # base64; empty once destroyed.
    wrapped_key = models.TextField(blank=True)
    kek_version = models.PositiveIntegerField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    rewrapped_at = models.DateTimeField(null=True, blank=True)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("data key")
        verbose_name_plural = _("data keys")

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else f"kek v{self.kek_version}"
        return f"{self.scope} ({state})"


class KeyRotation(models.Model):
    """One run of key rotation: data keys moved to a new master key version, with progress."""

    kek_version = models.PositiveIntegerField(_("key version"))
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Whether this run also re-encrypts every encrypted value under a fresh nonce.
    reencrypt = models.BooleanField(_("re-encrypt values"), default=False)
    rewrapped = models.PositiveIntegerField(_("data keys re-wrapped"), default=0)
    reencrypted = models.PositiveIntegerField(_("values re-encrypted"), default=0)
    # Resume point of the re-encryption: {"<app_label.model>": "<last pk done>" | "done"}.
    progress = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("key rotation")
        verbose_name_plural = _("key rotations")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        state = "finished" if self.finished_at else "in progress"
        return f"key rotation to v{self.kek_version} ({state})"
