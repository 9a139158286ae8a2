"""Figures of the role dashboards, always within the viewer's reach.

Balances and customer counts come from the daily aggregates in the banking module
(``DailyBalance``, ``DailyCustomerCount``: a few rows per branch and day), read through
``visible_to(actor)`` like every other model, so a branch manager adds up their own
branches only and a relationship manager their own portfolios. Everything else is read
through the selectors of the module that owns it (customers, lending, support, compliance,
marketing). Amounts are in the bank's base currency at the latest exchange rates; an amount
in a currency without a rate is left out and counted in ``unconverted``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope, actor_role_codes
from bankcrm.banking.models import DailyBalance, DailyCustomerCount, Product

VIEW_DASHBOARD = "analytics.view_dashboard"

DEPOSIT_CATEGORIES = (
    Product.Category.CURRENT,
    Product.Category.SAVINGS,
    Product.Category.TERM_DEPOSIT,
)
WEALTH_CATEGORIES = (Product.Category.WEALTH,)
# Owed to the bank: stored negative, shown as the positive amount owed.
LOAN_CATEGORIES = (Product.Category.LOAN, Product.Category.CREDIT_CARD)
CATEGORY_ORDER = [*DEPOSIT_CATEGORIES, *WEALTH_CATEGORIES, *LOAN_CATEGORIES]

# How far back a trend reaches, and how far the growth compares.
TREND_DAYS = 90
GROWTH_DAYS = 30
PANEL_SIZE = 10

DASHBOARDS = ("relationship", "branch", "executive", "compliance")
# The dashboard a person sees first, by the first of their roles in this order.
FIRST_DASHBOARD_BY_ROLE = (
    (Role.Code.EXECUTIVE, "executive"),
    (Role.Code.COMPLIANCE_OFFICER, "compliance"),
    (Role.Code.BRANCH_MANAGER, "branch"),
    (Role.Code.RELATIONSHIP_MANAGER, "relationship"),
)
# What each dashboard needs besides the dashboard permission.
DASHBOARD_PERMISSIONS = {
    "relationship": "customers.view_party",
    "branch": "banking.view_dailybalance",
    "executive": "banking.view_dailybalance",
    "compliance": "compliance.view_alert",
}


# --- Who may see which dashboard ---------------------------------------------------------------


def dashboards_for(*, actor: Any) -> list[str]:
    """The dashboards ``actor`` may open, in menu order."""
    if not actor_has_perm(actor, VIEW_DASHBOARD):
        return []
    return [code for code in DASHBOARDS if actor_has_perm(actor, DASHBOARD_PERMISSIONS[code])]


def dashboard_first(*, actor: Any) -> str | None:
    """The dashboard ``actor`` sees first: the one of their main role, else the first they
    may open; None when they may open none."""
    allowed = dashboards_for(actor=actor)
    codes = actor_role_codes(actor)
    for role, code in FIRST_DASHBOARD_BY_ROLE:
        if role in codes and code in allowed:
            return code
    return allowed[0] if allowed else None


def dashboard_require(*, actor: Any, dashboard: str) -> None:
    """Raise PermissionDenied unless ``actor`` may open ``dashboard``."""
    if dashboard not in dashboards_for(actor=actor):
        raise PermissionDenied(_("You do not have permission to do this."))


# --- Money in the base currency ----------------------------------------------------------------


@dataclass
class Totals:
    """Balances of one group in the base currency: deposits, wealth, loans owed, and AUM."""

    deposits: Decimal = Decimal(0)
    wealth: Decimal = Decimal(0)
    loans: Decimal = Decimal(0)
    accounts: int = 0
    customers: int = 0
    by_category: dict[str, Decimal] = field(default_factory=dict)

    @property
    def aum(self) -> Decimal:
        return self.deposits + self.wealth

    def add(self, category: str, amount: Decimal, accounts: int, customers: int) -> None:
        self.by_category[category] = self.by_category.get(category, Decimal(0)) + amount
        if category in DEPOSIT_CATEGORIES:
            self.deposits += amount
        elif category in WEALTH_CATEGORIES:
            self.wealth += amount
        elif category in LOAN_CATEGORIES:
            self.loans -= amount
        self.accounts += accounts
        self.customers += customers


def _rates(currencies: Iterable[str]) -> dict[str, Decimal]:
    from bankcrm.banking.selectors import fx_rates_latest

    return fx_rates_latest(set(currencies))


def _in_base(amount: Decimal, currency: str, rates: dict[str, Decimal]) -> Decimal | None:
    from bankcrm.banking.selectors import to_base

    return to_base(Decimal(amount or 0), currency, rates)


def base_currency() -> str:
    from bankcrm.banking.selectors import base_currency as banking_base_currency

    return banking_base_currency()


# --- Daily aggregates --------------------------------------------------------------------------


def _balances(actor: Any) -> QuerySet[DailyBalance]:
    return DailyBalance.objects.visible_to(actor)


def latest_snapshot_day(*, actor: Any) -> dt.date | None:
    """The newest day with a balance snapshot (the same for every viewer)."""
    if not actor_has_perm(actor, "banking.view_dailybalance"):
        return None
    return DailyBalance.objects.aggregate(last=Max("day"))["last"]


def _snapshot_on_or_before(day: dt.date) -> dt.date | None:
    return DailyBalance.objects.filter(day__lte=day).aggregate(last=Max("day"))["last"]


@dataclass
class BalanceFigures:
    """Balances on the latest snapshot day, per group and per day of the trend."""

    day: dt.date | None
    totals: Totals
    by_unit: dict[int, Totals]
    trend: list[tuple[dt.date, Totals]]
    previous_day: dt.date | None
    previous: Totals | None
    currency: str
    unconverted: int = 0

    @property
    def aum_growth(self) -> Decimal | None:
        """Growth of AUM since the comparison day, in per cent (None without one)."""
        if self.previous is None or not self.previous.aum:
            return None
        change = (self.totals.aum - self.previous.aum) * 100 / self.previous.aum
        return change.quantize(Decimal("0.1"))


def balance_figures(
    *, actor: Any, units: Iterable[int] | None = None, by_unit: bool = False
) -> BalanceFigures:
    """The actor's balances on the latest snapshot day (narrowed to ``units`` and below when
    given), split per branch with ``by_unit``, the trend of every snapshot day in the last
    ``TREND_DAYS`` days, and the totals of the snapshot ``GROWTH_DAYS`` days earlier."""
    currency = base_currency()
    day = latest_snapshot_day(actor=actor)
    if day is None:
        return BalanceFigures(None, Totals(), {}, [], None, None, currency)
    queryset = _balances(actor)
    if units is not None:
        queryset = queryset.filter(_unit_subtree(units, "unit__path"))
    start = day - dt.timedelta(days=TREND_DAYS)
    previous_day = _snapshot_on_or_before(day - dt.timedelta(days=GROWTH_DAYS))
    rows = list(
        queryset.filter(day__gte=start, day__lte=day)
        .values_list("day", "unit_id", "category", "currency")
        .annotate(
            total=Sum("balance_total"), accounts=Sum("account_count"), people=Sum("customer_count")
        )
        .order_by()
    )
    previous_rows: list[tuple[Any, ...]] = []
    if previous_day is not None and previous_day < start:
        previous_rows = list(
            queryset.filter(day=previous_day)
            .values_list("day", "unit_id", "category", "currency")
            .annotate(
                total=Sum("balance_total"),
                accounts=Sum("account_count"),
                people=Sum("customer_count"),
            )
            .order_by()
        )
    rates = _rates(row[3] for row in [*rows, *previous_rows])
    per_day: dict[dt.date, Totals] = defaultdict(Totals)
    per_unit: dict[int, Totals] = defaultdict(Totals)
    unconverted = 0
    for row_day, unit_id, category, row_currency, total, accounts, people in [
        *rows,
        *previous_rows,
    ]:
        amount = _in_base(total, row_currency, rates)
        if amount is None:
            unconverted += 1 if row_day == day else 0
            continue
        per_day[row_day].add(category, amount, accounts, people)
        if by_unit and row_day == day:
            per_unit[unit_id].add(category, amount, accounts, people)
    trend = sorted((d, t) for d, t in per_day.items() if d >= start)
    return BalanceFigures(
        day=day,
        totals=per_day.get(day, Totals()),
        by_unit=dict(per_unit),
        trend=trend,
        previous_day=previous_day,
        previous=per_day.get(previous_day) if previous_day is not None else None,
        currency=currency,
        unconverted=unconverted,
    )


def _unit_subtree(unit_pks: Iterable[int], lookup: str) -> Q:
    paths = list(OrgUnit.objects.filter(pk__in=list(unit_pks)).values_list("path", flat=True))
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(**{f"{lookup}__startswith": path})
    return condition


@dataclass(frozen=True)
class CustomerMovement:
    """Customers on the latest snapshot day, those who joined in the last 30 days and those
    lost (closed) since the snapshot about 30 days before."""

    day: dt.date | None
    active: int
    total: int
    joined: int
    lost: int | None
    previous_day: dt.date | None


def customer_movement(*, actor: Any, units: Iterable[int] | None = None) -> CustomerMovement:
    """New and lost customers of the actor's reach, from the daily customer counts."""
    if not actor_has_perm(actor, "banking.view_dailycustomercount"):
        return CustomerMovement(None, 0, 0, 0, None, None)
    queryset = DailyCustomerCount.objects.visible_to(actor)
    if units is not None:
        queryset = queryset.filter(_unit_subtree(units, "unit__path"))
    day = DailyCustomerCount.objects.aggregate(last=Max("day"))["last"]
    if day is None:
        return CustomerMovement(None, 0, 0, 0, None, None)
    previous_day = (
        DailyCustomerCount.objects.filter(day__lte=day - dt.timedelta(days=GROWTH_DAYS))
        .aggregate(last=Max("day"))
        .get("last")
    )
    statuses = dict(
        queryset.filter(day=day)
        .values_list("status")
        .annotate(n=Sum("customer_count"))
        .order_by()
        .values_list("status", "n")
    )
    joined = queryset.filter(day=day).aggregate(n=Sum("joined_30d_count"))["n"] or 0
    lost: int | None = None
    if previous_day is not None:
        closed_before = (
            queryset.filter(day=previous_day, status="closed").aggregate(n=Sum("customer_count"))[
                "n"
            ]
            or 0
        )
        lost = max(int(statuses.get("closed", 0)) - int(closed_before), 0)
    return CustomerMovement(
        day=day,
        active=int(statuses.get("active", 0)),
        total=int(sum(statuses.values())),
        joined=int(joined),
        lost=lost,
        previous_day=previous_day,
    )


