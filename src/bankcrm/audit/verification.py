"""Checking the hash chain: stream every event in chain order and recompute its hash.

The check reads the table in keyset chunks (``id > last ORDER BY id LIMIT n``), so its
memory use does not grow with the trail. It stops at the first bad event and says why:

- ``deleted``: an id is missing, events were removed from the end (the chain head records
  more events than the table holds), or events were deleted and the later ones renumbered;
- ``edited``: an event's contents no longer match its hash, or its hash was recomputed so
  the next event no longer links to it;
- ``reordered``: an event links to an event stored after it;
- ``inserted``: events exist beyond the chain head (written outside bankcrm);
- ``head``: the chain head is missing or does not match the last event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from .chain import CHAINED_FIELDS, GENESIS_HASH, row_hash
from .guard import append_only_guard_installed
from .models import AuditChainHead, AuditEvent

DELETED = "deleted"
EDITED = "edited"
REORDERED = "reordered"
INSERTED = "inserted"
HEAD = "head"

# Renumbering after a deletion shifts ids by the number of rows removed; the check tries
# this many shifts before calling a broken link an edit.
_MAX_RENUMBER_SHIFT = 16

_VALUES = (*CHAINED_FIELDS, "prev_hash", "row_hash")
_FIELD_COUNT = len(CHAINED_FIELDS)


@dataclass(frozen=True)
class ChainBreak:
    """The first bad event: its id, what was done to it, and a sentence for the auditor."""

    event_id: int
    problem: str
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """Outcome of one check of the chain."""

    checked: int
    first_id: int
    last_id: int
    first_break: ChainBreak | None = None
    guard_installed: bool = True

    @property
    def is_intact(self) -> bool:
        return self.first_break is None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "intact": self.is_intact,
            "checked": self.checked,
            "first_id": self.first_id,
            "last_id": self.last_id,
            "guard_installed": self.guard_installed,
        }
        if self.first_break is not None:
            data["first_bad_event"] = self.first_break.event_id
            data["problem"] = self.first_break.problem
            data["detail"] = self.first_break.detail
        return data


def _stream(from_id: int, chunk_size: int) -> Iterator[tuple[Any, ...]]:
    last = from_id - 1
    while True:
        chunk = list(
            AuditEvent.objects.filter(pk__gt=last).order_by("pk").values_list(*_VALUES)[:chunk_size]
        )
        yield from chunk
        if len(chunk) < chunk_size:
            return
        last = chunk[-1][0]


def _event_linking_to(prev_hash: str) -> int | None:
    return AuditEvent.objects.filter(row_hash=prev_hash).values_list("pk", flat=True).first()


def _diagnose(
    fields: dict[str, Any], prev_hash: str, stored_hash: str, expected_prev: str
) -> ChainBreak:
    """Name what happened to the event at ``fields["id"]``, whose hash or link is wrong."""
    event_id = fields["id"]
    self_consistent = row_hash(prev_hash, fields) == stored_hash
    if prev_hash == expected_prev:
        return ChainBreak(
            event_id,
            EDITED,
            _("Event #%(id)s was edited: its contents no longer match its hash.")
            % {"id": event_id},
        )
    linked = _event_linking_to(prev_hash)
    if linked is not None:
        return ChainBreak(
            event_id,
            REORDERED,
            _(
                "Event #%(id)s is out of order: it was written right after event #%(linked)s, "
                "which is now stored at another position."
            )
            % {"id": event_id, "linked": linked},
        )
    if self_consistent:
        if event_id == 1:
            return ChainBreak(
                1,
                DELETED,
                _(
                    "Event #1 does not start the chain: earlier events were deleted and "
                    "the rest renumbered."
                ),
            )
        return ChainBreak(
            event_id - 1,
            EDITED,
            _(
                "Event #%(id)s was rewritten and its hash recomputed: event #%(next)s no "
                "longer links to it."
            )
            % {"id": event_id - 1, "next": event_id},
        )
    for shift in range(1, _MAX_RENUMBER_SHIFT + 1):
        if row_hash(prev_hash, {**fields, "id": event_id + shift}) == stored_hash:
            return ChainBreak(
                event_id,
                DELETED,
                _(
                    "Event #%(id)s was event #%(original)s: %(count)s event(s) before it "
                    "were deleted and the later ones renumbered."
                )
                % {"id": event_id, "original": event_id + shift, "count": shift},
            )
    return ChainBreak(
        event_id,
        EDITED,
        _(
            "Event #%(id)s was edited: its contents and its link to event #%(previous)s "
            "no longer match."
        )
        % {"id": event_id, "previous": event_id - 1},
    )


def _read_head() -> tuple[int, str] | None:
    return AuditChainHead.objects.filter(pk=1).values_list("last_event_id", "last_hash").first()


def _check_head(
    head: tuple[int, str] | None, last_id: int, last_hash: str, hash_at_head: str | None
) -> ChainBreak | None:
    if head is None:
        if last_id == 0:
            return None
        return ChainBreak(
            last_id,
            HEAD,
            _("The chain head is missing although the trail holds events up to #%(id)s.")
            % {"id": last_id},
        )
    head_id, head_hash = head
    if head_id > last_id:
        return ChainBreak(
            last_id + 1,
            DELETED,
            _(
                "Events #%(first)s to #%(last)s are missing: they were deleted from the end "
                "of the trail."
            )
            % {"first": last_id + 1, "last": head_id},
        )
    if head_id < last_id:
        # Appends that committed while the check ran move the head on; re-read it once.
        current = _read_head()
        if current is not None and current[0] >= last_id:
            if current[0] == last_id and current[1] != last_hash:
                return ChainBreak(
                    last_id,
                    HEAD,
                    _("The chain head does not match event #%(id)s.") % {"id": last_id},
                )
            return None
        return ChainBreak(
            head_id + 1,
            INSERTED,
            _("Event #%(id)s was added outside bankcrm: the chain head ends at event #%(head)s.")
            % {"id": head_id + 1, "head": head_id},
        )
    if hash_at_head != head_hash:
        return ChainBreak(
            last_id,
            HEAD,
            _("The chain head does not match event #%(id)s.") % {"id": last_id},
        )
    return None


def verify_chain(*, from_id: int = 1, chunk_size: int = 5000) -> ChainReport:
    """Recompute the chain from ``from_id`` (trusting the stored hash of the event before it).

    Reads in constant memory and stops at the first bad event.
    """
    if from_id < 1:
        raise ValueError("from_id starts at 1")
    guard = append_only_guard_installed(connection)
    # Read the head first: events appended while the check runs are then recognised.
    head = _read_head()
    expected_prev = GENESIS_HASH
    if from_id > 1:
        previous = (
            AuditEvent.objects.filter(pk=from_id - 1).values_list("row_hash", flat=True).first()
        )
        if previous is None:
            return ChainReport(
                0,
                from_id,
                from_id - 1,
                ChainBreak(
                    from_id - 1,
                    DELETED,
                    _("Event #%(id)s, where the check starts from, is missing.")
                    % {"id": from_id - 1},
                ),
                guard,
            )
        expected_prev = previous
    expected_id = from_id
    checked = 0
    head_id = head[0] if head is not None else None
    hash_at_head: str | None = expected_prev if head_id == from_id - 1 else None
    for row in _stream(from_id, chunk_size):
        fields = dict(zip(CHAINED_FIELDS, row[:_FIELD_COUNT], strict=True))
        prev_hash, stored_hash = row[_FIELD_COUNT], row[_FIELD_COUNT + 1]
        event_id = fields["id"]
        if event_id != expected_id:
            if expected_id == 1:
                detail = _("Event #1 is missing: the trail starts at event #%(next)s.") % {
                    "next": event_id
                }
            else:
                detail = _(
                    "Event #%(id)s is missing: the trail jumps from event #%(previous)s "
                    "to event #%(next)s."
                ) % {"id": expected_id, "previous": expected_id - 1, "next": event_id}
            return ChainReport(
                checked, from_id, expected_id - 1, ChainBreak(expected_id, DELETED, detail), guard
            )
        if prev_hash != expected_prev or row_hash(prev_hash, fields) != stored_hash:
            bad = _diagnose(fields, prev_hash, stored_hash, expected_prev)
            return ChainReport(checked, from_id, expected_id - 1, bad, guard)
        expected_prev = stored_hash
        if event_id == head_id:
            hash_at_head = stored_hash
        expected_id += 1
        checked += 1
    last_id = expected_id - 1
    problem = _check_head(head, last_id, expected_prev, hash_at_head)
    return ChainReport(checked, from_id, last_id, problem, guard)
