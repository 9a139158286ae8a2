"""Service levels of cases: the policy that applies, the clocks' bookkeeping through the
workflow, and the sweep that raises warnings and breaches (each exactly once).

The arithmetic lives in :mod:`bankcrm.support.sla`; this module decides what to store.

Bookkeeping invariant, kept by every function here::

    <clock>_due_at = received_at + (<clock> target + sla_paused_minutes) business minutes

while ``sla_paused_since`` (set) says since when the clock stands still. The clock stands
still in the case type's ``sla_pause_states`` (waiting on the customer) and in the stop
states (resolved, closed); leaving such a state adds the business minutes spent there to
``sla_paused_minutes`` (to the nearest minute) and recomputes the dues. So reopening a
resolved case resumes counting from the reopen moment, the time spent resolved treated as
paused. The first-response due is recomputed only until the first response: once answered,
that clock is history. A case resolved (or cancelled) without any response counts the
resolution as its first response.

Warnings and breaches are facts recorded once: the sweep stamps ``*_warned_at`` /
``*_breached_at`` with a conditional UPDATE (``… WHERE *_breached_at IS NULL``), so two
sweeps running at once never both fire; only the one whose UPDATE changed the row records
the event, the audit event and the escalation, in the same transaction. A clock already
past its due is breached, never warned, and the breach stamps the warning too (a warning
after the breach would be noise).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.models import Role, User
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import SystemActor
from bankcrm.core.calendar import WorkingCalendar, working_calendar
from bankcrm.core.models import BusinessCalendar
from bankcrm.events.services import event_record

from .models import CaseType, Queue, ServiceCase, SlaPolicy
from .sla import (
    FIRST_RESPONSE,
    RESOLUTION,
    STOP_STATES,
    paused_minutes_between,
    sla_dues,
    sla_dues_microseconds,
    warning_bound,
)

logger = logging.getLogger(__name__)

SWEEP_ACTOR = SystemActor("support.sla_sweep")
RECOMPUTE_ACTOR = SystemActor("support.sla_recompute")

# Per clock: (target, due, warned, breached) field names.
_CLOCK_FIELDS = {
    FIRST_RESPONSE: (
        "first_response_target_minutes",
        "first_response_due_at",
        "first_response_warned_at",
        "first_response_breached_at",
    ),
    RESOLUTION: (
        "resolution_target_minutes",
        "resolution_due_at",
        "resolution_warned_at",
        "resolution_breached_at",
    ),
}

_COUNTING, _PAUSED, _STOPPED = "counting", "paused", "stopped"


# --- Policy ------------------------------------------------------------------------------


def sla_policy_for(*, case_type: CaseType | None, priority: int, segment: str) -> SlaPolicy | None:
    """The most specific active policy for a case type × priority × segment.

    A policy's blank type, priority or segment matches any; the exact type weighs more than
    the exact priority, which weighs more than the exact segment. None when nothing matches.
    """
    type_match = Q(case_type__isnull=True)
    if case_type is not None:
        type_match |= Q(case_type=case_type)
    segment_match = Q(segment="")
    if segment:
        segment_match |= Q(segment=segment)
    candidates = SlaPolicy.objects.filter(
        type_match,
        Q(priority__isnull=True) | Q(priority=priority),
        segment_match,
        is_active=True,
    ).select_related("calendar")

    def specificity(policy: SlaPolicy) -> tuple[bool, bool, bool, int]:
        return (
            policy.case_type_id is not None,  # type: ignore[attr-defined]
            policy.priority is not None,
            policy.segment != "",
            -policy.pk,  # the oldest of equals (cannot happen with the unique constraint)
        )

    return max(candidates, key=specificity, default=None)


def _default_calendar() -> BusinessCalendar | None:
    code = getattr(settings, "SUPPORT_DEFAULT_CALENDAR", "") or ""
    if not code:
        return None
    return BusinessCalendar.objects.filter(code=code).first()


def sla_apply_policy(*, case: ServiceCase, now: dt.datetime) -> None:
    """Set the SLA of a (possibly unsaved) case from its type, priority and segment.

    Sets ``sla_policy``, ``sla_calendar`` (the policy's, else the queue's, else the calendar
    ``SUPPORT_DEFAULT_CALENDAR``), both targets, the warning percent and the dues counted
    from ``received_at`` (``now`` when not set yet), keeping the business minutes already
    paused. Re-applied to a running case (priority changed), an answered case keeps its
    first-response target and due. Recorded warnings and breaches stay. Does not save.
    Without a policy the targets and dues are cleared: the case has no SLA.
    """
    if case.received_at is None:
        case.received_at = now
    policy = sla_policy_for(
        case_type=case.case_type, priority=int(case.priority), segment=case.segment or ""
    )
    calendar = None
    if policy is not None and policy.calendar_id is not None:  # type: ignore[attr-defined]
        calendar = policy.calendar
    elif case.queue_id is not None and case.queue.calendar_id is not None:  # type: ignore[attr-defined]
        calendar = case.queue.calendar
    else:
        calendar = _default_calendar()
    case.sla_policy = policy
    case.sla_calendar = calendar
    answered = case.first_responded_at is not None
    if policy is None:
        if not answered:
            case.first_response_target_minutes = None
            case.first_response_due_at = None
        case.resolution_target_minutes = None
        case.resolution_due_at = None
        return
    case.sla_warning_percent = policy.warning_percent
    if not answered:
        case.first_response_target_minutes = policy.first_response_minutes
    case.resolution_target_minutes = policy.resolution_minutes
    _recompute_dues(case)


def _calendar_of(case: ServiceCase) -> WorkingCalendar | None:
    calendar = case.sla_calendar if case.sla_calendar_id is not None else None  # type: ignore[attr-defined]
    return working_calendar(calendar) if calendar is not None else None


def _recompute_dues(case: ServiceCase) -> list[str]:
    """Dues from received_at, targets and paused minutes; the changed field names."""
    first_target = None if case.first_responded_at else case.first_response_target_minutes
    first_due, resolution_due = sla_dues(
        _calendar_of(case),
        case.received_at,
        first_target,
        case.resolution_target_minutes,
        case.sla_paused_minutes or 0,
    )
    changed = []
    if case.first_responded_at is None and case.first_response_due_at != first_due:
        case.first_response_due_at = first_due
        changed.append("first_response_due_at")
    if case.resolution_due_at != resolution_due:
        case.resolution_due_at = resolution_due
        changed.append("resolution_due_at")
    return changed


def _fold_pause(case: ServiceCase, now: dt.datetime) -> list[str]:
    """End the running pause at ``now``: its business minutes join ``sla_paused_minutes``
    and the dues move later. The changed field names."""
    if case.sla_paused_since is None:
        return []
    minutes = paused_minutes_between(_calendar_of(case), case.sla_paused_since, now)
    case.sla_paused_since = None
    changed = ["sla_paused_since"]
    if minutes:
        case.sla_paused_minutes = (case.sla_paused_minutes or 0) + minutes
        changed.append("sla_paused_minutes")
        changed += _recompute_dues(case)
    return changed


def _clock_mode(case: ServiceCase, state: str) -> str:
    if state in STOP_STATES:
        return _STOPPED
    pause_states = case.case_type.sla_pause_states or []
    if state in pause_states:
        return _PAUSED
    return _COUNTING


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def sla_on_state_change(
    *, case: ServiceCase, old_state: str, new_state: str, now: dt.datetime
) -> list[str]:
    """Pause, resume, stop or restart the clocks for a workflow step; no save.

    Entering a pause state or a stop state stands the clock still from ``now``; leaving one
    adds the business minutes spent there to the paused minutes and moves the dues (also
    between a pause and a stop, so a resolved case's dues are those of a clock stopped at
    the resolution). Between two stop states (resolved → closed) nothing changes. Stopping
    a case never answered records ``now`` as its first response. Returns the names of the
    fields changed, for the caller's ``save(update_fields=…)``.
    """
    old_mode, new_mode = _clock_mode(case, old_state), _clock_mode(case, new_state)
    if old_mode == new_mode:
        return []
    changed: list[str] = []
    if old_mode != _COUNTING:
        changed += _fold_pause(case, now)
    if new_mode != _COUNTING:
        case.sla_paused_since = now
        changed.append("sla_paused_since")
    if new_mode == _STOPPED and case.first_responded_at is None:
        case.first_responded_at = now
        changed.append("first_responded_at")
    return _unique(changed)


def sla_record_first_response(*, case: ServiceCase, now: dt.datetime) -> list[str]:
    """Record the case's first response at ``now`` (once; later calls change nothing).

    A response given while the clock stands still is measured at the start of the pause:
    the pause so far is folded in first (and goes on from ``now``). No save; returns the
    changed field names.
    """
    if case.first_responded_at is not None:
        return []
    changed: list[str] = []
    if case.sla_paused_since is not None:
        changed += _fold_pause(case, now)
        case.sla_paused_since = now
        changed.append("sla_paused_since")
    case.first_responded_at = now
    changed.append("first_responded_at")
    return _unique(changed)


# --- The sweep ---------------------------------------------------------------------------


def _running(kind: str) -> Q:
    """Open cases whose clock ``kind`` is counting (not paused, not answered)."""
    condition = Q(is_open=True, sla_paused_since__isnull=True)
    if kind == FIRST_RESPONSE:
        condition &= Q(first_responded_at__isnull=True)
    return condition


def _bank_date(now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)).date()


def _clock_label(kind: str) -> str:
    return _("first response") if kind == FIRST_RESPONSE else _("resolution")


def _ancestor_paths(path: str) -> list[str]:
    """A unit's path and those of the units above it: "/1/4/9/" → ["/1/", "/1/4/", …]."""
    parts = [part for part in path.split("/") if part]
    return ["/" + "/".join(parts[: index + 1]) + "/" for index in range(len(parts))]


