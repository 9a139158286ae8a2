"""Reading customer records, always within the actor's reach.

A customer outside the actor's scope does not exist for them: ``*_get`` raises the
model's ``DoesNotExist`` (404 on pages and in the API), lists leave it out.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.crypto import blind_index, preload_keys
from bankcrm.core.masking import mask

from .models import (
    ContactPoint,
    Identifier,
    Interaction,
    Party,
    Relationship,
    Task,
)
from .naming import search_name_of
from .validators import normalize_phone_e164

# --- Parties -----------------------------------------------------------------------------


def party_list(
    *,
    actor: Any,
    status: str | None = None,
    segment: str | None = None,
    kind: str | None = None,
    owning_unit: int | None = None,
    portfolio: int | None = None,
    name_prefix: str | None = None,
) -> QuerySet[Party]:
    """Customers the actor may see, by name; optionally narrowed."""
    queryset = Party.objects.visible_to(actor).select_related("owning_unit", "portfolio__manager")
    if status:
        queryset = queryset.filter(status=status)
    if segment:
        queryset = queryset.filter(segment=segment)
    if kind:
        queryset = queryset.filter(kind=kind)
    if owning_unit:
        queryset = queryset.filter(owning_unit_id=owning_unit)
    if portfolio:
        queryset = queryset.filter(portfolio_id=portfolio)
    if name_prefix:
        queryset = queryset.filter(search_name__startswith=search_name_of(name_prefix))
    return queryset.order_by("display_name", "id")


def party_get(*, actor: Any, pk: Any) -> Party:
    """One customer the actor may see, with the person or organisation profile."""
    return (
        Party.objects.visible_to(actor)
        .select_related("owning_unit", "portfolio__manager", "household", "person", "organisation")
        .get(pk=pk)
    )


def party_find_by_identifier(
    *, actor: Any, number: str, type: str | None = None
) -> QuerySet[Party]:
    """Customers holding a document with exactly this number (through the blind index)."""
    index = blind_index(Identifier, "number_index", number)
    matches = Identifier.objects.filter(number_index=index)
    if type:
        matches = matches.filter(type=type)
    return Party.objects.visible_to(actor).filter(pk__in=matches.values("party_id"))


def contact_lookup_values(value: str) -> list[str]:
    """The stored forms a typed phone or e-mail may have: as typed, and a phone in E.164."""
    forms = [value]
    if "@" not in value:
        # Not a phone number: only the typed form is tried.
        with contextlib.suppress(ValidationError):
            forms.append(normalize_phone_e164(value))
    return forms


def party_find_by_contact(*, actor: Any, value: str) -> QuerySet[Party]:
    """Customers with exactly this phone number or e-mail address (blind index)."""
    indexes = [blind_index(ContactPoint, "value_index", v) for v in contact_lookup_values(value)]
    matches = ContactPoint.objects.filter(value_index__in=[i for i in indexes if i])
    return Party.objects.visible_to(actor).filter(pk__in=matches.values("party_id"))


# --- Child records -----------------------------------------------------------------------


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def identifier_list(*, actor: Any, party: Party) -> list[Identifier]:
    _require(actor, "customers.view_identifier")
    items = list(Identifier.objects.visible_to(actor).filter(party=party))
    preload_keys(items)
    return items


def identifier_get(*, actor: Any, pk: Any) -> Identifier:
    _require(actor, "customers.view_identifier")
    return Identifier.objects.visible_to(actor).select_related("party").get(pk=pk)


def contact_point_list(*, actor: Any, party: Party, kind: str | None = None) -> list[ContactPoint]:
    _require(actor, "customers.view_contactpoint")
    queryset = ContactPoint.objects.visible_to(actor).filter(party=party)
    if kind:
        queryset = queryset.filter(kind=kind)
    items = list(queryset)
    preload_keys(items)
    return items


def contact_point_get(*, actor: Any, pk: Any) -> ContactPoint:
    _require(actor, "customers.view_contactpoint")
    return ContactPoint.objects.visible_to(actor).select_related("party").get(pk=pk)


def relationship_list(*, actor: Any, party: Party) -> QuerySet[Relationship]:
    """Both directions: where the customer is the "from" or the "to" party."""
    _require(actor, "customers.view_relationship")
    party_get(actor=actor, pk=party.pk)
    return (
        Relationship.objects.filter(Q(party_from=party) | Q(party_to=party))
        .select_related("party_from", "party_to")
        .order_by("type", "pk")
    )


def relationship_get(*, actor: Any, pk: int) -> Relationship:
    _require(actor, "customers.view_relationship")
    return (
        Relationship.objects.visible_to(actor).select_related("party_from", "party_to").get(pk=pk)
    )


def interaction_list(
    *, actor: Any, party: Party, before: dt.datetime | None = None, limit: int = 50
) -> list[Interaction]:
    """A customer's interactions, newest first; ``before`` pages back in time."""
    _require(actor, "customers.view_interaction")
    queryset = Interaction.objects.visible_to(actor).filter(party=party).select_related("staff")
    if before is not None:
        queryset = queryset.filter(occurred_at__lt=before)
    return list(queryset.order_by("-occurred_at", "-created_at")[: max(1, min(limit, 200))])


