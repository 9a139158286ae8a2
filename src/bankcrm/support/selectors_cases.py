"""Reading service cases and queues, always within the actor's reach.

**Visibility.** A case is visible to an actor when ``ServiceCase.objects.restrict(actor,
action)`` keeps it (the case's org unit within the actor's units for unit roles, the
customer's portfolio for relationship managers, every case for bank-wide roles) **or** it
sits in a queue the actor works in (``QueueMember``) or supervises (``Queue.supervisor``);
the queue part counts only for an actor holding ``support.<action>_servicecase`` at all.
Writes use the same rule with ``action="change"``. A case out of reach does not exist for
the actor: :func:`case_get` raises ``ServiceCase.DoesNotExist`` (a 404 on pages and in the
API, never a 403 that would confirm the case exists).

**Big tables.** The queue page and the search stay fast at a million cases: the actor's
units become a list of unit keys (one small query) so that the conditions use the case
indexes; pages are keyset-paginated (no OFFSET, no COUNT); the queue page reads each queue
in the order of its due indexes and merges (no sort of a whole queue); each search
criterion is its own indexed query, merged here, and criteria no index serves look among a
bounded window of the newest cases (:data:`SEARCH_WINDOW`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
import uuid
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    F,
    Min,
    Q,
    QuerySet,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope, actor_unit_paths
from bankcrm.core.actor import is_system

from . import error_codes
from .models import CaseLink, CaseMessage, CaseType, Queue, QueueMember, ServiceCase

__all__ = [
    "CASE_LIST_FILTERS",
    "SEARCH_WINDOW",
    "CasePage",
    "actor_queue_ids",
    "agent_queue_page",
    "agent_workspace_page",
    "case_get",
    "case_links",
    "case_list",
    "case_list_page",
    "case_messages",
    "case_next_due",
    "case_search",
    "case_visible",
    "customer_cases",
    "may_supervise",
    "queue_get",
    "queue_list",
    "supervised_queue_ids",
    "supervisor_overview",
]

# What a page of cases shows next to each case: its type, queue, customer, agent and the
# calendar of its SLA clocks (``sla_status`` reads it without a query).
PAGE_RELATED = ("case_type", "queue", "party", "assigned_to", "sla_calendar")

REFERENCE_PATTERN = re.compile(r"^\s*(SC-\d{4}-\d{6,})\s*$", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_PAGE = 200
# A name shared by at most this many customers is searched customer by customer.
NAMED_CUSTOMERS = 200
# Search criteria no index serves (a word inside a subject, a name prefix thousands of
# customers share) look among this many of the bank's newest cases.
SEARCH_WINDOW = 20_000


# --- Visibility ----------------------------------------------------------------------------


def _is_person(actor: Any) -> bool:
    return not is_system(actor) and getattr(actor, "pk", None) is not None


def _unit_ids_below(paths: Iterable[str]) -> list[int]:
    condition = Q()
    for path in paths:
        condition |= Q(path__startswith=path)
    return list(OrgUnit.objects.filter(condition).values_list("pk", flat=True))


_NOTHING = Q(pk__in=[])


def _scope_condition(actor: Any, action: str) -> Q | None:
    """The rows ``restrict(actor, action)`` keeps, as a condition on the case's own columns
    (unit keys instead of a join on the unit's path): None without the permission at all,
    an empty Q when every case is kept."""
    scope = actor_perm_scope(actor, f"support.{action}_servicecase")
    if scope is None:
        return None
    if scope == Role.DataScope.BANK:
        return Q()
    if scope == Role.DataScope.UNIT:
        paths = actor_unit_paths(actor)
        return Q(org_unit_id__in=_unit_ids_below(paths)) if paths else _NOTHING
    if scope == Role.DataScope.PORTFOLIO:
        return Q(party__portfolio__manager_id=actor.pk)
    # An unknown scope value in a role grants nothing rather than everything.
    return _NOTHING


def actor_queue_ids(actor: Any) -> list[int]:
    """Keys of the queues the actor works in or supervises (none for the system)."""
    if not _is_person(actor):
        return []
    return sorted(
        set(
            Queue.objects.filter(Q(members__user_id=actor.pk) | Q(supervisor_id=actor.pk))
            .values_list("pk", flat=True)
            .distinct()
        )
    )


def _visible(actor: Any, action: str, queue_ids: list[int] | None = None) -> QuerySet[ServiceCase]:
    condition = _scope_condition(actor, action)
    if condition is None:
        # Without the permission at all, queue membership grants nothing either.
        return ServiceCase.objects.none()
    if not condition:
        return ServiceCase.objects.all()
    if queue_ids is None:
        queue_ids = actor_queue_ids(actor)
    if queue_ids:
        condition = condition | Q(queue_id__in=queue_ids)
    return ServiceCase.objects.filter(condition)


def case_visible(*, actor: Any, action: str = "view") -> QuerySet[ServiceCase]:
    """Cases the actor may see (``action="view"``) or change (``"change"``): the module's
    visibility rule (see the module docstring)."""
    return _visible(actor, action)


def case_get(*, actor: Any, pk: Any = None, reference: str | None = None) -> ServiceCase:
    """One case the actor may see, by key or reference; ``ServiceCase.DoesNotExist`` when it
    does not exist or lies out of reach (the same answer, so nothing is confirmed)."""
    queryset = case_visible(actor=actor).select_related(
        *PAGE_RELATED, "opened_by", "merged_into", "workflow", "org_unit", "party__portfolio"
    )
    try:
        if reference:
            return queryset.get(reference=reference.strip().upper())
        if pk is None:
            raise ServiceCase.DoesNotExist
        return queryset.get(pk=uuid.UUID(str(pk)))
    except (ValueError, TypeError, ValidationError) as exc:
        raise ServiceCase.DoesNotExist from exc


# --- Lists ---------------------------------------------------------------------------------

CASE_LIST_FILTERS = (
    "queue",
    "state",
    "assigned_to",
    "case_type",
    "channel",
    "priority",
    "is_open",
    "breached",
    "party",
    "received_from",
    "received_to",
    "q",
)


def _bad_filter(name: str, message: str) -> ValidationError:
    return ValidationError({name: ValidationError(message, code=error_codes.CASE_FILTER_INVALID)})


def _bank_midnight(day: dt.date) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone).astimezone(dt.UTC)


def _as_instant(name: str, value: Any, *, end: bool) -> dt.datetime:
    if isinstance(value, str):
        try:
            value = (
                dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value)
            )
        except ValueError:
            raise _bad_filter(name, _("Give a date (YYYY-MM-DD) or a date and time.")) from None
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise _bad_filter(name, _("Give the time with its time zone."))
        return value
    if isinstance(value, dt.date):
        # A day is the bank's business day; "to" includes the whole day.
        return _bank_midnight(value + dt.timedelta(days=1) if end else value)
    raise _bad_filter(name, _("Give a date (YYYY-MM-DD) or a date and time."))


def _breached_condition(now: dt.datetime) -> Q:
    """Cases whose SLA is breached: flagged by the sweep, or past a running due already."""
    running = Q(sla_paused_since__isnull=True)
    return (
        Q(first_response_breached_at__isnull=False)
        | Q(resolution_breached_at__isnull=False)
        | (running & Q(first_responded_at__isnull=True, first_response_due_at__lt=now))
        | (running & Q(resolution_due_at__lt=now))
    )


def _truthy(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.lower() in {"0", "false", "no", "off"}:
        return False
    raise _bad_filter(name, _("Give true or false."))


def _pk_of(value: Any) -> Any:
    return getattr(value, "pk", value)


def case_list(*, actor: Any, filters: dict[str, Any] | None = None) -> QuerySet[ServiceCase]:
    """Cases the actor may see, newest first, narrowed by ``filters``:

    ``queue`` (queue, code or key), ``state`` (a state code or a list), ``assigned_to``
    ("me", "none", a user or key), ``case_type`` (type or code), ``channel``, ``priority``,
    ``is_open``, ``breached`` (an SLA clock breached), ``party`` (customer or key),
    ``received_from`` / ``received_to`` (dates are the bank's business days, "to"
    inclusive) and ``q`` (reference, subject, customer name or contact e-mail). Empty
    values are ignored; an unknown filter or a bad value raises ValidationError naming it.
    """
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    unknown = sorted(set(filters) - set(CASE_LIST_FILTERS))
    if unknown:
        raise ValidationError(
            {
                name: ValidationError(
                    _("Unknown filter “%(name)s”.") % {"name": name},
                    code=error_codes.CASE_FILTER_INVALID,
                )
                for name in unknown
            }
        )
    queryset = case_visible(actor=actor).select_related(*PAGE_RELATED)
    queue = filters.get("queue")
    if queue is not None:
        if isinstance(queue, Queue):
            queryset = queryset.filter(queue_id=queue.pk)
        elif isinstance(queue, int) or (isinstance(queue, str) and queue.isdigit()):
            queryset = queryset.filter(queue_id=int(queue))
        else:
            queryset = queryset.filter(queue__code=str(queue))
    state = filters.get("state")
    if state is not None:
        states = list(state) if isinstance(state, list | tuple | set) else [state]
        queryset = queryset.filter(state__in=[str(s) for s in states])
    assigned = filters.get("assigned_to")
    if assigned is not None:
        if assigned == "me":
            queryset = queryset.filter(assigned_to_id=getattr(actor, "pk", None))
        elif assigned == "none":
            queryset = queryset.filter(assigned_to__isnull=True)
        else:
            try:
                queryset = queryset.filter(assigned_to_id=int(_pk_of(assigned)))
            except (TypeError, ValueError):
                raise _bad_filter("assigned_to", _("Give “me”, “none” or a user's key.")) from None
    case_type = filters.get("case_type")
    if case_type is not None:
        if isinstance(case_type, CaseType):
            queryset = queryset.filter(case_type_id=case_type.pk)
        else:
            queryset = queryset.filter(case_type__code=str(case_type))
    if "channel" in filters:
        queryset = queryset.filter(channel=str(filters["channel"]))
    if "priority" in filters:
        try:
            queryset = queryset.filter(priority=int(filters["priority"]))
        except (TypeError, ValueError):
            raise _bad_filter("priority", _("Give a priority from 1 to 4.")) from None
    if "is_open" in filters:
        queryset = queryset.filter(is_open=_truthy("is_open", filters["is_open"]))
    if "breached" in filters:
        condition = _breached_condition(timezone.now())
        if _truthy("breached", filters["breached"]):
            queryset = queryset.filter(condition, is_open=True)
        else:
            queryset = queryset.exclude(condition & Q(is_open=True))
    party = filters.get("party")
    if party is not None:
        try:
            queryset = queryset.filter(party_id=uuid.UUID(str(_pk_of(party))))
        except ValueError:
            raise _bad_filter("party", _("Give a customer's key.")) from None
    if "received_from" in filters:
        start = _as_instant("received_from", filters["received_from"], end=False)
        queryset = queryset.filter(received_at__gte=start)
    if "received_to" in filters:
        raw = filters["received_to"]
        end = _as_instant("received_to", raw, end=True)
        is_day = not isinstance(raw, dt.datetime) and not (isinstance(raw, str) and "T" in raw)
        queryset = (
            queryset.filter(received_at__lt=end)
            if is_day
            else queryset.filter(received_at__lte=end)
        )
    if "q" in filters:
        queryset = queryset.filter(_search_condition(str(filters["q"]), actor))
    return queryset.order_by("-received_at", "-pk")


@dataclass
class CasePage:
    """One page of cases and the cursor of the next page (None on the last page)."""

    items: list[ServiceCase]
    next_cursor: str | None = None


def _encode_cursor(key: dt.datetime | None, pk: Any) -> str:
    raw = f"{key.isoformat() if key is not None else '-'}|{pk}".encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime | None, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        key_text, pk_text = raw.split("|")
        key = None if key_text == "-" else dt.datetime.fromisoformat(key_text)
        if key is not None and timezone.is_naive(key):
            raise ValueError("naive cursor")
        return key, uuid.UUID(pk_text)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationError(
            {
                "cursor": ValidationError(
                    _("This page cursor is not valid."), code=error_codes.CASE_CURSOR_INVALID
                )
            }
        ) from None


def _limit(limit: int) -> int:
    try:
        return max(1, min(int(limit), MAX_PAGE))
    except (TypeError, ValueError):
        raise _bad_filter("limit", _("Give a number of cases.")) from None


def case_list_page(
    *,
    actor: Any,
    filters: dict[str, Any] | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> CasePage:
    """A keyset page of :func:`case_list`, newest first (``cursor`` from the previous
    page). No COUNT: the next cursor is there when one more case exists."""
    limit = _limit(limit)
    queryset = case_list(actor=actor, filters=filters)
    if cursor:
        received, pk = _decode_cursor(cursor)
        if received is None:  # a list cursor always carries a time
            raise _bad_filter("cursor", _("This page cursor is not valid."))
        queryset = queryset.filter(Q(received_at__lt=received) | Q(received_at=received, pk__lt=pk))
    items = list(queryset[: limit + 1])
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        next_cursor = _encode_cursor(items[-1].received_at, items[-1].pk)
    return CasePage(items=items, next_cursor=next_cursor)


# --- The agent's queue page ----------------------------------------------------------------

# Up to this many queues, the page reads each queue in the order of its due index and merges
# them; beyond, one query sorts the open cases of all of them.
MERGED_QUEUES = 4


def _next_due() -> Any:
    """The earlier of the dues still ahead of the case: the first-response due while no
    response is recorded, and the resolution due; NULL when the case has no SLA."""
    return Case(
        When(
            first_responded_at__isnull=True,
            first_response_due_at__isnull=False,
            then=Least(
                F("first_response_due_at"),
                Coalesce(F("resolution_due_at"), F("first_response_due_at")),
            ),
        ),
        default=F("resolution_due_at"),
        output_field=DateTimeField(),
    )


def case_next_due(case: ServiceCase) -> dt.datetime | None:
    """:func:`_next_due` of a loaded case (the queue page's order)."""
    first, resolution = case.first_response_due_at, case.resolution_due_at
    if case.first_responded_at is None and first is not None:
        return min(first, resolution or first)
    return resolution


def _urgent_first(
    base: QuerySet[ServiceCase], parts: list[dict[str, Any]], cursor: str | None, wanted: int
) -> list[ServiceCase]:
    """The ``wanted`` first cases of ``base`` after ``cursor`` by (next due, key), NULL
    dues last.

    The next due is the earlier of two columns, which no index orders. So each part (one
    queue, one agent) is read twice in index order, ``wanted`` keys each: by resolution due
    (the queue and agent indexes) and, among cases awaiting their first response, by
    first-response due (the open-cases index). A case among the first ``wanted`` by next
    due is among the first ``wanted`` of the reading whose column gives its next due, so
    merging the two readings and keeping ``wanted`` is exact; no query sorts a whole queue.
    Both readings start at the cursor's due (the next due is at most either column). Cases
    without any due are read, by key, only when the others run out. Then one query loads
    the chosen cases with what the page shows.
    """
    key: dt.datetime | None = None
    after_pk: uuid.UUID | None = None
    if cursor:
        key, after_pk = _decode_cursor(cursor)
    annotated = base.annotate(next_due=_next_due())
    dues: dict[Any, dt.datetime | None] = {}
    if after_pk is None or key is not None:
        after = Q()
        if key is not None:
            after = Q(next_due__gt=key) | Q(next_due=key, pk__gt=after_pk)
        for part in parts:
            rows = annotated.filter(after, **part)
            by_resolution = rows.filter(resolution_due_at__isnull=False)
            by_first = rows.filter(
                first_responded_at__isnull=True, first_response_due_at__isnull=False
            )
            if key is not None:
                by_resolution = by_resolution.filter(resolution_due_at__gte=key)
                by_first = by_first.filter(first_response_due_at__gte=key)
            for reading in (
                by_resolution.order_by("resolution_due_at", "pk"),
                by_first.order_by("first_response_due_at", "pk"),
            ):
                dues.update(reading.values_list("pk", "next_due")[:wanted])
    chosen = sorted(dues, key=lambda pk: (dues[pk], pk))[:wanted]
    if len(chosen) < wanted:
        # Past every due: the cases without an SLA, by key.
        undue = annotated.filter(next_due__isnull=True)
        if key is None and after_pk is not None:
            undue = undue.filter(pk__gt=after_pk)
        keys: set[Any] = set()
        for part in parts:
            keys.update(undue.filter(**part).order_by("pk").values_list("pk", flat=True)[:wanted])
        for pk in sorted(keys)[: wanted - len(chosen)]:
            dues[pk] = None
            chosen.append(pk)
    loaded = ServiceCase.objects.select_related(*PAGE_RELATED).in_bulk(chosen)
    items = []
    for pk in chosen:
        case = loaded[pk]
        case.next_due = dues[pk]  # type: ignore[attr-defined]
        items.append(case)
    return items


def agent_queue_page(
    *,
    actor: Any,
    queue: Queue | None = None,
    mine_only: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> CasePage:
    """Open cases to work on, the most urgent first: ordered by the earlier of the two SLA
    dues still ahead (cases without an SLA last), then by key; keyset pagination.

    ``queue`` narrows to one queue; without it, the queues the actor works in or
    supervises (every visible open case for an actor without a queue). ``mine_only``: the
    cases assigned to the actor, whatever their queue. Each case comes with its type,
    queue, customer, agent and SLA calendar (no query per row).
    """
    limit = _limit(limit)
    if cursor:
        _decode_cursor(cursor)  # a bad cursor is an error even for an empty page
    if not actor_has_perm(actor, "support.view_servicecase"):
        return CasePage(items=[])
    queue_ids = actor_queue_ids(actor)
    me = getattr(actor, "pk", None)
    open_cases = ServiceCase.objects.filter(is_open=True)
    parts: list[dict[str, Any]]
    if queue is not None:
        # The queue's own agents and supervisor see all of its cases.
        base = open_cases if queue.pk in queue_ids else _visible(actor, "view", queue_ids)
        base = base.filter(is_open=True, queue_id=queue.pk)
        parts = [{"assigned_to_id": me}] if mine_only else [{"queue_id": queue.pk}]
    elif mine_only:
        base = _visible(actor, "view", queue_ids).filter(is_open=True)
        parts = [{"assigned_to_id": me}]
    elif queue_ids:
        base = open_cases
        if len(queue_ids) <= MERGED_QUEUES:
            parts = [{"queue_id": pk} for pk in queue_ids]
        else:
            parts = [{"queue_id__in": queue_ids}]
    else:
        base = _visible(actor, "view", queue_ids).filter(is_open=True)
        parts = [{}]
    items = _urgent_first(base, parts, cursor, limit + 1)
    next_cursor = None
    if len(items) > limit:
        items = items[:limit]
        last = items[-1]
        next_cursor = _encode_cursor(last.next_due, last.pk)  # type: ignore[attr-defined]
    return CasePage(items=items, next_cursor=next_cursor)


# --- The agent's workspace ------------------------------------------------------------------

WORKSPACE_SECTIONS = ("mine", "unassigned")
# Sealed fields a table of cases never shows (the contact's name is shown masked).
ROW_DEFERRED = ("description", "resolution_note", "contact_email", "contact_phone")
WORKSPACE_RELATED = ("case_type", "queue", "party", "sla_calendar")


def _by_resolution_due(
    rows: QuerySet[ServiceCase],
    key: dt.datetime | None,
    after_pk: uuid.UUID | None,
    wanted: int,
) -> list[tuple[Any, dt.datetime | None]]:
    """Keys and resolution dues of the ``wanted`` first of ``rows`` after the cursor
    (``key``, ``after_pk``) by (resolution due, key), cases without a due last: one
    reading in the order of a due index (from the cursor's due on) and one of the cases
    without a due, by key. Always the same queries, however many cases there are."""
    found: list[tuple[Any, dt.datetime | None]] = []
    if after_pk is None or key is not None:
        dated = rows.filter(resolution_due_at__isnull=False)
        if key is not None:
            dated = dated.filter(
                Q(resolution_due_at__gt=key) | Q(resolution_due_at=key, pk__gt=after_pk),
                resolution_due_at__gte=key,
            )
        found += dated.order_by("resolution_due_at", "pk").values_list("pk", "resolution_due_at")[
            :wanted
        ]
    undated = rows.filter(resolution_due_at__isnull=True)
    if key is None and after_pk is not None:
        undated = undated.filter(pk__gt=after_pk)
    found += undated.order_by("pk").values_list("pk", "resolution_due_at")[:wanted]
    return found


def agent_workspace_page(
    *,
    actor: Any,
    section: str = "mine",
    queue: Queue | None = None,
    state: str | None = None,
    priority: int | None = None,
    channel: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> CasePage:
    """One list of the agent's workspace: open cases the actor may see, soonest
    resolution due first (cases without a due last), then by key; keyset pagination.

    ``section`` "mine": the cases assigned to the actor (in any queue); "unassigned": the
    unassigned cases of the queues the actor works in or supervises (every visible
    unassigned case for an actor in no queue). ``queue``, ``state``, ``priority`` and
    ``channel`` narrow either list. Each queue (or the actor's own cases) is read in the
    order of its due index, keys only, and the readings merged: no query sorts a whole
    queue. Then one query loads the page's cases with their type, queue, customer, agent
    and SLA calendar. The number of queries does not depend on the page size or on how
    many cases there are (only on how many queues the actor works in).
    """
    if section not in WORKSPACE_SECTIONS:
        raise _bad_filter("section", _("Give “mine” or “unassigned”."))
    limit = _limit(limit)
    key: dt.datetime | None = None
    after_pk: uuid.UUID | None = None
    if cursor:
        key, after_pk = _decode_cursor(cursor)
    if not actor_has_perm(actor, "support.view_servicecase"):
        return CasePage(items=[])
    queue_ids = actor_queue_ids(actor)
    base = _visible(actor, "view", queue_ids).filter(is_open=True)
    if state not in (None, ""):
        base = base.filter(state=str(state))
    if priority not in (None, ""):
        try:
            base = base.filter(priority=int(priority))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _bad_filter("priority", _("Give a priority from 1 to 4.")) from None
    if channel not in (None, ""):
        base = base.filter(channel=str(channel))
    if queue is not None:
        base = base.filter(queue_id=queue.pk)
    parts: list[dict[str, Any]]
    if section == "mine":
        parts = [{"assigned_to_id": getattr(actor, "pk", None)}]
    else:
        base = base.filter(assigned_to__isnull=True)
        if queue is not None or not queue_ids:
            parts = [{}]
        else:
            parts = [{"queue_id": pk} for pk in queue_ids]
    found: dict[Any, dt.datetime | None] = {}
    for part in parts:
        found.update(_by_resolution_due(base.filter(**part), key, after_pk, limit + 1))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    chosen = sorted(found, key=lambda pk: (found[pk] is None, found[pk] or far, pk))
    next_cursor = None
    if len(chosen) > limit:
        chosen = chosen[:limit]
        next_cursor = _encode_cursor(found[chosen[-1]], chosen[-1])
    if not chosen:
        return CasePage(items=[])
    # The workspace shows no assignee (one list is mine, the other unassigned): the user is
    # not joined, which spares loading one per case.
    loaded = (
        ServiceCase.objects.select_related(*WORKSPACE_RELATED).defer(*ROW_DEFERRED).in_bulk(chosen)
    )
    return CasePage(items=[loaded[pk] for pk in chosen if pk in loaded], next_cursor=next_cursor)


# --- Search --------------------------------------------------------------------------------


def _name_condition(text: str, prefix: str = "party__") -> Q | None:
    """Customers whose name starts with the text, through the customers' search columns
    and the customer search's own normalisation (characters, pinyin with or without tones
    and spaces). ``prefix`` reaches the customer ("" on the customers themselves)."""
    from bankcrm.customers.naming import search_name_of
    from bankcrm.customers.search import classify_query, pinyin_segmentations

    parsed = classify_query(text)
    if not parsed.is_name:
        return None
    key = search_name_of(parsed.text)
    condition = Q(**{f"{prefix}search_name__startswith": key}) if key else Q(pk__in=[])
    for syllables in pinyin_segmentations(parsed.pinyin):
        condition |= Q(**{f"{prefix}search_pinyin__startswith": " ".join(syllables)})
    return condition


def _email_index(text: str) -> str | None:
    from bankcrm.core.crypto import blind_index

    if not _EMAIL.match(text):
        return None
    return blind_index(ServiceCase, "contact_email_index", text) or None


def _search_condition(text: str, actor: Any) -> Q:
    """The search as one condition (for lists that combine it with other filters)."""
    text = (text or "").strip()
    if not text:
        return Q()
    reference = REFERENCE_PATTERN.match(text)
    if reference:
        return Q(reference=reference.group(1).upper())
    email = _email_index(text)
    if email:
        return Q(contact_email_index=email)
    condition = Q(subject__icontains=text)
    name = _name_condition(text)
    if name is not None:
        condition |= name
    return condition


# Window size → (when looked up, the window's start), per process.
_window_cache: dict[int, tuple[float, dt.datetime | None]] = {}
WINDOW_CACHE_SECONDS = 60


def _window_start() -> dt.datetime | None:
    """When the :data:`SEARCH_WINDOW` newest cases of the bank begin (None: fewer cases).

    One look into the receipt index, remembered for a minute by this process (the window
    moves slowly; a window a minute old is only a little wider). The window is the same for
    everyone, so its cost does not grow with how few of its cases an actor may see.
    """
    now = time.monotonic()
    cached = _window_cache.get(SEARCH_WINDOW)
    if cached is not None and now - cached[0] < WINDOW_CACHE_SECONDS:
        return cached[1]
    starts = ServiceCase.objects.order_by("-received_at").values_list("received_at", flat=True)[
        SEARCH_WINDOW - 1 : SEARCH_WINDOW
    ]
    start = next(iter(starts), None)
    _window_cache[SEARCH_WINDOW] = (now, start)
    return start


def _in_window(visible: QuerySet[ServiceCase], since: dt.datetime | None) -> QuerySet[ServiceCase]:
    start = _window_start()
    bounds = [moment for moment in (start, since) if moment is not None]
    return visible.filter(received_at__gte=max(bounds)) if bounds else visible


def _newest(
    visible: QuerySet[ServiceCase], matches: QuerySet[ServiceCase], limit: int
) -> list[ServiceCase]:
    """The ``limit`` newest of ``matches``: their keys first (one narrow query the database
    may answer from an index), then those cases with what the page shows."""
    keys = list(matches.order_by("-received_at", "-pk").values_list("pk", flat=True)[:limit])
    if not keys:
        return []
    loaded = visible.in_bulk(keys)
    return [loaded[pk] for pk in keys if pk in loaded]


def _cases_with_subject(
    visible: QuerySet[ServiceCase], text: str, limit: int, since: dt.datetime | None = None
) -> list[ServiceCase]:
    """The newest cases whose subject contains ``text`` (any case of letters), among the
    bank's :data:`SEARCH_WINDOW` newest cases (and received ``since``, when given): no index
    serves a word inside a subject, so the search reads a bounded number of cases."""
    return _newest(visible, _in_window(visible, since).filter(subject__icontains=text), limit)


def _cases_of_named_customers(
    visible: QuerySet[ServiceCase], text: str, limit: int
) -> list[ServiceCase]:
    """The newest cases of the customers whose name starts with ``text``. A name shared by
    few customers reads all their cases through the (customer, received) index; a prefix
    many customers share ("王") looks among the newest cases (see :data:`SEARCH_WINDOW`)."""
    from bankcrm.customers.models import Party

    condition = _name_condition(text, prefix="")
    if condition is None:
        return []
    named = Party.objects.filter(condition).values_list("pk", flat=True).order_by()
    keys = list(named[: NAMED_CUSTOMERS + 1])
    if not keys:
        return []
    if len(keys) <= NAMED_CUSTOMERS:
        return _newest(visible, visible.filter(party_id__in=keys), limit)
    parties = Party.objects.filter(condition).values("pk").order_by()
    return _newest(visible, _in_window(visible, None).filter(party_id__in=parties), limit)


def case_search(*, actor: Any, q: str, limit: int = 25) -> list[ServiceCase]:
    """Cases the actor may see matching ``q``, newest first (at most ``limit``).

    A reference ("SC-2026-000123") finds that case; an e-mail address finds the cases with
    that contact e-mail (exact, through its blind index) and the cases of the customers
    holding it; a name finds the cases of the customers whose name (characters, pinyin)
    starts with it; any text finds the cases whose subject contains it. Each criterion is
    its own query on an index, merged here. Criteria no index serves — words inside
    subjects, name prefixes shared by more than :data:`NAMED_CUSTOMERS` customers — look
    among the bank's :data:`SEARCH_WINDOW` newest cases (the cost of a search stays
    bounded at any size; older cases are found by reference, customer or e-mail).
    """
    text = (q or "").strip()[:200]
    limit = _limit(limit)
    if not text:
        return []
    visible = case_visible(actor=actor).select_related(*PAGE_RELATED)
    reference = REFERENCE_PATTERN.match(text)
    if reference:
        return list(visible.filter(reference=reference.group(1).upper())[:1])
    newest = ("-received_at", "-pk")
    found: list[ServiceCase] = []
    email = _email_index(text)
    if email:
        from bankcrm.customers.selectors import party_find_by_contact

        found += visible.filter(contact_email_index=email).order_by(*newest)[:limit]
        parties = party_find_by_contact(actor=actor, value=text).values("pk")
        found += visible.filter(party_id__in=parties).order_by(*newest)[:limit]
    else:
        named = _cases_of_named_customers(visible, text, limit)
        # With a full page of the customers' cases, only newer subjects could still count.
        since = named[-1].received_at if len(named) == limit else None
        found += named
        found += _cases_with_subject(visible, text, limit, since)
    unique = {case.pk: case for case in found}
    return sorted(unique.values(), key=lambda c: (c.received_at, c.pk), reverse=True)[:limit]


# --- A customer's cases, queues, supervision -----------------------------------------------


def customer_cases(*, actor: Any, party: Any, limit: int = 20) -> list[ServiceCase]:
    """The customer's cases the actor may see, newest first (the customer 360 panel)."""
    return list(
        case_visible(actor=actor)
        .filter(party_id=_pk_of(party))
        .select_related(*PAGE_RELATED)
        .order_by("-received_at", "-pk")[: _limit(limit)]
    )


def case_messages(*, actor: Any, case: ServiceCase) -> list[CaseMessage]:
    """The case's conversation and notes, oldest first (the caller read the case through
    :func:`case_get`); the data keys they need are unwrapped at once."""
    from bankcrm.core.crypto import preload_keys

    messages = list(
        CaseMessage.objects.filter(case_id=case.pk)
        .select_related("author")
        .order_by("created_at", "pk")
    )
    for message in messages:
        message.case = case  # the key scope reads the case's customer: no query per message
    preload_keys(messages)
    return messages


def case_links(*, actor: Any, case: ServiceCase) -> list[CaseLink]:
    """The accounts, loans, applications and transactions linked to the case."""
    return list(CaseLink.objects.filter(case_id=case.pk).order_by("created_at", "pk"))


def queue_list(*, actor: Any) -> QuerySet[Queue]:
    """Active queues the actor may see (their units' queues) or works in or supervises."""
    condition = Q(pk__in=Queue.objects.restrict(actor, "view").values("pk"))
    queue_ids = actor_queue_ids(actor)
    if queue_ids:
        condition |= Q(pk__in=queue_ids)
    return (
        Queue.objects.filter(condition, is_active=True)
        .select_related("org_unit", "supervisor")
        .order_by("code")
    )


def queue_get(*, actor: Any, code: str) -> Queue:
    """One queue the actor may see, by code; ``Queue.DoesNotExist`` otherwise."""
    return queue_list(actor=actor).get(code=code)


def _supervised_queue_ids(actor: Any) -> list[int]:
    if not _is_person(actor) and not is_system(actor):
        return []
    ids: set[int] = set()
    if _is_person(actor):
        ids |= set(Queue.objects.filter(supervisor_id=actor.pk).values_list("pk", flat=True))
    scope = actor_perm_scope(actor, "support.supervise_queue")
    if scope == Role.DataScope.BANK:
        ids |= set(Queue.objects.values_list("pk", flat=True))
    elif scope in (Role.DataScope.UNIT, Role.DataScope.PORTFOLIO):
        paths = actor_unit_paths(actor)
        if paths and scope == Role.DataScope.UNIT:
            units = _unit_ids_below(paths)
        else:
            unit = getattr(actor, "org_unit_id", None)
            units = [unit] if unit else []
        ids |= set(Queue.objects.filter(org_unit_id__in=units).values_list("pk", flat=True))
    return sorted(ids)


def supervisor_overview(*, actor: Any, now: dt.datetime | None = None) -> dict[str, Any]:
    """The supervisor's view: per queue (those the actor supervises, and with
    ``support.supervise_queue`` those of their units) the open cases, unassigned, breached,
    in warning and the oldest receipt; per agent of those queues their open and breached
    cases and whether they are available. A fixed number of queries."""
    now = now or timezone.now()
    queue_ids = _supervised_queue_ids(actor)
    queues = list(
        Queue.objects.filter(pk__in=queue_ids, is_active=True)
        .select_related("org_unit", "supervisor")
        .order_by("code")
    )
    if not queues:
        return {"queues": [], "agents": [], "totals": _totals([])}
    breached = _breached_condition(now)
    warned = (
        Q(first_response_warned_at__isnull=False) | Q(resolution_warned_at__isnull=False)
    ) & ~breached
    open_cases = ServiceCase.objects.filter(queue_id__in=[q.pk for q in queues], is_open=True)
    per_queue = {
        row["queue_id"]: row
        for row in open_cases.values("queue_id")
        .annotate(
            open=Count("pk"),
            unassigned=Count("pk", filter=Q(assigned_to__isnull=True)),
            breached=Count("pk", filter=breached),
            warning=Count("pk", filter=warned),
            oldest=Min("received_at"),
        )
        .order_by()
    }
    queue_rows = []
    for queue in queues:
        row = per_queue.get(queue.pk, {})
        queue_rows.append(
            {
                "queue": queue,
                "open": row.get("open", 0),
                "unassigned": row.get("unassigned", 0),
                "breached": row.get("breached", 0),
                "warning": row.get("warning", 0),
                "oldest": row.get("oldest"),
            }
        )
    per_agent = {
        row["assigned_to_id"]: row
        for row in open_cases.filter(assigned_to__isnull=False)
        .values("assigned_to_id")
        .annotate(open=Count("pk"), breached=Count("pk", filter=breached))
        .order_by()
    }
    agents: dict[int, dict[str, Any]] = {}
    members = (
        QueueMember.objects.filter(queue_id__in=[q.pk for q in queues])
        .select_related("user", "queue")
        .order_by("user__username", "queue__code")
    )
    for member in members:
        item = agents.setdefault(
            member.user_id,
            {
                "user": member.user,
                "queues": [],
                "is_available": False,
                "open": per_agent.get(member.user_id, {}).get("open", 0),
                "breached": per_agent.get(member.user_id, {}).get("breached", 0),
            },
        )
        item["queues"].append(member.queue.code)
        item["is_available"] = item["is_available"] or member.is_available
    return {"queues": queue_rows, "agents": list(agents.values()), "totals": _totals(queue_rows)}


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        name: sum(row[name] for row in rows)
        for name in ("open", "unassigned", "breached", "warning")
    }


def supervised_queue_ids(*, actor: Any) -> list[int]:
    """Keys of the queues whose backlog the actor oversees (see :func:`supervisor_overview`)."""
    return _supervised_queue_ids(actor)


def may_supervise(*, actor: Any) -> bool:
    """Whether the actor oversees any queue (shows the supervisor page)."""
    return bool(_supervised_queue_ids(actor)) or actor_has_perm(actor, "support.supervise_queue")
