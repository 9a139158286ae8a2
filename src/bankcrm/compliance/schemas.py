"""API schemas of compliance: risk ratings, KYC reviews, screening (check, hits, decisions),
monitoring scenarios, alerts and investigation cases.

Customers appear by key and display name only; identity documents never leave the module
through this API. Scores are decimals (written as strings). Every error is an RFC 9457
problem (see ``bankcrm.core.errors``); each operation's problems are declared in the OpenAPI
document.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from bankcrm.core.schemas import InSchema

MAX_TEXT = 4000
MAX_NARRATIVE = 20000


class PartyRef(Schema):
    id: uuid.UUID
    display_name: str


# --- Risk ratings ----------------------------------------------------------------------------


class RiskFactorOut(Schema):
    code: str
    label: str
    value: Any = None
    points: Decimal | None = None
    weight: Decimal | None = None
    contribution: Decimal | None = None


class RatingHistoryOut(Schema):
    rated_at: dt.datetime
    score: Decimal
    band: str
    trigger: str


class RiskRatingOut(Schema):
    party: PartyRef
    is_rated: bool
    risk_score: Decimal | None = None
    risk_band: str = ""
    factors: list[RiskFactorOut] = []
    policy: str | None = None
    rated_at: dt.datetime | None = None
    due_diligence: str = ""
    last_review_on: dt.date | None = None
    next_review_on: dt.date | None = None
    pep_status: str = ""
    edd_until: dt.date | None = None
    screening_status: str = ""
    history: list[RatingHistoryOut] = []


# --- Reviews ---------------------------------------------------------------------------------


class ChecklistItemOut(Schema):
    code: str
    label: str = ""
    required: bool = False
    done: bool = False
    note: str = ""
    by: str | None = None
    at: str | None = None


class ReviewOut(Schema):
    id: uuid.UUID
    party: PartyRef
    kind: str
    reason: str
    due_on: dt.date
    is_overdue: bool
    state: str
    risk_band_at_start: str
    assigned_to: str | None = None
    outcome: str
    completed_at: dt.datetime | None = None
    escalated_at: dt.datetime | None = None


class ReviewDetailOut(ReviewOut):
    checklist: list[ChecklistItemOut]
    conclusion: str
    transitions: list[str]


class ReviewFilter(Schema):
    overdue: bool | None = None
    due_before: dt.date | None = None
    party: uuid.UUID | None = None
    include_completed: bool = False
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class TransitionIn(InSchema):
    transition: str = Field(..., min_length=1, max_length=64)
    reason: str = Field("", max_length=MAX_TEXT)


class ChecklistItemIn(InSchema):
    code: str = Field(..., min_length=1, max_length=64)
    done: bool = True
    note: str = Field("", max_length=1000)


class ReviewCompleteIn(InSchema):
    outcome: Literal["confirmed", "changed", "exit"]
    conclusion: str = Field(..., min_length=1, max_length=MAX_NARRATIVE)


# --- Screening -------------------------------------------------------------------------------


class ScreeningCheckIn(InSchema):
    name: str = Field(..., min_length=1, max_length=300)
    birth_date: str = Field("", max_length=10, description="YYYY-MM-DD or YYYY")
    country: str = Field("", max_length=2, description="ISO 3166-1 alpha-2")
    schema_: Literal["", "person", "organisation"] = Field("", alias="schema")


class MatchOut(Schema):
    watch_list: str = Field(..., description="the list's code")
    entry_id: str = Field(..., description="the entry's number in its source")
    entry: int
    name: str
    kind: str = Field(..., description="person, organisation, vessel, aircraft or unknown")
    score: float
    is_alert: bool
    explanation: dict[str, Any]


class ListEntryOut(Schema):
    id: int
    watch_list: str = Field(..., description="the list's code")
    entry_id: str = Field(..., description="the entry's number in its source")
    kind: str = Field(..., description="person, organisation, vessel, aircraft or unknown")
    name: str
    names: list[dict[str, Any]]
    birth_dates: list[str]
    countries: list[str]
    identifiers: list[dict[str, Any]]
    gender: str
    programs: list[str]
    is_active: bool


class HitOut(Schema):
    id: int
    party: PartyRef | None = None
    subject_name: str
    entry: ListEntryOut
    score: Decimal
    origin: str
    status: str
    created_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_reason: str
    confirmed_by: str | None = None


class HitDetailOut(HitOut):
    explanation: dict[str, Any]
    approval: int | None = None


class HitFilter(Schema):
    status: str | None = None
    party: uuid.UUID | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class HitDecisionIn(InSchema):
    decision: Literal["false_positive", "true_match"]
    reason: str = Field(..., min_length=1, max_length=MAX_TEXT)


# --- Scenarios -------------------------------------------------------------------------------


class ScenarioOut(Schema):
    id: int
    code: str
    name: str
    name_zh: str
    description: str
    typology: str
    mode: str
    version: int
    is_active: bool


class ScenarioDetailOut(ScenarioOut):
    spec: dict[str, Any]


# --- Alerts and cases ------------------------------------------------------------------------


class AlertOut(Schema):
    id: int
    source: str
    party: PartyRef | None = None
    scenario: str | None = None
    hit: int | None = None
    score: Decimal
    title: str
    status: str
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    occurrences: int
    case: str | None = None
    assigned_to: str | None = None
    closed_at: dt.datetime | None = None
    close_reason: str


class AlertDetailOut(AlertOut):
    evidence: dict[str, Any]


class AlertFilter(Schema):
    status: str | None = Field(None, description="a status, or `open` for every open one")
    scenario: str | None = None
    source: Literal["monitoring", "screening"] | None = None
    party: uuid.UUID | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class ReasonIn(InSchema):
    reason: str = Field(..., min_length=1, max_length=MAX_TEXT)


class AssignIn(InSchema):
    assignee: int | None = Field(None, description="a user's id; empty: the caller")


class CaseNoteOut(Schema):
    at: dt.datetime
    author: str
    text: str


class CaseOut(Schema):
    id: uuid.UUID
    reference: str
    party: PartyRef
    title: str
    state: str
    priority: int
    decision: str
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    opened_by: str
    assigned_to: str | None = None
    created_at: dt.datetime


class CaseDetailOut(CaseOut):
    narrative: str
    alerts: list[AlertOut]
    notes: list[CaseNoteOut]
    transitions: list[str]
    flow_graph: dict[str, Any]


class CaseFilter(Schema):
    state: str | None = None
    party: uuid.UUID | None = None
    is_open: bool | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0)


class CaseOpenIn(InSchema):
    alerts: list[int] = Field(..., min_length=1, max_length=200)
    title: str = Field("", max_length=300)


class NoteIn(InSchema):
    text: str = Field(..., min_length=1, max_length=MAX_TEXT)


class CaseDecisionIn(InSchema):
    decision: Literal["no_suspicion", "reported", "exit"]
    narrative: str = Field(..., min_length=1, max_length=MAX_NARRATIVE)


class CaseDecisionOut(Schema):
    result: Literal["decided", "pending_approval"]
    approval: int | None = None
    case: CaseDetailOut
