"""The agent's workspace (``/support/``): the open cases assigned to me first, then the
unassigned cases of my queues, each with both SLA clocks counting down in business time;
filters by queue, state, priority and channel; keyset "more" pages (HTMX, or plain links
without script); and the agent's availability switch.

Also what the other customer service pages share: permission checks (403 on a page the
role does not open, 404 on a case the viewer may not see), SLA clocks for display, the rows
of case tables (customer masked when out of the viewer's reach) and keyset pagination.
Every read goes through the case selectors, every change through one service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.calendar import is_working_day, working_calendar
from bankcrm.core.crypto import preload_keys
from bankcrm.core.masking import mask

from . import selectors_cases, selectors_setup, services_setup
from .forms import AvailabilityForm, WorkspaceFilterForm, errors_to
from .models import Queue, QueueMember, ServiceCase
from .sla import sla_status

T = TypeVar("T")

VIEW_CASE = "support.view_servicecase"
ADD_CASE = "support.add_servicecase"
CHANGE_CASE = "support.change_servicecase"
SUPERVISE_QUEUE = "support.supervise_queue"
VIEW_QUEUE = "support.view_queue"
CHANGE_QUEUE = "support.change_queue"
ADD_QUEUE = "support.add_queue"

# Rows of each workspace list per load ("More" brings the next ones): the page shows two
# lists, and rendering their rows is most of its time (bench/service.py at 1,000,000 cases:
# 89–112 ms median with 50 + 50 rows, 66 ms with 25 + 25).
WORKSPACE_PAGE_SIZE = 25
# The case states in which a case is closed for good (never in the workspace).
FINISHED_STATES = frozenset({"resolved", "closed"})


# --- Permissions and requests ----------------------------------------------------------------


def require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def or_404(read: Callable[..., T], **kwargs: Any) -> T:
    """A selector's record, or 404 when it does not exist or the viewer may not see it (its
    existence is not confirmed)."""
    try:
        return read(**kwargs)
    except (ObjectDoesNotExist, PermissionDenied, ValidationError, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def is_htmx(request: HttpRequest, target: str | None = None) -> bool:
    """An HTMX request (not a boosted page load), aimed at ``target`` when one is given."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted:
        return False
    return target is None or htmx.target == target