def escalation_owners(queue: Queue) -> list[Any]:
    """Who a breach in ``queue`` escalates to: the queue's supervisor when active; else the
    active branch managers of the queue's org unit, or of the nearest unit above it that has
    one."""
    supervisor = queue.supervisor if queue.supervisor_id else None  # type: ignore[attr-defined]
    if supervisor is not None and supervisor.is_active:
        return [supervisor]
    managers = list(
        User.objects.filter(
            is_active=True,
            roles__code=Role.Code.BRANCH_MANAGER,
            roles__is_active=True,
            org_unit__path__in=_ancestor_paths(queue.org_unit.path),
        )
        .select_related("org_unit")
        .distinct()
        .order_by("pk")
    )
    if not managers:
        return []
    deepest = max(len(user.org_unit.path) for user in managers)
    return [user for user in managers if len(user.org_unit.path) == deepest]


def _sweep_case(pk: Any) -> ServiceCase:
    # Encrypted fields stay sealed until read: the sweep reads none of them.
    return ServiceCase.objects.select_related(
        "queue", "queue__org_unit", "queue__supervisor", "party"
    ).get(pk=pk)


def _payload(case: ServiceCase, kind: str, due: dt.datetime) -> dict[str, Any]:
    return {
        "case": str(case.pk),
        "reference": case.reference,
        "clock": kind,
        "due_at": due.isoformat(),
        "queue": case.queue.code,
    }


