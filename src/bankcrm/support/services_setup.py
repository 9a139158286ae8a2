"""Administration of the service desk: queues and their agents, case types, SLA policies.

Who may do what:

- **Queues and their members** (create, change, add or remove an agent): the model
  permission (``support.add_queue`` to create, ``support.change_queue`` otherwise) *and*
  ``support.supervise_queue`` (administrators and branch managers; service agents, who may
  change cases, may not rearrange teams), for a queue whose org unit lies within the reach
  of that permission (a branch manager: their unit and the units below it).
- **Case types and SLA policies** apply to the whole bank: they need the permission
  (``support.change_casetype``, ``support.add_slapolicy``, ``support.change_slapolicy``)
  with bank-wide reach, that is an administrator.
- **Availability**: every agent marks themself available or away
  (:func:`agent_availability_set`); nobody else's flag.

Who may join a queue: an active user who may see service cases (``support.view_servicecase``:
agents, branch managers, relationship managers for the premium segments a queue routes to
their RM) and whose org unit lies on the queue's line of the organisation: the queue's unit
or a unit below it (the branch's own staff), or a unit above it (a head-office or regional
agent backing up a branch desk). A branch's agent never joins another branch's queue: the
queue would show them the other branch's customers. A queue's supervisor follows the same
rule and must hold ``support.supervise_queue``.

Every change is validated as a whole (a ``ValidationError`` naming each bad field, nothing
written) and audited with its before and after.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.access.models import OrgUnit, Role
from bankcrm.access.permissions import actor_has_perm, actor_perm_scope
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.models import BusinessCalendar, WorkflowDefinition, WorkflowState
from bankcrm.customers.models import Party

from .models import CaseType, Queue, QueueMember, SlaPolicy
from .models.setup import Priority
from .sla import STOP_STATES

SUPERVISE_PERMISSION = "support.supervise_queue"
VIEW_CASES_PERMISSION = "support.view_servicecase"

# Names a case type may require (services_cases checks them when a case is opened): case
# fields, "contact" (an e-mail address or a phone number) and the kinds of link; an entry
# "a|b" requires at least one of them.
REQUIRED_FIELD_NAMES = frozenset(
    {
        "party",
        "contact",
        "description",
        "contact_name",
        "contact_email",
        "contact_phone",
        "account",
        "loan",
        "loan_application",
        "transaction",
    }
)
_CODE = re.compile(r"^[a-z0-9_]+$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")
_MAX_REOPEN_DAYS = 365

Errors = dict[str, list[ValidationError]]


def _add(errors: Errors, field: str, message: str, code: str) -> None:
    errors.setdefault(field, []).append(ValidationError(message, code=code))


def _raise(errors: Errors) -> None:
    if errors:
        raise ValidationError(errors)


def _model_errors(instance: Any, errors: Errors, exclude: list[str] | None = None) -> None:
    """Field-level checks of the model (lengths, choices, validators) merged into errors;
    uniqueness and constraints are checked by the services with clear messages."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        for field, items in exc.error_dict.items():
            errors.setdefault(field, []).extend(items)


def _snapshot(instance: Any, fields: list[str] | None = None) -> dict[str, Any]:
    """The audited values of a row, without its bookkeeping times."""
    snapshot = audit_snapshot(instance, fields=fields)
    snapshot.pop("created_at", None)
    snapshot.pop("updated_at", None)
    return snapshot


def _unknown_fields(names: list[str]) -> ValidationError:
    return ValidationError(
        {
            name: [ValidationError(_("This field cannot be changed here."), code="unknown")]
            for name in names
        }
    )


# --- Permissions -------------------------------------------------------------------------


def _require_queue_admin(actor: Any, permission: str, *units: OrgUnit) -> None:
    """The actor administers queues (``permission`` and supervision) of these units."""
    scope = actor_perm_scope(actor, permission)
    if scope is None or not actor_has_perm(actor, SUPERVISE_PERMISSION):
        raise PermissionDenied(_("You may not administer service queues."))
    for unit in units:
        if not OrgUnit.objects.filter(pk=unit.pk).within_scope(actor, scope).exists():
            raise PermissionDenied(
                _("The org unit %(unit)s is outside your reach.") % {"unit": unit.name}
            )


