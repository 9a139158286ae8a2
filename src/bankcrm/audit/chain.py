"""The hash chain: a canonical encoding of an audit row and the hash that links it."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64

CHAINED_FIELDS = (
    "id",
    "occurred_at",
    "actor",
    "actor_user_id",
    "channel",
    "action",
    "object_type",
    "object_pk",
    "object_repr",
    "before",
    "after",
    "changed_secrets",
    "reason",
    "request_id",
    "ip",
)


# One encoder for every row: json.dumps would build a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _normalise(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds")
    return value


def canonical_bytes(fields: dict[str, Any]) -> bytes:
    """Sorted-key JSON of the chained fields: the same bytes for the same row, always."""
    data = {name: _normalise(fields.get(name)) for name in CHAINED_FIELDS}
    return _ENCODER.encode(data).encode()


def row_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(prev_hash.encode())
    digest.update(canonical_bytes(fields))
    return digest.hexdigest()
