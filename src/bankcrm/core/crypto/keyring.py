"""The keyring: versioned key-encryption keys (KEKs) and the blind-index key.

The keyring holds the only secrets that can open bankcrm's encrypted data. Data keys (DEKs,
see :mod:`bankcrm.core.crypto.envelope`) are stored in the database wrapped under a KEK; the
KEKs themselves never touch the database. ``settings.KEYRING`` says where they come from:

- a file path (the embedded default ``./var/keyring.json``): created on first use with mode
  0600; a file that group or other users may read is refused;
- ``env:NAME``: the keyring JSON (or its base64) in the environment variable ``NAME``, which
  is how production receives it from the bank's secret store;
- a dotted path ``package.module.Class`` to a KMS adapter: any class implementing
  :class:`KeyringBackend`, instantiated without arguments (it reads its own configuration
  from the environment).

The keyring JSON is::

    {"format": "bankcrm-keyring/1", "current": 2,
     "keks": {"1": "<base64 of 32 bytes>", "2": "<base64 of 32 bytes>"},
     "blind_index_key": "<base64 of 32 bytes>"}

The blind-index key is separate from every KEK: a leaked blind index key lets an attacker
test guesses against the index, never decrypt.
"""

from __future__ import annotations

import abc
import base64
import binascii
import contextlib
import importlib
import json
import os
import secrets
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import CryptoError, DecryptionError

KEY_BYTES = 32
NONCE_BYTES = 12
KEYRING_FORMAT = "bankcrm-keyring/1"


class KeyringError(CryptoError):
    """The keyring is missing, unreadable, insecure or malformed."""


class UnwrapError(DecryptionError):
    """A wrapped data key does not open under its key-encryption key."""


class KeyringBackend(abc.ABC):
    """Where bankcrm gets its key-encryption keys (KEKs) and blind-index key.

    An adapter for a KMS or HSM subclasses this. It must implement ``current_version()``,
    ``versions()``, ``kek(version)`` and ``blind_index_key()``. A KMS that never releases key
    material overrides ``wrap_key``/``unwrap_key`` instead (calling the KMS's own
    encrypt/decrypt with the given associated data) and may raise from ``kek()``. The
    blind-index key must be available in the process: an HMAC per looked-up value cannot
    be a network call. ``add_version()`` is optional: a backend that cannot create keys
    raises :class:`KeyringError` telling the operator where to add the version.
    """

    #: A short description for ``bankcrm doctor`` and ``bankcrm keys status``.
    description = "keyring"

    @abc.abstractmethod
    def current_version(self) -> int:
        """The KEK version that wraps new data keys."""

    @abc.abstractmethod
    def versions(self) -> list[int]:
        """Every KEK version this keyring still holds, ascending."""

    @abc.abstractmethod
    def kek(self, version: int) -> bytes:
        """The 32-byte key-encryption key of ``version``; KeyringError if unknown."""

    @abc.abstractmethod
    def blind_index_key(self) -> bytes:
        """The 32-byte HMAC key of blind indexes (never a KEK)."""

    def add_version(self) -> int:
        """Create a new KEK version, make it current and return its number."""
        raise KeyringError(
            f"{self.description} cannot create key versions itself: add a new version where "
            "this keyring is kept, restart bankcrm, then run `bankcrm keys rotate "
            "--no-new-version`"
        )

    def wrap_key(self, dek: bytes, aad: bytes) -> tuple[int, bytes]:
        """Wrap a data key under the current KEK: returns (version, nonce + ciphertext)."""
        version = self.current_version()
        nonce = os.urandom(NONCE_BYTES)
        return version, nonce + AESGCM(self.kek(version)).encrypt(nonce, dek, aad)

    def unwrap_key(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        """Open a data key wrapped under KEK ``version``; UnwrapError if it does not open."""
        if len(wrapped) <= NONCE_BYTES:
            raise UnwrapError("wrapped data key is truncated")
        try:
            return AESGCM(self.kek(version)).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad
            )
        except InvalidTag as exc:
            raise UnwrapError(
                f"wrapped data key does not open under key version {version}"
            ) from exc