def _escalate(case: ServiceCase, kind: str, due: dt.datetime, now: dt.datetime) -> list[Any]:
    """Staff tasks for whoever a breach escalates to; the owners given a task."""
    from bankcrm.customers.services import task_create

    party = case.party
    owners = []
    for owner in escalation_owners(case.queue):
        if party is None and owner.org_unit_id is None:
            # A task without a customer belongs to its owner's unit; a user without one
            # cannot hold it. Logged, not fatal: the breach itself is recorded.
            logger.warning("SLA escalation of %s skipped: %s has no unit", case, owner)
            continue
        title = _("SLA breached: %(reference)s, %(clock)s overdue") % {
            "reference": case.reference,
            "clock": _clock_label(kind),
        }
        description = _(
            "The %(clock)s of case %(reference)s (“%(subject)s”, queue %(queue)s) was due "
            "at %(due)s and is overdue: see that the case is answered and worked."
        ) % {
            "clock": _clock_label(kind),
            "reference": case.reference,
            "subject": case.subject,
            "queue": case.queue.name,
            "due": due.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)).strftime(
                "%Y-%m-%d %H:%M"
            ),
        }
        task_create(
            actor=SWEEP_ACTOR,
            title=title[:200],
            owner=owner,
            party=party,
            due_on=_bank_date(now),
            priority="urgent",
            description=description,
        )
        owners.append(owner)
    return owners


