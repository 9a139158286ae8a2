"""The workflow engine: items move through states defined as data, never as code.

A definition (states, transitions, roles, guards, SLA hours) is loaded from a plain dict, for
instance an administrator's JSON file::

    {"key": "loan_application", "name": "Loan application", "initial_state": "draft",
     "states": [{"code": "draft", "name": "Draft", "sla_hours": 48}, ...,
                {"code": "approved", "name": "Approved", "is_terminal": true}],
     "transitions": [{"code": "submit", "name": "Submit", "source": "draft",
                      "target": "review", "allowed_roles": ["relationship_manager"],
                      "guards": ["has_documents"], "requires_reason": false}, ...]}

Models that move through a workflow subclass :class:`WorkflowSubjectMixin`. Conditions that
need code are guards, registered by name: ``@register_workflow_guard("has_documents")`` on a
function ``fn(subject, actor)`` returning None when the step may go ahead, or the message that
tells the user why not.

SLA hours are wall-clock hours, unless the definition names a business calendar
(``"calendar": "CN"`` in the description): then they count working hours of that calendar
only (:mod:`bankcrm.core.calendar`), so an item entering a 16-hour state on Friday afternoon
is due on Tuesday, not on Saturday. :func:`workflow_sla_status` tells pages how far an item
is into its SLA and whether it is breached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm, actor_role_codes
from bankcrm.audit.services import audit_record
from bankcrm.core.actor import actor_label, is_system
from bankcrm.events.services import event_record

from .calendar import business_add, business_hours_between, working_calendar
from .models.calendar import BusinessCalendar
from .models.workflow import (
    WorkflowDefinition,
    WorkflowState,
    WorkflowSubjectMixin,
    WorkflowTransition,
    WorkflowTransitionLog,
)

# The pseudo-role that lets background jobs (SystemActor) take a transition, e.g. "expire".
SYSTEM_ROLE = "system"

Guard = Callable[[Any, Any], "str | None"]

_GUARDS: dict[str, Guard] = {}


class WorkflowError(ValidationError):
    """A step that cannot be taken: illegal from the current state, a failed condition."""


def register_workflow_guard(name: str) -> Callable[[Guard], Guard]:
    """Register ``fn(subject, actor) -> None | message`` as the condition called ``name``."""
    if not name:
        raise ValueError("A workflow guard needs a name.")

    def decorate(fn: Guard) -> Guard:
        _GUARDS[name] = fn
        return fn

    return decorate


def unregister_workflow_guard(name: str) -> None:
    _GUARDS.pop(name, None)


def workflow_guard_names() -> list[str]:
    """Every registered guard name, sorted."""
    return sorted(_GUARDS)


# --- Definitions -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _validate_spec(spec: dict[str, Any]) -> list[str]:
    """Every problem of a definition spec, each naming what is wrong."""
    problems: list[str] = []
    if not isinstance(spec, dict):
        return [_("The workflow definition must be an object.")]
    key = _text(spec.get("key"))
    if not key:
        problems.append(_("The workflow needs a key."))
    if not _text(spec.get("name")):
        problems.append(_("The workflow needs a name."))
    calendar = spec.get("calendar")
    if calendar is not None and calendar != "":
        if not isinstance(calendar, str) or not calendar.strip():
            problems.append(_("“calendar” must be the code of a business calendar."))
        elif not BusinessCalendar.objects.filter(code=calendar.strip()).exists():
            problems.append(
                _("Unknown business calendar “%(calendar)s”.") % {"calendar": calendar.strip()}
            )
    states = spec.get("states") or []
    transitions = spec.get("transitions") or []
    if not isinstance(states, list) or not states:
        problems.append(_("The workflow needs at least one state."))
        states = []
    if not isinstance(transitions, list):
        problems.append(_("“transitions” must be a list."))
        transitions = []

    codes: dict[str, dict[str, Any]] = {}
    for index, state in enumerate(states, start=1):
        code = _text(state.get("code")) if isinstance(state, dict) else ""
        if not code:
            problems.append(_("State %(n)s has no code.") % {"n": index})
            continue
        if code in codes:
            problems.append(_("State code “%(code)s” is used twice.") % {"code": code})
        codes[code] = state
        sla = state.get("sla_hours")
        if sla is not None and (not isinstance(sla, int) or isinstance(sla, bool) or sla <= 0):
            problems.append(
                _("State “%(code)s”: SLA hours must be a whole number above zero.") % {"code": code}
            )

    initial = _text(spec.get("initial_state"))
    if not initial:
        problems.append(_("The workflow needs an initial state."))
    elif initial not in codes:
        problems.append(_("The initial state “%(code)s” is not a state.") % {"code": initial})

    seen: set[tuple[str, str]] = set()
    for index, transition in enumerate(transitions, start=1):
        if not isinstance(transition, dict):
            problems.append(_("Transition %(n)s must be an object.") % {"n": index})
            continue
        code = _text(transition.get("code"))
        label = code or str(index)
        if not code:
            problems.append(_("Transition %(n)s has no code.") % {"n": index})
        sources = transition.get("source")
        source_list = sources if isinstance(sources, list) else [sources]
        for source in source_list:
            source = _text(source)
            if source not in codes:
                problems.append(
                    _("Transition “%(code)s”: source state “%(state)s” does not exist.")
                    % {"code": label, "state": source}
                )
            elif codes[source].get("is_terminal"):
                problems.append(
                    _("Transition “%(code)s” leaves the final state “%(state)s”.")
                    % {"code": label, "state": source}
                )
            if code and (source, code) in seen:
                problems.append(
                    _("Transition code “%(code)s” is used twice from state “%(state)s”.")
                    % {"code": code, "state": source}
                )
            seen.add((source, code))
        target = _text(transition.get("target"))
        if target not in codes:
            problems.append(
                _("Transition “%(code)s”: target state “%(state)s” does not exist.")
                % {"code": label, "state": target}
            )
        for field in ("allowed_roles", "guards"):
            value = transition.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                problems.append(
                    _("Transition “%(code)s”: “%(field)s” must be a list of names.")
                    % {"code": label, "field": field}
                )
        for guard in transition.get("guards", []) or []:
            if isinstance(guard, str) and guard not in _GUARDS:
                problems.append(
                    _("Transition “%(code)s”: unknown condition “%(guard)s”.")
                    % {"code": label, "guard": guard}
                )
    return problems


def workflow_definition_create_from_dict(*, actor: Any, spec: dict[str, Any]) -> WorkflowDefinition:
    """Create a new version of a workflow from its description and make it the active one.

    Every problem of the description is reported at once, each naming its state or
    transition. Items already started keep the version they started on. An optional
    ``"calendar": "CN"`` names the business calendar whose working hours the SLA hours count.
    """
    if not actor_has_perm(actor, "core.add_workflowdefinition"):
        raise PermissionDenied(_("You may not define workflows."))
    problems = _validate_spec(spec)
    if problems:
        raise ValidationError(problems, code="workflow_definition_invalid")
    key = _text(spec["key"])
    calendar_code = _text(spec.get("calendar"))
    with transaction.atomic():
        calendar = None
        if calendar_code:
            calendar = BusinessCalendar.objects.filter(code=calendar_code).first()
            if calendar is None:  # removed since the description was checked
                raise ValidationError(
                    _("Unknown business calendar “%(calendar)s”.") % {"calendar": calendar_code},
                    code="workflow_definition_invalid",
                )
        latest = (
            WorkflowDefinition.objects.select_for_update()
            .filter(key=key)
            .aggregate(top=Max("version"))["top"]
        )
        version = spec.get("version") or (latest or 0) + 1
        if WorkflowDefinition.objects.filter(key=key, version=version).exists():
            raise ValidationError(
                _("Workflow “%(key)s” already has a version %(version)s.")
                % {"key": key, "version": version},
                code="workflow_definition_invalid",
            )
        is_active = bool(spec.get("is_active", True))
        if is_active:
            WorkflowDefinition.objects.filter(key=key, is_active=True).update(is_active=False)
        definition = WorkflowDefinition.objects.create(
            key=key,
            version=version,
            name=_text(spec["name"]),
            description=_text(spec.get("description")),
            is_active=is_active,
            initial_state=_text(spec["initial_state"]),
            calendar=calendar,
        )
        states = {}
        for state in spec["states"]:
            code = _text(state["code"])
            states[code] = WorkflowState.objects.create(
                definition=definition,
                code=code,
                name=_text(state.get("name")) or code,
                is_terminal=bool(state.get("is_terminal", False)),
                sla_hours=state.get("sla_hours"),
            )
        for transition in spec.get("transitions") or []:
            sources = transition["source"]
            for source in sources if isinstance(sources, list) else [sources]:
                WorkflowTransition.objects.create(
                    definition=definition,
                    code=_text(transition["code"]),
                    name=_text(transition.get("name")) or _text(transition["code"]),
                    source=states[_text(source)],
                    target=states[_text(transition["target"])],
                    allowed_roles=list(transition.get("allowed_roles") or []),
                    guards=list(transition.get("guards") or []),
                    requires_reason=bool(transition.get("requires_reason", False)),
                )
        audit_record(
            actor=actor,
            action="workflow.define",
            target=definition,
            after={
                "key": key,
                "version": version,
                "is_active": is_active,
                "calendar": calendar.code if calendar else None,
                "states": sorted(states),
                "transitions": sorted({_text(t["code"]) for t in spec.get("transitions") or []}),
            },
        )
    return definition


def workflow_definition_get(
    *, actor: Any, key: str, version: int | None = None
) -> WorkflowDefinition:
    """The active version of a workflow (or the given version); raises WorkflowError if none."""
    queryset = WorkflowDefinition.objects.filter(key=key).select_related("calendar")
    queryset = queryset.filter(version=version) if version else queryset.filter(is_active=True)
    definition = queryset.first()
    if definition is None:
        raise WorkflowError(
            _("There is no active workflow “%(key)s”.") % {"key": key}, code="workflow_unknown"
        )
    return definition


def workflow_definition_list(*, actor: Any) -> QuerySet[WorkflowDefinition]:
    """Every workflow version, active first within each key (anyone signed in may read them)."""
    return WorkflowDefinition.objects.order_by("key", "-is_active", "-version")


def workflow_definition_to_dict(definition: WorkflowDefinition) -> dict[str, Any]:
    """The definition as the description ``workflow_definition_create_from_dict`` reads.

    An administrator exports the active version, edits it (adds a state and its steps) and
    loads it back as the next version. Steps leaving several states come out once, with the
    list of their sources.
    """
    spec: dict[str, Any] = {
        "key": definition.key,
        "name": definition.name,
        "description": definition.description,
        "initial_state": definition.initial_state,
        "states": [],
        "transitions": [],
    }
    if definition.calendar_id is not None:
        spec["calendar"] = definition.calendar.code
    for state in definition.states.order_by("pk"):
        item: dict[str, Any] = {"code": state.code, "name": state.name}
        if state.sla_hours:
            item["sla_hours"] = state.sla_hours
        if state.is_terminal:
            item["is_terminal"] = True
        spec["states"].append(item)
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    steps = definition.transitions.select_related("source", "target").order_by("pk")
    for step in steps:
        signature = (
            step.code,
            step.name,
            step.target.code,
            tuple(step.allowed_roles or []),
            tuple(step.guards or []),
            step.requires_reason,
        )
        if signature in merged:
            merged[signature]["source"].append(step.source.code)
            continue
        merged[signature] = {
            "code": step.code,
            "name": step.name,
            "source": [step.source.code],
            "target": step.target.code,
            "allowed_roles": list(step.allowed_roles or []),
            "guards": list(step.guards or []),
            "requires_reason": step.requires_reason,
        }
    spec["transitions"] = list(merged.values())
    return spec


# --- Items moving through a workflow --------------------------------------------------------


def _due_at(
    state: WorkflowState, entered: dt.datetime, calendar: BusinessCalendar | None = None
) -> dt.datetime | None:
    """When an item entering ``state`` at ``entered`` is overdue: SLA hours later, counted
    on the calendar's working hours when there is one, on the clock otherwise."""
    if not state.sla_hours:
        return None
    if calendar is None:
        return entered + dt.timedelta(hours=state.sla_hours)
    return business_add(calendar, entered, state.sla_hours)


