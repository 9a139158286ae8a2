"""Reading banking records, always within the actor's reach.

Accounts, roles and transactions are scoped by the account's branch (unit roles) and by
the primary holder's portfolio (relationship managers). Reached through a customer the
actor may see (the customer 360, ``party=``), a customer's holdings are visible with the
customer: a relationship manager sees the joint account of their customer even when the
primary holder is someone else's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.customers.models import Party

from .models import (
    HOLDER_ROLES,
    Account,
    AccountMonthlyFlow,
    AccountRole,
    FxRate,
    Product,
    Transaction,
)

__all__ = ["HOLDER_ROLES"]


def base_currency() -> str:
    """The bank's base currency (setting ``BASE_CURRENCY``, env ``BANKCRM_BASE_CURRENCY``)."""
    return str(getattr(settings, "BASE_CURRENCY", "CNY") or "CNY")


def _require_view(actor: Any, model: str) -> None:
    if not actor_has_perm(actor, f"banking.view_{model}"):
        raise PermissionDenied(_("You do not have permission to do this."))


def _visible_party(actor: Any, party_pk: Any) -> Party:
    return Party.objects.visible_to(actor).only("pk").get(pk=party_pk)


def party_account_ids(*, actor: Any, party_pk: Any) -> list[uuid.UUID]:
    """Keys of the accounts on which a customer the actor may see holds any role."""
    _visible_party(actor, party_pk)
    return list(
        AccountRole.objects.filter(party_id=party_pk)
        .values_list("account_id", flat=True)
        .distinct()
    )


# --- Products and exchange rates ----------------------------------------------------------


def product_list(*, actor: Any, category: str | None = None) -> QuerySet[Product]:
    """The product catalogue (bank-wide reference data)."""
    queryset = Product.objects.visible_to(actor)
    if category:
        queryset = queryset.filter(category=category)
    return queryset.order_by("category", "code")


def product_get(*, actor: Any, pk: int) -> Product:
    return Product.objects.visible_to(actor).get(pk=pk)


def fx_rates_latest(currencies: Iterable[str], *, on: dt.date | None = None) -> dict[str, Decimal]:
    """The latest rate to the base currency of each currency (on or before ``on``), in
    one query. The base currency is 1; a currency without a rate is left out."""
    wanted = {c for c in currencies if c}
    base = base_currency()
    rates: dict[str, Decimal] = {base: Decimal(1)}
    others = wanted - {base}
    if not others:
        return rates
    queryset = FxRate.objects.filter(currency__in=sorted(others))
    if on is not None:
        queryset = queryset.filter(as_of__lte=on)
    # Ordered newest first: the first row seen of each currency is its latest.
    for currency, rate in queryset.order_by("currency", "-as_of").values_list(
        "currency", "rate_to_base"
    ):
        rates.setdefault(currency, rate)
    return rates


def to_base(amount: Decimal, currency: str, rates: dict[str, Decimal]) -> Decimal | None:
    """``amount`` in the base currency, or None when no rate for ``currency`` is known."""
    rate = rates.get(currency)
    if rate is None:
        return None
    return (amount * rate).quantize(Decimal("0.01"))


# --- Accounts and roles ------------------------------------------------------------------


def account_list(
    *, actor: Any, party: Any = None, status: str | None = None, product: int | None = None
) -> QuerySet[Account]:
    """Accounts the actor may see; with ``party``, that customer's accounts (any role)."""
    _require_view(actor, "account")
    if party is not None:
        ids = party_account_ids(actor=actor, party_pk=getattr(party, "pk", party))
        queryset = Account.objects.filter(pk__in=ids)
    else:
        queryset = Account.objects.visible_to(actor)
    if status:
        queryset = queryset.filter(status=status)
    if product:
        queryset = queryset.filter(product_id=product)
    return queryset.select_related("product", "branch").order_by("opened_on", "id")


def account_get(*, actor: Any, pk: Any) -> Account:
    """One account the actor may see (directly, or as a holding of a visible customer)."""
    _require_view(actor, "account")
    account = Account.objects.select_related("product", "branch").filter(pk=pk).first()
    if account is None:
        raise Account.DoesNotExist(_("No such account."))
    if Account.objects.visible_to(actor).filter(pk=pk).exists():
        return account
    holders = AccountRole.objects.filter(account_id=pk).values("party_id")
    if Party.objects.visible_to(actor).filter(pk__in=holders).exists():
        return account
    raise Account.DoesNotExist(_("No such account."))


