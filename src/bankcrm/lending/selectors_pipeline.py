"""Reading the application pipeline: the board by workflow state, a customer's lending on the
customer 360, and a loan officer's own applications on the home page.

The board counts and sums in the database (GROUP BY state and currency) and reads only the
oldest cards of each column, so its cost does not grow with the number of applications it
summarises. The columns come from the states of the active ``loan_application`` workflow:
a state an administrator adds to the workflow gets its column without any code change.

"Breached" means the application has stayed in its state past the state's SLA: its
``state_due_at`` lies before ``now``. The due time is fixed when the application enters the
state (in business hours when the workflow has a business calendar, see
:func:`bankcrm.core.workflow.workflow_sla_status`), so comparing it with ``now`` gives the
same answer as the SLA status of each card, in one aggregate.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q, QuerySet, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from bankcrm.core.models.workflow import WorkflowState

from .models import ApplicationParty, Loan, LoanApplication

WORKFLOW_KEY = "loan_application"

# The fields a card shows, read with the cards themselves (no query per card).
_CARD_FIELDS = (
    "pk",
    "reference",
    "state",
    "applicant_id",
    "applicant__display_name",
    "product__code",
    "product__name",
    "product__name_zh",
    "amount",
    "currency",
    "term_months",
    "branch__name",
    "officer_id",
    "officer__username",
    "officer__first_name",
    "officer__last_name",
    "state_entered_at",
    "state_due_at",
)


@dataclass(frozen=True)
class StateInfo:
    """A state of the application workflow, as the pages name it."""

    code: str
    name: str
    is_terminal: bool
    sla_hours: int | None


@dataclass(frozen=True)
class PipelineCard:
    """One application on the board."""

    pk: Any
    reference: str
    state: str
    applicant_id: Any
    applicant_name: str
    product_code: str
    product_name: str
    product_name_zh: str
    amount: Decimal
    currency: str
    term_months: int
    branch_name: str
    officer_id: Any
    officer_name: str
    state_entered_at: dt.datetime | None
    state_due_at: dt.datetime | None
    is_breached: bool
    days_in_state: int

    def product_label(self, language: str | None) -> str:
        """The product's name in ``language`` (its Chinese name for zh-*, when it has one)."""
        if language and language.lower().startswith("zh") and self.product_name_zh:
            return self.product_name_zh
        return self.product_name


@dataclass(frozen=True)
class CurrencyAmount:
    """A total in one currency (columns never add different currencies together)."""

    currency: str
    amount: Decimal


@dataclass
class PipelineColumn:
    """One state of the workflow on the board: how many, how much, how many late, the oldest."""

    code: str
    name: str
    is_terminal: bool
    sla_hours: int | None
    count: int = 0
    breached: int = 0
    amounts: list[CurrencyAmount] = field(default_factory=list)
    cards: list[PipelineCard] = field(default_factory=list)

    @property
    def hidden(self) -> int:
        """Applications in the column beyond the cards shown."""
        return max(self.count - len(self.cards), 0)


@dataclass
class PipelineBoard:
    """The pipeline board: one column per state of the workflow, in workflow order."""

    columns: list[PipelineColumn]
    now: dt.datetime
    cards_per_column: int

    @property
    def open_columns(self) -> list[PipelineColumn]:
        """Columns of states an application moves on from (the board proper)."""
        return [column for column in self.columns if not column.is_terminal]

    @property
    def closed_columns(self) -> list[PipelineColumn]:
        """Columns of final states (declined, withdrawn, closed …): counts only."""
        return [column for column in self.columns if column.is_terminal]

    @property
    def total(self) -> int:
        return sum(column.count for column in self.columns)

    @property
    def open_total(self) -> int:
        return sum(column.count for column in self.open_columns)

    @property
    def breached(self) -> int:
        return sum(column.breached for column in self.columns)

    def column(self, code: str) -> PipelineColumn | None:
        """The column of state ``code``, if the board has one."""
        return next((column for column in self.columns if column.code == code), None)


def application_states() -> list[StateInfo]:
    """The states of the application workflow, in workflow order (one query).

    The states of the active version come first, in the order the definition lists them;
    then states that only older versions have (applications started on an older version
    may still be in them), so no application falls off the board.
    """
    rows = (
        WorkflowState.objects.filter(definition__key=WORKFLOW_KEY)
        .order_by("-definition__is_active", "-definition__version", "pk")
        .values_list("code", "name", "is_terminal", "sla_hours")
    )
    states: dict[str, StateInfo] = {}
    for code, name, is_terminal, sla_hours in rows:
        if code not in states:
            states[code] = StateInfo(code, name, is_terminal, sla_hours)
    return list(states.values())


def _officer_name(row: dict[str, Any]) -> str:
    full = f"{row['officer__first_name'] or ''} {row['officer__last_name'] or ''}".strip()
    return full or (row["officer__username"] or "")