def interaction_get(*, actor: Any, pk: Any) -> Interaction:
    _require(actor, "customers.view_interaction")
    return Interaction.objects.visible_to(actor).select_related("party", "staff").get(pk=pk)


def task_list(
    *,
    actor: Any,
    party: Party | None = None,
    owner: Any = None,
    status: str | None = None,
) -> QuerySet[Task]:
    """Tasks the actor may see (their unit's), or their own; narrowed by customer/owner."""
    _require(actor, "customers.view_task")
    visible = Task.objects.visible_to(actor)
    queryset = Task.objects.filter(Q(pk__in=visible.values("pk")) | Q(owner_id=actor.pk))
    if party is not None:
        queryset = queryset.filter(party=party)
    if owner is not None:
        queryset = queryset.filter(owner=owner)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.select_related("owner", "party").order_by("status", "due_on", "pk")


def task_get(*, actor: Any, pk: int) -> Task:
    return task_list(actor=actor).get(pk=pk)


# --- Customer 360 ------------------------------------------------------------------------


@dataclass
class Holding:
    """One account in a customer's holdings, with its balance in the base currency."""

    account: Any
    role: str
    balance_base: Decimal | None


@dataclass
class Customer360:
    """Everything the customer page shows, read with a fixed number of queries."""

    party: Party
    relationship_manager: Any
    primary_contacts: dict[str, str]
    holdings: list[Holding]
    holdings_by_product: list[dict[str, Any]]
    base_currency: str
    total_assets_base: Decimal
    total_liabilities_base: Decimal
    missing_rates: list[str]
    household: dict[str, Any] | None
    recent_transactions: list[Any]
    transactions_next_cursor: str | None
    monthly_flows: list[dict[str, Any]]
    recent_interactions: list[Interaction]
    open_tasks: list[Task]
    relationships: list[dict[str, Any]]
    contact_points: list[ContactPoint] = field(default_factory=list)


def _masked_contact(contact: ContactPoint) -> str:
    if contact.kind == ContactPoint.Kind.ADDRESS:
        address = contact.address or {}
        return ", ".join(p for p in (address.get("city", ""), address.get("province", "")) if p)
    return mask(contact.value, "phone" if contact.kind == ContactPoint.Kind.PHONE else "email")


