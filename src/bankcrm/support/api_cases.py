"""REST API of service cases (under ``/api/v1/support/``).

* ``GET /cases`` (filters, keyset ``cursor``), ``GET /cases/search?q=``, ``POST /cases``;
* ``GET /cases/{id}``, ``PATCH /cases/{id}`` (priority, subject, queue, description);
* ``POST /cases/{id}/transition``, ``/assign``, ``/merge``, ``/party``, ``/links``,
  ``DELETE /cases/{id}/links/{link}``;
* ``GET /cases/{id}/messages``, ``POST /cases/{id}/notes``, ``POST /cases/{id}/replies``;
* ``GET /cases/{id}/sla``; ``GET /queues``, ``GET /queues/{code}/cases``.

Reads go through the case selectors (a case out of the caller's reach is 404, whatever
branch it belongs to); every change goes through one service, which checks who may make
it and audits it (403 for a case the caller may read but not change). Contact details and
message addresses are masked unless ``?unmask=true&reason=…`` is sent by a role that may
unmask (each value shown in clear is audited). Errors are RFC 9457 problems.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError
from bankcrm.core.masking import mask
from bankcrm.core.services import pii_unmask
from bankcrm.core.workflow import workflow_available_transitions

from .models import CaseMessage, Queue, ServiceCase
from .schemas import (
    CaseAssignIn,
    CaseCreateIn,
    CaseDetailOut,
    CaseFilter,
    CaseLinkIn,
    CaseLinkOut,
    CaseMergeIn,
    CaseOut,
    CasePageOut,
    CasePartyIn,
    CaseSearchFilter,
    CaseTransitionIn,
    CaseUpdateIn,
    MessageOut,
    NoteIn,
    QueueCasesFilter,
    QueueOut,
    ReplyIn,
    SlaOut,
    Unmask,
)

router = Router(tags=["support"])

VIEW_CASE = "support.view_servicecase"


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _reader(request: HttpRequest) -> Any:
    actor = _actor(request)
    if not actor_has_perm(actor, VIEW_CASE):
        raise PermissionDenied(_("You do not have permission to do this."))
    return actor


def _case(request: HttpRequest, pk: uuid.UUID) -> ServiceCase:
    from .selectors_cases import case_get

    return case_get(actor=_reader(request), pk=pk)


def _invalid(field: str, message: str, code: str = error_codes.FIELD_INVALID) -> ProblemError:
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail=f"{field}: {message}",
        errors=[{"field": field, "message": message, "code": code}],
    )


def _user_ref(user: Any) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.get_full_name() or user.get_username()}


class _Revealer:
    """Masks personal data, or shows it through the audited ``pii_unmask``."""

    def __init__(self, actor: Any, options: Unmask | None) -> None:
        self.actor = actor
        self.unmask = bool(options and options.unmask)
        self.reason = options.reason if options else ""
        if self.unmask and not self.reason.strip():
            raise ValidationError(
                {"reason": ValidationError(_("Give a reason to unmask."), code="required")}
            )

    def text(self, obj: Any, field: str, kind: str) -> str:
        value = getattr(obj, field)
        if value in (None, ""):
            return ""
        if self.unmask:
            return pii_unmask(actor=self.actor, target=obj, field=field, reason=self.reason)
        return mask(value, kind)

    def address(self, obj: Any, field: str) -> str:
        value = getattr(obj, field) or ""
        kind = "email" if "@" in value else "phone" if any(c.isdigit() for c in value) else "text"
        return self.text(obj, field, kind)


# --- Conversions ---------------------------------------------------------------------------


def case_out(case: ServiceCase) -> dict[str, Any]:
    """A case as lists show it (the row's type, queue, customer and agent are loaded)."""
    party = case.party
    return {
        "id": case.pk,
        "reference": case.reference,
        "case_type": case.case_type.code,
        "case_type_name": case.case_type.name,
        "channel": case.channel,
        "priority": case.priority,
        "subject": case.subject,
        "state": case.state,
        "is_open": case.is_open,
        "party": {"id": party.pk, "display_name": party.display_name} if party else None,
        "queue": {"code": case.queue.code, "name": case.queue.name},
        "assigned_to": _user_ref(case.assigned_to),
        "language": case.language,
        "segment": case.segment,
        "received_at": case.received_at,
        "first_response_due_at": case.first_response_due_at,
        "resolution_due_at": case.resolution_due_at,
        "first_responded_at": case.first_responded_at,
        "resolved_at": case.resolved_at,
        "closed_at": case.closed_at,
        "merged_into": None,
    }


def _sla(case: ServiceCase) -> dict[str, Any] | None:
    from .sla import sla_status

    status = sla_status(case)
    return status.as_dict() if status is not None else None


def _transitions(actor: Any, case: ServiceCase) -> list[str]:
    from .selectors_cases import case_visible

    if (
        case.merged_into_id
        or not case_visible(actor=actor, action="change")
        .filter(  # type: ignore[attr-defined]
            pk=case.pk
        )
        .exists()
    ):
        return []
    return [
        item.code
        for item in workflow_available_transitions(actor=actor, subject=case)
        if not item.blocked
    ]


def _link_out(link: Any) -> dict[str, Any]:
    return {
        "id": link.pk,
        "kind": link.kind,
        "object_pk": link.object_pk,
        "label": link.label,
        "linked_at": link.created_at,
    }


def _case_detail(
    request: HttpRequest, pk: uuid.UUID, options: Unmask | None = None
) -> dict[str, Any]:
    from .selectors_cases import case_links

    actor = _reader(request)
    revealer = _Revealer(actor, options)
    case = _case(request, pk)
    return {
        **case_out(case),
        "merged_into": case.merged_into.reference if case.merged_into else None,
        "description": case.description,
        "contact_name": revealer.text(case, "contact_name", "name"),
        "contact_email": revealer.text(case, "contact_email", "email"),
        "contact_phone": revealer.text(case, "contact_phone", "phone"),
        "is_masked": not revealer.unmask,
        "resolution_note": case.resolution_note,
        "reopened_count": case.reopened_count,
        "opened_by": (_user_ref(case.opened_by) or {}).get("name"),
        "org_unit": case.org_unit.name,
        "links": [_link_out(link) for link in case_links(actor=actor, case=case)],
        "transitions": _transitions(actor, case),
        "sla": _sla(case),
    }


def _message_out(message: CaseMessage, revealer: _Revealer) -> dict[str, Any]:
    return {
        "id": message.pk,
        "direction": message.direction,
        "channel": message.channel,
        "author": (_user_ref(message.author) or {}).get("name"),
        "from_address": revealer.address(message, "from_address"),
        "to_address": revealer.address(message, "to_address"),
        "subject": message.subject,
        "body": message.body,
        "status": message.status,
        "sent_at": message.sent_at,
        "created_at": message.created_at,
        "attachments": [dict(a) for a in message.attachments or [] if isinstance(a, dict)],
        "template_code": message.template_code,
        "is_masked": not revealer.unmask,
    }


def _page_out(page: Any) -> dict[str, Any]:
    return {"items": [case_out(case) for case in page.items], "next_cursor": page.next_cursor}


# --- Cases ---------------------------------------------------------------------------------


@router.get("/cases", response=CasePageOut)
def case_list(request: HttpRequest, filters: Query[CaseFilter]) -> Any:
    """Cases the caller may see, newest first, one keyset page at a time; filter by queue,
    state, assignee ("me", "none", a user's id), type, channel, priority, open, breached,
    customer, receipt dates and ``q`` (reference, subject, customer name, contact e-mail)."""
    from .selectors_cases import case_list_page

    actor = _reader(request)
    values = filters.dict(exclude={"cursor", "limit"})
    page = case_list_page(actor=actor, filters=values, cursor=filters.cursor, limit=filters.limit)
    return _page_out(page)


@router.get("/cases/search", response=list[CaseOut])
def case_search(request: HttpRequest, filters: Query[CaseSearchFilter]) -> Any:
    """Find cases by reference, subject words, customer name (characters or pinyin) or
    contact e-mail; newest first."""
    from .selectors_cases import case_search as search

    actor = _reader(request)
    return [case_out(case) for case in search(actor=actor, q=filters.q, limit=filters.limit)]


@router.post("/cases", response={201: CaseDetailOut})
def case_create(request: HttpRequest, payload: CaseCreateIn) -> Any:
    """Open a case (an agent taking a phone call or a branch visit, an integration).
    Complaints need ``complaint`` (regulatory category and product codes)."""
    from bankcrm.access.models import User

    from .services_cases import case_create as create

    actor = _actor(request)
    assignee = None
    if payload.assigned_to is not None:
        assignee = User.objects.filter(pk=payload.assigned_to, is_active=True).first()
        if assignee is None:
            raise _invalid("body.assigned_to", _("No such member of staff."))
    try:
        case = create(
            actor=actor,
            case_type=payload.case_type,
            channel=payload.channel,
            subject=payload.subject,
            description=payload.description,
            party=payload.party,
            priority=payload.priority,
            queue=payload.queue,
            contact_name=payload.contact_name,
            contact_email=payload.contact_email,
            contact_phone=payload.contact_phone,
            language=payload.language,
            received_at=payload.received_at,
            assigned_to=assignee,
            complaint=payload.complaint.dict() if payload.complaint else None,
            links=[(link.kind, link.object_pk) for link in payload.links],
        )
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return Status(201, _case_detail(request, case.pk))


def _body_problem(exc: ValidationError) -> ProblemError:
    """A service's field errors, named as the caller sent them (``body.<field>``)."""
    from bankcrm.core.errors import field_errors_from_django

    errors = field_errors_from_django(exc, prefix="body")
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


@router.get("/cases/{uuid:pk}", response=CaseDetailOut)
def case_get(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    """One case with its description, contact details (masked), links, the steps open to
    the caller and its SLA clocks."""
    return _case_detail(request, pk, options)


@router.patch("/cases/{uuid:pk}", response=CaseDetailOut)
def case_update(request: HttpRequest, pk: uuid.UUID, payload: CaseUpdateIn) -> Any:
    """Change the priority (the SLA policy is applied again), subject, queue or
    description; only the fields sent change."""
    from .services_cases import case_update as update

    changes = payload.dict(exclude_unset=True)
    try:
        update(actor=_actor(request), case=_case(request, pk), changes=changes)
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/transition", response=CaseDetailOut)
def case_transition(request: HttpRequest, pk: uuid.UUID, payload: CaseTransitionIn) -> Any:
    """Take a workflow step (``transitions`` lists those open); ``resolve`` needs the
    resolution note as ``reason``."""
    from .services_cases import case_transition as transition

    try:
        transition(
            actor=_actor(request),
            case=_case(request, pk),
            transition=payload.transition,
            reason=payload.reason,
        )
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/assign", response=CaseDetailOut)
def case_assign(request: HttpRequest, pk: uuid.UUID, payload: CaseAssignIn) -> Any:
    """Assign the case to an agent (``assignee``; null leaves it unassigned), or take it
    (``take: true``)."""
    from bankcrm.access.models import User

    from .services_cases import case_assign as assign
    from .services_cases import case_take

    actor = _actor(request)
    case = _case(request, pk)
    try:
        if payload.take:
            case_take(actor=actor, case=case)
        else:
            user = None
            if payload.assignee is not None:
                user = User.objects.filter(pk=payload.assignee, is_active=True).first()
                if user is None:
                    raise _invalid("body.assignee", _("No such member of staff."))
            assign(actor=actor, case=case, user=user)
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/merge", response=CaseDetailOut)
def case_merge(request: HttpRequest, pk: uuid.UUID, payload: CaseMergeIn) -> Any:
    """Merge this case (a duplicate) into ``into``; answers the case that stays."""
    from .selectors_cases import case_get as read
    from .services_cases import case_merge as merge

    actor = _actor(request)
    duplicate = _case(request, pk)
    try:
        into = read(actor=actor, pk=payload.into)
    except ServiceCase.DoesNotExist:
        raise _invalid("body.into", _("No such case within your reach.")) from None
    try:
        merged = merge(actor=actor, duplicate=duplicate, into=into, reason=payload.reason)
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return _case_detail(request, merged.pk)


@router.post("/cases/{uuid:pk}/party", response=CaseDetailOut)
def case_party_set(request: HttpRequest, pk: uuid.UUID, payload: CasePartyIn) -> Any:
    """Link the case to its customer (its org unit and segment follow the customer)."""
    from .services_cases import case_party_set as party_set

    try:
        party_set(actor=_actor(request), case=_case(request, pk), party=payload.party)
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/links", response={201: CaseLinkOut})
def case_link_add(request: HttpRequest, pk: uuid.UUID, payload: CaseLinkIn) -> Any:
    """Link one of the customer's accounts, loans, loan applications or transactions (the
    label is masked)."""
    from .services_cases import case_link_add as link_add

    try:
        link = link_add(
            actor=_actor(request),
            case=_case(request, pk),
            kind=payload.kind,
            object_pk=payload.object_pk,
        )
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return Status(201, _link_out(link))


@router.delete("/cases/{uuid:pk}/links/{int:link_pk}", response={204: None})
def case_link_remove(request: HttpRequest, pk: uuid.UUID, link_pk: int) -> Any:
    """Remove a link from the case."""
    from .services_cases import case_link_remove as link_remove

    link_remove(actor=_actor(request), case=_case(request, pk), link=link_pk)
    return Status(204, None)


# --- Conversation --------------------------------------------------------------------------


@router.get("/cases/{uuid:pk}/messages", response=list[MessageOut])
def case_messages(request: HttpRequest, pk: uuid.UUID, options: Query[Unmask]) -> Any:
    """The case's messages and internal notes, oldest first (addresses masked)."""
    from .selectors_cases import case_messages as messages

    actor = _reader(request)
    revealer = _Revealer(actor, options)
    case = _case(request, pk)
    return [_message_out(message, revealer) for message in messages(actor=actor, case=case)]


@router.post("/cases/{uuid:pk}/notes", response={201: MessageOut})
def case_note_add(request: HttpRequest, pk: uuid.UUID, payload: NoteIn) -> Any:
    """Add an internal note (never sent to the customer)."""
    from .services_cases import case_note_add as note_add

    actor = _actor(request)
    try:
        note = note_add(actor=actor, case=_case(request, pk), text=payload.text)
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return Status(201, _message_out(note, _Revealer(actor, None)))


@router.post("/cases/{uuid:pk}/replies", response={201: MessageOut})
def case_reply(request: HttpRequest, pk: uuid.UUID, payload: ReplyIn) -> Any:
    """Reply to the customer: e-mailed to the case's contact (or the customer's) address
    after commit, or recorded for a case without an e-mail address."""
    from .services_mail import case_reply_send

    actor = _actor(request)
    try:
        message = case_reply_send(
            actor=actor,
            case=_case(request, pk),
            body=payload.body,
            subject=payload.subject,
            template_code=payload.template_code,
            to=payload.to,
        )
    except ValidationError as exc:
        raise _body_problem(exc) from exc
    return Status(201, _message_out(message, _Revealer(actor, None)))


@router.get("/cases/{uuid:pk}/sla", response=SlaOut)
def case_sla(request: HttpRequest, pk: uuid.UUID) -> Any:
    """The case's two SLA clocks (first response, resolution) at this moment."""
    return _sla(_case(request, pk))


# --- Queues --------------------------------------------------------------------------------


def _queue_out(queue: Queue, member_of: set[int]) -> dict[str, Any]:
    return {
        "code": queue.code,
        "name": queue.name,
        "name_zh": queue.name_zh,
        "org_unit": queue.org_unit.name,
        "supervisor": _user_ref(queue.supervisor),
        "assignment": queue.assignment,
        "email_address": queue.email_address,
        "is_member": queue.pk in member_of,
    }


@router.get("/queues", response=list[QueueOut])
def queue_list(request: HttpRequest) -> Any:
    """The queues the caller may see or works in."""
    from .selectors_cases import actor_queue_ids
    from .selectors_cases import queue_list as queues

    actor = _reader(request)
    member_of = set(actor_queue_ids(actor))
    return [_queue_out(queue, member_of) for queue in queues(actor=actor)]


@router.get("/queues/{code}/cases", response=CasePageOut)
def queue_cases(request: HttpRequest, code: str, filters: Query[QueueCasesFilter]) -> Any:
    """A queue's open cases, the most urgent SLA due first (keyset pages); ``mine_only``
    narrows to the caller's own cases."""
    from .selectors_cases import agent_queue_page, queue_get

    actor = _reader(request)
    queue = queue_get(actor=actor, code=code)
    page = agent_queue_page(
        actor=actor,
        queue=queue,
        mine_only=filters.mine_only,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    return _page_out(page)