def _card(row: dict[str, Any], now: dt.datetime) -> PipelineCard:
    entered = row["state_entered_at"]
    due = row["state_due_at"]
    return PipelineCard(
        pk=row["pk"],
        reference=row["reference"],
        state=row["state"],
        applicant_id=row["applicant_id"],
        applicant_name=row["applicant__display_name"] or "",
        product_code=row["product__code"],
        product_name=row["product__name"],
        product_name_zh=row["product__name_zh"] or "",
        amount=row["amount"],
        currency=row["currency"],
        term_months=row["term_months"],
        branch_name=row["branch__name"] or "",
        officer_id=row["officer_id"],
        officer_name=_officer_name(row),
        state_entered_at=entered,
        state_due_at=due,
        is_breached=due is not None and due < now,
        days_in_state=max((now - entered).days, 0) if entered else 0,
    )


def _scoped_applications(
    *,
    actor: Any,
    product: Any = None,
    branch: Any = None,
    officer: Any = None,
    min_age_days: int | None = None,
    now: dt.datetime,
) -> QuerySet[LoanApplication]:
    queryset = LoanApplication.objects.visible_to(actor).exclude(state="")
    if product:
        queryset = queryset.filter(product_id=getattr(product, "pk", product))
    if branch:
        queryset = queryset.filter(branch_id=getattr(branch, "pk", branch))
    if officer:
        queryset = queryset.filter(officer_id=getattr(officer, "pk", officer))
    if min_age_days:
        queryset = queryset.filter(state_entered_at__lte=now - dt.timedelta(days=min_age_days))
    return queryset


def _oldest_cards(
    queryset: QuerySet[LoanApplication], states: list[str], per_column: int
) -> list[dict[str, Any]]:
    """The ``per_column`` applications longest in each of ``states``, in two queries.

    The first picks the keys: on PostgreSQL one small ``ORDER BY … LIMIT`` per state glued
    with UNION ALL (a top-N of one state's rows each, no join); SQLite, which allows no LIMIT
    inside a compound query, numbers the rows per state with a window function instead. The
    second reads what the cards show for those keys only.
    """
    if not states or per_column <= 0:
        return []
    ordered = ("state_entered_at", "pk")
    keys: list[Any]
    if connection.features.supports_slicing_ordering_in_compound:
        parts = [
            queryset.filter(state=state)
            .order_by(*ordered)
            .values_list("pk", flat=True)[:per_column]
            for state in states
        ]
        combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        keys = list(combined)
    else:
        numbered = queryset.filter(state__in=states).annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("state")],
                order_by=[F("state_entered_at").asc(), F("pk").asc()],
            )
        )
        keys = list(numbered.filter(position__lte=per_column).values_list("pk", flat=True))
    if not keys:
        return []
    return list(LoanApplication.objects.filter(pk__in=keys).values(*_CARD_FIELDS))


def pipeline_board(
    *,
    actor: Any,
    product: Any = None,
    branch: Any = None,
    officer: Any = None,
    min_age_days: int | None = None,
    cards_per_column: int = 20,
    now: dt.datetime | None = None,
) -> PipelineBoard:
    """The applications the actor may see, by workflow state: per column the count, the
    requested amounts per currency, how many are past their SLA and the oldest
    ``cards_per_column`` cards (final states: counts and amounts only).

    Filters: ``product``, ``branch``, ``officer`` (an object or its key) and
    ``min_age_days`` (only applications at least that many days in their state). Four
    queries whatever the number of applications: the states, one GROUP BY, the keys of the
    cards and the cards.
    """
    now = now or timezone.now()
    states = application_states()
    queryset = _scoped_applications(
        actor=actor,
        product=product,
        branch=branch,
        officer=officer,
        min_age_days=min_age_days,
        now=now,
    )
    totals = (
        queryset.order_by()
        .values("state", "currency")
        .annotate(
            count=Count("pk"),
            amount=Sum("amount"),
            breached=Count("pk", filter=Q(state_due_at__lt=now)),
        )
    )
    counts: dict[str, int] = defaultdict(int)
    breached: dict[str, int] = defaultdict(int)
    amounts: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for row in totals:
        state = row["state"]
        counts[state] += row["count"]
        breached[state] += row["breached"]
        amounts[state][row["currency"]] = row["amount"] or Decimal(0)

    known = {state.code for state in states}
    for code in sorted(set(counts) - known):
        # A state no version of the workflow names (data loaded by hand): still on the board.
        states.append(StateInfo(code, code, False, None))

    with_cards = [s.code for s in states if not s.is_terminal and counts.get(s.code)]
    cards: dict[str, list[PipelineCard]] = defaultdict(list)
    for card_row in _oldest_cards(queryset, with_cards, cards_per_column):
        cards[card_row["state"]].append(_card(card_row, now))
    for column_cards in cards.values():
        column_cards.sort(key=lambda card: (card.state_entered_at or now, str(card.pk)))

    columns = [
        PipelineColumn(
            code=state.code,
            name=state.name,
            is_terminal=state.is_terminal,
            sla_hours=state.sla_hours,
            count=counts.get(state.code, 0),
            breached=breached.get(state.code, 0),
            amounts=[
                CurrencyAmount(currency, amount)
                for currency, amount in sorted(amounts.get(state.code, {}).items())
            ],
            cards=cards.get(state.code, []),
        )
        for state in states
    ]
    return PipelineBoard(columns=columns, now=now, cards_per_column=cards_per_column)