def status_of(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


def user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def local_name(obj: Any) -> str:
    """A queue's or a case type's name in the reader's language."""
    if obj is None:
        return ""
    chinese_name = str(getattr(obj, "name_zh", None) or "")
    if chinese_name and is_chinese():
        return chinese_name
    return str(obj.name)


# --- SLA clocks for display ------------------------------------------------------------------

CLOCK_LABELS = {
    "first_response": gettext_lazy("First response"),
    "resolution": gettext_lazy("Resolution"),
}
CLOCK_STATE_LABELS = {
    "none": gettext_lazy("No SLA"),
    "running": gettext_lazy("On track"),
    "warning": gettext_lazy("Due soon"),
    "breached": gettext_lazy("Breached"),
    "met": gettext_lazy("Met"),
    "missed": gettext_lazy("Missed"),
    "paused": gettext_lazy("Paused"),
}
# The states in which a clock counts down while the page is open.
TICKING_STATES = frozenset({"running", "warning", "breached"})
# Worst first: the state that sums up a case's two clocks.
STATE_SEVERITY = ("breached", "missed", "warning", "running", "paused", "met", "none")


def duration_text(minutes: int) -> str:
    """Business minutes for people: "2 h 05 min", "45 min"."""
    minutes = abs(int(minutes))
    hours, rest = divmod(minutes, 60)
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": f"{rest:02d}"}
    return _("%(minutes)s min") % {"minutes": rest}


def age_text(since: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, in wall-clock time: "3 d 4 h", "5 h 10 min", "12 min"."""
    if since is None:
        return ""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)s h %(minutes)s min") % {"hours": hours, "minutes": f"{mins:02d}"}
    return _("%(minutes)s min") % {"minutes": mins}


@dataclass(frozen=True)
class ClockView:
    """One SLA clock as the pages show it (and as the countdown script reads it)."""

    kind: str
    label: str
    state: str
    state_label: str
    text: str
    due_at: dt.datetime | None
    remaining_minutes: int | None
    target_minutes: int | None
    warning_percent: int
    # While the clock runs in a working period: its end (the clock stops there), as epoch
    # milliseconds; None when the clock stands still.
    ticks_until_ms: int | None
    rendered_ms: int

    @property
    def ticks(self) -> bool:
        return self.ticks_until_ms is not None


def _overdue_minutes(clock: Any) -> int:
    remaining = clock.remaining_minutes
    if remaining is not None and remaining < 0:
        return -remaining
    if clock.elapsed_minutes is not None and clock.target_minutes is not None:
        return max(clock.elapsed_minutes - clock.target_minutes, 0)
    return 0


def _clock_text(clock: Any) -> str:
    state = clock.state
    if state in ("running", "warning") and clock.remaining_minutes is not None:
        return _("%(time)s left") % {"time": duration_text(max(clock.remaining_minutes, 0))}
    if state == "breached":
        overdue = _overdue_minutes(clock)
        if not overdue:
            # Due at the end of the last working period: no business minute has passed since.
            return _("Overdue")
        return _("%(time)s overdue") % {"time": duration_text(overdue)}
    if state == "paused" and clock.remaining_minutes is not None:
        if clock.remaining_minutes < 0:
            return _("Paused, %(time)s overdue") % {"time": duration_text(_overdue_minutes(clock))}
        return _("Paused, %(time)s left") % {"time": duration_text(clock.remaining_minutes)}
    return str(CLOCK_STATE_LABELS.get(state, state))


class WorkingPeriods:
    """The end of the working period a moment falls in, per calendar (computed once per
    calendar and request): a countdown runs until then, and stands still outside work."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._ends: dict[Any, dt.datetime | None] = {}

    def period_end(self, calendar: Any) -> dt.datetime | None:
        if calendar is None:
            # Without a calendar every minute counts: the clock never stands still.
            return self.now + dt.timedelta(days=1)
        if calendar.pk not in self._ends:
            self._ends[calendar.pk] = self._compute(calendar)
        return self._ends[calendar.pk]

    def _compute(self, calendar: Any) -> dt.datetime | None:
        rules = working_calendar(calendar)
        local = self.now.astimezone(rules.zone)
        if not is_working_day(rules, local.date()):
            return None
        minute = local.hour * 60 + local.minute
        for start, end in rules.periods:
            if start <= minute < end:
                day = local.date() + dt.timedelta(days=end // 1440)
                clock = dt.time((end % 1440) // 60, end % 60)
                return dt.datetime.combine(day, clock, tzinfo=rules.zone).astimezone(dt.UTC)
        return None


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def clock_view(clock: Any, case: ServiceCase, periods: WorkingPeriods) -> ClockView:
    ticks_until = None
    if clock.state in TICKING_STATES and clock.remaining_minutes is not None:
        end = periods.period_end(case.sla_calendar)
        if end is not None:
            ticks_until = _epoch_ms(end)
    return ClockView(
        kind=clock.kind,
        label=str(CLOCK_LABELS.get(clock.kind, clock.kind)),
        state=clock.state,
        state_label=str(CLOCK_STATE_LABELS.get(clock.state, clock.state)),
        text=_clock_text(clock),
        due_at=clock.due_at,
        remaining_minutes=clock.remaining_minutes,
        target_minutes=clock.target_minutes,
        warning_percent=case.sla_warning_percent,
        ticks_until_ms=ticks_until,
        rendered_ms=_epoch_ms(periods.now),
    )


def case_clocks(case: ServiceCase, periods: WorkingPeriods) -> list[ClockView]:
    """The case's first-response and resolution clocks."""
    status = sla_status(case, now=periods.now)
    return [
        clock_view(status.first_response, case, periods),
        clock_view(status.resolution, case, periods),
    ]


def summary_state(clocks: Iterable[ClockView]) -> str:
    """The worst state of a case's clocks (one badge in short lists)."""
    states = {clock.state for clock in clocks}
    for state in STATE_SEVERITY:
        if state in states:
            return state
    return "none"


# --- Case rows -------------------------------------------------------------------------------


@dataclass
class CaseRow:
    """A case in a table: the case, its customer as the viewer may see it, its state's name,
    both SLA clocks and its age."""

    case: ServiceCase
    customer: str
    customer_pk: Any
    state_name: str
    clocks: list[ClockView]
    age: str
    sla_state: str = "none"
    sla_state_label: str = ""
    queue_name: str = ""
    type_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def state_names(workflow_ids: Iterable[Any]) -> dict[tuple[Any, str], str]:
    """The names of the states of these workflows, by (workflow, code): one query."""
    from bankcrm.core.models.workflow import WorkflowState

    ids = {pk for pk in workflow_ids if pk}
    if not ids:
        return {}
    return {
        (definition_id, code): name
        for definition_id, code, name in WorkflowState.objects.filter(
            definition_id__in=ids
        ).values_list("definition_id", "code", "name")
    }


def visible_party_pks(actor: Any, party_pks: Iterable[Any]) -> set[Any]:
    """Which of these customers the viewer may see (one query): the others' names are
    masked (a case reached through a queue may belong to another branch's customer)."""
    from bankcrm.customers.selectors import party_list

    pks = {pk for pk in party_pks if pk}
    if not pks or not actor_has_perm(actor, "customers.view_party"):
        return set()
    return set(party_list(actor=actor).filter(pk__in=pks).values_list("pk", flat=True))


def customer_label(case: ServiceCase, visible: set[Any]) -> tuple[str, Any]:
    """The customer's name when the viewer may see the customer, else masked; the contact's
    name, masked, for a case without a customer."""
    if case.party is not None:
        name = case.party.display_name
        if case.party_id in visible:
            return name, case.party_id
        return mask(name, "name"), None
    contact = case.contact_name
    return (mask(contact, "name") if contact else ""), None


def case_rows(actor: Any, cases: list[ServiceCase], now: dt.datetime) -> list[CaseRow]:
    """Table rows for ``cases`` (loaded with ``select_related`` of their type, queue,
    customer, assignee and calendar): a fixed number of queries however many rows."""
    names = state_names(case.workflow_id for case in cases)
    visible = visible_party_pks(actor, (case.party_id for case in cases))
    # Contact names of cases without a customer are sealed under the table's key.
    preload_keys([case for case in cases if not case.party_id])
    periods = WorkingPeriods(now)
    rows = []
    for case in cases:
        clocks = case_clocks(case, periods)
        customer, customer_pk = customer_label(case, visible)
        state = summary_state(clocks)
        rows.append(
            CaseRow(
                case=case,
                customer=customer,
                customer_pk=customer_pk,
                state_name=names.get((case.workflow_id, case.state), case.state),
                clocks=clocks,
                age=age_text(case.received_at, now),
                sla_state=state,
                sla_state_label=str(CLOCK_STATE_LABELS.get(state, state)),
                queue_name=local_name(case.queue),
                type_name=local_name(case.case_type),
            )
        )
    return rows


ROW_RELATED = ("case_type", "queue", "party", "assigned_to", "sla_calendar")
# Sealed fields a table never shows (the contact's name is shown masked).
ROW_DEFERRED = ("description", "resolution_note", "contact_email", "contact_phone")


def for_rows(queryset: QuerySet[ServiceCase]) -> QuerySet[ServiceCase]:
    return queryset.select_related(*ROW_RELATED).defer(*ROW_DEFERRED)


# --- Keyset pages ----------------------------------------------------------------------------


@dataclass
class KeysetPage:
    """One page of cases and the cursor of the next (None on the last page)."""

    items: list[ServiceCase]
    next_cursor: str | None


# --- Choices shared by the pages -------------------------------------------------------------


def queue_choices(queues: Iterable[Queue]) -> list[tuple[str, str]]:
    return [(str(queue.pk), local_name(queue)) for queue in queues]


def state_choices(*, open_only: bool = False) -> list[tuple[str, str]]:
    """The states of the case workflows (one entry per code, the first name found)."""
    from bankcrm.core.models.workflow import WorkflowState

    rows = (
        WorkflowState.objects.filter(
            definition__key__startswith="support_", definition__is_active=True
        )
        .order_by("pk")
        .values_list("code", "name", "is_terminal")
    )
    choices: dict[str, str] = {}
    for code, name, is_terminal in rows:
        if open_only and (is_terminal or code in FINISHED_STATES):
            continue
        choices.setdefault(code, name)
    return list(choices.items())


# --- The workspace ---------------------------------------------------------------------------


def my_memberships(actor: Any) -> list[QueueMember]:
    """The signed-in agent's own queue memberships (their availability per queue)."""
    return list(selectors_setup.my_queue_memberships(actor=actor))


def _section_filters(form: WorkspaceFilterForm, queues: dict[str, Queue]) -> dict[str, Any]:
    data = form.cleaned_data if form.is_bound and form.is_valid() else {}
    filters: dict[str, Any] = {}
    if data.get("queue"):
        filters["queue"] = queues[data["queue"]]
    for name in ("state", "priority", "channel"):
        if data.get(name) not in (None, ""):
            filters[name] = data[name]
    return filters


# The workspace's lists and the selector's sections.
SECTIONS = (("mine", "mine"), ("queue", "unassigned"))


def _section(
    request: HttpRequest, filters: dict[str, Any], *, section: str, cursor: str | None
) -> KeysetPage:
    """One list of the workspace, from after ``cursor``; a cursor that does not decode
    starts from the first page."""
    try:
        page = selectors_cases.agent_workspace_page(
            actor=request.user,
            section=section,
            cursor=cursor,
            limit=WORKSPACE_PAGE_SIZE,
            **filters,
        )
    except ValidationError:
        page = selectors_cases.agent_workspace_page(
            actor=request.user, section=section, limit=WORKSPACE_PAGE_SIZE, **filters
        )
    return KeysetPage(items=page.items, next_cursor=page.next_cursor)


def availability_context(request: HttpRequest, memberships: list[QueueMember]) -> dict[str, Any]:
    is_available = any(member.is_available for member in memberships)
    return {
        "memberships": memberships,
        "is_available": is_available,
        "availability_form": AvailabilityForm(
            auto_id="availability_%s", initial={"is_available": "0" if is_available else "1"}
        ),
    }


@login_required
@require_GET
def workspace(request: HttpRequest) -> HttpResponse:
    """My open cases, then the unassigned cases of my queues, soonest resolution due first.

    ``section`` and ``cursor`` ask for the next page of one list: an HTMX request gets its
    rows only, a plain request the whole page with that list moved on."""
    require(request, VIEW_CASE)
    actor = request.user
    queues = list(selectors_cases.queue_list(actor=actor))
    by_pk = {str(queue.pk): queue for queue in queues}
    form = WorkspaceFilterForm(
        request.GET or None,
        queues=queue_choices(queues),
        states=state_choices(open_only=True),
        auto_id="filter_%s",
    )
    filters = _section_filters(form, by_pk)
    memberships = my_memberships(actor)
    section = request.GET.get("section", "")
    cursor = request.GET.get("cursor") or None
    now = timezone.now()
    pages: dict[str, KeysetPage] = {}
    for name, selector_section in SECTIONS:
        if section and section != name and is_htmx(request):
            continue
        pages[name] = _section(
            request,
            filters,
            section=selector_section,
            cursor=cursor if section == name else None,
        )
    base_query = request.GET.copy()
    for key in ("section", "cursor"):
        base_query.pop(key, None)
    context: dict[str, Any] = {
        "form": form,
        "filter_query": base_query.urlencode(),
        "sections": [
            {
                "name": name,
                "rows": case_rows(actor, page.items, now),
                "next_cursor": page.next_cursor,
            }
            for name, page in pages.items()
        ],
        "may_add": may(request, ADD_CASE),
        **availability_context(request, memberships),
    }
    if section in pages and is_htmx(request):
        return render(
            request,
            "support/partials/workspace_rows.html",
            {**context, "section": context["sections"][0]},
        )
    return render(request, "support/workspace.html", context)


@login_required
@require_POST
def availability(request: HttpRequest) -> HttpResponse:
    """Mark myself available for new cases, or away (in every queue I work, or one)."""
    require(request, VIEW_CASE)
    form = AvailabilityForm(request.POST, auto_id="availability_%s")
    if form.is_valid():
        queue = None
        if form.cleaned_data.get("queue"):
            memberships = {m.queue_id: m.queue for m in my_memberships(request.user)}
            queue = memberships.get(form.cleaned_data["queue"])
            if queue is None:
                raise Http404(_("Nothing was found at this address."))
        try:
            services_setup.agent_availability_set(
                actor=request.user, is_available=form.cleaned_data["is_available"], queue=queue
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
        else:
            if not is_htmx(request):
                messages.success(
                    request,
                    _("You are available for new cases.")
                    if form.cleaned_data["is_available"]
                    else _("You are away: no new cases are assigned to you."),
                )
                return HttpResponseRedirect(reverse("support:workspace"))
    context = availability_context(request, my_memberships(request.user))
    if form.errors:
        context["availability_form"] = form
    if is_htmx(request):
        # HTMX swaps only successful answers: the refusal is shown in the box itself.
        return render(request, "support/partials/workspace_availability.html", context)
    messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return HttpResponseRedirect(reverse("support:workspace"))
