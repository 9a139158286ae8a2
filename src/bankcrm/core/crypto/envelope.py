"""Envelope encryption: data keys (DEKs) wrapped under the keyring's key-encryption keys.

Every encrypted value is sealed with a DEK; every DEK is stored in the ``DataKey`` table only
wrapped (AES-256-GCM under a KEK, the associated data being the key's scope). A DEK protects
either a whole table (scope ``table:<db_table>``) or one customer (scope
``<app_label.model>:<pk>``); destroying a customer's DEK makes that customer's values
unreadable for ever (crypto-shredding) while the rows stay.

Unwrapped DEKs are kept in a bounded in-process LRU cache for ``CRYPTO_DEK_CACHE_SECONDS``
(default 60 s), so a page of many rows does not unwrap the same key again and again; the
time limit bounds how long another process can still use a key after it was destroyed.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction

from .errors import CryptoError, DataKeyDestroyed, DataKeyMissing
from .keyring import KEY_BYTES, UnwrapError, get_keyring

if TYPE_CHECKING:
    from bankcrm.core.models import DataKey


def _aad(scope: str) -> bytes:
    return b"bankcrm-dek/1|" + scope.encode("utf-8")


class _ExpiringLRU:
    """A small thread-safe LRU mapping whose entries also expire after ``ttl`` seconds."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._data: OrderedDict[Any, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def pop(self, key: Any) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


_ttl = float(getattr(settings, "CRYPTO_DEK_CACHE_SECONDS", 60))
_size = int(getattr(settings, "CRYPTO_DEK_CACHE_SIZE", 10_000))
# DataKey pk -> unwrapped DEK bytes.
_dek_cache = _ExpiringLRU(_size, _ttl)
# scope -> DataKey pk; filled only after the transaction that saw the key commits, so a
# key created by a rolled-back transaction is never reused.
_scope_cache = _ExpiringLRU(_size, _ttl)


def clear_caches() -> None:
    """Forget every unwrapped key (after a keyring change, in tests)."""
    _dek_cache.clear()
    _scope_cache.clear()


def data_keys_prime(keys: Iterable[tuple[uuid.UUID, str, bytes]]) -> None:
    """Remember data keys just created in bulk, as ``(pk, scope, clear DEK)`` triples.

    A bulk insert of many records with their own keys (an import, the demo data) wraps
    each new DEK itself (:func:`wrap_new_data_key`) and inserts the ``DataKey`` rows at
    once; priming lets the values sealed next use those DEKs, by key and by scope, without
    reading back and unwrapping each key. The keys are remembered before their rows are
    committed: a caller whose transaction rolls back must call :func:`clear_caches`, so
    that a key never stored is never used.
    """
    for pk, scope, dek in keys:
        if len(dek) != KEY_BYTES:
            raise CryptoError(f"data key {pk} is not a {KEY_BYTES}-byte key")
        _dek_cache.put(pk, dek)
        _scope_cache.put(scope, pk)


def forget_data_key(data_key: DataKey) -> None:
    """Drop one key from this process's caches (it was destroyed)."""
    _dek_cache.pop(data_key.pk)
    _scope_cache.pop(data_key.scope)


def wrap_new_data_key(scope: str) -> tuple[bytes, str, int]:
    """A fresh random DEK and its wrapped form: (dek, wrapped base64, kek_version)."""
    dek = os.urandom(KEY_BYTES)
    version, wrapped = get_keyring().wrap_key(dek, _aad(scope))
    return dek, base64.b64encode(wrapped).decode("ascii"), version