def _require_bank_wide(actor: Any, permission: str) -> None:
    if actor_perm_scope(actor, permission) != Role.DataScope.BANK:
        raise PermissionDenied(
            _(
                "Case types and SLA policies apply to the whole bank: only an administrator "
                "may change them."
            )
        )


# --- Shared checks -----------------------------------------------------------------------


def _in_line(user_unit: OrgUnit | None, queue_unit: OrgUnit) -> bool:
    """The user's unit is the queue's unit, below it or above it."""
    if user_unit is None or not user_unit.path or not queue_unit.path:
        return False
    return user_unit.path.startswith(queue_unit.path) or queue_unit.path.startswith(user_unit.path)


def _check_staff(
    errors: Errors, field: str, user: Any, queue_unit: OrgUnit | None, permission: str
) -> None:
    if user is None:
        return
    if not getattr(user, "is_active", False) or getattr(user, "pk", None) is None:
        _add(errors, field, _("This person is not an active user."), "inactive")
        return
    if not actor_has_perm(user, permission):
        message = (
            _("This person may not supervise service queues.")
            if permission == SUPERVISE_PERMISSION
            else _("This person may not work service cases.")
        )
        _add(errors, field, message, "not_permitted")
    if queue_unit is not None and not _in_line(user.org_unit, queue_unit):
        _add(
            errors,
            field,
            _(
                "This person belongs to %(unit)s, which is neither the queue's unit, "
                "a unit below it nor one above it."
            )
            % {"unit": user.org_unit.name if user.org_unit else _("no unit")},
            "outside_unit",
        )


def _calendar(value: Any, errors: Errors, field: str = "calendar") -> BusinessCalendar | None:
    if value is None or value == "":
        return None
    if isinstance(value, BusinessCalendar):
        return value
    calendar = BusinessCalendar.objects.filter(code=str(value)).first()
    if calendar is None:
        _add(
            errors,
            field,
            _("There is no business calendar “%(code)s”.") % {"code": value},
            "unknown_calendar",
        )
    return calendar


def _segments(value: Any, errors: Errors, field: str) -> list[str]:
    valid = set(Party.Segment.values)
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        _add(errors, field, _("Give a list of customer segments."), "invalid")
        return []
    unknown = sorted({v for v in value if v not in valid})
    if unknown:
        _add(
            errors,
            field,
            _("Unknown segments: %(segments)s.") % {"segments": ", ".join(unknown)},
            "invalid_choice",
        )
    return list(dict.fromkeys(value))


def _word_list(value: Any, errors: Errors, field: str, pattern: re.Pattern[str]) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        _add(errors, field, _("Give a list of codes."), "invalid")
        return []
    cleaned = [v.strip().lower() for v in value if v.strip()]
    bad = sorted({v for v in cleaned if not pattern.match(v)})
    if bad:
        _add(
            errors,
            field,
            _("Not valid codes: %(codes)s.") % {"codes": ", ".join(bad)},
            "invalid",
        )
    return list(dict.fromkeys(cleaned))


# --- Queues ------------------------------------------------------------------------------

_QUEUE_FIELDS = {
    "name",
    "name_zh",
    "org_unit",
    "supervisor",
    "calendar",
    "assignment",
    "rm_segments",
    "email_address",
    "is_active",
}


