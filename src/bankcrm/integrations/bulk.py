"""Loading many rows at once: PostgreSQL ``COPY`` and SQLite ``executemany``.

``bulk_insert`` writes unsaved model instances with one ``COPY … FROM STDIN`` on
PostgreSQL (psycopg's copy API) or one ``executemany`` of a single-row ``INSERT`` on other
databases, after running every field's ``pre_save`` exactly as ``Model.save()`` would: so
encrypted fields are sealed, blind indexes computed and timestamps set, and nothing is
written that a save would have refused to write. It never reads rows back, so auto-increment
keys stay unset on the instances (models with UUID keys have theirs before the insert).

``bulk_data_keys`` creates the per-customer data keys of many parties with one insert
instead of two queries per party.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, models, transaction

from bankcrm.core.crypto import envelope
from bankcrm.core.models import DataKey


def _insert_fields(model: type[models.Model]) -> list[models.Field]:
    return [
        field
        for field in model._meta.concrete_fields
        if not (field.primary_key and isinstance(field, models.AutoField | models.BigAutoField))
    ]


def bulk_insert(
    model: type[models.Model], objs: Sequence[models.Model], *, using: str = "default"
) -> int:
    """Insert ``objs`` (unsaved instances of ``model``) in one statement; the row count."""
    if not objs:
        return 0
    connection = connections[using]
    fields = _insert_fields(model)
    rows: list[list[Any]] = []
    for obj in objs:
        rows.append(
            [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]
        )
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(str(field.column)) for field in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(fields))
            # Table and column names come from the model's metadata, never from input.
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",  # noqa: S608  # nosec B608
                rows,
            )
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return len(rows)


def batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """``items`` in lists of at most ``size``."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk_data_keys(instances: Sequence[models.Model], *, using: str = "default") -> None:
    """Give each instance (with its pk set and no data key yet) its own data key.

    Each key is generated and wrapped under the keyring's current key-encryption key, then
    all are inserted at once. Their clear keys are cached for the values about to be sealed,
    under the record's key (``data_key``) and under its scope (rows that belong to the record
    and use its key, like a party's documents and contact points): without that, every such
    row would look its key up again. Call it inside :func:`keyed_batch`, which forgets the
    cached keys if the batch rolls back, so a key that was never stored is never used.
    """
    keys: list[DataKey] = []
    clear: list[tuple[uuid.UUID, str, bytes]] = []
    for instance in instances:
        if getattr(instance, "data_key_id", None) is not None:
            continue
        scope = envelope.record_scope(instance)
        dek, wrapped, version = envelope.wrap_new_data_key(scope)
        key = DataKey(id=uuid.uuid4(), scope=scope, wrapped_key=wrapped, kek_version=version)
        keys.append(key)
        instance.data_key_id = key.pk  # type: ignore[attr-defined]
        clear.append((key.pk, scope, dek))
    envelope.data_keys_prime(clear)
    bulk_insert(DataKey, keys, using=using)


@contextmanager
def keyed_batch(using: str = "default") -> Iterator[None]:
    """One transaction for a batch that creates data keys; on failure the keys it cached
    are forgotten with the transaction."""
    try:
        with transaction.atomic(using=using):
            yield
    except BaseException:
        envelope.clear_caches()
        raise