# --- Relationship manager ----------------------------------------------------------------------


def customers_not_contacted(*, actor: Any, days: int) -> int:
    """How many customers of the actor's portfolios were not contacted for ``days`` days
    (or never), through the customers module's portfolio page."""
    from bankcrm.customers.selectors import portfolio_customers

    if not actor_has_perm(actor, "customers.view_party"):
        return 0
    return portfolio_customers(actor=actor, not_contacted_days=days, page_size=1).total


def tasks_due(*, actor: Any, within_days: int = 7, today: dt.date | None = None) -> list[Any]:
    """The actor's own open tasks due within ``within_days`` days (overdue ones first)."""
    from bankcrm.customers.selectors import task_list

    if not actor_has_perm(actor, "customers.view_task"):
        return []
    today = today or timezone.localdate()
    return list(
        task_list(actor=actor, owner=actor, status="open")
        .filter(due_on__isnull=False, due_on__lte=today + dt.timedelta(days=within_days))
        .order_by("due_on", "pk")[:PANEL_SIZE]
    )


def next_best_offers(*, actor: Any, limit: int = PANEL_SIZE) -> list[Any]:
    """The highest propensity scores of the actor's customers for products that have an
    active next best offer, highest first."""
    from bankcrm.marketing.models import ProductOffer, PropensityScore

    if not actor_has_perm(actor, "marketing.view_propensityscore"):
        return []
    today = timezone.localdate()
    offered = ProductOffer.objects.filter(is_active=True, is_next_best_offer=True).filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=today),
        Q(valid_until__isnull=True) | Q(valid_until__gte=today),
    )
    return list(
        PropensityScore.objects.visible_to(actor)
        .filter(product_id__in=offered.values("product_id"))
        .select_related("party", "product")
        .order_by("-probability", "pk")[:limit]
    )