# --- The customer 360 ---------------------------------------------------------------------


@dataclass(frozen=True)
class PartyApplicationLine:
    """One of the customer's applications, as the customer 360 lists it."""

    application: LoanApplication
    role: str  # "applicant", "co_applicant" or "guarantor"
    state_name: str
    is_open: bool
    is_breached: bool


@dataclass
class PartyLendingSummary:
    """A customer's applications (open and closed) and loans."""

    open_applications: list[PartyApplicationLine]
    closed_applications: list[PartyApplicationLine]
    loans: list[Loan]
    outstanding: list[CurrencyAmount]
    arrears: list[CurrencyAmount]

    @property
    def is_empty(self) -> bool:
        return not (self.open_applications or self.closed_applications or self.loans)


def party_lending_summary(
    *, actor: Any, party: Any, limit: int = 20, now: dt.datetime | None = None
) -> PartyLendingSummary:
    """What the customer 360 shows of ``party``'s lending: applications where the customer is
    the applicant, a co-applicant or a guarantor (open ones first; at most ``limit`` of
    each kind), and the loans the customer borrows, with their status, bucket and what is
    outstanding. Only what the actor may see; four queries.
    """
    now = now or timezone.now()
    party_pk = getattr(party, "pk", party)
    states = {state.code: state for state in application_states()}
    applications = list(
        LoanApplication.objects.visible_to(actor)
        .filter(Q(applicant_id=party_pk) | Q(parties__party_id=party_pk))
        .select_related("product", "branch")
        .distinct()
        .order_by("-created_at", "-pk")[: limit * 4]
    )
    roles: dict[Any, str] = {}
    if any(application.applicant_id != party_pk for application in applications):
        roles = dict(
            ApplicationParty.objects.filter(
                party_id=party_pk,
                application_id__in=[a.pk for a in applications if a.applicant_id != party_pk],
            ).values_list("application_id", "role")
        )
    open_lines: list[PartyApplicationLine] = []
    closed_lines: list[PartyApplicationLine] = []
    for application in applications:
        state = states.get(application.state)
        is_open = not (state.is_terminal if state else False)
        line = PartyApplicationLine(
            application=application,
            role="applicant"
            if application.applicant_id == party_pk
            else roles.get(application.pk, "co_applicant"),
            state_name=state.name if state else application.state,
            is_open=is_open,
            is_breached=bool(
                is_open and application.state_due_at and application.state_due_at < now
            ),
        )
        (open_lines if is_open else closed_lines).append(line)
    loans = list(
        Loan.objects.visible_to(actor)
        .filter(borrower_id=party_pk)
        .select_related("product")
        .order_by("-disbursed_on", "reference")[:limit]
    )
    outstanding: dict[str, Decimal] = defaultdict(Decimal)
    arrears: dict[str, Decimal] = defaultdict(Decimal)
    for loan in loans:
        if loan.status in (Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF):
            continue
        outstanding[loan.currency] += loan.outstanding_principal
        arrears[loan.currency] += loan.arrears
    return PartyLendingSummary(
        open_applications=open_lines[:limit],
        closed_applications=closed_lines[:limit],
        loans=loans,
        outstanding=[CurrencyAmount(c, a) for c, a in sorted(outstanding.items())],
        arrears=[CurrencyAmount(c, a) for c, a in sorted(arrears.items()) if a],
    )


# --- The loan officer's home page -----------------------------------------------------------


@dataclass(frozen=True)
class OfficerStateLine:
    """How many of my applications are in one state, and how many of them are late."""

    code: str
    name: str
    count: int
    breached: int


@dataclass
class OfficerApplications:
    """My applications (where I am the loan officer) in open states, by state."""

    lines: list[OfficerStateLine]
    breached_cards: list[PipelineCard]

    @property
    def total(self) -> int:
        return sum(line.count for line in self.lines)

    @property
    def breached(self) -> int:
        return sum(line.breached for line in self.lines)