def new_keyring_document() -> dict[str, Any]:
    """A fresh keyring: KEK version 1 and a blind-index key, from the OS's CSPRNG."""
    return {
        "format": KEYRING_FORMAT,
        "current": 1,
        "keks": {"1": _b64(secrets.token_bytes(KEY_BYTES))},
        "blind_index_key": _b64(secrets.token_bytes(KEY_BYTES)),
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _key_from_b64(value: Any, what: str) -> bytes:
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyringError(f"{what} is not valid base64") from exc
    if len(raw) != KEY_BYTES:
        raise KeyringError(f"{what} must be {KEY_BYTES} bytes, not {len(raw)}")
    return raw


class DocumentKeyring(KeyringBackend):
    """A keyring parsed from the keyring JSON document (file or environment)."""

    def __init__(self, document: Any, *, description: str) -> None:
        self.description = description
        self._load(document)

    def _load(self, document: Any) -> None:
        if not isinstance(document, dict) or document.get("format") != KEYRING_FORMAT:
            raise KeyringError(f"{self.description}: not a bankcrm keyring ({KEYRING_FORMAT})")
        keks = document.get("keks")
        if not isinstance(keks, dict) or not keks:
            raise KeyringError(f"{self.description}: holds no key-encryption keys")
        try:
            parsed = {int(v): _key_from_b64(k, f"key version {v}") for v, k in keks.items()}
            current = int(document.get("current", 0))
        except ValueError as exc:
            raise KeyringError(f"{self.description}: key versions must be integers") from exc
        if current not in parsed:
            raise KeyringError(f"{self.description}: current version {current} is missing")
        self._keks = parsed
        self._current = current
        self._blind = _key_from_b64(document.get("blind_index_key"), "blind_index_key")

    def _reload(self) -> bool:
        """Re-read the source (a file another process changed); True if it changed."""
        return False

    def current_version(self) -> int:
        self._reload()
        return self._current

    def versions(self) -> list[int]:
        return sorted(self._keks)

    def kek(self, version: int) -> bytes:
        if version not in self._keks:
            # Another process may have added the version since this one loaded the keyring.
            self._reload()
        try:
            return self._keks[version]
        except KeyError:
            raise KeyringError(
                f"{self.description} has no key version {version}: restore it from backup"
            ) from None

    def blind_index_key(self) -> bytes:
        return self._blind

    def document(self) -> dict[str, Any]:
        return {
            "format": KEYRING_FORMAT,
            "current": self._current,
            "keks": {str(v): _b64(k) for v, k in sorted(self._keks.items())},
            "blind_index_key": _b64(self._blind),
        }


class FileKeyring(DocumentKeyring):
    """The embedded keyring: a JSON file readable by its owner only (mode 0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self.description = f"keyring file {self.path}"
        if not self.path.exists():
            self._create()
        self._read()

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a private temporary file, then linked into place: another process
        # starting at the same moment either wins the link or reads the complete file.
        tmp = self._write_temporary(new_keyring_document())
        try:
            os.link(tmp, self.path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)

    def _write_temporary(self, document: dict[str, Any]) -> str:
        fd, tmp = tempfile.mkstemp(prefix=".keyring-", dir=self.path.parent)  # mode 0600
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def _check_mode(self, st: os.stat_result) -> None:
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise KeyringError(
                f"{self.description} has mode {mode:04o}: group or other users can read the "
                f"keys. Run `chmod 600 {self.path}` (and check who may have copied it)."
            )

    def _read(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                st = os.fstat(handle.fileno())
                self._check_mode(st)
                raw = handle.read()
        except OSError as exc:
            raise KeyringError(f"cannot read {self.description}: {exc}") from exc
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise KeyringError(f"{self.description} is not valid JSON") from exc
        self._load(document)
        self._stamp = (st.st_mtime_ns, st.st_size)

    def _reload(self) -> bool:
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise KeyringError(f"cannot read {self.description}: {exc}") from exc
        if (st.st_mtime_ns, st.st_size) == self._stamp:
            return False
        with self._lock:
            self._read()
        return True

    def add_version(self) -> int:
        """Add KEK version max+1 and make it current; the file is replaced atomically."""
        with self._lock, self._file_lock():
            self._read()
            version = max(self._keks) + 1
            document = self.document()
            document["keks"][str(version)] = _b64(secrets.token_bytes(KEY_BYTES))
            document["current"] = version
            tmp = self._write_temporary(document)
            os.replace(tmp, self.path)
            self._read()
        return version

    @contextlib.contextmanager
    def _file_lock(self):  # type: ignore[no-untyped-def]
        # Serialises two `keys rotate` runs adding a version at the same time.
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class EnvKeyring(DocumentKeyring):
    """A keyring handed over in an environment variable (JSON, or base64 of the JSON)."""

    def __init__(self, variable: str) -> None:
        value = os.environ.get(variable, "").strip()
        description = f"keyring from environment variable {variable}"
        if not value:
            raise KeyringError(f"{description}: {variable} is not set")
        if not value.startswith("{"):
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, ValueError) as exc:
                raise KeyringError(f"{description}: neither JSON nor base64 of JSON") from exc
        try:
            document = json.loads(value)
        except ValueError as exc:
            raise KeyringError(f"{description}: not valid JSON") from exc
        super().__init__(document, description=description)


def keyring_source_kind(source: str) -> str:
    """ "file", "env" or "adapter", by the form of ``settings.KEYRING``."""
    if source.startswith("env:"):
        return "env"
    looks_like_path = "/" in source or os.sep in source or source.endswith(".json")
    if not looks_like_path and "." in source:
        return "adapter"
    return "file"


def load_keyring(source: str) -> KeyringBackend:
    """Build the keyring named by ``source`` (a path, ``env:NAME`` or a dotted class path)."""
    kind = keyring_source_kind(source)
    if kind == "env":
        return EnvKeyring(source[4:])
    if kind == "adapter":
        module_name, _, class_name = source.rpartition(".")
        try:
            backend_class = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError) as exc:
            raise KeyringError(f"keyring adapter {source} cannot be imported: {exc}") from exc
        if not (isinstance(backend_class, type) and issubclass(backend_class, KeyringBackend)):
            raise KeyringError(f"keyring adapter {source} is not a KeyringBackend subclass")
        return backend_class()
    return FileKeyring(source)


_cache_lock = threading.Lock()
_cached: KeyringBackend | None = None


def get_keyring() -> KeyringBackend:
    """The process's keyring, loaded once from ``settings.KEYRING``."""
    global _cached
    keyring = _cached
    if keyring is None:
        from django.conf import settings

        with _cache_lock:
            if _cached is None:
                _cached = load_keyring(str(settings.KEYRING))
            keyring = _cached
    return keyring


def reset_keyring_cache() -> None:
    """Forget the loaded keyring and every unwrapped data key (tests, after a restore)."""
    global _cached
    with _cache_lock:
        _cached = None
    from . import envelope

    envelope.clear_caches()
