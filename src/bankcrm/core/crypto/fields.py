"""Encrypted model fields and the blind index.

Each encrypted value is sealed with AES-256-GCM under a data key (see ``envelope``)::

    base64url( 0x01 | data key id (16 bytes) | nonce (12 bytes) | ciphertext + tag )

The first byte is the format version; the data key records which key-encryption-key
version wraps it. The associated data binds the value to its table, column and row
primary key, so a ciphertext copied to another row or column does not decrypt: it raises
:class:`DecryptionError`. Plaintexts are padded to a multiple of 16 bytes so the stored
length tells little about the value.

Django's ``from_db_value`` does not see the model instance (and so not the primary key
bound into the ciphertext). The fields therefore keep the database value sealed in the
instance and decrypt it on first attribute access; ``pre_save`` encrypts what was assigned
and keeps an untouched value exactly as it was stored. Because the database only ever
holds ciphertext, ``QuerySet.update(field=...)``, ``bulk_update`` and every look-up except
``isnull`` raise :class:`EncryptedFieldUsageError`; exact look-ups use a
:class:`BlindIndexField`.

Models with encrypted fields subclass ``bankcrm.core.models.UUIDModel`` so the primary key
exists before the first save. A model gets its own per-record data key (crypto-shredding
on erasure) by declaring ``data_key = DataKeyField()``, or chooses a shared key by
defining ``get_data_key_scope()``; otherwise the table's key is used.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import os
import unicodedata
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django import forms
from django.core import validators
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init
from django.utils.translation import gettext_lazy as _

from . import envelope
from .errors import CryptoError, DecryptionError, EncryptedFieldUsageError
from .keyring import NONCE_BYTES, get_keyring

FORMAT_VERSION = 1
_HEADER_BYTES = 1 + 16
_BLOCK = 16


class Sealed:
    """A value as stored: ciphertext not yet opened, and the row pk it was loaded with."""

    __slots__ = ("pk", "token")

    def __init__(self, token: str, pk: str | None = None) -> None:
        self.token = token
        self.pk = pk

    def __repr__(self) -> str:
        return "<Sealed encrypted value>"

    __str__ = __repr__

    def data_key_id(self) -> uuid.UUID | None:
        """The id of the data key that sealed this value (no decryption needed)."""
        try:
            raw = _b64decode(self.token)
        except DecryptionError:
            return None
        if len(raw) < _HEADER_BYTES or raw[0] != FORMAT_VERSION:
            return None
        return uuid.UUID(bytes=raw[1:_HEADER_BYTES])


class SealedToken(str):
    """Ciphertext produced by ``pre_save``: the only value the database column accepts."""

    __slots__ = ()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(token: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("stored value is not valid base64url ciphertext") from exc


def _pad(data: bytes) -> bytes:
    # ISO/IEC 7816-4 padding: 0x80 then zeros up to the next 16-byte boundary.
    data += b"\x80"
    return data + b"\x00" * (-len(data) % _BLOCK)


def _unpad(data: bytes) -> bytes:
    stripped = data.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise DecryptionError("decrypted value has invalid padding")
    return stripped[:-1]


def _pk_text(instance: models.Model) -> str:
    pk = instance.pk
    if pk is None:
        raise CryptoError(
            f"{instance._meta.label} has no primary key yet: models with encrypted fields "
            "subclass bankcrm.core.models.UUIDModel so the key exists before saving"
        )
    return str(instance._meta.pk.to_python(pk))  # type: ignore[union-attr]


def _aad(header: bytes, field: models.Field, pk_text: str) -> bytes:
    # JSON keeps the parts unambiguous whatever characters they contain.
    binding = json.dumps([field.model._meta.db_table, field.column, pk_text])
    return b"bankcrm-field/1|" + header + binding.encode("utf-8")


def _data_key_for(instance: models.Model) -> tuple[uuid.UUID, bytes]:
    """The data key that seals new values of ``instance``."""
    from bankcrm.core.models import DataKey

    try:
        key_field = instance._meta.get_field("data_key")
    except FieldDoesNotExist:
        key_field = None
    if key_field is not None and getattr(key_field, "related_model", None) is DataKey:
        key_pk = getattr(instance, key_field.attname)  # type: ignore[union-attr]
        if key_pk is None:
            if not isinstance(key_field, DataKeyField):
                raise CryptoError(
                    f"{instance._meta.label}.data_key must be set before saving "
                    "encrypted values (declare it as DataKeyField to create it automatically)"
                )
            data_key = envelope.create_record_data_key(instance)
            setattr(instance, key_field.name, data_key)
            key_pk = data_key.pk
        return key_pk, envelope.dek_by_pk(key_pk)
    scope_of = getattr(instance, "get_data_key_scope", None)
    scope = scope_of() if callable(scope_of) else f"table:{instance._meta.db_table}"
    return envelope.data_key_for_scope(scope)


def seal(instance: models.Model, field: models.Field, plaintext: bytes) -> str:
    """Encrypt ``plaintext`` for ``field`` of ``instance`` under a fresh 96-bit nonce."""
    key_pk, dek = _data_key_for(instance)
    header = bytes([FORMAT_VERSION]) + key_pk.bytes
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(header, field, _pk_text(instance))
    return _b64encode(header + nonce + AESGCM(dek).encrypt(nonce, _pad(plaintext), aad))


def open_sealed(field: models.Field, token: str, pk_text: str) -> bytes:
    """Decrypt a stored value of ``field`` in the row ``pk_text``; DecryptionError if not."""
    raw = _b64decode(token)
    where = f"{field.model._meta.label}.{field.name} of row {pk_text}"
    if len(raw) < _HEADER_BYTES + NONCE_BYTES + 16 or raw[0] != FORMAT_VERSION:
        raise DecryptionError(f"cannot decrypt {where}: unknown or truncated format")
    header = raw[:_HEADER_BYTES]
    nonce = raw[_HEADER_BYTES : _HEADER_BYTES + NONCE_BYTES]
    dek = envelope.dek_by_pk(uuid.UUID(bytes=raw[1:_HEADER_BYTES]))
    try:
        padded = AESGCM(dek).decrypt(
            nonce, raw[_HEADER_BYTES + NONCE_BYTES :], _aad(header, field, pk_text)
        )
    except InvalidTag:
        raise DecryptionError(
            f"cannot decrypt {where}: the value was altered or belongs to another row or column"
        ) from None
    return _unpad(padded)


def _memo_key(attname: str) -> str:
    return f"_sealed_{attname}"


class EncryptedAttribute(DeferredAttribute):
    """Holds the sealed database value and decrypts it on first access."""

    def __get__(self, instance: Any, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Sealed):
            field = self.field
            pk_text = value.pk or _pk_text(instance)
            plaintext = open_sealed(field, value.token, pk_text)
            opened = field.from_plaintext(plaintext)  # type: ignore[attr-defined]
            instance.__dict__[field.attname] = opened
            # Remembered so that saving an unchanged value keeps the stored ciphertext.
            instance.__dict__[_memo_key(field.attname)] = (value.token, pk_text, plaintext)
            return opened
        return value

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


_ENCRYPTED_FIELDS: weakref.WeakKeyDictionary[type, list[models.Field]] = weakref.WeakKeyDictionary()


def encrypted_fields(model: type[models.Model]) -> list[models.Field]:
    """The encrypted concrete fields of ``model``."""
    fields = _ENCRYPTED_FIELDS.get(model)
    if fields is None:
        fields = [f for f in model._meta.concrete_fields if getattr(f, "is_encrypted", False)]
        _ENCRYPTED_FIELDS[model] = fields
    return fields


def _bind_loaded_values(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    # Remember the pk each loaded value was sealed with, so that a copy saved under a new
    # pk is re-encrypted instead of keeping a ciphertext bound to the old row.
    if instance.pk is None:
        return
    pk_text: str | None = None
    for field in encrypted_fields(sender):
        value = instance.__dict__.get(field.attname)
        if isinstance(value, Sealed) and value.pk is None:
            pk_text = pk_text or _pk_text(instance)
            value.pk = pk_text


def _watch_loaded_values(cls: Any) -> None:
    # Abstract models have no rows; migrations' historical models ("__fake__") never clone
    # records, and connecting them would keep every rendered migration state alive.
    if cls._meta.abstract or cls.__module__ == "__fake__":
        return
    post_init.connect(
        _bind_loaded_values,
        sender=cls,
        dispatch_uid=f"bankcrm-encrypted-{cls.__module__}.{cls.__qualname__}",
    )


def reseal(instance: models.Model) -> None:
    """Open every encrypted value of ``instance`` so that the next save encrypts it afresh
    (new nonce, current data key) and recomputes its blind indexes."""
    for field in encrypted_fields(type(instance)):
        getattr(instance, field.attname)
        instance.__dict__.pop(_memo_key(field.attname), None)


def preload_keys(instances: Any) -> None:
    """Unwrap, with one query, the data keys that a list of loaded records needs."""
    pks: set[uuid.UUID] = set()
    for instance in instances:
        for field in encrypted_fields(type(instance)):
            value = instance.__dict__.get(field.attname)
            if isinstance(value, Sealed):
                key_id = value.data_key_id()
                if key_id is not None:
                    pks.add(key_id)
    envelope.preload_data_keys(pks)


class EncryptedFieldMixin:
    """Behaviour shared by the encrypted field types; stored as text on every database."""

    is_encrypted = True
    descriptor_class: type[DeferredAttribute] = EncryptedAttribute

    def get_internal_type(self) -> str:
        return "TextField"

    def contribute_to_class(self, cls: Any, name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)  # type: ignore[misc]
        _watch_loaded_values(cls)

    # --- plaintext <-> bytes, per type ------------------------------------------------------

    def to_plaintext(self, value: Any) -> bytes:
        raise NotImplementedError

    def from_plaintext(self, data: bytes) -> Any:
        raise NotImplementedError

    # --- database ---------------------------------------------------------------------------

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else Sealed(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        attname = self.attname  # type: ignore[attr-defined]
        data = model_instance.__dict__
        if attname not in data:
            getattr(model_instance, attname)  # a deferred field: load it
        current = data.get(attname)
        pk_text = _pk_text(model_instance)
        if isinstance(current, Sealed):
            if current.pk in (None, pk_text):
                return SealedToken(current.token)
            # A copy of a loaded record saved under a new pk: re-encrypt for the new row.
            current = getattr(model_instance, attname)
        if current is None:
            data.pop(_memo_key(attname), None)
            return None
        value = self.to_python(current)  # type: ignore[attr-defined]
        data[attname] = value
        plaintext = self.to_plaintext(value)
        memo = data.get(_memo_key(attname))
        if memo is not None and memo[1] == pk_text and memo[2] == plaintext:
            return SealedToken(memo[0])
        token = seal(model_instance, self, plaintext)  # type: ignore[arg-type]
        data[_memo_key(attname)] = (token, pk_text, plaintext)
        return SealedToken(token)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, SealedToken):
            return str(value)
        raise EncryptedFieldUsageError(
            f"{self} is encrypted: set it on the object and call save() or bulk_create(); "
            "QuerySet.update() and bulk_update() would store plaintext"
        )

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)  # type: ignore[misc]
        raise EncryptedFieldUsageError(
            f"{self} is encrypted: the database cannot compare it ({lookup_name!r}); "
            "use its blind index for exact look-ups"
        )

    def get_transform(self, lookup_name: str) -> Any:
        raise EncryptedFieldUsageError(
            f"{self} is encrypted: the database cannot transform it ({lookup_name!r})"
        )

    def value_to_string(self, obj: models.Model) -> str:
        value = getattr(obj, self.attname)  # type: ignore[attr-defined]
        return "" if value is None else self.to_plaintext(value).decode("utf-8")


class EncryptedTextField(EncryptedFieldMixin, models.Field):
    """Text (a national id, a phone number, a note) encrypted at rest."""

    description = _("Encrypted text")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def to_python(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def to_plaintext(self, value: Any) -> bytes:
        return str(value).encode("utf-8")

    def from_plaintext(self, data: bytes) -> str:
        return data.decode("utf-8")

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(
            **{"form_class": forms.CharField, "max_length": self.max_length, **kwargs}
        )


class EncryptedDateField(EncryptedFieldMixin, models.DateField):
    """A date (a date of birth) encrypted at rest."""

    description = _("Encrypted date")

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # DateField.pre_save handles auto_now; an encrypted date is never automatic.
        return EncryptedFieldMixin.pre_save(self, model_instance, add)

    def to_plaintext(self, value: Any) -> bytes:
        return value.isoformat().encode("ascii")

    def from_plaintext(self, data: bytes) -> dt.date:
        return dt.date.fromisoformat(data.decode("ascii"))

    def contribute_to_class(self, cls: Any, name: str, **kwargs: Any) -> None:  # type: ignore[override]
        # Skips DateField's get_next_by_<name>() helpers: they would order by ciphertext.
        models.Field.contribute_to_class(self, cls, name, **kwargs)
        _watch_loaded_values(cls)


class EncryptedJSONField(EncryptedFieldMixin, models.Field):
    """Structured data (an address, document details) encrypted at rest as JSON.

    A JSON ``null`` is stored as SQL NULL.
    """

    description = _("Encrypted JSON")
    empty_strings_allowed = False

    def to_python(self, value: Any) -> Any:
        return value

    def validate(self, value: Any, model_instance: Any) -> None:
        super().validate(value, model_instance)
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                _("%(value)s is not JSON: %(error)s"),
                code="invalid",
                params={"value": type(value).__name__, "error": exc},
            ) from exc

    def to_plaintext(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode(
            "utf-8"
        )

    def from_plaintext(self, data: bytes) -> Any:
        return json.loads(data.decode("utf-8"))

    def formfield(self, **kwargs: Any) -> Any:
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})


class DataKeyField(models.ForeignKey):
    """The record's own data key, created on first save: erasing the record's personal
    data is destroying this key (``bankcrm.core.services.data_key_destroy``)."""

    def __init__(
        self,
        to: Any = "core.DataKey",
        on_delete: Any = models.PROTECT,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("related_name", "+")
        kwargs.setdefault("verbose_name", _("data key"))
        super().__init__(to, on_delete, **kwargs)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        if getattr(model_instance, self.attname) is None:
            setattr(model_instance, self.name, envelope.create_record_data_key(model_instance))
        return getattr(model_instance, self.attname)


# --- Blind index -------------------------------------------------------------------------


def _nfkc(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value))


def normalize_text(value: Any) -> str:
    """Trim, collapse inner spaces, case-fold, NFKC (full-width letters and digits to ASCII)."""
    folded = " ".join(_nfkc(value).split()).casefold()
    return unicodedata.normalize("NFKC", folded)


def normalize_digits(value: Any) -> str:
    """Only the digits, of any script, as ASCII (account and card numbers)."""
    return "".join(str(unicodedata.decimal(ch)) for ch in _nfkc(value) if ch.isdecimal())


def normalize_email(value: Any) -> str:
    """Trimmed and lower-cased."""
    return _nfkc(value).strip().lower()


def normalize_phone(value: Any) -> str:
    """Digits, with a leading ``+`` for an international number (``00`` counts as ``+``)."""
    text = _nfkc(value).strip()
    digits = normalize_digits(text)
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00") and len(digits) > 2:
        return "+" + digits[2:]
    return digits


def normalize_identifier(value: Any) -> str:
    """Identity document numbers: NFKC, no spaces or dashes, case-folded (``x`` = ``X``)."""
    return "".join(ch for ch in _nfkc(value) if not ch.isspace() and ch != "-").casefold()


NORMALIZERS: dict[str, Callable[[Any], str]] = {
    "text": normalize_text,
    "digits": normalize_digits,
    "email": normalize_email,
    "phone": normalize_phone,
    "identifier": normalize_identifier,
}


def register_normalizer(name: str, function: Callable[[Any], str]) -> None:
    """Add a named normaliser for BlindIndexField(normalizer=name)."""
    NORMALIZERS[name] = function


class BlindIndexField(models.CharField):
    """A keyed HMAC-SHA256 of another field's normalised value, for exact look-ups.

    Computed with the keyring's blind-index key (never an encryption key) in ``pre_save``.
    Look up with ``Model.objects.filter(<name>=blind_index(Model, "<name>", value))``.
    """

    description = _("Blind index")

    def __init__(
        self,
        *args: Any,
        source: str,
        normalizer: str = "text",
        context: str | None = None,
        **kwargs: Any,
    ) -> None:
        if normalizer not in NORMALIZERS:
            raise ValueError(f"unknown blind index normalizer {normalizer!r}")
        self.source = source
        self.normalizer = normalizer
        self.context = context
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("db_index", True)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["normalizer"] = self.normalizer
        if self.context is not None:
            kwargs["context"] = self.context
        for key, default in (
            ("max_length", 64),
            ("db_index", True),
            ("editable", False),
            ("null", True),
            ("blank", True),
        ):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        return name, path, args, kwargs

    def _domain(self) -> bytes:
        # Separates indexes of different fields: the same phone number in two tables does
        # not give the same index value.
        return (self.context or f"{self.model._meta.db_table}.{self.source}").encode("utf-8")

    def compute(self, value: Any) -> str | None:
        """The index value of a clear ``value``; None when empty after normalising."""
        if value is None:
            return None
        normalized = NORMALIZERS[self.normalizer](value)
        if normalized == "":
            return None
        message = self._domain() + b"\x00" + normalized.encode("utf-8")
        return hmac.new(get_keyring().blind_index_key(), message, hashlib.sha256).hexdigest()

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        source_field = model_instance._meta.get_field(self.source)
        raw = model_instance.__dict__.get(source_field.attname)  # type: ignore[union-attr]
        if isinstance(raw, Sealed) and raw.pk in (None, _pk_text(model_instance)):
            # The source is unchanged since it was loaded: so is its index. (Also keeps a
            # record whose data key was destroyed savable.)
            return getattr(model_instance, self.attname)
        value = self.compute(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


def blind_index(model: Any, field_name: str, value: Any) -> str:
    """The blind index of ``value`` for ``model.field_name``, for an exact look-up."""
    field = model._meta.get_field(field_name)
    if not isinstance(field, BlindIndexField):
        raise TypeError(f"{model._meta.label}.{field_name} is not a BlindIndexField")
    return field.compute(value) or ""
