"""REST API of banking (read only): products, accounts, party roles, transactions, rates.

Accounts and transactions are scoped to the caller (another branch's account answers 404);
account numbers are masked to their last 4 digits unless unmasked with a reason
(``?unmask=true&reason=…``, audited).
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema

from bankcrm.core.services import pii_unmask

from . import selectors
from .models import Account, FxRate
from .schemas import (
    AccountOut,
    AccountRoleOut,
    FxRateOut,
    ProductOut,
    TransactionOut,
    TransactionPageOut,
)

router = Router(tags=["banking"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


class Unmask(Schema):
    unmask: bool = False
    reason: str = ""


def _number(actor: Any, account: Account, options: Unmask | None) -> str:
    if options is not None and options.unmask:
        if not options.reason.strip():
            raise ValidationError(
                {"reason": [ValidationError(_("Give a reason to unmask."), code="required")]}
            )
        return pii_unmask(actor=actor, target=account, field="number", reason=options.reason)
    return f"**** {account.number_last4}"


def account_out(actor: Any, account: Account, options: Unmask | None = None) -> dict[str, Any]:
    return {
        "id": account.pk,
        "number": _number(actor, account, options),
        "is_masked": not (options and options.unmask),
        "product": account.product_id,
        "product_code": account.product.code,
        "category": account.product.category,
        "currency": account.currency,
        "status": account.status,
        "opened_on": account.opened_on,
        "closed_on": account.closed_on,
        "branch": account.branch_id,
        "owner": account.owner_id,
        "balance": account.balance,
        "available_balance": account.available_balance,
        "balance_as_of": account.balance_as_of,
    }


@router.get("/products", response=list[ProductOut])
def product_list(request: HttpRequest, category: str | None = None) -> Any:
    """The product catalogue."""
    return list(selectors.product_list(actor=_actor(request), category=category))


@router.get("/products/{int:pk}", response=ProductOut)
def product_get(request: HttpRequest, pk: int) -> Any:
    return selectors.product_get(actor=_actor(request), pk=pk)


class AccountFilter(Schema):
    party: uuid.UUID | None = None
    status: str | None = None
    product: int | None = None
    limit: int = 100
    offset: int = 0


@router.get("/accounts", response=list[AccountOut])
def account_list(request: HttpRequest, filters: Query[AccountFilter]) -> Any:
    """Accounts the caller may see; ``party=`` gives one customer's accounts (any role)."""
    actor = _actor(request)
    queryset = selectors.account_list(
        actor=actor, party=filters.party, status=filters.status, product=filters.product
    )
    limit = max(1, min(filters.limit, 500))
    offset = max(0, filters.offset)
    return [account_out(actor, a) for a in queryset[offset : offset + limit]]


@router.get("/accounts/{uuid:pk}", response=AccountOut)
def account_get(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    actor = _actor(request)
    return account_out(actor, selectors.account_get(actor=actor, pk=pk), options)


def _role_out(role: Any) -> dict[str, Any]:
    return {
        "id": role.pk,
        "account": role.account_id,
        "account_number": f"**** {role.account.number_last4}",
        "party": role.party_id,
        "party_name": role.party.display_name,
        "role": role.role,
        "start_on": role.start_on,
        "end_on": role.end_on,
    }


@router.get("/accounts/{uuid:pk}/roles", response=list[AccountRoleOut])
def account_roles(request: HttpRequest, pk: uuid.UUID) -> Any:
    """Who holds which role on an account."""
    roles = selectors.account_role_list(actor=_actor(request), account=pk)
    return [_role_out(r) for r in roles]


@router.get("/party-roles", response=list[AccountRoleOut])
def party_roles(request: HttpRequest, party: uuid.UUID) -> Any:
    """The roles a customer holds on accounts."""
    roles = selectors.account_role_list(actor=_actor(request), party=party)
    return [_role_out(r) for r in roles]


class TransactionQuery(Schema):
    account: uuid.UUID | None = None
    party: uuid.UUID | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str | None = None
    direction: Literal["credit", "debit"] | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    counterparty: str | None = None
    cursor: str | None = None
    limit: int = 50


@router.get("/transactions", response=TransactionPageOut)
def transaction_list(request: HttpRequest, query: Query[TransactionQuery]) -> Any:
    """Transactions newest first, a page at a time (pass ``next_cursor`` as ``cursor``);
    filter by account or customer, date range, type, direction, amount size, counterparty."""
    page = selectors.transaction_page(
        actor=_actor(request),
        account=query.account,
        party=query.party,
        filters=selectors.TransactionFilter(
            date_from=query.date_from,
            date_to=query.date_to,
            kind=query.kind,
            direction=query.direction,
            amount_min=query.amount_min,
            amount_max=query.amount_max,
            counterparty=query.counterparty,
        ),
        cursor=query.cursor,
        limit=query.limit,
    )
    return {
        "items": [
            {**{f: getattr(t, f) for f in TransactionOut.model_fields if f != "account"},
             "account": t.account_id}
            for t in page.items
        ],
        "next_cursor": page.next_cursor,
    }  # fmt: skip


@router.get("/fx-rates", response=list[FxRateOut])
def fx_rate_list(request: HttpRequest, currency: str | None = None) -> Any:
    """Exchange rates to the base currency, newest first."""
    queryset = FxRate.objects.visible_to(_actor(request))
    if currency:
        queryset = queryset.filter(currency=currency.upper())
    return list(queryset.order_by("currency", "-as_of")[:1000])
