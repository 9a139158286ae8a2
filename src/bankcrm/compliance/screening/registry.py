"""The screening index of the loaded watch lists, kept per process.

:func:`current_index` builds a :class:`~.index.ScreeningIndex` over every live entry of every
active list and keeps it in memory. Before answering it compares a cheap signature of the
database (the newest snapshot's id and the set of active lists) with the one it was built
from, so a list loaded by another process (a web worker, a Celery worker, a command) is
picked up by every process on its next screening.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from django.db.models import F, Max

from .index import ScreeningIndex
from .matcher import Candidate

_lock = threading.Lock()
_cache: dict[str, Any] = {"signature": None, "index": None}
_deltas: dict[int, ScreeningIndex] = {}


def candidate_of(entry: Any) -> Candidate:
    """The matcher's view of a list entry (a ListEntry or a mapping of its fields)."""
    get = entry.get if isinstance(entry, dict) else lambda name: getattr(entry, name)
    names = [item["name"] for item in (get("names") or []) if item.get("name")]
    primary = get("name")
    if primary and (not names or names[0] != primary):
        names = [primary, *(n for n in names if n != primary)]
    identifiers = tuple(
        str(item.get("number", "")) for item in (get("identifiers") or []) if item.get("number")
    )
    watch_list = get("list_code") if isinstance(entry, dict) else entry.watch_list.code
    return Candidate(
        key=int(entry["pk"] if isinstance(entry, dict) else entry.pk),
        list_code=watch_list or "",
        entry_id=str(get("entry_id")),
        schema=get("schema") or "unknown",
        names=tuple(names),
        birth_dates=tuple(get("birth_dates") or ()),
        countries=tuple(c.upper() for c in (get("countries") or ())),
        identifiers=identifiers,
        gender=get("gender") or "",
    )


def _signature() -> tuple[Any, ...]:
    from bankcrm.compliance.models import ListSnapshot, SanctionsList

    newest = ListSnapshot.objects.aggregate(newest=Max("pk"))["newest"]
    active = tuple(
        SanctionsList.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True)
    )
    return (newest, active)


def live_candidates() -> Iterator[Candidate]:
    """Candidates of every live entry of the active lists, read in batches."""
    from bankcrm.compliance.models import ListEntry

    rows = (
        ListEntry.objects.filter(watch_list__is_active=True, removed_in__isnull=True)
        .order_by("pk")
        .values(
            "pk",
            "entry_id",
            "schema",
            "name",
            "names",
            "birth_dates",
            "countries",
            "identifiers",
            "gender",
            list_code=F("watch_list__code"),
        )
    )
    for row in rows.iterator(chunk_size=5000):
        yield candidate_of(row)


def current_index() -> ScreeningIndex:
    """The index over the live entries of the active lists, rebuilt when a list changed."""
    signature = _signature()
    index = _cache["index"]
    if index is not None and _cache["signature"] == signature:
        return index
    with _lock:
        if _cache["index"] is not None and _cache["signature"] == signature:
            return _cache["index"]
        index = ScreeningIndex(live_candidates())
        _cache["index"] = index
        _cache["signature"] = signature
        return index


def delta_index(snapshot: Any) -> ScreeningIndex | None:
    """An index over only what ``snapshot`` added or changed (the entries a customer
    screened clear before the load could newly match); None when the snapshot did not
    record them."""
    from bankcrm.compliance.models import ListEntry

    keys = (snapshot.diff or {}).get("rescreen_entries")
    if keys is None:
        return None
    cached = _deltas.get(snapshot.pk)
    if cached is not None:
        return cached
    rows = (
        ListEntry.objects.filter(pk__in=keys, watch_list__is_active=True, removed_in__isnull=True)
        .order_by("pk")
        .values(
            "pk",
            "entry_id",
            "schema",
            "name",
            "names",
            "birth_dates",
            "countries",
            "identifiers",
            "gender",
            list_code=F("watch_list__code"),
        )
    )
    index = ScreeningIndex(candidate_of(row) for row in rows.iterator(chunk_size=5000))
    with _lock:
        if len(_deltas) >= 4:
            _deltas.pop(next(iter(_deltas)))
        _deltas[snapshot.pk] = index
    return index


def reset() -> None:
    """Forget the cached index (tests; a switched-off list is also noticed on its own)."""
    with _lock:
        _cache["index"] = None
        _cache["signature"] = None
        _deltas.clear()
