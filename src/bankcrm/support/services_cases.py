"""Service cases: opening them from any channel, moving them through their type's workflow,
the conversation's effect on the case, assignment, edits, merging duplicates, links to
accounts, loans, applications and transactions, and linking the customer.

Every function here writes in one transaction, checks who may do it, and records the
audit trail; domain events go to the outbox with the change (``case.created``,
``case.resolved`` …). A case out of the actor's reach is ``ServiceCase.DoesNotExist`` (a
404), a case they may see but not change a PermissionDenied; nothing is written either way.

References read ``SC-<year>-<6-digit number>``, gap-free per year: the year's
:class:`~bankcrm.support.models.CaseSequence` row is locked while a case is opened, so a
rolled-back opening gives its number back.

Importing this module registers the workflow guard ``support.within_reopen_window``
(reopening within ``CaseType.reopen_days`` of the resolution).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.audit.services import audit_record, audit_snapshot
from bankcrm.core.actor import SystemActor, actor_label, is_system
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import register_workflow_guard, workflow_start, workflow_transition
from bankcrm.events.services import event_record

from . import error_codes
from .models import (
    CaseArticleLink,
    CaseLink,
    CaseMessage,
    CaseSequence,
    CaseType,
    ComplaintCode,
    Queue,
    SatisfactionSurvey,
    ServiceCase,
)
from .models.setup import Channel, Priority

logger = logging.getLogger("bankcrm.support")

REOPEN_GUARD = "support.within_reopen_window"
# The system acting on a case because of a message (a customer's reply, a late answer).
INBOUND_ACTOR = SystemActor("support.inbound")

# Workflow state codes the services give meaning to (see the case-setup migration).
STATE_NEW = "new"
STATE_WAITING = "waiting_on_customer"
STATE_RESOLVED = "resolved"
STATE_CLOSED = "closed"
DONE_STATES = (STATE_RESOLVED, STATE_CLOSED)

MAX_SUBJECT = 300
MAX_TEXT = 20000
MAX_NAME = 200
MAX_PHONE = 32
MAX_HEADER = 255
# A case received a few minutes "in the future" is a clock difference, not an error.
CLOCK_SKEW = dt.timedelta(minutes=5)
_PHONE = re.compile(r"^\+?[0-9 ()\-./]{5,32}$")

MESSAGE_KEYS = frozenset(
    {
        "from_address",
        "to_address",
        "subject",
        "body",
        "message_id",
        "in_reply_to",
        "references",
        "attachments",
        "channel",
    }
)
COMPLAINT_KEYS = frozenset({"category", "product", "received_on", "root_cause", "rule"})
UPDATABLE = ("priority", "subject", "queue", "description")
# Case fields a case type may require at opening (CaseType.required_fields), besides the
# kinds of link ("account", "loan", "loan_application", "transaction").
REQUIRABLE = ("party", "description", "contact_name", "contact_email", "contact_phone")
CONTACT = "contact"  # required: an e-mail address or a phone number


# --- Small helpers -------------------------------------------------------------------------


class _Problems:
    """Field problems collected before anything is written, raised as one ValidationError."""

    def __init__(self) -> None:
        self.errors: dict[str, list[ValidationError]] = {}

    def add(self, name: str, message: str, code: str) -> None:
        self.errors.setdefault(name, []).append(ValidationError(message, code=code))

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def _invalid(name: str, message: str, code: str) -> ValidationError:
    return ValidationError({name: ValidationError(message, code=code)})


def _require(actor: Any, permission: str) -> None:
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _person(actor: Any) -> Any:
    """The signed-in member of staff (None for the system)."""
    return None if is_system(actor) or getattr(actor, "pk", None) is None else actor


def _locked_case(actor: Any, case: ServiceCase | Any) -> ServiceCase:
    """The case locked for change; DoesNotExist when out of the actor's sight,
    PermissionDenied when seen but not changeable by them."""
    from .selectors_cases import case_visible

    pk: Any = getattr(case, "pk", case)
    locked = (
        case_visible(actor=actor, action="change")
        .select_for_update(of=("self",))
        .filter(pk=pk)
        .first()
    )
    if locked is not None:
        return locked
    if case_visible(actor=actor).filter(pk=pk).exists():
        raise PermissionDenied(_("You may read this case but not change it."))
    raise ServiceCase.DoesNotExist(_("No such case."))


def _refresh(target: Any, source: ServiceCase) -> None:
    """Bring the caller's instance up to date with the saved one."""
    if isinstance(target, ServiceCase) and target is not source:
        target.refresh_from_db()


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _check_length(problems: _Problems, name: str, value: str, limit: int) -> None:
    if len(value) > limit:
        problems.add(
            name,
            _("Write at most %(limit)d characters (%(length)d given).")
            % {"limit": limit, "length": len(value)},
            error_codes.CASE_FIELD_TOO_LONG,
        )


def _queue_by(value: Any) -> Queue | None:
    if isinstance(value, Queue):
        return value if value.is_active else None
    code = _text(value)
    if not code:
        return None
    return Queue.objects.select_related("org_unit").filter(code=code, is_active=True).first()


def _event_payload(case: ServiceCase) -> dict[str, Any]:
    return {
        "id": str(case.pk),
        "reference": case.reference,
        "type": case.case_type.code,
        "channel": case.channel,
        "priority": case.priority,
        "queue": case.queue.code,
        "party": str(case.party_id) if case.party_id else None,
    }


def _secrets_set(case: ServiceCase) -> list[str]:
    names = ("description", "contact_name", "contact_email", "contact_phone", "resolution_note")
    return [name for name in names if getattr(case, name)]


AUDITED = (
    "reference",
    "case_type",
    "channel",
    "priority",
    "subject",
    "party",
    "segment",
    "language",
    "org_unit",
    "queue",
    "assigned_to",
    "received_at",
    "state",
    "sla_policy",
    "first_response_due_at",
    "resolution_due_at",
    "resolved_at",
    "closed_at",
    "reopened_count",
    "merged_into",
    "is_open",
)


def _snapshot(case: ServiceCase) -> dict[str, Any]:
    return audit_snapshot(case, AUDITED)


# --- Reopen window (workflow guard) --------------------------------------------------------


