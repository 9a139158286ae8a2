"""API schemas of the banking module. Account numbers are masked to their last 4 digits."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from ninja import Schema


class ProductOut(Schema):
    id: int
    code: str
    name: str
    name_zh: str
    category: str
    currency: str
    is_liability: bool
    is_active: bool


class AccountOut(Schema):
    id: uuid.UUID
    number: str
    is_masked: bool
    product: int
    product_code: str
    category: str
    currency: str
    status: str
    opened_on: dt.date
    closed_on: dt.date | None
    branch: int
    owner: uuid.UUID
    balance: Decimal
    available_balance: Decimal
    balance_as_of: dt.date | None


class AccountRoleOut(Schema):
    id: int
    account: uuid.UUID
    account_number: str
    party: uuid.UUID
    party_name: str
    role: str
    start_on: dt.date | None
    end_on: dt.date | None


class TransactionOut(Schema):
    id: int
    account: uuid.UUID
    booking_date: dt.date
    value_date: dt.date | None
    amount: Decimal
    currency: str
    direction: str
    kind: str
    channel: str
    description: str
    counterparty_name: str
    counterparty_account: str
    counterparty_bank: str
    counterparty_country: str
    running_balance: Decimal | None


class TransactionPageOut(Schema):
    items: list[TransactionOut]
    next_cursor: str | None


class FxRateOut(Schema):
    currency: str
    rate_to_base: Decimal
    as_of: dt.date
