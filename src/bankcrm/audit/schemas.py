"""API schemas of the audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import ConfigDict

from .selectors import MAX_PAGE_SIZE, PAGE_SIZE, AuditEventFilters


class AuditEventFilter(Schema):
    """Query parameters narrowing the trail (all optional); dates in the caller's zone."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(
        "", max_length=150, description="Actor name, exact (user name or system:<job>)."
    )
    action: str = Field(
        "", max_length=80, description="Action prefix: `customer.` matches every customer action."
    )
    object_type: str = Field("", max_length=80, description="Model label, e.g. `access.user`.")
    object_pk: str = Field("", max_length=64, description="Primary key of the object.")
    request_id: str = Field("", max_length=64)
    date_from: dt.date | None = Field(None, description="First day, inclusive.")
    date_to: dt.date | None = Field(None, description="Last day, inclusive.")
    q: str = Field("", max_length=200, description="Text contained in the object's description.")
    before: int | None = Field(None, ge=1, description="Cursor: only events with a smaller id.")
    limit: int = Field(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    def filters(self) -> AuditEventFilters:
        return AuditEventFilters(
            actor=self.actor.strip(),
            action=self.action.strip(),
            object_type=self.object_type.strip(),
            object_pk=self.object_pk.strip(),
            request_id=self.request_id.strip(),
            date_from=self.date_from,
            date_to=self.date_to,
            q=self.q.strip(),
        )


class AuditEventOut(Schema):
    """One event of the hash-chained audit trail."""

    id: int
    occurred_at: dt.datetime
    actor: str
    actor_user_id: int | None
    channel: str
    action: str
    object_type: str
    object_pk: str
    object_repr: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed_secrets: list[str]
    reason: str
    request_id: str
    ip: str
    prev_hash: str
    row_hash: str


class AuditEventPageOut(Schema):
    """A page of events, newest first; pass ``next_before`` as ``before`` for the next one."""

    items: list[AuditEventOut]
    next_before: int | None