def _validate_queue(queue: Queue, errors: Errors) -> None:
    queue.code = (queue.code or "").strip()
    queue.name = (queue.name or "").strip()
    queue.name_zh = (queue.name_zh or "").strip()
    queue.email_address = (queue.email_address or "").strip().lower()
    _model_errors(queue, errors, exclude=["calendar", "supervisor", "org_unit", "rm_segments"])
    if queue.org_unit_id is None:  # type: ignore[attr-defined]
        _add(errors, "org_unit", _("Choose the org unit of the queue."), "required")
    elif not queue.org_unit.is_active:
        _add(errors, "org_unit", _("This org unit is no longer active."), "inactive")
    if queue.code and Queue.objects.filter(code=queue.code).exclude(pk=queue.pk).exists():
        _add(errors, "code", _("A queue with this code already exists."), "duplicate")
    if queue.email_address:
        try:
            validate_email(queue.email_address)
        except ValidationError:
            pass  # reported by the model's own check
        else:
            clash = Queue.objects.filter(email_address__iexact=queue.email_address).exclude(
                pk=queue.pk
            )
            if clash.exists():
                _add(
                    errors,
                    "email_address",
                    _("Another queue already receives e-mail at this address."),
                    "duplicate",
                )
    queue.rm_segments = _segments(queue.rm_segments, errors, "rm_segments")
    if queue.supervisor_id is not None:  # type: ignore[attr-defined]
        _check_staff(
            errors,
            "supervisor",
            queue.supervisor,
            queue.org_unit if queue.org_unit_id else None,  # type: ignore[attr-defined]
            SUPERVISE_PERMISSION,
        )


def queue_create(
    *,
    actor: Any,
    code: str,
    name: str,
    org_unit: OrgUnit,
    name_zh: str = "",
    supervisor: Any = None,
    calendar: BusinessCalendar | str | None = None,
    assignment: str = Queue.Assignment.ROUND_ROBIN,
    rm_segments: list[str] | None = None,
    email_address: str = "",
    is_active: bool = True,
) -> Queue:
    """Open a work queue in an org unit (see the module for who may and the checks)."""
    _require_queue_admin(actor, "support.add_queue", org_unit)
    errors: Errors = {}
    queue = Queue(
        code=code,
        name=name,
        name_zh=name_zh,
        org_unit=org_unit,
        supervisor=supervisor,
        calendar=_calendar(calendar, errors),
        assignment=assignment,
        rm_segments=list(rm_segments or []),
        email_address=email_address,
        is_active=is_active,
    )
    _validate_queue(queue, errors)
    _raise(errors)
    with transaction.atomic():
        queue.save()
        audit_record(actor=actor, action="queue.create", target=queue, after=_snapshot(queue))
    return queue


def queue_update(*, actor: Any, queue: Queue, changes: Mapping[str, Any]) -> Queue:
    """Change a queue's name, unit, supervisor, calendar, rule, RM segments, e-mail address
    or active flag. The code never changes (settings and integrations name it)."""
    unknown = sorted(set(changes) - _QUEUE_FIELDS)
    if unknown:
        raise _unknown_fields(unknown)
    queue = Queue.objects.select_related("org_unit").get(pk=queue.pk)
    units = [queue.org_unit]
    if isinstance(changes.get("org_unit"), OrgUnit):
        units.append(changes["org_unit"])
    _require_queue_admin(actor, "support.change_queue", *units)
    before = _snapshot(queue)
    errors: Errors = {}
    for field, value in changes.items():
        if field == "calendar":
            value = _calendar(value, errors)
        elif field == "rm_segments" and value is None:
            value = []
        setattr(queue, field, value)
    _validate_queue(queue, errors)
    _raise(errors)
    with transaction.atomic():
        queue.save()
        audit_record(
            actor=actor,
            action="queue.update",
            target=queue,
            before=before,
            after=_snapshot(queue),
        )
    return queue