def _subject_label(subject: models.Model) -> str:
    return subject._meta.label_lower


def _save_state(subject: WorkflowSubjectMixin, fields: list[str]) -> None:
    names = {field.name for field in subject._meta.concrete_fields}
    if "updated_at" in names:
        fields = [*fields, "updated_at"]
    subject.save(update_fields=fields)


def _log(
    *,
    definition: WorkflowDefinition,
    subject: models.Model,
    from_state: str,
    to_state: str,
    transition: str,
    actor: Any,
    reason: str,
    at: dt.datetime,
) -> WorkflowTransitionLog:
    return WorkflowTransitionLog.objects.create(
        definition=definition,
        subject_type=_subject_label(subject),
        subject_pk=str(subject.pk),
        from_state=from_state,
        to_state=to_state,
        transition=transition,
        actor=actor_label(actor)[:150],
        reason=reason,
        at=at,
    )


def workflow_start(
    *, actor: Any, subject: WorkflowSubjectMixin, definition_key: str
) -> WorkflowSubjectMixin:
    """Put a saved item into the initial state of the active version of a workflow.

    The calling service has checked the actor's right to create the item.
    """
    with transaction.atomic():
        definition = workflow_definition_get(actor=actor, key=definition_key)
        state = definition.states.get(code=definition.initial_state)
        locked = type(subject)._default_manager.select_for_update().get(pk=subject.pk)
        if locked.workflow_id is not None:
            raise WorkflowError(
                _("This item is already in the workflow “%(key)s”.") % {"key": definition.key},
                code="workflow_already_started",
            )
        now = timezone.now()
        subject.workflow = definition
        subject.state = state.code
        subject.state_entered_at = now
        subject.state_due_at = _due_at(state, now, definition.calendar)
        _save_state(subject, ["workflow", "state", "state_entered_at", "state_due_at"])
        _log(
            definition=definition,
            subject=subject,
            from_state="",
            to_state=state.code,
            transition="start",
            actor=actor,
            reason="",
            at=now,
        )
        audit_record(
            actor=actor,
            action="workflow.start",
            target=subject,
            after={"workflow": definition.key, "version": definition.version, "state": state.code},
        )
        event_record(
            type=f"{definition.key}.started",
            target=subject,
            payload={
                "workflow": definition.key,
                "version": definition.version,
                "state": state.code,
            },
        )
    return subject


