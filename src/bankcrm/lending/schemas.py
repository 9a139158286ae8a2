"""API schemas of lending: products, reference rates, applications and their parts, and the
schedule calculator.

Personal data is masked: an applicant or party appears by display name only, a settlement
account by its last four digits, the analyst's notes masked unless unmasked with a reason.
Amounts and rates are decimals (JSON numbers read exactly; written as strings).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from bankcrm.core.schemas import InSchema

# --- Products and reference rates ------------------------------------------------------------


class RequiredDocumentOut(Schema):
    code: str
    name: str
    name_zh: str = ""
    expires_after_days: int | None = None


class AuthorityTierOut(Schema):
    up_to: Decimal | None
    roles: list[str]
    approvers: int


class PolicyRuleOut(Schema):
    code: str
    name: str
    fact: str
    op: str
    value: Any
    outcome: str
    when_unknown: str


class ProductIn(InSchema):
    """A new loan product. JSON lists are checked item by item (``authority_limits.1.roles``).

    ``required_documents``: ``[{"code", "name", "name_zh"?, "expires_after_days"?}]``;
    ``authority_limits``: ``[{"up_to": "100000" | null, "roles": [role codes],
    "approvers": 1 | 2}]`` smallest first, the last without upper amount;
    ``policy_rules``: ``[{"code", "name", "fact", "op", "value", "outcome": "decline" |
    "refer", "when_unknown": "decline" | "refer" | "ignore"}]``.
    """

    code: str
    name: str
    name_zh: str | None = None
    type: str
    currency: str | None = None
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    rate_type: str | None = None
    nominal_rate: Decimal | None = None
    reference_rate_code: str | None = None
    margin: Decimal | None = None
    upfront_fee_percent: Decimal | None = None
    upfront_fee_amount: Decimal | None = None
    period_fee: Decimal | None = None
    frequency: str | None = None
    method: str | None = None
    day_count: str | None = None
    grace_periods: int | None = None
    required_documents: list[Any] | None = None
    collateral_cover_percent: Decimal | None = None
    authority_limits: list[Any]
    policy_rules: list[Any] | None = None
    offer_valid_days: int | None = None
    is_active: bool | None = None


class ProductPatch(InSchema):
    """Fields of a loan product to change (only those sent)."""

    code: str | None = None
    name: str | None = None
    name_zh: str | None = None
    type: str | None = None
    currency: str | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    min_term_months: int | None = None
    max_term_months: int | None = None
    rate_type: str | None = None
    nominal_rate: Decimal | None = None
    reference_rate_code: str | None = None
    margin: Decimal | None = None
    upfront_fee_percent: Decimal | None = None
    upfront_fee_amount: Decimal | None = None
    period_fee: Decimal | None = None
    frequency: str | None = None
    method: str | None = None
    day_count: str | None = None
    grace_periods: int | None = None
    required_documents: list[Any] | None = None
    collateral_cover_percent: Decimal | None = None
    authority_limits: list[Any] | None = None
    policy_rules: list[Any] | None = None
    offer_valid_days: int | None = None
    is_active: bool | None = None


class ProductOut(Schema):
    id: int
    code: str
    name: str
    name_zh: str
    type: str
    currency: str
    min_amount: Decimal
    max_amount: Decimal
    min_term_months: int
    max_term_months: int
    rate_type: str
    nominal_rate: Decimal
    reference_rate_code: str
    margin: Decimal
    current_rate: Decimal | None
    current_rate_problem: str
    upfront_fee_percent: Decimal
    upfront_fee_amount: Decimal
    period_fee: Decimal
    frequency: str
    method: str
    day_count: str
    grace_periods: int
    required_documents: list[RequiredDocumentOut]
    collateral_cover_percent: Decimal
    authority_limits: list[AuthorityTierOut]
    policy_rules: list[PolicyRuleOut]
    offer_valid_days: int
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class ReferenceRateIn(InSchema):
    code: str
    name: str
    effective_from: dt.date
    rate: Decimal


class ReferenceRateOut(Schema):
    id: int
    code: str
    name: str
    effective_from: dt.date
    rate: Decimal


# --- Applications -----------------------------------------------------------------------------


class ApplicationIn(InSchema):
    """A new application; the product by key or code, the applicant and the settlement
    account by key. The branch defaults to the applicant's, the officer to the caller."""

    product: int | str
    applicant: uuid.UUID
    amount: Decimal
    term_months: int
    purpose: str = ""
    monthly_income: Decimal = Decimal(0)
    monthly_obligations: Decimal = Decimal(0)
    monthly_expenses: Decimal = Decimal(0)
    settlement_account: uuid.UUID | None = None
    officer: int | None = None
    branch: int | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class ApplicationPatch(InSchema):
    """Fields to change while the application is in draft … underwriting."""

    amount: Decimal | None = None
    term_months: int | None = None
    purpose: str | None = None
    monthly_income: Decimal | None = None
    monthly_obligations: Decimal | None = None
    monthly_expenses: Decimal | None = None
    settlement_account: uuid.UUID | None = None
    officer: int | None = None
    branch: int | None = None
    custom_fields: dict[str, Any] | None = None


class PartyOnApplicationOut(Schema):
    id: int
    party: uuid.UUID
    party_name: str
    role: str
    monthly_income: Decimal
    guaranteed_amount: Decimal | None


class PartyOnApplicationIn(InSchema):
    party: uuid.UUID
    role: Literal["co_applicant", "guarantor"]
    monthly_income: Decimal = Decimal(0)
    guaranteed_amount: Decimal | None = None