def officer_applications(
    *, actor: Any, breached_limit: int = 5, now: dt.datetime | None = None
) -> OfficerApplications:
    """The actor's own open applications by state, with the count past SLA per state and
    the ``breached_limit`` most overdue ones (for the home page). Three queries."""
    now = now or timezone.now()
    states = [state for state in application_states() if not state.is_terminal]
    open_codes = [state.code for state in states]
    queryset = LoanApplication.objects.visible_to(actor).filter(
        officer_id=getattr(actor, "pk", None), state__in=open_codes
    )
    rows = {
        row["state"]: row
        for row in queryset.order_by()
        .values("state")
        .annotate(count=Count("pk"), breached=Count("pk", filter=Q(state_due_at__lt=now)))
    }
    lines = [
        OfficerStateLine(
            code=state.code,
            name=state.name,
            count=rows[state.code]["count"],
            breached=rows[state.code]["breached"],
        )
        for state in states
        if state.code in rows
    ]
    late: list[PipelineCard] = []
    if any(line.breached for line in lines) and breached_limit > 0:
        late = [
            _card(row, now)
            for row in queryset.filter(state_due_at__lt=now)
            .order_by("state_due_at", "pk")
            .values(*_CARD_FIELDS)[:breached_limit]
        ]
    return OfficerApplications(lines=lines, breached_cards=late)


# --- Filter choices and pending decisions ---------------------------------------------------

# Roles whose holders look after applications (the board's officer filter lists them).
OFFICER_ROLES = ("loan_officer", "branch_manager", "relationship_manager")


def _reach_units(actor: Any) -> QuerySet[Any]:
    """The organisation units within the actor's reach for applications."""
    from bankcrm.access.models import OrgUnit, Role
    from bankcrm.access.permissions import actor_perm_scope, actor_unit_paths

    scope = actor_perm_scope(actor, "lending.view_loanapplication")
    units = OrgUnit.objects.all()
    if scope is None:
        return units.none()
    if scope == Role.DataScope.BANK:
        return units
    paths = actor_unit_paths(actor)
    if not paths:
        return units.none()
    if scope == Role.DataScope.PORTFOLIO:
        return units.filter(path__in=paths)
    condition = Q()
    for path in paths:
        condition |= Q(path__startswith=path)
    return units.filter(condition)


def lending_branch_choices(*, actor: Any) -> list[tuple[int, str]]:
    """The branches the actor's lending pages may filter by (their own reach), by name."""
    from bankcrm.access.models import OrgUnit

    units = _reach_units(actor).filter(kind=OrgUnit.Kind.BRANCH).order_by("name", "pk")
    return [(unit.pk, unit.name) for unit in units]


def lending_officer_choices(*, actor: Any) -> list[tuple[int, str]]:
    """The staff within the actor's reach who look after applications, by name."""
    from bankcrm.access.models import User

    users = (
        User.objects.filter(
            is_active=True,
            roles__code__in=OFFICER_ROLES,
            roles__is_active=True,
            org_unit__in=_reach_units(actor),
        )
        .distinct()
        .order_by("last_name", "first_name", "username")
    )
    return [(user.pk, user.get_full_name() or user.get_username()) for user in users]


def pending_approvals_for(*, actor: Any, target: Any, action: str | None = None) -> list[Any]:
    """Maker-checker requests still waiting for a decision on ``target`` (an application or
    a loan the caller has already read within the actor's reach), oldest first."""
    from bankcrm.core.models.approvals import PendingApproval

    queryset = PendingApproval.objects.filter(
        object_type=target._meta.label_lower,
        object_pk=str(target.pk),
        status=PendingApproval.Status.PENDING,
    ).select_related("maker")
    if action:
        queryset = queryset.filter(action=action)
    return list(queryset.order_by("created_at", "pk"))


@dataclass(frozen=True)
class CollateralSummary:
    """What the collateral of an application is worth to the bank against the amount."""

    counted_value: Decimal | None  # after haircuts; None without collateral
    amount: Decimal
    ltv: Decimal | None  # loan-to-value, percent
    cover: Decimal  # collateral value / amount, percent
    required_cover: Decimal  # the product's requirement, percent (0: unsecured)

    @property
    def is_cover_met(self) -> bool:
        return self.cover >= self.required_cover


def collateral_summary(*, application: LoanApplication) -> CollateralSummary:
    """LTV and cover of the application's collateral at the approved amount (the requested
    one before a decision), computed as the underwriting computes them."""
    from .underwriting import HUNDRED, PERCENT, collateral_cover, collateral_value

    amount = Decimal(application.approved_amount or application.amount)
    value = collateral_value(application)
    ltv = None
    if value:
        ltv = (amount * HUNDRED / value).quantize(PERCENT, ROUND_HALF_UP)
    return CollateralSummary(
        counted_value=value,
        amount=amount,
        ltv=ltv,
        cover=collateral_cover(application, amount) if amount else Decimal(0),
        required_cover=Decimal(application.product.collateral_cover_percent),
    )