def _role_refusal(actor: Any, subject: models.Model, transition: WorkflowTransition) -> str | None:
    """None if the actor may take the step, else the message saying why not."""
    roles = list(transition.allowed_roles or [])
    if is_system(actor):
        if SYSTEM_ROLE in roles:
            return None
        return _("Background jobs may not take the step “%(transition)s”.") % {
            "transition": transition.name
        }
    if roles:
        if actor_role_codes(actor) & set(roles):
            return None
        return _(
            "Your roles may not take the step “%(transition)s”; it needs one of: %(roles)s."
        ) % {"transition": transition.name, "roles": ", ".join(r for r in roles if r != "system")}
    permission = f"{subject._meta.app_label}.change_{subject._meta.model_name}"
    if actor_has_perm(actor, permission):
        return None
    return _("You may not change this %(item)s, so you may not take the step “%(transition)s”.") % {
        "item": subject._meta.verbose_name,
        "transition": transition.name,
    }


def _guard_refusal(subject: Any, actor: Any, transition: WorkflowTransition) -> str | None:
    for name in transition.guards or []:
        guard = _GUARDS.get(name)
        if guard is None:
            return _("The condition “%(guard)s” of the step “%(transition)s” is not installed.") % {
                "guard": name,
                "transition": transition.name,
            }
        message = guard(subject, actor)
        if message:
            return str(message)
    return None