def queue_member_set(
    *,
    actor: Any,
    queue: Queue,
    user: Any,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
    is_available: bool | None = None,
    max_open_cases: int | None = None,
) -> QueueMember:
    """Add an agent to a queue, or change their skills, languages, availability or case cap
    (None leaves a value as it is; a new member starts available, with no skill or language
    restriction and no cap)."""
    _require_queue_admin(actor, "support.change_queue", queue.org_unit)
    errors: Errors = {}
    member = QueueMember.objects.filter(queue=queue, user=user).first()
    created = member is None
    if member is None:
        _check_staff(errors, "user", user, queue.org_unit, VIEW_CASES_PERMISSION)
        member = QueueMember(queue=queue, user=user)
    before = None if created else _snapshot(member)
    if skills is not None:
        member.skills = _word_list(skills, errors, "skills", _CODE)
    if languages is not None:
        member.languages = _word_list(languages, errors, "languages", _LANGUAGE)
    if is_available is not None:
        member.is_available = bool(is_available)
    if max_open_cases is not None:
        if (
            isinstance(max_open_cases, bool)
            or not isinstance(max_open_cases, int)
            or max_open_cases < 0
        ):
            _add(
                errors,
                "max_open_cases",
                _("Give a whole number of cases, 0 for no limit."),
                "invalid",
            )
        else:
            member.max_open_cases = max_open_cases
    _raise(errors)
    with transaction.atomic():
        member.save()
        audit_record(
            actor=actor,
            action="queue_member.set",
            target=member,
            before=before,
            after=_snapshot(member),
        )
    return member


def queue_member_remove(*, actor: Any, queue: Queue, user: Any) -> None:
    """Take an agent off a queue. Cases already assigned to them stay assigned (their
    supervisor reassigns them); no new case goes to them."""
    _require_queue_admin(actor, "support.change_queue", queue.org_unit)
    member = QueueMember.objects.filter(queue=queue, user=user).first()
    if member is None:
        raise ValidationError(
            {
                "user": [
                    ValidationError(
                        _("This person is not a member of the queue."), code="not_member"
                    )
                ]
            }
        )
    before = _snapshot(member)
    with transaction.atomic():
        audit_record(actor=actor, action="queue_member.remove", target=member, before=before)
        member.delete()


def agent_availability_set(
    *, actor: Any, is_available: bool, queue: Queue | None = None
) -> list[QueueMember]:
    """The agent marks themself available or away, in one queue or (no queue) in all their
    queues; away agents get no new case by assignment. Returns the memberships concerned."""
    if getattr(actor, "pk", None) is None or not getattr(actor, "is_active", False):
        raise PermissionDenied(_("Only a signed-in agent can set their availability."))
    if not actor_has_perm(actor, VIEW_CASES_PERMISSION):
        raise PermissionDenied(_("You do not work service cases."))
    memberships = (
        QueueMember.objects.filter(user=actor).select_related("queue").order_by("queue__code")
    )
    if queue is not None:
        memberships = memberships.filter(queue=queue)
    members = list(memberships)
    if queue is not None and not members:
        raise ValidationError(
            {
                "queue": [
                    ValidationError(_("You are not a member of this queue."), code="not_member")
                ]
            }
        )
    with transaction.atomic():
        for member in members:
            if member.is_available == bool(is_available):
                continue
            before = _snapshot(member, fields=["is_available"])
            member.is_available = bool(is_available)
            member.save(update_fields=["is_available", "updated_at"])
            audit_record(
                actor=actor,
                action="queue_member.availability",
                target=member,
                before=before,
                after=_snapshot(member, fields=["is_available"]),
            )
    return members


# --- Case types --------------------------------------------------------------------------

_CASE_TYPE_FIELDS = {
    "name",
    "name_zh",
    "workflow_key",
    "required_fields",
    "default_priority",
    "default_queue",
    "reopen_days",
    "sla_pause_states",
    "is_active",
    "sort_order",
}


def _required_fields(value: Any, errors: Errors) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        _add(errors, "required_fields", _("Give a list of field names."), "invalid")
        return []
    cleaned = []
    for entry in value:
        names = [name.strip() for name in entry.split("|") if name.strip()]
        unknown = [name for name in names if name not in REQUIRED_FIELD_NAMES]
        if not names or unknown:
            _add(
                errors,
                "required_fields",
                _("“%(entry)s” is not a case field that can be required (choose from %(names)s).")
                % {"entry": entry, "names": ", ".join(sorted(REQUIRED_FIELD_NAMES))},
                "invalid_choice",
            )
            continue
        cleaned.append("|".join(names))
    return list(dict.fromkeys(cleaned))