def customer_360(
    *,
    actor: Any,
    pk: Any,
    transactions_limit: int = 20,
    interactions_limit: int = 10,
    today: dt.date | None = None,
) -> Customer360:
    """The customer page's summary: header, holdings and totals in the base currency,
    household roll-up, recent transactions, 12-month flows, interactions, open tasks,
    relationships. Personal data is masked; a fixed number of queries whatever the size.
    """
    from bankcrm.banking import selectors as banking
    from bankcrm.banking.models import Account, AccountRole, Transaction

    party = party_get(actor=actor, pk=pk)
    may_see_accounts = actor_has_perm(actor, "banking.view_account")

    contacts = list(ContactPoint.objects.filter(party=party, is_primary=True).order_by("kind"))
    preload_keys(contacts)
    primary_contacts = {c.kind: _masked_contact(c) for c in contacts}

    roles: list[Any] = []
    if may_see_accounts:
        roles = list(
            AccountRole.objects.filter(party=party)
            .select_related("account__product", "account__branch")
            .order_by("account__product__category", "account__opened_on", "account_id")
        )
    accounts: dict[Any, tuple[Account, str]] = {}
    for role in roles:
        # An account appears once, under the customer's strongest role on it.
        if role.account_id not in accounts or role.role == AccountRole.Role.OWNER:
            accounts[role.account_id] = (role.account, role.role)

    household_rows: list[dict[str, Any]] = []
    if party.household_id and may_see_accounts:
        visible_members = Party.objects.visible_to(actor).filter(household_id=party.household_id)
        household_rows = list(
            AccountRole.objects.filter(
                party__in=visible_members.values("pk"), role__in=banking.HOLDER_ROLES
            )
            .values(
                "party_id",
                "party__display_name",
                "account__currency",
                "account__product__is_liability",
            )
            .annotate(total=Sum("account__balance"))
            .order_by("party__display_name", "party_id")
        )

    currencies = {a.currency for a, _r in accounts.values()} | {
        r["account__currency"] for r in household_rows
    }
    rates = banking.fx_rates_latest(currencies) if currencies else {}
    base = banking.base_currency()

    holdings: list[Holding] = []
    by_product: dict[Any, dict[str, Any]] = {}
    total_assets = Decimal(0)
    total_liabilities = Decimal(0)
    missing: set[str] = set()
    for account, role_name in accounts.values():
        in_base = banking.to_base(account.balance, account.currency, rates)
        holdings.append(Holding(account=account, role=role_name, balance_base=in_base))
        entry = by_product.setdefault(
            account.product_id,
            {
                "product": account.product,
                "accounts": 0,
                "balance_base": Decimal(0),
                "balances": defaultdict(Decimal),
            },
        )
        entry["accounts"] += 1
        entry["balances"][account.currency] += account.balance
        if in_base is None:
            missing.add(account.currency)
            continue
        entry["balance_base"] += in_base
        if account.product.is_liability:
            total_liabilities += abs(in_base)
        else:
            total_assets += in_base
    holdings_by_product = [
        {**entry, "balances": dict(entry["balances"])} for entry in by_product.values()
    ]

    household = None
    if party.household_id:
        members: dict[Any, dict[str, Any]] = {}
        for row in household_rows:
            member = members.setdefault(
                row["party_id"],
                {
                    "party_id": row["party_id"],
                    "display_name": row["party__display_name"],
                    "assets_base": Decimal(0),
                    "liabilities_base": Decimal(0),
                },
            )
            in_base = banking.to_base(row["total"] or Decimal(0), row["account__currency"], rates)
            if in_base is None:
                missing.add(row["account__currency"])
            elif row["account__product__is_liability"]:
                member["liabilities_base"] += abs(in_base)
            else:
                member["assets_base"] += in_base
        household = {
            "pk": party.household_id,
            "name": party.household.name if party.household else "",
            "members": list(members.values()),
            "assets_base": sum((m["assets_base"] for m in members.values()), Decimal(0)),
            "liabilities_base": sum((m["liabilities_base"] for m in members.values()), Decimal(0)),
        }

    account_ids = list(accounts)
    recent: list[Any] = []
    next_cursor = None
    flows: list[dict[str, Any]] = []
    if account_ids and actor_has_perm(actor, "banking.view_transaction"):
        recent = list(
            Transaction.objects.filter(account_id__in=account_ids).order_by("-booking_date", "-id")[
                : transactions_limit + 1
            ]
        )
        if len(recent) > transactions_limit:
            recent = recent[:transactions_limit]
            next_cursor = banking.encode_cursor(recent[-1].booking_date, recent[-1].pk)
        by_month: dict[dt.date, dict[str, Any]] = {}
        for row in banking.monthly_flows(account_ids, today=today):
            month = by_month.setdefault(
                row["month"],
                {"month": row["month"], "inflow": Decimal(0), "outflow": Decimal(0), "count": 0},
            )
            inflow = banking.to_base(row["inflow"], row["currency"], rates)
            outflow = banking.to_base(row["outflow"], row["currency"], rates)
            month["inflow"] += inflow or Decimal(0)
            month["outflow"] += outflow or Decimal(0)
            month["count"] += row["count"] or 0
        flows = [by_month[m] for m in sorted(by_month)]

    interactions: list[Interaction] = []
    if actor_has_perm(actor, "customers.view_interaction"):
        interactions = list(
            Interaction.objects.filter(party=party)
            .select_related("staff")
            .defer("body")
            .order_by("-occurred_at", "-created_at")[:interactions_limit]
        )
    tasks: list[Task] = []
    if actor_has_perm(actor, "customers.view_task"):
        tasks = list(
            Task.objects.filter(party=party, status=Task.Status.OPEN)
            .select_related("owner")
            .order_by("due_on", "pk")
        )

    relationships: list[dict[str, Any]] = []
    if actor_has_perm(actor, "customers.view_relationship"):
        links = list(
            Relationship.objects.filter(Q(party_from=party) | Q(party_to=party))
            .select_related("party_from", "party_to")
            .order_by("type", "pk")
        )
        others = {
            (link.party_to if link.party_from_id == party.pk else link.party_from).pk
            for link in links
        }
        visible = (
            set(Party.objects.visible_to(actor).filter(pk__in=others).values_list("pk", flat=True))
            if others
            else set()
        )
        for link in links:
            outgoing = link.party_from_id == party.pk
            other = link.party_to if outgoing else link.party_from
            relationships.append(
                {
                    "relationship": link,
                    "type": link.type,
                    # "outgoing": this customer is the <type> of the other party.
                    "outgoing": outgoing,
                    "other_pk": other.pk if other.pk in visible else None,
                    "other_name": other.display_name
                    if other.pk in visible
                    else mask(other.display_name, "name"),
                    "ownership_pct": link.ownership_pct,
                    "is_current": link.end_on is None or link.end_on >= timezone.localdate(),
                }
            )

    return Customer360(
        party=party,
        relationship_manager=party.relationship_manager,
        primary_contacts=primary_contacts,
        holdings=holdings,
        holdings_by_product=holdings_by_product,
        base_currency=base,
        total_assets_base=total_assets,
        total_liabilities_base=total_liabilities,
        missing_rates=sorted(missing),
        household=household,
        recent_transactions=recent,
        transactions_next_cursor=next_cursor,
        monthly_flows=flows,
        recent_interactions=interactions,
        open_tasks=tasks,
        relationships=relationships,
        contact_points=contacts,
    )