def reopen_refusal(case: ServiceCase, now: dt.datetime | None = None) -> str | None:
    """None when the case may be reopened now, else why not: merged cases never are, others
    within ``reopen_days`` of their resolution (or closing, for a case closed unresolved)."""
    if case.merged_into_id:  # type: ignore[attr-defined]
        return _("A case merged into another is not reopened; work on %(reference)s.") % {
            "reference": case.merged_into.reference if case.merged_into else ""
        }
    done_at = case.resolved_at or case.closed_at
    if done_at is None:
        return None
    days = case.case_type.reopen_days
    if (now or timezone.now()) - done_at > dt.timedelta(days=days):
        return _("This case was resolved more than %(days)d days ago; open a new case instead.") % {
            "days": days
        }
    return None


@register_workflow_guard(REOPEN_GUARD)
def _within_reopen_window(case: Any, actor: Any) -> str | None:
    return reopen_refusal(case)


# --- Opening -------------------------------------------------------------------------------


def _next_reference(year: int) -> str:
    """The year's next reference; the sequence row stays locked until the transaction ends,
    so numbers are gap-free and never given twice."""
    CaseSequence.objects.get_or_create(year=year)
    sequence = CaseSequence.objects.select_for_update().get(year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return f"SC-{year}-{sequence.last_number:06d}"


def _resolve_case_type(problems: _Problems, case_type: Any) -> CaseType | None:
    if isinstance(case_type, CaseType):
        found: CaseType | None = case_type
    else:
        found = CaseType.objects.filter(code=_text(case_type)).first()
    if found is None or not found.is_active:
        problems.add(
            "case_type",
            _("Choose an active case type (“%(value)s” is none).") % {"value": case_type},
            error_codes.CASE_TYPE_UNKNOWN,
        )
        return None
    return found


def _validate_priority(problems: _Problems, priority: Any, default: int) -> int:
    if priority is None or priority == "":
        return default
    if isinstance(priority, str) and priority.strip().isdigit():
        priority = int(priority.strip())
    if isinstance(priority, bool) or not isinstance(priority, int) or priority not in Priority:
        problems.add(
            "priority",
            _("Choose a priority from %(low)d (low) to %(high)d (urgent).")
            % {"low": Priority.LOW, "high": Priority.URGENT},
            error_codes.CASE_PRIORITY_UNKNOWN,
        )
        return default
    return int(priority)


def _validate_subject(problems: _Problems, subject: Any) -> str:
    text = " ".join(_text(subject).split())
    if not text:
        problems.add("subject", _("Write the subject."), error_codes.CASE_FIELD_REQUIRED)
    _check_length(problems, "subject", text, MAX_SUBJECT)
    return text


def _validate_language(problems: _Problems, language: Any) -> str:
    if language in (None, ""):
        return str(ServiceCase._meta.get_field("language").default)
    codes = {code for code, _name in settings.LANGUAGES}
    text = _text(language).lower()
    if text not in codes:
        problems.add(
            "language",
            _("Choose one of the languages %(codes)s.") % {"codes": ", ".join(sorted(codes))},
            error_codes.CASE_LANGUAGE_UNKNOWN,
        )
    return text


def _validate_contact(
    problems: _Problems, name: Any, email: Any, phone: Any
) -> tuple[str, str, str]:
    contact_name = " ".join(_text(name).split())
    _check_length(problems, "contact_name", contact_name, MAX_NAME)
    contact_email = _text(email)
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            problems.add(
                "contact_email", _("Enter a valid e-mail address."), error_codes.CASE_FIELD_INVALID
            )
    contact_phone = _text(phone)
    if contact_phone and not _PHONE.match(contact_phone):
        problems.add(
            "contact_phone",
            _("Enter a phone number: digits, spaces, “+”, “-” and brackets only."),
            error_codes.CASE_FIELD_INVALID,
        )
    return contact_name, contact_email, contact_phone


def _validate_party(problems: _Problems, actor: Any, party: Any) -> Any:
    if party is None:
        return None
    from bankcrm.customers.models import Party

    pk = getattr(party, "pk", party)
    try:
        found = (
            Party.objects.visible_to(actor)
            .select_related("owning_unit", "portfolio")
            .filter(pk=pk)
            .first()
        )
    except (ValueError, ValidationError):
        found = None
    if found is None:
        problems.add(
            "party",
            _("This customer does not exist or is outside your reach."),
            error_codes.CASE_CUSTOMER_OUT_OF_REACH,
        )
    return found


def _validate_assignee(problems: _Problems, user: Any, name: str = "assigned_to") -> Any:
    if user is None:
        return None
    if not getattr(user, "is_active", False) or not actor_has_perm(
        user, "support.change_servicecase"
    ):
        problems.add(
            name,
            _("%(user)s may not work on service cases.") % {"user": user},
            error_codes.CASE_ASSIGNEE_INVALID,
        )
    return user


def _validate_received_at(problems: _Problems, received_at: Any, now: dt.datetime) -> dt.datetime:
    if received_at is None:
        return now
    if not isinstance(received_at, dt.datetime) or timezone.is_naive(received_at):
        problems.add(
            "received_at",
            _("Give the date and time with its time zone."),
            error_codes.CASE_FIELD_INVALID,
        )
        return now
    if received_at > now + CLOCK_SKEW:
        problems.add(
            "received_at",
            _("A case cannot be received in the future."),
            error_codes.CASE_RECEIVED_IN_FUTURE,
        )
    return received_at.astimezone(dt.UTC)


def _validate_message(problems: _Problems, message: Any, channel: str) -> dict[str, Any] | None:
    if message is None:
        return None
    if not isinstance(message, Mapping):
        problems.add(
            "first_message",
            _("Give the first message as its fields."),
            error_codes.CASE_FIELD_INVALID,
        )
        return None
    unknown = sorted(set(message) - MESSAGE_KEYS)
    for key in unknown:
        problems.add(
            f"first_message.{key}",
            _("Unknown message field “%(name)s”.") % {"name": key},
            error_codes.CASE_FIELD_INVALID,
        )
    references = message.get("references") or ""
    if isinstance(references, list | tuple):
        references = " ".join(str(r) for r in references)
    cleaned: dict[str, Any] = {
        "from_address": _text(message.get("from_address")),
        "to_address": _text(message.get("to_address")),
        "subject": _text(message.get("subject")),
        "body": message.get("body") if isinstance(message.get("body"), str) else "",
        "message_id": _text(message.get("message_id")) or None,
        "in_reply_to": _text(message.get("in_reply_to")),
        "references": str(references),
        "attachments": list(message.get("attachments") or []),
        "channel": _text(message.get("channel")) or channel,
    }
    if cleaned["channel"] not in Channel.values:
        problems.add(
            "first_message.channel",
            _("Unknown channel “%(value)s”.") % {"value": cleaned["channel"]},
            error_codes.CASE_CHANNEL_UNKNOWN,
        )
    for key in ("message_id", "in_reply_to"):
        if cleaned[key] and len(cleaned[key]) > MAX_HEADER:
            problems.add(
                f"first_message.{key}",
                _("Write at most %(limit)d characters.") % {"limit": MAX_HEADER},
                error_codes.CASE_FIELD_TOO_LONG,
            )
    if not all(isinstance(item, Mapping) for item in cleaned["attachments"]):
        problems.add(
            "first_message.attachments",
            _("Describe each attachment by its name, size and type."),
            error_codes.CASE_FIELD_INVALID,
        )
    if (
        cleaned["message_id"]
        and CaseMessage.objects.filter(message_id=cleaned["message_id"]).exists()
    ):
        problems.add(
            "first_message.message_id",
            _("This message is already stored."),
            error_codes.CASE_MESSAGE_DUPLICATE,
        )
    return cleaned


def _validate_complaint(
    problems: _Problems, case_type: CaseType | None, complaint: Any
) -> dict[str, Any] | None:
    if case_type is None:
        return None
    if not case_type.is_complaint:
        if complaint:
            problems.add(
                "complaint",
                _("Only complaints take complaint details."),
                error_codes.CASE_COMPLAINT_INVALID,
            )
        return None
    if not isinstance(complaint, Mapping):
        problems.add(
            "complaint",
            _("A complaint needs its regulatory category and product."),
            error_codes.CASE_FIELD_REQUIRED,
        )
        return None
    for key in sorted(set(complaint) - COMPLAINT_KEYS):
        problems.add(
            f"complaint.{key}",
            _("Unknown complaint field “%(name)s”.") % {"name": key},
            error_codes.CASE_COMPLAINT_INVALID,
        )
    cleaned: dict[str, Any] = {}
    for key, kind, missing in (
        ("category", ComplaintCode.Kind.CATEGORY, _("Choose the regulatory category.")),
        ("product", ComplaintCode.Kind.PRODUCT, _("Choose the product or service.")),
        ("root_cause", ComplaintCode.Kind.ROOT_CAUSE, ""),
    ):
        code = _text(complaint.get(key))
        if not code:
            if missing:
                problems.add(f"complaint.{key}", missing, error_codes.CASE_FIELD_REQUIRED)
            continue
        if not ComplaintCode.objects.filter(kind=kind, code=code, is_active=True).exists():
            problems.add(
                f"complaint.{key}",
                _("“%(code)s” is not an active code of this list.") % {"code": code},
                error_codes.CASE_COMPLAINT_INVALID,
            )
        cleaned[key] = code
    received_on = complaint.get("received_on")
    if isinstance(received_on, str) and received_on:
        try:
            received_on = dt.date.fromisoformat(received_on)
        except ValueError:
            problems.add(
                "complaint.received_on",
                _("Give the date as YYYY-MM-DD."),
                error_codes.CASE_FIELD_INVALID,
            )
            received_on = None
    if isinstance(received_on, dt.datetime):
        received_on = received_on.date()
    if received_on and received_on > bank_today():
        problems.add(
            "complaint.received_on",
            _("A complaint cannot be received in the future."),
            error_codes.CASE_RECEIVED_IN_FUTURE,
        )
    cleaned["received_on"] = received_on or None
    cleaned["rule"] = _text(complaint.get("rule")) or None
    return cleaned


def _requirement_met(name: str, values: Mapping[str, Any], link_kinds: set[str]) -> bool:
    if name in CaseLink.Kind.values:
        return name in link_kinds
    if name == CONTACT:
        return bool(values.get("contact_email") or values.get("contact_phone"))
    if name in REQUIRABLE:
        return bool(values.get(name))
    return True  # a name the services do not know requires nothing


def _requirement_label(name: str) -> str:
    labels = {
        "party": _("the customer"),
        "description": _("a description"),
        "contact_name": _("the contact's name"),
        "contact_email": _("an e-mail address"),
        "contact_phone": _("a phone number"),
        CONTACT: _("an e-mail address or a phone number"),
    }
    if name in CaseLink.Kind.values:
        return _("a linked %(kind)s") % {"kind": str(CaseLink.Kind(name).label).lower()}
    return str(labels.get(name, name))


def _requirement_field(name: str) -> str:
    if name in CaseLink.Kind.values:
        return "links"
    return "contact_email" if name == CONTACT else name


def _check_required(
    problems: _Problems,
    case_type: CaseType | None,
    values: Mapping[str, Any],
    link_kinds: set[str],
) -> None:
    """The type's required fields (``CaseType.required_fields``): each entry a field name,
    a kind of link, "contact" (e-mail or phone), or "a|b" (at least one of them)."""
    if case_type is None:
        return
    for entry in case_type.required_fields or []:
        if not isinstance(entry, str) or not entry.strip():
            continue
        names = [name.strip() for name in entry.split("|") if name.strip()]
        if any(_requirement_met(name, values, link_kinds) for name in names):
            continue
        needs = _(" or ").join(_requirement_label(name) for name in names)
        problems.add(
            _requirement_field(names[0]),
            _("A %(type)s case needs %(needs)s.") % {"type": case_type.name, "needs": needs},
            error_codes.CASE_FIELD_REQUIRED,
        )


def case_create(
    *,
    actor: Any,
    case_type: CaseType | str,
    channel: str,
    subject: str,
    description: str = "",
    party: Any = None,
    priority: int | None = None,
    queue: Queue | str | None = None,
    contact_name: str = "",
    contact_email: str = "",
    contact_phone: str = "",
    language: str | None = None,
    received_at: dt.datetime | None = None,
    assigned_to: Any = None,
    complaint: dict[str, Any] | None = None,
    links: list[tuple[str, str]] | None = None,
    first_message: dict[str, Any] | None = None,
) -> ServiceCase:
    """Open a case from any channel.

    Every field is checked first and every problem reported at once (a ValidationError
    naming each bad field; nothing written): the type and its required fields, channel,
    subject, priority (default: the type's), queue (given → the type's default →
    ``SUPPORT_DEFAULT_QUEUE``), customer (within the actor's reach), contact details,
    language, receipt time, assignee, complaint details for a complaint, links and the
    first message. Then, in one transaction: the reference, org unit and segment (from the
    customer, else the queue's unit), the SLA policy and dues, the workflow's first state,
    the assignment (``case_assignee_pick`` unless ``assigned_to`` is given), the complaint,
    the links, the first (inbound) message, the audit trail and the event ``case.created``.

    ``actor`` may be the system (web form, e-mail): no permission beyond the system's.
    """
    if not is_system(actor):
        _require(actor, "support.add_servicecase")
    now = timezone.now()
    problems = _Problems()
    found_type = _resolve_case_type(problems, case_type)
    if channel not in Channel.values:
        problems.add(
            "channel",
            _("Choose a channel: %(channels)s.") % {"channels": ", ".join(Channel.values)},
            error_codes.CASE_CHANNEL_UNKNOWN,
        )
    subject_text = _validate_subject(problems, subject)
    description_text = description if isinstance(description, str) else ""
    description_text = description_text.strip()
    _check_length(problems, "description", description_text, MAX_TEXT)
    found_priority = _validate_priority(
        problems, priority, found_type.default_priority if found_type else Priority.NORMAL
    )
    found_queue = _queue_by(queue) if queue not in (None, "") else None
    if queue not in (None, "") and found_queue is None:
        problems.add(
            "queue",
            _("Choose an active queue (“%(value)s” is none).") % {"value": queue},
            error_codes.CASE_QUEUE_UNKNOWN,
        )
    elif found_queue is None and found_type is not None:
        found_queue = (
            _queue_by(found_type.default_queue) if found_type.default_queue_id else None
        ) or _queue_by(settings.SUPPORT_DEFAULT_QUEUE)
        if found_queue is None:
            problems.add(
                "queue",
                _("No queue takes this case: choose one (the default queue “%(code)s” is "
                  "missing or inactive).") % {"code": settings.SUPPORT_DEFAULT_QUEUE},
                error_codes.CASE_QUEUE_UNKNOWN,
            )  # fmt: skip
    found_party = _validate_party(problems, actor, party)
    name, email, phone = _validate_contact(problems, contact_name, contact_email, contact_phone)
    found_language = _validate_language(problems, language)
    received = _validate_received_at(problems, received_at, now)
    assignee = _validate_assignee(problems, assigned_to)
    complaint_facts = _validate_complaint(problems, found_type, complaint)
    message = _validate_message(problems, first_message, channel)
    link_targets = _validate_links(problems, actor, found_party, links or [])
    _check_required(
        problems,
        found_type,
        {
            "party": found_party,
            "description": description_text,
            "contact_name": name,
            "contact_email": email,
            "contact_phone": phone,
        },
        {kind for kind, _pk, _label in link_targets},
    )
    problems.raise_if_any()
    if found_type is None or found_queue is None:  # reported above; keeps the types exact
        raise ValidationError(problems.errors)

    from .assignment import case_assignee_pick
    from .services_sla import sla_apply_policy

    with transaction.atomic():
        case = ServiceCase(
            reference=_next_reference(bank_today().year),
            case_type=found_type,
            channel=channel,
            priority=found_priority,
            subject=subject_text,
            description=description_text,
            party=found_party,
            segment=found_party.segment if found_party is not None else "",
            contact_name=name,
            contact_email=email,
            contact_phone=phone,
            language=found_language,
            org_unit_id=(
                found_party.owning_unit_id if found_party is not None else found_queue.org_unit_id
            ),
            queue=found_queue,
            opened_by=_person(actor),
            received_at=received,
        )
        sla_apply_policy(case=case, now=now)
        case.save(force_insert=True)
        workflow_start(actor=actor, subject=case, definition_key=found_type.workflow_key)
        if assignee is None:
            assignee = case_assignee_pick(case=case)
        if assignee is not None:
            case.assigned_to = assignee
            case.save(update_fields=["assigned_to", "updated_at"])
        if complaint_facts is not None:
            from .services_complaints import complaint_open

            complaint_open(actor=actor, case=case, **complaint_facts)
        for kind, object_pk, label in link_targets:
            CaseLink.objects.create(
                case=case, kind=kind, object_pk=object_pk, label=label, linked_by=_person(actor)
            )
        inbound = None
        if message is not None:
            inbound = CaseMessage.objects.create(
                case=case,
                direction=CaseMessage.Direction.INBOUND,
                status=CaseMessage.Status.RECEIVED,
                **message,
            )
        audit_record(
            actor=actor,
            action="case.create",
            target=case,
            after={
                **_snapshot(case),
                "links": [f"{kind}:{pk}" for kind, pk, _label in link_targets],
                "first_message": inbound is not None,
            },
            changed_secrets=_secrets_set(case),
        )
        event_record(type="case.created", target=case, payload=_event_payload(case))
        if inbound is not None:
            case_message_added(case=case, message=inbound)
    return case


# --- Workflow ------------------------------------------------------------------------------


def _send_survey(case_pk: Any) -> None:
    from .services_survey import survey_send

    case = ServiceCase.objects.select_related("case_type", "queue", "party").get(pk=case_pk)
    survey_send(case=case)


def _transition(actor: Any, locked: ServiceCase, transition: str, reason: str) -> ServiceCase:
    """Take the step on a locked case and keep the case's own fields in step with it."""
    from .services_sla import sla_on_state_change

    if locked.merged_into_id:  # type: ignore[attr-defined]
        raise _invalid(
            "transition",
            _("This case was merged into %(reference)s.")
            % {"reference": locked.merged_into.reference if locked.merged_into else ""},
            error_codes.CASE_MERGED,
        )
    before = _snapshot(locked)
    old_state = locked.state
    reason = (reason or "").strip()
    workflow_transition(actor=actor, subject=locked, transition=transition, reason=reason)
    new_state = locked.state
    now = timezone.now()
    changed = set(
        sla_on_state_change(case=locked, old_state=old_state, new_state=new_state, now=now)
    )
    if new_state == STATE_RESOLVED:
        locked.resolved_at = now
        locked.resolution_note = reason
        locked.is_open = False
        changed |= {"resolved_at", "resolution_note", "is_open"}
    elif new_state == STATE_CLOSED:
        locked.closed_at = now
        locked.is_open = False
        changed |= {"closed_at", "is_open"}
    elif old_state in DONE_STATES:
        locked.resolved_at = None
        locked.closed_at = None
        locked.is_open = True
        locked.reopened_count += 1
        changed |= {"resolved_at", "closed_at", "is_open", "reopened_count"}
    if changed:
        locked.save(update_fields=sorted(changed | {"updated_at"}))
    audit_record(
        actor=actor,
        action="case.transition",
        target=locked,
        before=before,
        after={**_snapshot(locked), "transition": transition},
        changed_secrets=["resolution_note"] if new_state == STATE_RESOLVED and reason else [],
        reason=reason,
    )
    if new_state == STATE_RESOLVED:
        event_record(
            type="case.resolved",
            target=locked,
            payload={**_event_payload(locked), "resolved_at": now.isoformat()},
        )
        case_pk = locked.pk
        transaction.on_commit(lambda: _send_survey(case_pk), robust=True)
    return locked


def case_transition(
    *, actor: Any, case: ServiceCase, transition: str, reason: str = ""
) -> ServiceCase:
    """Take a workflow step of the case (``triage``, ``start``, ``wait_for_customer``,
    ``resolve`` with the resolution note as reason, ``close``, ``reopen``, ``cancel`` …).

    The SLA clocks follow the new state (pause, resume, stop, restart). Resolving sets the
    resolution time and note, closes the case for the queues, records ``case.resolved`` and,
    after commit, sends the satisfaction survey; closing sets the closing time; reopening
    (within the type's window) opens the case again and counts it.
    """
    if not is_system(actor):
        _require(actor, "support.change_servicecase")
    with transaction.atomic():
        locked = _locked_case(actor, case)
        _transition(actor, locked, transition, reason)
    _refresh(case, locked)
    return locked


def case_message_added(*, case: ServiceCase, message: CaseMessage) -> None:
    """What a new message does to its case; called by whoever adds one (mail, replies,
    notes). A message to the customer records the first response; a customer's message on
    a case waiting on them takes ``customer_replied``; on a resolved or closed case within
    the reopen window it reopens the case. The system takes these steps."""
    from .services_sla import sla_record_first_response

    with transaction.atomic():
        locked = (
            ServiceCase.objects.select_for_update(of=("self",))
            .select_related("case_type", "queue", "merged_into")
            .get(pk=case.pk)
        )
        if message.direction == CaseMessage.Direction.OUTBOUND:
            at = message.created_at or timezone.now()
            changed = sla_record_first_response(case=locked, now=at)
            if changed:
                locked.save(update_fields=sorted({*changed, "updated_at"}))
        elif message.direction == CaseMessage.Direction.INBOUND and not locked.merged_into_id:  # type: ignore[attr-defined]
            if locked.state == STATE_WAITING:
                _transition(INBOUND_ACTOR, locked, "customer_replied", "")
            elif locked.state in DONE_STATES and reopen_refusal(locked) is None:
                _transition(
                    INBOUND_ACTOR,
                    locked,
                    "reopen",
                    _("The customer wrote again after the case was resolved."),
                )
    _refresh(case, locked)


# --- Notes, assignment, edits --------------------------------------------------------------


def case_note_add(*, actor: Any, case: ServiceCase, text: str) -> CaseMessage:
    """Add an internal note to a case the actor may see (encrypted; never sent)."""
    _require(actor, "support.add_casemessage")
    author = _person(actor)
    if author is None:
        raise PermissionDenied(_("Only a member of staff writes notes."))
    text = (text or "").strip() if isinstance(text, str) else ""
    problems = _Problems()
    if not text:
        problems.add("text", _("Write the note."), error_codes.CASE_FIELD_REQUIRED)
    _check_length(problems, "text", text, MAX_TEXT)
    problems.raise_if_any()
    from .selectors_cases import case_visible

    with transaction.atomic():
        locked = (
            case_visible(actor=actor)
            .select_for_update(of=("self",))
            .filter(pk=getattr(case, "pk", case))
            .first()
        )
        if locked is None:
            raise ServiceCase.DoesNotExist(_("No such case."))
        if locked.merged_into_id:  # type: ignore[attr-defined]
            raise _invalid(
                "text", _("This case was merged into another case."), error_codes.CASE_MERGED
            )
        note = CaseMessage.objects.create(
            case=locked,
            direction=CaseMessage.Direction.NOTE,
            channel=locked.channel,
            author=author,
            body=text,
            status=CaseMessage.Status.RECORDED,
        )
        audit_record(
            actor=actor,
            action="case.note_add",
            target=note,
            object_repr=f"note on {locked.reference}",
            after={"case": str(locked.pk), "length": len(text)},
            changed_secrets=["body"],
        )
        case_message_added(case=locked, message=note)
    return note


def case_assign(*, actor: Any, case: ServiceCase, user: Any) -> ServiceCase:
    """Give the case to an agent (``user``), or leave it unassigned (None). The agent must
    be able to work on this very case."""
    _require(actor, "support.change_servicecase")
    from .selectors_cases import case_visible

    with transaction.atomic():
        locked = _locked_case(actor, case)
        if locked.merged_into_id:  # type: ignore[attr-defined]
            raise _invalid(
                "assigned_to", _("This case was merged into another case."), error_codes.CASE_MERGED
            )
        if user is not None:
            problems = _Problems()
            _validate_assignee(problems, user)
            if (
                not problems
                and not case_visible(actor=user, action="change").filter(pk=locked.pk).exists()
            ):
                problems.add(
                    "assigned_to",
                    _("%(user)s cannot work on cases of this queue and customer.") % {"user": user},
                    error_codes.CASE_ASSIGNEE_INVALID,
                )
            problems.raise_if_any()
        before = _snapshot(locked)
        if locked.assigned_to_id == getattr(user, "pk", None):  # type: ignore[attr-defined]
            return locked
        locked.assigned_to = user
        locked.save(update_fields=["assigned_to", "updated_at"])
        audit_record(
            actor=actor, action="case.assign", target=locked, before=before, after=_snapshot(locked)
        )
        event_record(
            type="case.assigned",
            target=locked,
            payload={
                **_event_payload(locked),
                "assigned_to": user.pk if user is not None else None,
            },
        )
    _refresh(case, locked)
    return locked


def case_take(*, actor: Any, case: ServiceCase) -> ServiceCase:
    """Take the case for oneself."""
    if _person(actor) is None:
        raise PermissionDenied(_("Only a member of staff takes a case."))
    return case_assign(actor=actor, case=case, user=actor)


def case_update(*, actor: Any, case: ServiceCase, changes: dict[str, Any]) -> ServiceCase:
    """Change a case's priority, subject, queue or description; a new priority re-applies
    the SLA policy (targets and dues from the receipt time). A case without a customer
    follows its new queue's org unit. Every bad field is named; nothing is written then."""
    _require(actor, "support.change_servicecase")
    changes = dict(changes or {})
    problems = _Problems()
    for key in sorted(set(changes) - set(UPDATABLE)):
        problems.add(
            key,
            _("“%(name)s” cannot be changed here.") % {"name": key},
            error_codes.CASE_CHANGE_UNKNOWN,
        )
    values: dict[str, Any] = {}
    if "priority" in changes:
        values["priority"] = _validate_priority(problems, changes["priority"], Priority.NORMAL)
    if "subject" in changes:
        values["subject"] = _validate_subject(problems, changes["subject"])
    if "description" in changes:
        text = changes["description"] if isinstance(changes["description"], str) else ""
        values["description"] = text.strip()
        _check_length(problems, "description", values["description"], MAX_TEXT)
    if "queue" in changes:
        queue = _queue_by(changes["queue"])
        if queue is None:
            problems.add(
                "queue",
                _("Choose an active queue (“%(value)s” is none).") % {"value": changes["queue"]},
                error_codes.CASE_QUEUE_UNKNOWN,
            )
        values["queue"] = queue
    problems.raise_if_any()
    from .services_sla import sla_apply_policy

    with transaction.atomic():
        locked = _locked_case(actor, case)
        if locked.merged_into_id:  # type: ignore[attr-defined]
            raise _invalid(
                next(iter(values), "case"),
                _("This case was merged into another case."),
                error_codes.CASE_MERGED,
            )
        before = _snapshot(locked)
        description_before = locked.description
        fields: set[str] = set()
        for name, value in values.items():
            current = locked.queue if name == "queue" else getattr(locked, name)
            if value != current:
                setattr(locked, name, value)
                fields.add(name)
        if "queue" in fields and locked.party_id is None:  # type: ignore[attr-defined]
            locked.org_unit_id = locked.queue.org_unit_id
            fields.add("org_unit")
        if "priority" in fields:
            fields |= _sla_fields(locked, sla_apply_policy)
        if not fields:
            return locked
        locked.save(update_fields=sorted(fields | {"updated_at"}))
        audit_record(
            actor=actor,
            action="case.update",
            target=locked,
            before=before,
            after=_snapshot(locked),
            changed_secrets=["description"] if locked.description != description_before else [],
        )
    _refresh(case, locked)
    return locked


SLA_POLICY_FIELDS = (
    "sla_policy",
    "sla_calendar",
    "first_response_target_minutes",
    "resolution_target_minutes",
    "sla_warning_percent",
    "first_response_due_at",
    "resolution_due_at",
)


def _sla_fields(case: ServiceCase, apply: Any) -> set[str]:
    """Re-apply the SLA policy on the instance; the names of the fields it changed."""
    before = {name: getattr(case, f"{name}_id", getattr(case, name)) for name in SLA_POLICY_FIELDS}
    apply(case=case, now=timezone.now())
    return {
        name
        for name in SLA_POLICY_FIELDS
        if getattr(case, f"{name}_id", getattr(case, name)) != before[name]
    }


# --- Customer ------------------------------------------------------------------------------


def _reseal_conversation(case: ServiceCase) -> None:
    """Seal the case's messages and survey again under the case's current key scope."""
    from bankcrm.core.crypto.fields import encrypted_fields, reseal

    for message in CaseMessage.objects.filter(case_id=case.pk).order_by("pk"):
        reseal(message)
        message.case = case
        message.save(update_fields=[f.name for f in encrypted_fields(CaseMessage)])
    survey = SatisfactionSurvey.objects.filter(case_id=case.pk).first()
    if survey is not None:
        reseal(survey)
        survey.case = case
        survey.save(update_fields=[f.name for f in encrypted_fields(SatisfactionSurvey)])


def _set_party(case: ServiceCase, party: Any) -> list[str]:
    """Give the (locked) case its customer: key scope, org unit and segment follow."""
    from bankcrm.core.crypto.fields import encrypted_fields, reseal

    reseal(case)
    case.party = party
    case.org_unit_id = party.owning_unit_id
    case.segment = party.segment
    fields = ["party", "org_unit", "segment", "contact_email_index"]
    fields += [f.name for f in encrypted_fields(ServiceCase)]
    case.save(update_fields=[*fields, "updated_at"])
    _reseal_conversation(case)
    return fields


def case_party_set(*, actor: Any, case: ServiceCase, party: Any) -> ServiceCase:
    """Link the case to its customer (or correct the link): the case, its messages and its
    survey are sealed again under the customer's key, and the case's org unit and segment
    follow the customer (so the customer's branch sees it)."""
    _require(actor, "support.change_servicecase")
    problems = _Problems()
    if party is None:
        problems.add("party", _("Choose the customer."), error_codes.CASE_FIELD_REQUIRED)
    problems.raise_if_any()
    found = _validate_party(problems, actor, party)
    problems.raise_if_any()
    with transaction.atomic():
        locked = _locked_case(actor, case)
        if locked.merged_into_id:  # type: ignore[attr-defined]
            raise _invalid(
                "party", _("This case was merged into another case."), error_codes.CASE_MERGED
            )
        if locked.party_id == found.pk:  # type: ignore[attr-defined]
            return locked
        before = _snapshot(locked)
        _set_party(locked, found)
        audit_record(
            actor=actor,
            action="case.party_set",
            target=locked,
            before=before,
            after=_snapshot(locked),
        )
        event_record(type="case.customer_linked", target=locked, payload=_event_payload(locked))
    _refresh(case, locked)
    return locked


# --- Merging -------------------------------------------------------------------------------


def case_merge(
    *, actor: Any, duplicate: ServiceCase, into: ServiceCase, reason: str
) -> ServiceCase:
    """Merge a duplicate case into another: its messages, links and linked articles move to
    ``into``; the duplicate closes with ``merged_into`` set. Both cases must be changeable
    by the actor, of the same customer (or one of them without a customer: ``into`` then
    takes the duplicate's customer), and neither already merged. Audited on both cases."""
    _require(actor, "support.change_servicecase")
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise _invalid(
            "reason", _("Say why the cases are merged."), error_codes.CASE_FIELD_REQUIRED
        )
    from bankcrm.core.models.workflow import WorkflowTransitionLog

    from .services_sla import sla_on_state_change

    duplicate_pk = getattr(duplicate, "pk", duplicate)
    into_pk = getattr(into, "pk", into)
    if str(duplicate_pk) == str(into_pk):
        raise _invalid(
            "into", _("A case cannot be merged into itself."), error_codes.CASE_MERGE_SELF
        )
    with transaction.atomic():
        # Locked in key order: two merges of the same pair never wait on each other.
        first, second = sorted([duplicate_pk, into_pk], key=str)
        locked = {str(first): _locked_case(actor, first)}
        locked[str(second)] = _locked_case(actor, second)
        dup, target = locked[str(duplicate_pk)], locked[str(into_pk)]
        problems = _Problems()
        for name, item in (("duplicate", dup), ("into", target)):
            if item.merged_into_id:  # type: ignore[attr-defined]
                problems.add(
                    name,
                    _("%(reference)s is already merged into another case.")
                    % {"reference": item.reference},
                    error_codes.CASE_MERGED,
                )
        if dup.party_id and target.party_id and dup.party_id != target.party_id:  # type: ignore[attr-defined]
            problems.add(
                "into",
                _("%(a)s and %(b)s belong to different customers.")
                % {"a": dup.reference, "b": target.reference},
                error_codes.CASE_MERGE_OTHER_CUSTOMER,
            )
        if hasattr(dup, "complaint") and not hasattr(target, "complaint"):
            problems.add(
                "into",
                _("A complaint is a regulated record: merge it into another complaint only."),
                error_codes.CASE_MERGE_COMPLAINT,
            )
        problems.raise_if_any()
        before_dup, before_target = _snapshot(dup), _snapshot(target)
        if dup.party_id and not target.party_id:  # type: ignore[attr-defined]
            _set_party(target, dup.party)
        moved_messages = list(CaseMessage.objects.filter(case_id=dup.pk).order_by("pk"))
        if dup.party_id != target.party_id:  # type: ignore[attr-defined]
            from bankcrm.core.crypto.fields import encrypted_fields, reseal

            for message in moved_messages:
                reseal(message)
                message.case = target
                message.save(
                    update_fields=["case", *[f.name for f in encrypted_fields(CaseMessage)]]
                )
        else:
            CaseMessage.objects.filter(case_id=dup.pk).update(case=target)
        existing = set(CaseLink.objects.filter(case=target).values_list("kind", "object_pk"))
        links_moved = 0
        for link in CaseLink.objects.filter(case=dup).order_by("pk"):
            if (link.kind, link.object_pk) in existing:
                link.delete()
            else:
                CaseLink.objects.filter(pk=link.pk).update(case=target)
                links_moved += 1
        linked_articles = set(
            CaseArticleLink.objects.filter(case=target).values_list("article_id", flat=True)
        )
        articles_moved = 0
        for article_link in CaseArticleLink.objects.filter(case=dup).order_by("pk"):
            if article_link.article_id in linked_articles:  # type: ignore[attr-defined]
                article_link.delete()
            else:
                CaseArticleLink.objects.filter(pk=article_link.pk).update(case=target)
                articles_moved += 1
        now = timezone.now()
        old_state = dup.state
        dup.merged_into = target
        dup.is_open = False
        dup.closed_at = now
        dup.state = STATE_CLOSED
        dup.state_entered_at = now
        dup.state_due_at = None
        changed = set(
            sla_on_state_change(case=dup, old_state=old_state, new_state=STATE_CLOSED, now=now)
        )
        dup.save(
            update_fields=sorted(
                changed
                | {"merged_into", "is_open", "closed_at", "state", "state_entered_at"}
                | {"state_due_at", "updated_at"}
            )
        )
        if dup.workflow_id is not None:  # type: ignore[attr-defined]
            WorkflowTransitionLog.objects.create(
                definition_id=dup.workflow_id,  # type: ignore[attr-defined]
                subject_type=dup._meta.label_lower,
                subject_pk=str(dup.pk),
                from_state=old_state,
                to_state=STATE_CLOSED,
                transition="merge",
                actor=actor_label(actor)[:150],
                reason=reason,
                at=now,
            )
        facts = {
            "messages": len(moved_messages),
            "links": links_moved,
            "articles": articles_moved,
        }
        audit_record(
            actor=actor,
            action="case.merge",
            target=dup,
            before=before_dup,
            after={**_snapshot(dup), **facts, "into": target.reference},
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="case.merge_into",
            target=target,
            before=before_target,
            after={**_snapshot(target), **facts, "duplicate": dup.reference},
            reason=reason,
        )
        event_record(
            type="case.merged",
            target=target,
            payload={
                **_event_payload(target),
                "duplicate": str(dup.pk),
                "duplicate_reference": dup.reference,
            },
        )
    _refresh(duplicate, dup)
    _refresh(into, target)
    return target


# --- Links ---------------------------------------------------------------------------------


def _link_target(actor: Any, party: Any, kind: str, object_pk: Any) -> tuple[str, str] | str:
    """The linked record's key and masked label, or the message saying why it cannot be
    linked: it must be visible to the actor (banking and lending selectors) and be the
    customer's."""
    from bankcrm.customers.models import Party

    text = str(object_pk or "").strip()
    missing: dict[str, str] = {
        CaseLink.Kind.ACCOUNT: _("No account of this customer with this key is within your reach."),
        CaseLink.Kind.LOAN: _("No loan of this customer with this key is within your reach."),
        CaseLink.Kind.LOAN_APPLICATION: _(
            "No loan application of this customer with this key is within your reach."
        ),
        CaseLink.Kind.TRANSACTION: _(
            "No transaction of this customer with this key is within your reach."
        ),
    }
    if kind not in CaseLink.Kind.values:
        return _("Choose what to link: %(kinds)s.") % {"kinds": ", ".join(CaseLink.Kind.values)}
    if party is None:
        return _("Link the case to its customer first.")
    if not text:
        return missing[kind]
    try:
        if kind == CaseLink.Kind.ACCOUNT:
            from bankcrm.banking.selectors import account_list

            account = account_list(actor=actor, party=party).filter(pk=text).first()
            if account is not None:
                return str(account.pk), f"{account.product.name} **** {account.number_last4}"
        elif kind == CaseLink.Kind.TRANSACTION:
            from bankcrm.banking.selectors import transaction_queryset

            txn = (
                transaction_queryset(actor=actor, party=party)
                .select_related("account")
                .filter(pk=int(text))
                .first()
            )
            if txn is not None:
                label = (
                    f"{txn.booking_date.isoformat()} {_amount_text(txn.amount, txn.currency)} "
                    f"{txn.currency} **** {txn.account.number_last4}"
                )
                return str(txn.pk), label
        elif kind == CaseLink.Kind.LOAN:
            from bankcrm.lending.selectors import loan_list

            loan = loan_list(actor=actor, borrower=party.pk).filter(pk=text).first()
            if loan is not None:
                return str(loan.pk), f"{loan.reference} {loan.product.name}"
        else:
            from bankcrm.lending.selectors import loan_application_list

            application = (
                loan_application_list(actor=actor, applicant=party.pk).filter(pk=text).first()
            )
            if application is not None:
                return str(application.pk), f"{application.reference} {application.product.name}"
    except (PermissionDenied, Party.DoesNotExist, ValueError, ValidationError, TypeError):
        pass
    return missing[kind]


def _amount_text(amount: Decimal, currency: str) -> str:
    from bankcrm.core.money import UnknownCurrency, currency_info

    try:
        places = currency_info(currency).minor_units
    except UnknownCurrency:
        places = 2
    return f"{amount:.{places}f}"


def _validate_links(
    problems: _Problems, actor: Any, party: Any, links: Iterable[Any]
) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for index, item in enumerate(links):
        try:
            kind, object_pk = item
        except (TypeError, ValueError):
            problems.add(
                f"links.{index}",
                _("Give each link as its kind and the record's key."),
                error_codes.CASE_FIELD_INVALID,
            )
            continue
        target = _link_target(actor, party, str(kind), object_pk)
        if isinstance(target, str):
            problems.add(f"links.{index}", target, error_codes.CASE_LINK_OUT_OF_REACH)
            continue
        if any(k == kind and pk == target[0] for k, pk, _label in found):
            continue
        found.append((str(kind), target[0], target[1]))
    return found


def case_link_add(*, actor: Any, case: ServiceCase, kind: str, object_pk: Any) -> CaseLink:
    """Link one of the customer's accounts, loans, loan applications or transactions to
    the case. The record must be within the actor's reach and the case's customer's; the
    link keeps a masked label ("Savings **** 1234")."""
    _require(actor, "support.add_caselink")
    with transaction.atomic():
        locked = _locked_case(actor, case)
        party = locked.party
        if kind not in CaseLink.Kind.values:
            code = error_codes.CASE_LINK_KIND_UNKNOWN
            name = "kind"
        elif party is None:
            code = error_codes.CASE_LINK_NEEDS_CUSTOMER
            name = "object_pk"
        else:
            code = error_codes.CASE_LINK_OUT_OF_REACH
            name = "object_pk"
        target = _link_target(actor, party, kind, object_pk)
        if isinstance(target, str):
            raise _invalid(name, target, code)
        key, label = target
        if CaseLink.objects.filter(case=locked, kind=kind, object_pk=key).exists():
            raise _invalid(
                "object_pk",
                _("This record is already linked to the case."),
                error_codes.CASE_LINK_EXISTS,
            )
        link = CaseLink.objects.create(
            case=locked, kind=kind, object_pk=key, label=label, linked_by=_person(actor)
        )
        audit_record(
            actor=actor,
            action="case.link_add",
            target=locked,
            after={"kind": kind, "object_pk": key, "label": label},
        )
    return link


def case_link_remove(*, actor: Any, case: ServiceCase, link: CaseLink | int) -> None:
    """Remove a link from the case."""
    _require(actor, "support.change_servicecase")
    with transaction.atomic():
        locked = _locked_case(actor, case)
        found = CaseLink.objects.filter(case=locked, pk=getattr(link, "pk", link)).first()
        if found is None:
            raise CaseLink.DoesNotExist(_("No such link on this case."))
        facts = {"kind": found.kind, "object_pk": found.object_pk, "label": found.label}
        found.delete()
        audit_record(actor=actor, action="case.link_remove", target=locked, before=facts)


__all__ = [
    "INBOUND_ACTOR",
    "REOPEN_GUARD",
    "case_assign",
    "case_create",
    "case_link_add",
    "case_link_remove",
    "case_merge",
    "case_message_added",
    "case_note_add",
    "case_party_set",
    "case_take",
    "case_transition",
    "case_update",
    "reopen_refusal",
]


# --- Housekeeping ----------------------------------------------------------------------------

CLOSING_ACTOR = SystemActor("support.close_resolved")


def cases_close_resolved(*, now: dt.datetime | None = None) -> int:
    """Close, as the system, every resolved case whose reopen window (``reopen_days`` of its
    type) has passed; returns how many were closed. Each case is its own transaction: a case
    whose workflow no longer has a ``close`` step from ``resolved`` is left as it is."""
    now = now or timezone.now()
    closed = 0
    for case_type in CaseType.objects.all():
        cutoff = now - dt.timedelta(days=case_type.reopen_days)
        due = ServiceCase.objects.filter(
            case_type=case_type, state=STATE_RESOLVED, resolved_at__lt=cutoff
        ).values_list("pk", flat=True)
        for pk in list(due.iterator(chunk_size=1000)):
            case = ServiceCase.objects.get(pk=pk)
            try:
                case_transition(
                    actor=CLOSING_ACTOR,
                    case=case,
                    transition="close",
                    reason=_("Closed: no reply within %(days)d days of the resolution.")
                    % {"days": case_type.reopen_days},
                )
            except (ValidationError, PermissionDenied) as exc:
                logger.warning("case %s not closed: %s", case.reference, exc)
                continue
            closed += 1
    return closed