def case_type_update(*, actor: Any, case_type: CaseType, changes: Mapping[str, Any]) -> CaseType:
    """Change a case type: names, workflow, required fields, default priority and queue,
    reopen window, SLA pause states, order, active flag. Whether a type is a regulated
    complaint is fixed when it is created. Open cases keep their workflow version and SLA."""
    _require_bank_wide(actor, "support.change_casetype")
    unknown = sorted(set(changes) - _CASE_TYPE_FIELDS)
    if unknown:
        raise _unknown_fields(unknown)
    case_type = CaseType.objects.get(pk=case_type.pk)
    before = _snapshot(case_type)
    errors: Errors = {}
    for field, value in changes.items():
        if field == "required_fields":
            value = _required_fields(value, errors)
        elif field in {"name", "name_zh", "workflow_key"}:
            value = (value or "").strip()
        setattr(case_type, field, value)
    _model_errors(
        case_type, errors, exclude=["required_fields", "sla_pause_states", "default_queue"]
    )
    definition = WorkflowDefinition.objects.filter(
        key=case_type.workflow_key, is_active=True
    ).first()
    if definition is None:
        _add(
            errors,
            "workflow_key",
            _("There is no active workflow “%(key)s”.") % {"key": case_type.workflow_key},
            "unknown_workflow",
        )
    pause_states = case_type.sla_pause_states
    if not isinstance(pause_states, list) or not all(isinstance(v, str) for v in pause_states):
        _add(errors, "sla_pause_states", _("Give a list of workflow state codes."), "invalid")
    elif definition is not None:
        known = set(
            WorkflowState.objects.filter(definition=definition).values_list("code", flat=True)
        )
        bad = sorted({s for s in pause_states if s not in known or s in STOP_STATES})
        if bad or definition.initial_state in pause_states:
            _add(
                errors,
                "sla_pause_states",
                _("The SLA can pause only in working states of the workflow, not in: %(states)s.")
                % {"states": ", ".join(bad or [definition.initial_state])},
                "invalid_choice",
            )
    if (
        not isinstance(case_type.reopen_days, int)
        or not 0 <= case_type.reopen_days <= _MAX_REOPEN_DAYS
    ):
        _add(
            errors,
            "reopen_days",
            _("Give a number of days from 0 to %(most)s.") % {"most": _MAX_REOPEN_DAYS},
            "invalid",
        )
    default_queue = case_type.default_queue if case_type.default_queue_id else None  # type: ignore[attr-defined]
    if default_queue is not None and not default_queue.is_active:
        _add(errors, "default_queue", _("This queue is no longer active."), "inactive")
    _raise(errors)
    with transaction.atomic():
        case_type.save()
        audit_record(
            actor=actor,
            action="case_type.update",
            target=case_type,
            before=before,
            after=_snapshot(case_type),
        )
    return case_type


# --- SLA policies ------------------------------------------------------------------------

_POLICY_FIELDS = {
    "name",
    "case_type",
    "priority",
    "segment",
    "first_response_minutes",
    "resolution_minutes",
    "warning_percent",
    "calendar",
}


def _case_type(value: Any, errors: Errors) -> CaseType | None:
    if value is None or value == "":
        return None
    if isinstance(value, CaseType):
        return value
    found = CaseType.objects.filter(code=str(value)).first()
    if found is None:
        _add(
            errors,
            "case_type",
            _("There is no case type “%(code)s”.") % {"code": value},
            "unknown_case_type",
        )
    return found