def early_warnings(*, actor: Any, limit: int = PANEL_SIZE) -> list[Any]:
    """The newest early warnings on the actor's customers (balance drops, salary stopped,
    large outflows, dormant accounts moving again, loans moving to a worse bucket, reviews
    and documents falling due), each signal read only by those who may read its records."""
    from .selectors_early_warning import early_warning_signals

    return early_warning_signals(actor=actor, limit=limit)


# --- Branch manager ----------------------------------------------------------------------------


def pipeline_by_state(*, actor: Any) -> list[tuple[str, str, int]]:
    """Loan applications in each open state of the workflow: (code, name, count)."""
    from bankcrm.lending.models import LoanApplication
    from bankcrm.lending.selectors_pipeline import application_states

    if not actor_has_perm(actor, "lending.view_loanapplication"):
        return []
    counts = dict(
        LoanApplication.objects.visible_to(actor)
        .exclude(state="")
        .values_list("state")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("state", "n")
    )
    return [
        (state.code, state.name, counts.get(state.code, 0))
        for state in application_states()
        if not state.is_terminal
    ]


def delinquency_by_bucket(*, actor: Any) -> list[tuple[str, str, int, Decimal]]:
    """Open loans per delinquency bucket, best first: (bucket, label, count, outstanding in
    the base currency)."""
    from bankcrm.lending.models import Bucket
    from bankcrm.lending.selectors_loans import delinquency_summary

    if not actor_has_perm(actor, "lending.view_loan"):
        return []
    rows = delinquency_summary(actor=actor)
    rates = _rates(row.currency for row in rows)
    counts: dict[str, int] = defaultdict(int)
    amounts: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        counts[row.bucket] += row.count
        amounts[row.bucket] += _in_base(row.outstanding, row.currency, rates) or Decimal(0)
    return [
        (bucket.value, str(bucket.label), counts.get(bucket.value, 0), amounts[bucket.value])
        for bucket in Bucket
    ]