def _outgoing(definition_id: int, state: str) -> list[WorkflowTransition]:
    return list(
        WorkflowTransition.objects.filter(definition_id=definition_id, source__code=state)
        .select_related("source", "target")
        .order_by("pk")
    )


def _require_started(subject: WorkflowSubjectMixin) -> WorkflowDefinition:
    if subject.workflow_id is None or subject.workflow is None:
        raise WorkflowError(
            _("This item has not been put into a workflow."), code="workflow_not_started"
        )
    return subject.workflow


def workflow_transition(
    *, actor: Any, subject: WorkflowSubjectMixin, transition: str, reason: str = ""
) -> WorkflowSubjectMixin:
    """Take the step ``transition`` from the item's current state.

    Raises WorkflowError when the step does not leave the current state (naming the state and
    the steps that do) or a condition fails (with the condition's message), PermissionDenied
    when the actor's roles may not take it, ValidationError when a required reason is missing.
    Records the step, the audit event and the ``<workflow>.transitioned`` event.
    """
    with transaction.atomic():
        # Lock the item: two people clicking at once must not both move it.
        locked = type(subject)._default_manager.select_for_update().get(pk=subject.pk)
        subject.workflow_id = locked.workflow_id
        subject.state = locked.state
        definition = _require_started(subject)
        outgoing = _outgoing(definition.pk, subject.state)
        step = next((item for item in outgoing if item.code == transition), None)
        if step is None:
            allowed = ", ".join(f"“{item.code}”" for item in outgoing) or _("none")
            raise WorkflowError(
                _(
                    "The step “%(transition)s” is not possible from the state “%(state)s”. "
                    "Possible steps from here: %(allowed)s."
                )
                % {"transition": transition, "state": subject.state, "allowed": allowed},
                code="workflow_illegal_transition",
            )
        refusal = _role_refusal(actor, subject, step)
        if refusal:
            raise PermissionDenied(refusal)
        reason = (reason or "").strip()
        if step.requires_reason and not reason:
            raise ValidationError(
                {
                    "reason": _("Say why you take the step “%(transition)s”.")
                    % {"transition": step.name}
                },
                code="workflow_reason_required",
            )
        refusal = _guard_refusal(subject, actor, step)
        if refusal:
            raise WorkflowError(refusal, code="workflow_condition_failed")

        now = timezone.now()
        from_state = subject.state
        subject.state = step.target.code
        subject.state_entered_at = now
        subject.state_due_at = _due_at(step.target, now, definition.calendar)
        _save_state(subject, ["state", "state_entered_at", "state_due_at"])
        _log(
            definition=definition,
            subject=subject,
            from_state=from_state,
            to_state=step.target.code,
            transition=step.code,
            actor=actor,
            reason=reason,
            at=now,
        )
        audit_record(
            actor=actor,
            action="workflow.transition",
            target=subject,
            before={"state": from_state},
            after={"state": step.target.code, "transition": step.code},
            reason=reason,
        )
        event_record(
            type=f"{definition.key}.transitioned",
            target=subject,
            payload={
                "workflow": definition.key,
                "version": definition.version,
                "transition": step.code,
                "from": from_state,
                "to": step.target.code,
                "is_terminal": step.target.is_terminal,
            },
        )
    return subject