def _fire_breach(pk: Any, kind: str, now: dt.datetime) -> tuple[bool, int]:
    """Record one clock's breach if no one did yet: (fired, escalation tasks)."""
    _target, due_field, warned_field, breached_field = _CLOCK_FIELDS[kind]
    with transaction.atomic():
        updated = (
            ServiceCase.objects.filter(_running(kind), pk=pk)
            .filter(**{f"{breached_field}__isnull": True, f"{due_field}__lt": now})
            .update(
                **{
                    breached_field: now,
                    warned_field: Coalesce(F(warned_field), Value(now)),
                }
            )
        )
        if not updated:
            return False, 0  # breached by a sweep at the same time, answered or paused
        case = _sweep_case(pk)
        due = getattr(case, due_field)
        owners = _escalate(case, kind, due, now)
        audit_record(
            actor=SWEEP_ACTOR,
            action="case.sla_breach",
            target=case,
            after={
                "clock": kind,
                "due_at": due,
                "breached_at": now,
                "escalated_to": [owner.pk for owner in owners],
            },
        )
        event_record(type="case.sla_breached", target=case, payload=_payload(case, kind, due))
    return True, len(owners)


def _fire_warning(pk: Any, kind: str, bound: dt.datetime, now: dt.datetime) -> bool:
    """Record one clock's warning if no one did yet."""
    _target, due_field, warned_field, _breached = _CLOCK_FIELDS[kind]
    with transaction.atomic():
        updated = (
            ServiceCase.objects.filter(_running(kind), pk=pk)
            .filter(
                **{
                    f"{warned_field}__isnull": True,
                    f"{due_field}__lte": bound,
                    f"{due_field}__gte": now,
                }
            )
            .update(**{warned_field: now})
        )
        if not updated:
            return False
        case = _sweep_case(pk)
        due = getattr(case, due_field)
        audit_record(
            actor=SWEEP_ACTOR,
            action="case.sla_warning",
            target=case,
            after={"clock": kind, "due_at": due, "warned_at": now},
        )
        event_record(type="case.sla_warning", target=case, payload=_payload(case, kind, due))
    return True


def _calendars(ids: Iterable[int | None]) -> dict[int | None, WorkingCalendar | None]:
    wanted = {pk for pk in ids if pk is not None}
    rows = BusinessCalendar.objects.in_bulk(wanted) if wanted else {}
    compiled: dict[int | None, WorkingCalendar | None] = {None: None}
    for pk, row in rows.items():
        compiled[pk] = working_calendar(row)
    return compiled