def sla_breaches(*, actor: Any) -> int:
    """Open service cases past an SLA clock (support's case list, breached filter)."""
    from bankcrm.support.selectors_cases import case_list

    if not actor_has_perm(actor, "support.view_servicecase"):
        return 0
    return case_list(actor=actor, filters={"is_open": True, "breached": True}).count()


@dataclass(frozen=True)
class StaffLine:
    """One member of staff: interactions recorded and open service cases assigned."""

    user_id: int
    name: str
    interactions: int
    open_cases: int


def staff_activity(*, actor: Any, days: int = GROWTH_DAYS) -> list[StaffLine]:
    """Per member of staff, the customer interactions they recorded in the last ``days``
    days and the open service cases assigned to them, within the actor's reach."""
    from bankcrm.customers.models import Interaction
    from bankcrm.support.selectors_cases import case_list

    since = timezone.now() - dt.timedelta(days=days)
    interactions: dict[int, int] = {}
    names: dict[int, str] = {}
    if actor_has_perm(actor, "customers.view_interaction"):
        for user_id, first, last, username, n in (
            Interaction.objects.visible_to(actor)
            .filter(occurred_at__gte=since, staff__isnull=False)
            .values_list("staff_id", "staff__first_name", "staff__last_name", "staff__username")
            .annotate(n=Count("pk"))
            .order_by()
        ):
            interactions[user_id] = n
            names[user_id] = f"{first} {last}".strip() or username
    cases: dict[int, int] = {}
    if actor_has_perm(actor, "support.view_servicecase"):
        for user_id, first, last, username, n in (
            case_list(actor=actor, filters={"is_open": True})
            .filter(assigned_to__isnull=False)
            .values_list(
                "assigned_to_id",
                "assigned_to__first_name",
                "assigned_to__last_name",
                "assigned_to__username",
            )
            .annotate(n=Count("pk"))
            .order_by()
        ):
            cases[user_id] = n
            names[user_id] = f"{first} {last}".strip() or username
    lines = [
        StaffLine(pk, names[pk], interactions.get(pk, 0), cases.get(pk, 0))
        for pk in set(interactions) | set(cases)
    ]
    lines.sort(key=lambda line: (-line.interactions - line.open_cases, line.name))
    return lines[:20]


# --- Executive ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitLine:
    """One region or branch on the executive dashboard."""

    unit: OrgUnit
    totals: Totals


def units_by_kind(*, actor: Any) -> dict[int, OrgUnit]:
    """The org units (regions, branches …) of the bank; a small table, read whole."""
    return {unit.pk: unit for unit in OrgUnit.objects.all()}