def unwrap_data_key(data_key: DataKey) -> bytes:
    """The clear DEK of ``data_key`` (through the cache); DataKeyDestroyed once shredded."""
    if data_key.destroyed_at is not None or not data_key.wrapped_key:
        _dek_cache.pop(data_key.pk)
        raise DataKeyDestroyed(
            f"data key {data_key.pk} ({data_key.scope}) was destroyed: "
            "the values it protected are erased"
        )
    try:
        wrapped = base64.b64decode(data_key.wrapped_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UnwrapError(f"data key {data_key.pk} is not valid base64") from exc
    dek = get_keyring().unwrap_key(data_key.kek_version, wrapped, _aad(data_key.scope))
    _dek_cache.put(data_key.pk, dek)
    return dek


def rewrap_data_key(data_key: DataKey, kek_version: int) -> None:
    """Wrap ``data_key`` again under the keyring's current KEK (which must be ``kek_version``).

    The DEK itself does not change, so no encrypted value has to be touched.
    """
    dek = unwrap_data_key(data_key)
    version, wrapped = get_keyring().wrap_key(dek, _aad(data_key.scope))
    if version != kek_version:
        raise CryptoError(
            f"the keyring's current version is {version}, not {kek_version}: another "
            "rotation added a version meanwhile; run `bankcrm keys rotate` again"
        )
    data_key.wrapped_key = base64.b64encode(wrapped).decode("ascii")
    data_key.kek_version = version


def dek_by_pk(pk: uuid.UUID) -> bytes:
    """The clear DEK of the DataKey ``pk`` (one query on a cache miss)."""
    dek = _dek_cache.get(pk)
    if dek is not None:
        return dek
    from bankcrm.core.models import DataKey

    data_key = DataKey.objects.filter(pk=pk).first()
    if data_key is None:
        raise DataKeyMissing(f"data key {pk} does not exist")
    return unwrap_data_key(data_key)


def preload_data_keys(pks: set[uuid.UUID]) -> None:
    """Unwrap many DEKs with one query (a list page of customers with their own keys)."""
    missing = {pk for pk in pks if _dek_cache.get(pk) is None}
    if not missing:
        return
    from bankcrm.core.models import DataKey

    for data_key in DataKey.objects.filter(pk__in=missing, destroyed_at__isnull=True):
        unwrap_data_key(data_key)


def data_key_for_scope(scope: str) -> tuple[uuid.UUID, bytes]:
    """The (pk, DEK) of the data key of ``scope``, created on first use."""
    pk = _scope_cache.get(scope)
    if pk is not None:
        return pk, dek_by_pk(pk)
    from bankcrm.core.models import DataKey

    data_key = DataKey.objects.filter(scope=scope).first()
    if data_key is None:
        dek, wrapped, version = wrap_new_data_key(scope)
        try:
            with transaction.atomic():
                data_key = DataKey.objects.create(
                    scope=scope, wrapped_key=wrapped, kek_version=version
                )
            _dek_cache.put(data_key.pk, dek)
        except IntegrityError:
            # Another process created the scope's key first: use theirs.
            data_key = DataKey.objects.get(scope=scope)
    key_pk = data_key.pk
    dek = _dek_cache.get(key_pk) or unwrap_data_key(data_key)
    transaction.on_commit(lambda: _scope_cache.put(scope, key_pk))
    return key_pk, dek


def record_scope(instance: Any) -> str:
    """The scope of a record's own data key: ``<app_label.model>:<pk>``."""
    return f"{instance._meta.label_lower}:{instance.pk}"


def create_record_data_key(instance: Any) -> DataKey:
    """Create (or find) the per-record data key of ``instance``; its pk must be set."""
    from bankcrm.core.models import DataKey

    if instance.pk is None:
        raise CryptoError(
            f"{instance._meta.label} needs its primary key before its data key is created"
        )
    scope = record_scope(instance)
    existing = DataKey.objects.filter(scope=scope).first()
    if existing is not None:
        return existing
    dek, wrapped, version = wrap_new_data_key(scope)
    try:
        with transaction.atomic():
            data_key = DataKey.objects.create(scope=scope, wrapped_key=wrapped, kek_version=version)
    except IntegrityError:
        return DataKey.objects.get(scope=scope)
    _dek_cache.put(data_key.pk, dek)
    return data_key