def _warning_candidates(kind: str, now: dt.datetime) -> list[tuple[Any, dt.datetime]]:
    """(pk, bound) of the cases whose clock ``kind`` has reached its warning share."""
    target_field, due_field, warned_field, breached_field = _CLOCK_FIELDS[kind]
    pending = ServiceCase.objects.filter(_running(kind)).filter(
        **{
            f"{warned_field}__isnull": True,
            f"{breached_field}__isnull": True,
            f"{target_field}__isnull": False,
            # A clock past its due is the breach pass's, never a warning.
            f"{due_field}__gte": now,
        }
    )
    groups = list(
        pending.order_by()
        .values_list("sla_calendar_id", target_field, "sla_warning_percent")
        .distinct()
    )
    if not groups:
        return []
    calendars = _calendars(calendar_id for calendar_id, _t, _p in groups)
    bounds: dict[tuple[Any, int, int], dt.datetime] = {}
    condition = Q()
    for calendar_id, target, percent in groups:
        bound = warning_bound(calendars.get(calendar_id), now, target, percent)
        bounds[(calendar_id, target, percent)] = bound
        condition |= Q(
            sla_calendar_id=calendar_id,
            sla_warning_percent=percent,
            **{target_field: target, f"{due_field}__lte": bound},
        )
    rows = (
        pending.filter(condition)
        .order_by(due_field, "pk")
        .values_list("pk", "sla_calendar_id", target_field, "sla_warning_percent")
    )
    return [
        (pk, bounds[(calendar_id, target, percent)]) for pk, calendar_id, target, percent in rows
    ]