def _ancestor_of_kind(unit: OrgUnit, kind: str, units: dict[int, OrgUnit]) -> OrgUnit | None:
    for part in unit.path.strip("/").split("/"):
        if part.isdigit():
            candidate = units.get(int(part))
            if candidate is not None and candidate.kind == kind:
                return candidate
    return None


def executive_lines(
    *, actor: Any, figures: BalanceFigures, region: OrgUnit | None = None
) -> list[UnitLine]:
    """Balances per region, or per branch of ``region`` when given (a branch outside any
    region is shown among the regions)."""
    units = units_by_kind(actor=actor)
    grouped: dict[int, Totals] = {}
    for unit_pk, totals in figures.by_unit.items():
        unit = units.get(unit_pk)
        if unit is None:
            continue
        if region is None:
            target = _ancestor_of_kind(unit, OrgUnit.Kind.REGION, units) or unit
        else:
            if not unit.path.startswith(region.path):
                continue
            target = _ancestor_of_kind(unit, OrgUnit.Kind.BRANCH, units) or unit
        group = grouped.setdefault(target.pk, Totals())
        for category, amount in totals.by_category.items():
            group.add(category, amount, 0, 0)
        group.accounts += totals.accounts
        group.customers += totals.customers
    lines = [UnitLine(units[pk], totals) for pk, totals in grouped.items()]
    lines.sort(key=lambda line: (-line.totals.aum, line.unit.name))
    return lines


def region_get(*, actor: Any, pk: Any) -> OrgUnit:
    """A unit within the reach of the actor's dashboard permission (``DoesNotExist``
    otherwise): the drill-down's region or branch."""
    scope = actor_perm_scope(actor, VIEW_DASHBOARD)
    if scope is None:
        raise OrgUnit.DoesNotExist
    return OrgUnit.objects.within_scope(actor, scope).get(pk=pk)


@dataclass(frozen=True)
class CustomerListPage:
    """One page of the customers of a unit, by name."""

    rows: list[Any]
    total: int
    page: int
    pages: int


def unit_customers(
    *,
    actor: Any,
    unit: OrgUnit,
    status: str | None = None,
    joined_days: int | None = None,
    page: int = 1,
    size: int = 50,
) -> CustomerListPage:
    """The customers the actor may see whose owning unit is ``unit`` or below it, narrowed
    to a status or to those who joined in the last ``joined_days`` days: the dashboards'
    drill-down from a region or branch (or its new and lost customers) to the customers."""
    from bankcrm.customers.selectors import party_list

    queryset = party_list(actor=actor, status=status or None).filter(
        owning_unit__path__startswith=unit.path
    )
    if joined_days:
        today = timezone.localdate()
        queryset = queryset.filter(
            customer_since__gt=today - dt.timedelta(days=joined_days), customer_since__lte=today
        )
    total = queryset.count()
    pages = max(1, -(-total // size))
    page = min(max(1, page), pages)
    rows = list(
        queryset.select_related("owning_unit", "portfolio").order_by("display_name", "pk")[
            (page - 1) * size : page * size
        ]
    )
    return CustomerListPage(rows=rows, total=total, page=page, pages=pages)


# --- Compliance and risk -----------------------------------------------------------------------


def compliance_counts(*, actor: Any) -> dict[str, Any]:
    """Open alerts by age and scenario, hits awaiting decision, KYC reviews due and overdue
    and the customers by risk band (the compliance module's dashboard counts)."""
    from bankcrm.compliance.selectors_cases import dashboard_counts

    return dashboard_counts(actor=actor)


__all__ = [
    "DASHBOARDS",
    "BalanceFigures",
    "CustomerListPage",
    "CustomerMovement",
    "StaffLine",
    "Totals",
    "UnitLine",
    "balance_figures",
    "compliance_counts",
    "customer_movement",
    "customers_not_contacted",
    "dashboard_first",
    "dashboard_require",
    "dashboards_for",
    "delinquency_by_bucket",
    "early_warnings",
    "executive_lines",
    "next_best_offers",
    "pipeline_by_state",
    "region_get",
    "sla_breaches",
    "staff_activity",
    "tasks_due",
    "unit_customers",
]
