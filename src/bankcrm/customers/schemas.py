"""API schemas of the customers module. Personal data is masked unless unmasked on request."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from bankcrm.core.schemas import InSchema

# --- Parties -----------------------------------------------------------------------------


class PersonIn(InSchema):
    family_name: str = Field("", max_length=100)
    given_name: str = Field("", max_length=100)
    native_name: str = Field("", max_length=100)
    native_name_pinyin: str = Field("", max_length=200)
    date_of_birth: dt.date | None = None
    gender: Literal["female", "male", "other", "unknown"] = "unknown"
    nationality: str = Field("", max_length=2)
    occupation: str = Field("", max_length=100)
    employer: str = Field("", max_length=200)
    income_band: str = ""


class OrganisationIn(InSchema):
    legal_name: str = Field(..., min_length=1, max_length=300)
    registration_number: str = Field("", max_length=64)
    uscc: str = Field("", max_length=40)
    industry: str = Field("", max_length=100)
    legal_form: str = ""
    incorporated_on: dt.date | None = None


class PartyIn(InSchema):
    """A new customer: ``person`` or ``organisation`` details according to ``kind``."""

    kind: Literal["person", "organisation"]
    display_name: str = Field("", max_length=300)
    segment: Literal["mass", "affluent", "private", "sme", "corporate"]
    status: Literal["prospect", "active", "dormant", "closed"] = "prospect"
    owning_unit: int
    portfolio: int | None = None
    customer_since: dt.date | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    person: PersonIn | None = None
    organisation: OrganisationIn | None = None


class PartyPatch(InSchema):
    """Fields to change; profile fields (person or organisation) are given flat."""

    display_name: str | None = Field(None, max_length=300)
    segment: Literal["mass", "affluent", "private", "sme", "corporate"] | None = None
    status: Literal["prospect", "active", "dormant", "closed"] | None = None
    owning_unit: int | None = None
    portfolio: int | None = None
    customer_since: dt.date | None = None
    custom_fields: dict[str, Any] | None = None
    family_name: str | None = None
    given_name: str | None = None
    native_name: str | None = None
    native_name_pinyin: str | None = None
    date_of_birth: dt.date | None = None
    gender: Literal["female", "male", "other", "unknown"] | None = None
    nationality: str | None = None
    occupation: str | None = None
    employer: str | None = None
    income_band: str | None = None
    legal_name: str | None = None
    registration_number: str | None = None
    uscc: str | None = None
    industry: str | None = None
    legal_form: str | None = None
    incorporated_on: dt.date | None = None


class PersonOut(Schema):
    family_name: str
    given_name: str
    native_name: str
    native_name_pinyin: str
    date_of_birth: str
    birth_year: int | None
    gender: str
    nationality: str
    occupation: str
    employer: str
    income_band: str


class OrganisationOut(Schema):
    legal_name: str
    registration_number: str
    uscc: str
    industry: str
    legal_form: str
    incorporated_on: dt.date | None


class PartyOut(Schema):
    id: uuid.UUID
    kind: str
    display_name: str
    status: str
    segment: str
    owning_unit: int
    owning_unit_name: str
    portfolio: int | None
    relationship_manager: str | None
    household: int | None
    customer_since: dt.date | None
    last_contacted_at: dt.datetime | None
    custom_fields: dict[str, Any]
    person: PersonOut | None = None
    organisation: OrganisationOut | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class PartyPageOut(Schema):
    items: list[PartyOut]
    next_cursor: str | None


# --- Identifiers and contact points ------------------------------------------------------


class IdentifierIn(InSchema):
    type: Literal["cn_resident_id", "passport", "tax_id", "business_licence", "other"]
    number: str = Field(..., min_length=1, max_length=64)
    issuing_country: str = Field("CN", min_length=2, max_length=2)
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None
    is_primary: bool = False


class IdentifierPatch(InSchema):
    number: str | None = Field(None, min_length=1, max_length=64)
    issuing_country: str | None = Field(None, min_length=2, max_length=2)
    issued_on: dt.date | None = None
    expires_on: dt.date | None = None
    is_primary: bool | None = None


class IdentifierOut(Schema):
    id: uuid.UUID
    party: uuid.UUID
    type: str
    number: str
    is_masked: bool
    issuing_country: str
    issued_on: dt.date | None
    expires_on: dt.date | None
    is_primary: bool


class AddressIn(InSchema):
    lines: list[str] = Field(default_factory=list)
    city: str = ""
    province: str = ""
    postcode: str = ""
    country: str = "CN"


class ContactPointIn(InSchema):
    kind: Literal["phone", "email", "address"]
    value: str | None = Field(None, max_length=254)
    address: AddressIn | None = None
    purpose: str = Field("", max_length=50)
    is_primary: bool = False
    is_verified: bool = False


class ContactPointPatch(InSchema):
    value: str | None = Field(None, max_length=254)
    address: AddressIn | None = None
    purpose: str | None = Field(None, max_length=50)
    is_primary: bool | None = None
    is_verified: bool | None = None


class ContactPointOut(Schema):
    id: uuid.UUID
    party: uuid.UUID
    kind: str
    value: str | None
    address: dict[str, Any] | None
    is_masked: bool
    purpose: str
    is_primary: bool
    is_verified: bool


# --- Relationships, interactions, tasks --------------------------------------------------

RelationshipType = Literal[
    "spouse",
    "parent",
    "child",
    "household_member",
    "employer",
    "employee",
    "guarantor",
    "beneficial_owner",
    "authorised_signatory",
    "director",
]


class RelationshipIn(InSchema):
    party_to: uuid.UUID
    type: RelationshipType
    ownership_pct: Decimal | None = Field(None, ge=0, le=100, decimal_places=2)
    start_on: dt.date | None = None
    end_on: dt.date | None = None


class RelationshipPatch(InSchema):
    ownership_pct: Decimal | None = Field(None, ge=0, le=100, decimal_places=2)
    start_on: dt.date | None = None
    end_on: dt.date | None = None


class RelationshipOut(Schema):
    id: int
    party_from: uuid.UUID
    party_to: uuid.UUID
    type: str
    ownership_pct: Decimal | None
    start_on: dt.date | None
    end_on: dt.date | None


class InteractionIn(InSchema):
    kind: Literal["call", "meeting", "email", "branch_visit", "chat", "note"]
    subject: str = Field(..., min_length=1, max_length=200)
    body: str = Field("", max_length=20000)
    direction: Literal["inbound", "outbound", "internal"] = "outbound"
    channel: str = ""
    occurred_at: dt.datetime | None = None
    outcome: str = Field("", max_length=200)
    follow_up_on: dt.date | None = None


class InteractionPatch(InSchema):
    kind: Literal["call", "meeting", "email", "branch_visit", "chat", "note"] | None = None
    subject: str | None = Field(None, min_length=1, max_length=200)
    body: str | None = Field(None, max_length=20000)
    direction: Literal["inbound", "outbound", "internal"] | None = None
    channel: str | None = None
    outcome: str | None = Field(None, max_length=200)
    follow_up_on: dt.date | None = None


class InteractionOut(Schema):
    id: uuid.UUID
    party: uuid.UUID
    kind: str
    direction: str
    channel: str
    staff: str | None
    occurred_at: dt.datetime
    subject: str
    body: str
    is_masked: bool
    outcome: str
    follow_up_on: dt.date | None


class TaskIn(InSchema):
    title: str = Field(..., min_length=1, max_length=200)
    party: uuid.UUID | None = None
    owner: int | None = None
    due_on: dt.date | None = None
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    description: str = Field("", max_length=5000)


class TaskPatch(InSchema):
    title: str | None = Field(None, min_length=1, max_length=200)
    owner: int | None = None
    due_on: dt.date | None = None
    priority: Literal["low", "normal", "high", "urgent"] | None = None
    description: str | None = Field(None, max_length=5000)


class TaskOut(Schema):
    id: int
    party: uuid.UUID | None
    title: str
    description: str
    due_on: dt.date | None
    owner: int
    owner_name: str
    status: str
    priority: str
    completed_at: dt.datetime | None


# --- Customer 360 ------------------------------------------------------------------------


class HoldingOut(Schema):
    account: uuid.UUID
    number: str
    product_code: str
    product_name: str
    category: str
    role: str
    currency: str
    balance: Decimal
    available_balance: Decimal
    balance_as_of: dt.date | None
    balance_base: Decimal | None
    status: str


class ProductHoldingOut(Schema):
    product_code: str
    product_name: str
    category: str
    accounts: int
    balances: dict[str, Decimal]
    balance_base: Decimal


class HouseholdMemberOut(Schema):
    party: uuid.UUID
    display_name: str
    assets_base: Decimal
    liabilities_base: Decimal


class HouseholdOut(Schema):
    id: int
    name: str
    members: list[HouseholdMemberOut]
    assets_base: Decimal
    liabilities_base: Decimal


class TransactionBriefOut(Schema):
    id: int
    account: uuid.UUID
    booking_date: dt.date
    amount: Decimal
    currency: str
    direction: str
    kind: str
    description: str
    counterparty_name: str


class MonthlyFlowOut(Schema):
    month: dt.date
    inflow: Decimal
    outflow: Decimal
    count: int


class InteractionBriefOut(Schema):
    id: uuid.UUID
    kind: str
    direction: str
    staff: str | None
    occurred_at: dt.datetime
    subject: str
    outcome: str
    follow_up_on: dt.date | None


class RelationshipBriefOut(Schema):
    id: int
    type: str
    outgoing: bool
    other_party: uuid.UUID | None
    other_name: str
    ownership_pct: Decimal | None
    is_current: bool


class Customer360Out(Schema):
    party: PartyOut
    primary_contacts: dict[str, str]
    base_currency: str
    holdings: list[HoldingOut]
    holdings_by_product: list[ProductHoldingOut]
    total_assets_base: Decimal
    total_liabilities_base: Decimal
    missing_rates: list[str]
    household: HouseholdOut | None
    recent_transactions: list[TransactionBriefOut]
    transactions_next_cursor: str | None
    monthly_flows: list[MonthlyFlowOut]
    recent_interactions: list[InteractionBriefOut]
    open_tasks: list[TaskOut]
    relationships: list[RelationshipBriefOut]