@dataclass(frozen=True)
class AvailableTransition:
    """A step the actor's roles allow from the current state; ``blocked`` says why it waits."""

    transition: WorkflowTransition
    blocked: str | None = None

    @property
    def code(self) -> str:
        return self.transition.code


def workflow_available_transitions(
    *, actor: Any, subject: WorkflowSubjectMixin
) -> list[AvailableTransition]:
    """The steps the actor may take from the item's state, each with a failed condition if any.

    UIs show the unblocked ones as buttons and the blocked ones disabled, with the reason.
    """
    if subject.workflow_id is None:
        return []
    available = []
    for step in _outgoing(subject.workflow_id, subject.state):
        if _role_refusal(actor, subject, step):
            continue
        available.append(AvailableTransition(step, _guard_refusal(subject, actor, step)))
    return available


def workflow_state_get(*, subject: WorkflowSubjectMixin) -> WorkflowState | None:
    """The item's current state row (its name, SLA, whether it is final)."""
    if subject.workflow_id is None:
        return None
    return WorkflowState.objects.filter(
        definition_id=subject.workflow_id, code=subject.state
    ).first()


def workflow_history(*, actor: Any, subject: models.Model) -> QuerySet[WorkflowTransitionLog]:
    """The item's steps, oldest first. The caller has already checked the actor sees the item."""
    return WorkflowTransitionLog.objects.filter(
        subject_type=_subject_label(subject), subject_pk=str(subject.pk)
    ).order_by("at", "pk")


def workflow_history_rows(
    *, actor: Any, subject: models.Model, limit: int = 50
) -> list[dict[str, Any]]:
    """The item's latest ``limit`` steps for a page, oldest first, states by their names."""
    names = dict(
        WorkflowState.objects.filter(
            definition_id=getattr(subject, "workflow_id", None)
        ).values_list("code", "name")
    )
    return [
        {
            "at": log.at,
            "from_state": names.get(log.from_state, log.from_state),
            "to_state": names.get(log.to_state, log.to_state),
            "actor": log.actor,
            "reason": log.reason,
        }
        for log in workflow_history(actor=actor, subject=subject)[:limit]
    ]


# --- Service levels ------------------------------------------------------------------------

