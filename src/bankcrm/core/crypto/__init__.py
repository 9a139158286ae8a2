"""Encryption at rest: keyring, envelope data keys, encrypted fields and blind indexes.

See ``docs/security-crypto.md`` for the key hierarchy, rotation and crypto-shredding.
"""

from .errors import (
    CryptoError,
    DataKeyDestroyed,
    DataKeyMissing,
    DecryptionError,
    EncryptedFieldUsageError,
)
from .fields import (
    BlindIndexField,
    DataKeyField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedTextField,
    blind_index,
    encrypted_fields,
    preload_keys,
)
from .keyring import KeyringBackend, KeyringError, get_keyring, reset_keyring_cache

__all__ = [
    "BlindIndexField",
    "CryptoError",
    "DataKeyDestroyed",
    "DataKeyField",
    "DataKeyMissing",
    "DecryptionError",
    "EncryptedDateField",
    "EncryptedFieldUsageError",
    "EncryptedJSONField",
    "EncryptedTextField",
    "KeyringBackend",
    "KeyringError",
    "blind_index",
    "encrypted_fields",
    "get_keyring",
    "preload_keys",
    "reset_keyring_cache",
]