def account_role_list(
    *, actor: Any, account: Any = None, party: Any = None
) -> QuerySet[AccountRole]:
    """Who holds which role on an account, or which roles a customer holds."""
    _require_view(actor, "accountrole")
    if party is not None:
        party_pk = getattr(party, "pk", party)
        _visible_party(actor, party_pk)
        queryset = AccountRole.objects.filter(party_id=party_pk)
    elif account is not None:
        account_obj = account_get(actor=actor, pk=getattr(account, "pk", account))
        queryset = AccountRole.objects.filter(account=account_obj)
    else:
        queryset = AccountRole.objects.visible_to(actor)
    return queryset.select_related("account__product", "party").order_by("account_id", "role")


# --- Transactions ------------------------------------------------------------------------


@dataclass
class TransactionFilter:
    """What a transaction list is narrowed to (the page, the export and the API share it)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    kind: str | None = None
    direction: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    counterparty: str | None = None


@dataclass
class TransactionPage:
    """One page of transactions, newest first, and the cursor of the next page (or None)."""

    items: list[Transaction]
    next_cursor: str | None


def encode_cursor(booking_date: dt.date, pk: int) -> str:
    raw = f"{booking_date.isoformat()}|{pk}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.date, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        day, pk = raw.split("|")
        return dt.date.fromisoformat(day), int(pk)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationError(
            {"cursor": [ValidationError(_("This page cursor is not valid."), code="invalid")]}
        ) from None


def transaction_queryset(
    *, actor: Any, account: Any = None, party: Any = None, filters: TransactionFilter | None = None
) -> QuerySet[Transaction]:
    """Transactions the actor may see, narrowed by account, customer and ``filters``."""
    _require_view(actor, "transaction")
    if account is not None:
        account_obj = account_get(actor=actor, pk=getattr(account, "pk", account))
        queryset = Transaction.objects.filter(account=account_obj)
    elif party is not None:
        ids = party_account_ids(actor=actor, party_pk=getattr(party, "pk", party))
        queryset = Transaction.objects.filter(account_id__in=ids)
    else:
        queryset = Transaction.objects.visible_to(actor)
    f = filters or TransactionFilter()
    if f.date_from:
        queryset = queryset.filter(booking_date__gte=f.date_from)
    if f.date_to:
        queryset = queryset.filter(booking_date__lte=f.date_to)
    if f.kind:
        queryset = queryset.filter(kind=f.kind)
    if f.direction:
        queryset = queryset.filter(direction=f.direction)
    # Amount bounds compare sizes: "over 1,000" finds both credits and debits of that size.
    if f.amount_min is not None:
        queryset = queryset.filter(Q(amount__gte=f.amount_min) | Q(amount__lte=-f.amount_min))
    if f.amount_max is not None:
        queryset = queryset.filter(amount__lte=f.amount_max, amount__gte=-f.amount_max)
    if f.counterparty:
        term = f.counterparty.strip()
        queryset = queryset.filter(
            Q(counterparty_name__icontains=term) | Q(counterparty_account__icontains=term)
        )
    return queryset.order_by("-booking_date", "-id")


def transaction_page(
    *,
    actor: Any,
    account: Any = None,
    party: Any = None,
    filters: TransactionFilter | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> TransactionPage:
    """A keyset page of transactions, newest first (``cursor`` from the previous page)."""
    limit = max(1, min(int(limit), 500))
    queryset = transaction_queryset(actor=actor, account=account, party=party, filters=filters)
    if cursor:
        day, pk = decode_cursor(cursor)
        queryset = queryset.filter(Q(booking_date__lt=day) | Q(booking_date=day, id__lt=pk))
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = encode_cursor(last.booking_date, last.pk)
    return TransactionPage(items=items, next_cursor=next_cursor)


def monthly_flows(
    account_ids: Iterable[Any], *, months: int = 12, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """Money in and out per month over the last ``months`` months (oldest first), per
    currency, from the monthly aggregate (one query; never sums raw transactions)."""
    ids = list(account_ids)
    today = today or dt.date.today()
    first = today.replace(day=1)
    for _step in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    if not ids:
        return []
    rows = (
        AccountMonthlyFlow.objects.filter(account_id__in=ids, month__gte=first)
        .values("month", "account__currency")
        .order_by("month", "account__currency")
    )
    from django.db.models import Sum

    return [
        {
            "month": row["month"],
            "currency": row["account__currency"],
            "inflow": row["inflow"],
            "outflow": row["outflow"],
            "count": row["count"],
        }
        for row in rows.annotate(
            inflow=Sum("inflow"), outflow=Sum("outflow"), count=Sum("transaction_count")
        )
    ]