class CollateralIn(InSchema):
    type: str
    description: str
    value: Decimal
    currency: str | None = None
    valuation_date: dt.date
    valuer: str = ""
    haircut_percent: Decimal = Decimal(0)


class CollateralPatch(InSchema):
    type: str | None = None
    description: str | None = None
    value: Decimal | None = None
    valuation_date: dt.date | None = None
    valuer: str | None = None
    haircut_percent: Decimal | None = None


class CollateralOut(Schema):
    id: int
    type: str
    description: str
    value: Decimal
    currency: str
    valuation_date: dt.date
    valuer: str
    haircut_percent: Decimal
    counted_value: Decimal


class DocumentIn(InSchema):
    code: str
    name: str
    is_required: bool = False


class DocumentVerifyIn(InSchema):
    expires_on: dt.date | None = None


class ReasonIn(InSchema):
    reason: str


class DocumentOut(Schema):
    id: uuid.UUID
    code: str
    name: str
    is_required: bool
    status: str
    is_valid: bool
    file_name: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime | None
    uploaded_by: str | None
    verified_at: dt.datetime | None
    verified_by: str | None
    expires_on: dt.date | None
    note: str


class TransitionAvailableOut(Schema):
    code: str
    name: str
    blocked: str | None


class ApplicationOut(Schema):
    id: uuid.UUID
    reference: str
    product: int
    product_code: str
    product_name: str
    applicant: uuid.UUID
    applicant_name: str
    branch: int
    branch_name: str
    officer: int | None
    officer_name: str | None
    purpose: str
    amount: Decimal
    currency: str
    term_months: int
    monthly_income: Decimal
    monthly_obligations: Decimal
    monthly_expenses: Decimal
    settlement_account: uuid.UUID | None
    settlement_account_number: str | None
    state: str
    state_entered_at: dt.datetime | None
    state_due_at: dt.datetime | None
    submitted_by: str | None
    submitted_at: dt.datetime | None
    decision: str
    decision_reason: str
    decided_by: str | None
    decided_at: dt.datetime | None
    # The credit model's recommendation at the decision, and whether the decision overrode it.
    model_recommendation: str = ""
    model_overridden: bool = False
    override_reason: str = ""
    approved_amount: Decimal | None
    approved_term_months: int | None
    approved_rate: Decimal | None
    offer_apr: Decimal | None
    offer_expires_on: dt.date | None
    underwritten_at: dt.datetime | None
    custom_fields: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class ApplicationDetailOut(ApplicationOut):
    """One application with its checklist, parties, collateral, underwriting result, the
    steps the caller may take and the analyst's notes (masked unless unmasked)."""

    underwriting: dict[str, Any]
    credit_score_message: str
    analyst_notes: str
    analyst_notes_masked: bool
    documents: list[DocumentOut]
    parties: list[PartyOnApplicationOut]
    collateral: list[CollateralOut]
    transitions: list[TransitionAvailableOut]
    pending_approval: int | None


class ApplicationPageOut(Schema):
    items: list[ApplicationOut]
    next_cursor: str | None


class TransitionIn(InSchema):
    """A workflow step. ``options``: for approve/decline/refer ``amount``, ``term_months``,
    ``rate``; for disburse ``disbursed_on``, ``first_due`` (ISO dates)."""

    transition: str
    reason: str = ""
    options: dict[str, Any] = Field(default_factory=dict)


class DecisionIn(InSchema):
    """A decision with its reason. ``override_reason`` is required when the decision goes
    against the credit model's recommendation (approving what it recommends declining,
    declining what it recommends approving)."""

    decision: Literal["approved", "declined", "referred"]
    reason: str
    amount: Decimal | None = None
    term_months: int | None = None
    rate: Decimal | None = None
    override_reason: str = ""


class StepResultOut(Schema):
    """What a step did: ``done`` (the application moved), ``pending_approval`` (an approval
    waits for a second approver: ``approval``) or ``disbursed`` (the loan: ``loan``)."""

    result: Literal["done", "pending_approval", "disbursed"]
    application: ApplicationOut
    approval: int | None = None
    loan: uuid.UUID | None = None
    loan_reference: str | None = None


class NotesIn(InSchema):
    notes: str


# --- Schedule calculator ----------------------------------------------------------------------


class ScheduleIn(InSchema):
    """A repayment schedule to compute. Give ``months`` (the term; converted to periods by
    the frequency) or ``periods`` (the number of instalments). With ``product`` (key or
    code) the method, day count, frequency, grace, fees, currency and rate (today's) default
    to the product's."""

    amount: Decimal
    rate: Decimal | None = None
    months: int | None = None
    periods: int | None = None
    method: str | None = None
    day_count: str | None = None
    frequency: str | None = None
    start: dt.date | None = None
    first_due: dt.date | None = None
    grace_periods: int | None = None
    capitalise_grace_interest: bool = False
    upfront_fee: Decimal | None = None
    upfront_fee_percent: Decimal | None = None
    period_fee: Decimal | None = None
    currency: str | None = None
    product: int | str | None = None


class ScheduleLineOut(Schema):
    number: int
    due_date: dt.date
    days: int
    opening_balance: Decimal
    instalment: Decimal
    principal: Decimal
    interest: Decimal
    fee: Decimal
    closing_balance: Decimal
    is_prepayment: bool


class ScheduleOut(Schema):
    currency: str
    method: str
    day_count: str
    frequency: str
    annual_rate: Decimal
    maturity_date: dt.date
    total_principal: Decimal
    total_interest: Decimal
    total_fees: Decimal
    total_payable: Decimal
    upfront_fee: Decimal
    net_disbursed: Decimal
    apr: Decimal
    effective_rate: Decimal
    lines: list[ScheduleLineOut]
