"""API schemas of customer service cases: cases, their conversation and links, queues and
SLA clocks.

Customers appear by key and display name; a case's contact details and the addresses of
its messages are masked unless the caller unmasks them with a reason (an audited event).
Other parts of the module keep their schemas in their own ``api_*.py`` or ``schemas_*.py``.
Every error is an RFC 9457 problem (``bankcrm.core.errors``), declared in the OpenAPI
document for each operation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from bankcrm.core.schemas import InSchema

MAX_TEXT = 20000

ChannelCode = Literal["phone", "email", "branch", "web_form", "chat", "mobile_app", "social"]
LinkKind = Literal["account", "loan", "loan_application", "transaction"]


# --- References ----------------------------------------------------------------------------


class PartyRef(Schema):
    id: uuid.UUID
    display_name: str


class UserRef(Schema):
    id: int
    name: str


class QueueRef(Schema):
    code: str
    name: str


# --- SLA -----------------------------------------------------------------------------------


class SlaClockOut(Schema):
    """One SLA clock: its target and where the case stands against it (business minutes)."""

    kind: str
    target_minutes: int | None = None
    elapsed_minutes: int | None = None
    remaining_minutes: int | None = None
    due_at: dt.datetime | None = None
    percent: int | None = None
    state: str = Field(..., description="none, running, warning, breached, met, missed or paused")


class SlaOut(Schema):
    first_response: SlaClockOut
    resolution: SlaClockOut


# --- Cases ---------------------------------------------------------------------------------


class CaseLinkOut(Schema):
    id: int
    kind: str
    object_pk: str
    label: str
    linked_at: dt.datetime


class CaseOut(Schema):
    """A case as lists show it (no personal data)."""

    id: uuid.UUID
    reference: str
    case_type: str
    case_type_name: str
    channel: str
    priority: int
    subject: str
    state: str
    is_open: bool
    party: PartyRef | None = None
    queue: QueueRef
    assigned_to: UserRef | None = None
    language: str
    segment: str
    received_at: dt.datetime
    first_response_due_at: dt.datetime | None = None
    resolution_due_at: dt.datetime | None = None
    first_responded_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    merged_into: str | None = Field(None, description="reference of the case merged into")


class CaseDetailOut(CaseOut):
    """One case with its description, contact details (masked unless unmasked), links,
    the steps open to the caller and its SLA clocks."""

    description: str
    contact_name: str
    contact_email: str
    contact_phone: str
    is_masked: bool
    resolution_note: str
    reopened_count: int
    opened_by: str | None = None
    org_unit: str
    links: list[CaseLinkOut]
    transitions: list[str]
    sla: SlaOut | None = None


class CasePageOut(Schema):
    """A keyset page: pass ``next_cursor`` as ``cursor`` for the next page (null: last)."""

    items: list[CaseOut]
    next_cursor: str | None = None


class CaseFilter(Schema):
    queue: str | None = Field(None, description="queue code")
    state: str | None = None
    assigned_to: str | None = Field(None, description="“me”, “none” or a user's id")
    case_type: str | None = Field(None, description="case type code")
    channel: ChannelCode | None = None
    priority: int | None = Field(None, ge=1, le=4)
    is_open: bool | None = None
    breached: bool | None = None
    party: uuid.UUID | None = None
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    q: str | None = Field(None, max_length=200)
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class CaseSearchFilter(Schema):
    q: str = Field(..., min_length=1, max_length=200)
    limit: int = Field(25, ge=1, le=100)


class Unmask(Schema):
    """Show the contact details in clear (a role that may unmask, and a reason)."""

    unmask: bool = False
    reason: str = Field("", max_length=500)


class ComplaintIn(InSchema):
    category: str = Field(..., min_length=1, max_length=32)
    product: str = Field(..., min_length=1, max_length=32)
    received_on: dt.date | None = None
    root_cause: str | None = Field(None, max_length=32)


class CaseLinkIn(InSchema):
    kind: LinkKind
    object_pk: str = Field(..., min_length=1, max_length=64)


class CaseCreateIn(InSchema):
    case_type: str = Field(..., min_length=1, max_length=32)
    channel: ChannelCode
    subject: str = Field(..., max_length=300)
    description: str = Field("", max_length=MAX_TEXT)
    party: uuid.UUID | None = None
    priority: int | None = Field(None, ge=1, le=4)
    queue: str | None = Field(None, max_length=32)
    contact_name: str = Field("", max_length=200)
    contact_email: str = Field("", max_length=254)
    contact_phone: str = Field("", max_length=32)
    language: str | None = Field(None, max_length=8)
    received_at: dt.datetime | None = None
    assigned_to: int | None = None
    complaint: ComplaintIn | None = None
    links: list[CaseLinkIn] = Field(default_factory=list, max_length=20)


class CaseUpdateIn(InSchema):
    """Only the fields sent change."""

    priority: int | None = Field(None, ge=1, le=4)
    subject: str | None = Field(None, max_length=300)
    queue: str | None = Field(None, max_length=32)
    description: str | None = Field(None, max_length=MAX_TEXT)


class CaseTransitionIn(InSchema):
    transition: str = Field(..., min_length=1, max_length=64)
    reason: str = Field("", max_length=MAX_TEXT)


class CaseAssignIn(InSchema):
    """``take: true`` takes the case for the caller; else ``assignee`` (null: nobody)."""

    assignee: int | None = None
    take: bool = False


class CaseMergeIn(InSchema):
    into: uuid.UUID = Field(..., description="the case that stays")
    reason: str = Field(..., max_length=2000)


class CasePartyIn(InSchema):
    party: uuid.UUID


# --- Messages ------------------------------------------------------------------------------


class MessageOut(Schema):
    id: uuid.UUID
    direction: str
    channel: str
    author: str | None = None
    from_address: str
    to_address: str
    subject: str
    body: str
    status: str
    sent_at: dt.datetime | None = None
    created_at: dt.datetime
    attachments: list[dict[str, Any]]
    template_code: str
    is_masked: bool


class NoteIn(InSchema):
    text: str = Field(..., max_length=MAX_TEXT)


class ReplyIn(InSchema):
    body: str = Field(..., min_length=1, max_length=MAX_TEXT)
    subject: str | None = Field(None, max_length=300)
    template_code: str = Field("", max_length=64)
    to: str | None = Field(None, max_length=254)


# --- Queues --------------------------------------------------------------------------------


class QueueOut(Schema):
    code: str
    name: str
    name_zh: str
    org_unit: str
    supervisor: UserRef | None = None
    assignment: str
    email_address: str
    is_member: bool


class QueueCasesFilter(Schema):
    mine_only: bool = False
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)