def sla_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Raise the SLA breaches and warnings that fell due, each exactly once.

    For open cases whose clock is counting (not paused; first response not yet given):
    a clock past its due is breached (event ``case.sla_breached``, audit, and a staff task
    for the queue's supervisor or, without one, the branch managers of the queue's unit);
    a clock that has used its warning share of the target gets ``case.sla_warning``.
    Breaches are handled first. Each case is its own transaction: a case that fails (its
    escalation cannot be written) is logged, counted in ``errors`` and left for the next
    sweep, without holding up the others. Returns the counts per clock, the escalation
    tasks and the errors.
    """
    now = now or timezone.now()
    counts = {
        "first_response_breached": 0,
        "resolution_breached": 0,
        "first_response_warning": 0,
        "resolution_warning": 0,
        "escalation_tasks": 0,
        "errors": 0,
    }
    for kind in (FIRST_RESPONSE, RESOLUTION):
        _target, due_field, _warned, breached_field = _CLOCK_FIELDS[kind]
        pks = list(
            ServiceCase.objects.filter(_running(kind))
            .filter(**{f"{breached_field}__isnull": True, f"{due_field}__lt": now})
            .order_by(due_field, "pk")
            .values_list("pk", flat=True)
        )
        for pk in pks:
            try:
                fired, tasks = _fire_breach(pk, kind, now)
            except Exception:  # one case must not stop the SLA of every other
                logger.exception("SLA breach of case %s (%s) not recorded", pk, kind)
                counts["errors"] += 1
                continue
            counts[f"{kind}_breached"] += int(fired)
            counts["escalation_tasks"] += tasks
    for kind in (FIRST_RESPONSE, RESOLUTION):
        for pk, bound in _warning_candidates(kind, now):
            try:
                counts[f"{kind}_warning"] += int(_fire_warning(pk, kind, bound, now))
            except Exception:
                logger.exception("SLA warning of case %s (%s) not recorded", pk, kind)
                counts["errors"] += 1
    if any(counts.values()):
        logger.info("SLA sweep at %s: %s", now.isoformat(), counts)
    return counts


# --- Recomputation -----------------------------------------------------------------------

_RECOMPUTE_FIELDS = (
    "pk",
    "sla_calendar_id",
    "received_at",
    "first_response_target_minutes",
    "resolution_target_minutes",
    "sla_paused_minutes",
    "first_responded_at",
    "first_response_due_at",
    "resolution_due_at",
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


def _column(name: str) -> str:
    field = ServiceCase._meta.get_field(name)
    return str(getattr(field, "column", "") or name)


def _quoted_columns() -> dict[str, str]:
    quote = connection.ops.quote_name
    names = ("id", "is_open", *_RECOMPUTE_FIELDS[1:])
    return {"table": quote(ServiceCase._meta.db_table)} | {n: quote(_column(n)) for n in names}


def _to_us(value: dt.datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _ONE_MICROSECOND


def _from_us(value: int | None) -> dt.datetime | None:
    return None if value is None else _EPOCH + dt.timedelta(microseconds=value)


def _write_dues(rows: Sequence[tuple[Any, ...]]) -> int:
    """Write new dues: rows of (pk, first due, resolution due, paused minutes, first target,
    resolution target), dues in microseconds since 1970 UTC. A row changed since it was
    read (paused minutes or targets differ, case closed) is left alone: its workflow step
    has set its dues. Returns the number of cases updated."""
    if not rows:
        return 0
    c = _quoted_columns()
    pks, first_dues, resolution_dues, paused, first_targets, resolution_targets = (
        list(column) for column in zip(*rows, strict=True)
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement per batch, the batch as six arrays (a few parameters, whatever
            # its size); microseconds turn into timestamps exactly in integer arithmetic.
            # Identifiers come from the model's metadata through quote_name; values are bound.
            def moment(column: str) -> str:
                return (
                    f"(timestamptz 'epoch' + (v.{column} / 1000000) * interval '1 second' "
                    f"+ (v.{column} %% 1000000) * interval '1 microsecond')"
                )

            sql = (
                f"UPDATE {c['table']} AS c "  # noqa: S608  # nosec B608
                f"SET {c['first_response_due_at']} = {moment('fr_due')}, "
                f"{c['resolution_due_at']} = {moment('res_due')} "
                "FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::int[], %s::int[], "
                "%s::int[]) AS v(pk, fr_due, res_due, paused, fr_t, res_t) "
                f"WHERE c.{c['id']} = v.pk AND c.{c['is_open']} "
                f"AND c.{c['sla_paused_minutes']} = v.paused "
                f"AND c.{c['first_response_target_minutes']} IS NOT DISTINCT FROM v.fr_t "
                f"AND c.{c['resolution_target_minutes']} IS NOT DISTINCT FROM v.res_t"
            )
            cursor.execute(
                sql,
                [pks, first_dues, resolution_dues, paused, first_targets, resolution_targets],
            )
            return max(cursor.rowcount, 0)
        # Elsewhere (SQLite) one prepared statement run per row; identifiers as above.
        pk_field = ServiceCase._meta.pk
        due_field = ServiceCase._meta.get_field("first_response_due_at")

        def prep(value: int | None) -> Any:
            return due_field.get_db_prep_value(_from_us(value), connection)

        sql = (
            f"UPDATE {c['table']} "  # noqa: S608  # nosec B608
            f"SET {c['first_response_due_at']} = %s, {c['resolution_due_at']} = %s "
            f"WHERE {c['id']} = %s AND {c['is_open']} AND {c['sla_paused_minutes']} = %s "
            f"AND {c['first_response_target_minutes']} IS %s "
            f"AND {c['resolution_target_minutes']} IS %s"
        )
        cursor.executemany(
            sql,
            [
                (
                    prep(first),
                    prep(resolution),
                    pk_field.get_db_prep_value(pk, connection),  # type: ignore[union-attr]
                    minutes,
                    first_target,
                    resolution_target,
                )
                for pk, first, resolution, minutes, first_target, resolution_target in rows
            ],
        )
        return max(cursor.rowcount, 0)


def _open_rows_postgresql(batch_size: int) -> Iterable[tuple[Any, ...]]:
    """Open cases as plain values, instants as microseconds (no datetime is built), read
    through a server-side cursor in chunks."""
    c = _quoted_columns()

    def micro(column: str) -> str:
        # extract(epoch …) is an exact numeric on PostgreSQL 14 and later.
        return f"(extract(epoch FROM {c[column]}) * 1000000)::bigint"

    sql = (
        f"SELECT {c['id']}, {c['sla_calendar_id']}, {micro('received_at')}, "  # noqa: S608  # nosec B608
        f"{c['first_response_target_minutes']}, {c['resolution_target_minutes']}, "
        f"{c['sla_paused_minutes']}, {c['first_responded_at']} IS NOT NULL, "
        f"{micro('first_response_due_at')}, {micro('resolution_due_at')} "
        f"FROM {c['table']} WHERE {c['is_open']}"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql)
        while chunk := cursor.fetchmany(batch_size):
            yield from chunk


def _open_rows_portable() -> Iterable[tuple[Any, ...]]:
    # SQLite has no isolation between a reading cursor and writes on one connection: read
    # first, then write.
    rows = ServiceCase.objects.filter(is_open=True).order_by().values_list(*_RECOMPUTE_FIELDS)
    return [
        (
            pk,
            calendar_id,
            _to_us(received_at),
            first_target,
            resolution_target,
            paused,
            first_responded_at is not None,
            _to_us(first_due),
            _to_us(resolution_due),
        )
        for (
            pk,
            calendar_id,
            received_at,
            first_target,
            resolution_target,
            paused,
            first_responded_at,
            first_due,
            resolution_due,
        ) in rows
    ]


def sla_recompute_open(*, now: dt.datetime | None = None, batch_size: int = 5000) -> int:
    """Recompute the dues of every open case, after its business calendar changed (a
    holiday added, working hours edited) or to repair dues; returns the cases whose dues
    moved.

    Dues follow from each case's own received time, targets (copied from the policy when
    the case opened: a later policy edit does not move running cases), paused minutes and
    calendar; answered cases keep their first-response due. Recorded warnings and
    breaches stay.

    Built for volume (100,000 open cases in a few seconds on PostgreSQL): the open cases
    are streamed as plain values through a server-side cursor, instants as integer
    microseconds; each calendar is compiled once into a timeline where a due is two binary
    searches; only the cases whose dues moved are written, ``batch_size`` per statement
    (six array parameters) and per transaction. A case changed meanwhile by a workflow step
    (paused minutes or targets differ, or closed) is skipped, as its step already set its
    dues. ``now`` is the run's moment, kept in the audit trail.
    """
    now = now or timezone.now()
    batch_size = max(int(batch_size), 1)
    started = time.monotonic()
    calendars = _calendars(
        ServiceCase.objects.filter(is_open=True)
        .order_by()
        .values_list("sla_calendar_id", flat=True)
        .distinct()
    )
    source = (
        _open_rows_postgresql(batch_size)
        if connection.vendor == "postgresql"
        else _open_rows_portable()
    )
    seen = changed = 0
    pending: list[tuple[Any, ...]] = []
    for (
        pk,
        calendar_id,
        received,
        first_target,
        resolution_target,
        paused,
        answered,
        first_due,
        resolution_due,
    ) in source:
        seen += 1
        if calendar_id not in calendars:  # a calendar first used since the run began
            calendars.update(_calendars([calendar_id]))
        new_first, new_resolution = sla_dues_microseconds(
            calendars[calendar_id],
            received,
            None if answered else first_target,
            resolution_target,
            paused or 0,
        )
        if answered:
            new_first = first_due
        if new_first != first_due or new_resolution != resolution_due:
            pending.append(
                (pk, new_first, new_resolution, paused or 0, first_target, resolution_target)
            )
            if len(pending) >= batch_size:
                with transaction.atomic():
                    changed += _write_dues(pending)
                pending = []
    if pending:
        with transaction.atomic():
            changed += _write_dues(pending)
    seconds = round(time.monotonic() - started, 3)
    if changed:
        audit_record(
            actor=RECOMPUTE_ACTOR,
            action="case.sla_recompute",
            object_type=ServiceCase._meta.label_lower,
            after={"at": now, "open_cases": seen, "dues_moved": changed},
        )
    logger.info("SLA recompute: %s open cases, %s moved, %ss", seen, changed, seconds)
    return changed