def _validate_policy(policy: SlaPolicy, errors: Errors) -> None:
    policy.name = (policy.name or "").strip()
    policy.segment = (policy.segment or "").strip()
    _model_errors(policy, errors, exclude=["case_type", "calendar"])
    for field in ("first_response_minutes", "resolution_minutes", "warning_percent"):
        value = getattr(policy, field)
        if isinstance(value, bool) or not isinstance(value, int):
            errors.pop(field, None)
            _add(errors, field, _("Give a whole number."), "invalid")
    if policy.priority is not None and policy.priority not in Priority.values:
        errors.pop("priority", None)
        _add(
            errors, "priority", _("Choose a priority from 1 (low) to 4 (urgent)."), "invalid_choice"
        )
    if policy.segment and policy.segment not in Party.Segment.values:
        _add(
            errors,
            "segment",
            _("“%(segment)s” is not a customer segment.") % {"segment": policy.segment},
            "invalid_choice",
        )
    first, resolution = policy.first_response_minutes, policy.resolution_minutes
    if (
        "first_response_minutes" not in errors
        and "resolution_minutes" not in errors
        and resolution < first
    ):
        _add(
            errors,
            "resolution_minutes",
            _("The resolution target cannot be shorter than the first-response target."),
            "shorter_than_response",
        )
    if policy.is_active and not errors.keys() & {"case_type", "priority", "segment"}:
        clash = SlaPolicy.objects.filter(
            is_active=True,
            case_type=policy.case_type,
            priority=policy.priority,
            segment=policy.segment,
        ).exclude(pk=policy.pk)
        if clash.exists():
            _add(
                errors,
                "case_type",
                _("An active policy already covers this case type, priority and segment."),
                "duplicate",
            )


def sla_policy_create(
    *,
    actor: Any,
    name: str,
    first_response_minutes: int,
    resolution_minutes: int,
    case_type: CaseType | str | None = None,
    priority: int | None = None,
    segment: str = "",
    warning_percent: int = 80,
    calendar: BusinessCalendar | str | None = None,
) -> SlaPolicy:
    """A new SLA policy: targets in business minutes for a case type × priority × segment
    (None or blank: any). It applies to cases opened from now on."""
    _require_bank_wide(actor, "support.add_slapolicy")
    errors: Errors = {}
    policy = SlaPolicy(
        name=name,
        case_type=_case_type(case_type, errors),
        priority=priority,
        segment=segment,
        first_response_minutes=first_response_minutes,
        resolution_minutes=resolution_minutes,
        warning_percent=warning_percent,
        calendar=_calendar(calendar, errors),
        is_active=True,
    )
    _validate_policy(policy, errors)
    _raise(errors)
    with transaction.atomic():
        policy.save()
        audit_record(
            actor=actor, action="sla_policy.create", target=policy, after=_snapshot(policy)
        )
    return policy


def sla_policy_update(*, actor: Any, policy: SlaPolicy, changes: Mapping[str, Any]) -> SlaPolicy:
    """Change an active policy. Cases already open keep the targets they were given; new
    cases get the new ones."""
    _require_bank_wide(actor, "support.change_slapolicy")
    unknown = sorted(set(changes) - _POLICY_FIELDS)
    if unknown:
        raise _unknown_fields(unknown)
    policy = SlaPolicy.objects.get(pk=policy.pk)
    if not policy.is_active:
        raise ValidationError(
            {"is_active": [ValidationError(_("This policy is no longer active."), code="inactive")]}
        )
    before = _snapshot(policy)
    errors: Errors = {}
    for field, value in changes.items():
        if field == "case_type":
            value = _case_type(value, errors)
        elif field == "calendar":
            value = _calendar(value, errors)
        setattr(policy, field, value)
    _validate_policy(policy, errors)
    _raise(errors)
    with transaction.atomic():
        policy.save()
        audit_record(
            actor=actor,
            action="sla_policy.update",
            target=policy,
            before=before,
            after=_snapshot(policy),
        )
    return policy


def sla_policy_deactivate(*, actor: Any, policy: SlaPolicy, reason: str = "") -> SlaPolicy:
    """Retire a policy: new cases fall back to the next most specific one; open cases keep
    their targets. Deactivating an inactive policy changes nothing."""
    _require_bank_wide(actor, "support.change_slapolicy")
    policy = SlaPolicy.objects.get(pk=policy.pk)
    if not policy.is_active:
        return policy
    with transaction.atomic():
        policy.is_active = False
        policy.save(update_fields=["is_active", "updated_at"])
        audit_record(
            actor=actor,
            action="sla_policy.deactivate",
            target=policy,
            before={"is_active": True},
            after={"is_active": False},
            reason=(reason or "").strip(),
        )
    return policy