_HOURS = Decimal("0.01")
_SHARE = Decimal("0.0001")
_MICROSECONDS_PER_HOUR = Decimal(3_600_000_000)
_ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class SlaStatus:
    """Where an item stands against the SLA of its current state, at one moment.

    Hours are business hours of ``calendar`` when the workflow has one, wall-clock hours
    otherwise, rounded to 0.01 h; ``used_share`` is the part of the SLA used (0.5 is half,
    above 1 is overdue), rounded to 0.0001. ``due_at`` is the due time fixed when the item
    entered the state (the one overdue lists filter on), so a calendar edited later moves
    the hours counted but not that promise.
    """

    state: str
    sla_hours: int
    calendar: str  # business calendar code; "" for wall-clock hours
    entered_at: dt.datetime
    due_at: dt.datetime
    elapsed_hours: Decimal
    remaining_hours: Decimal  # negative once overdue: the hours it is late by
    used_share: Decimal
    is_breached: bool

    def as_dict(self) -> dict[str, Any]:
        """The status as a plain dict (for templates and JSON)."""
        return {
            "state": self.state,
            "sla_hours": self.sla_hours,
            "calendar": self.calendar,
            "entered_at": self.entered_at,
            "due_at": self.due_at,
            "elapsed_hours": self.elapsed_hours,
            "remaining_hours": self.remaining_hours,
            "used_share": self.used_share,
            "is_breached": self.is_breached,
        }


def _rounded(value: Decimal, quantum: Decimal) -> Decimal:
    rounded = value.quantize(quantum, ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)  # never "-0.00"


def _clock_hours(delta: dt.timedelta) -> Decimal:
    return Decimal(delta // _ONE_MICROSECOND) / _MICROSECONDS_PER_HOUR


def _sla_status(
    subject: WorkflowSubjectMixin,
    definition: WorkflowDefinition,
    sla_hours: int,
    now: dt.datetime,
) -> SlaStatus | None:
    entered, due = subject.state_entered_at, subject.state_due_at
    if entered is None or due is None:
        return None
    if definition.calendar_id is not None and definition.calendar is not None:
        calendar = working_calendar(definition.calendar)
        code = calendar.code
        elapsed = business_hours_between(calendar, entered, now)
        remaining = business_hours_between(calendar, now, due)
    else:
        code = ""
        elapsed = _clock_hours(now - entered)
        remaining = _clock_hours(due - now)
    elapsed = max(elapsed, Decimal(0))  # a clock behind the entry time used nothing yet
    return SlaStatus(
        state=subject.state,
        sla_hours=sla_hours,
        calendar=code,
        entered_at=entered,
        due_at=due,
        elapsed_hours=_rounded(elapsed, _HOURS),
        remaining_hours=_rounded(remaining, _HOURS),
        used_share=_rounded(elapsed / Decimal(sla_hours), _SHARE),
        is_breached=now > due,
    )


def workflow_sla_statuses(
    *, subjects: Iterable[WorkflowSubjectMixin], now: dt.datetime | None = None
) -> dict[Any, SlaStatus | None]:
    """The SLA status of many items at once, keyed by their primary key (for list pages).

    None for an item with no running SLA: not started, in a final state or in a state
    without SLA hours. Two queries whatever the number of items, plus one per business
    calendar not yet loaded by this process.
    """
    items = list(subjects)
    now = now or timezone.now()
    statuses: dict[Any, SlaStatus | None] = {item.pk: None for item in items}
    definition_ids = {
        item.workflow_id
        for item in items
        if item.workflow_id is not None and item.state_due_at is not None
    }
    if not definition_ids:
        return statuses
    definitions = WorkflowDefinition.objects.select_related("calendar").in_bulk(definition_ids)
    sla_hours = {
        (definition_id, code): hours
        for definition_id, code, hours in WorkflowState.objects.filter(
            definition_id__in=definition_ids, sla_hours__isnull=False
        ).values_list("definition_id", "code", "sla_hours")
    }
    for item in items:
        if item.workflow_id is None:
            continue
        hours = sla_hours.get((item.workflow_id, item.state))
        definition = definitions.get(item.workflow_id)
        if hours and definition is not None:
            statuses[item.pk] = _sla_status(item, definition, hours, now)
    return statuses


def workflow_sla_status(
    *, subject: WorkflowSubjectMixin, now: dt.datetime | None = None
) -> SlaStatus | None:
    """The SLA status of one item at ``now`` (default: this moment): its due time, whether it
    is breached, the hours used and left, the share of the SLA used.

    None when the item has no running SLA. Pages highlight ``is_breached`` items; list
    pages use :func:`workflow_sla_statuses` instead to stay at a fixed number of queries.
    """
    return workflow_sla_statuses(subjects=[subject], now=now)[subject.pk]
