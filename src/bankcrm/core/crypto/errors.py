"""Errors of bankcrm's encryption layer."""

from __future__ import annotations

from django.core.exceptions import FieldError


class CryptoError(Exception):
    """Base class of bankcrm's encryption errors."""


class DecryptionError(CryptoError):
    """A stored value does not decrypt: altered, copied from another row or column, or its
    key is gone. Never answered with a guess."""


class DataKeyDestroyed(DecryptionError):
    """The data key was destroyed (crypto-shredded): what it protected cannot be read."""


class DataKeyMissing(DecryptionError):
    """A ciphertext names a data key that does not exist."""


class EncryptedFieldUsageError(FieldError, CryptoError):
    """An encrypted field was used where the database would see or compare plaintext."""