# --- My portfolio ------------------------------------------------------------------------

PORTFOLIO_SORTS = {
    "name": ("display_name", "id"),
    "-name": ("-display_name", "-id"),
    "balance": ("total_balance", "display_name", "id"),
    "-balance": ("-total_balance", "display_name", "id"),
    "last_contact": (F("last_contacted_at").asc(nulls_first=True), "display_name", "id"),
    "-last_contact": (F("last_contacted_at").desc(nulls_last=True), "display_name", "id"),
}


@dataclass
class PortfolioPage:
    """One page of "my portfolio": customers with total balance and last contact."""

    rows: list[Party]
    page: int
    page_size: int
    total: int
    base_currency: str

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def portfolio_customers(
    *,
    actor: Any,
    sort: str = "name",
    not_contacted_days: int | None = None,
    page: int = 1,
    page_size: int = 50,
    now: dt.datetime | None = None,
) -> PortfolioPage:
    """The customers of the portfolios the actor manages, each annotated with
    ``total_balance`` (deposits and investments less nothing, in the base currency at the
    latest rates; loans and cards left out), ``last_contacted_at`` and
    ``days_since_contact``. ``not_contacted_days`` keeps those not contacted for that
    many days (or never).

    Four queries per page (fewer when there is nothing to show): the actor's portfolios,
    the count, the page's keys and the page's rows with their balances. The keys of a page
    by name are read from the party index on (portfolio, name, key) alone, so the rows
    skipped to reach a deep page cost an index entry each, not a table row and a balance.
    Balances are summed for the rows shown only, except when sorting by balance, which
    sums them over the whole portfolio to order it.
    """
    from bankcrm.access.models import Portfolio
    from bankcrm.banking import selectors as banking
    from bankcrm.banking.models import AccountRole, FxRate

    if sort not in PORTFOLIO_SORTS:
        sort = "name"
    page = max(1, int(page))
    page_size = max(1, min(int(page_size), 200))
    # The portfolio keys as constants let the database walk the party index on
    # (portfolio, name, key) in order, instead of joining the portfolios to sort.
    portfolios = list(Portfolio.objects.filter(manager_id=actor.pk).values_list("pk", flat=True))
    queryset = Party.objects.visible_to(actor).filter(portfolio_id__in=portfolios)
    now = now or timezone.now()
    if not_contacted_days is not None:
        cutoff = now - dt.timedelta(days=int(not_contacted_days))
        queryset = queryset.filter(
            Q(last_contacted_at__isnull=True) | Q(last_contacted_at__lt=cutoff)
        )
    total = queryset.count()
    amount = DecimalField(max_digits=24, decimal_places=4)
    base = banking.base_currency()
    latest_rate = (
        FxRate.objects.filter(currency=OuterRef("account__currency"))
        .order_by("-as_of")
        .values("rate_to_base")[:1]
    )
    balances = (
        AccountRole.objects.filter(
            party_id=OuterRef("pk"),
            role__in=banking.HOLDER_ROLES,
            account__product__is_liability=False,
        )
        .annotate(
            rate=Case(
                When(account__currency=base, then=Value(Decimal(1))),
                default=Subquery(latest_rate),
                output_field=amount,
            )
        )
        .values("party_id")
        .annotate(total=Sum(F("account__balance") * F("rate"), output_field=amount))
        .values("total")
    )
    total_balance = Coalesce(Subquery(balances, output_field=amount), Value(0), output_field=amount)
    ordered = queryset
    if sort in ("balance", "-balance"):
        ordered = ordered.annotate(total_balance=total_balance)
    keys = list(
        ordered.order_by(*PORTFOLIO_SORTS[sort]).values_list("pk", flat=True)[
            (page - 1) * page_size : page * page_size
        ]
    )
    found = (
        {
            party.pk: party
            for party in Party.objects.filter(pk__in=keys)
            .select_related("owning_unit", "portfolio")
            .annotate(total_balance=total_balance)
        }
        if keys
        else {}
    )
    rows = [found[pk] for pk in keys if pk in found]
    for row in rows:
        row.total_balance = Decimal(row.total_balance).quantize(Decimal("0.01"))
        row.days_since_contact = (
            (now - row.last_contacted_at).days if row.last_contacted_at else None
        )
    return PortfolioPage(rows=rows, page=page, page_size=page_size, total=total, base_currency=base)
