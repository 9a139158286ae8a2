"""Queue administration (``/support/queues/``): the queues, a queue's settings (supervisor,
business calendar, assignment rule, segments served by their relationship manager, inbound
e-mail address) and its agents (skills, languages, availability, cap on open cases).

For those who administer queues (``support.change_queue`` with ``support.supervise_queue``:
administrators and branch managers), for the queues of the units within their reach; anyone
else gets 403, and a queue out of reach is a 404. Reads go through the setup selectors,
every change through the setup services, which check and audit it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors_setup, services_setup
from .forms import QueueForm, QueueMemberForm, errors_to
from .models import Queue
from .views_workspace import (
    ADD_QUEUE,
    CHANGE_QUEUE,
    SUPERVISE_QUEUE,
    local_name,
    may,
    or_404,
    require,
    status_of,
    user_name,
)

# Roles whose holders may supervise a queue (the services check each person).
SUPERVISOR_ROLES = ("branch_manager", "administrator")


def _require_admin(request: HttpRequest) -> None:
    require(request, CHANGE_QUEUE)
    require(request, SUPERVISE_QUEUE)


def _queue(request: HttpRequest, pk: int) -> Queue:
    _require_admin(request)
    return or_404(selectors_setup.queue_admin_get, actor=request.user, pk=pk)


def _units(request: HttpRequest) -> list[tuple[int, str]]:
    from bankcrm.access.selectors import org_unit_list

    return [(unit.pk, unit.name) for unit in org_unit_list(actor=request.user)]


def _people(users: Any) -> list[tuple[int, str]]:
    return [(user.pk, f"{user_name(user)} ({user.get_username()})") for user in users]


def _supervisors(request: HttpRequest) -> list[tuple[int, str]]:
    from bankcrm.access.selectors import user_list

    return _people(
        user_list(actor=request.user)
        .filter(is_active=True, roles__code__in=SUPERVISOR_ROLES)
        .distinct()
        .order_by("username")
    )


def _calendars(request: HttpRequest) -> list[tuple[int, str]]:
    return [
        (calendar.pk, f"{calendar.name} ({calendar.code})")
        for calendar in selectors_setup.calendar_choices(actor=request.user)
    ]


def _segments() -> list[tuple[str, str]]:
    from bankcrm.customers.models import Party

    return [(value, str(label)) for value, label in Party.Segment.choices]


def _skills(request: HttpRequest) -> list[tuple[str, str]]:
    return [
        (case_type.code, local_name(case_type))
        for case_type in selectors_setup.case_type_list(actor=request.user)
    ]


def _queue_form(request: HttpRequest, data: Any, *, is_new: bool, **kwargs: Any) -> QueueForm:
    return QueueForm(
        data,
        units=_units(request),
        supervisors=_supervisors(request),
        calendars=_calendars(request),
        segments=_segments(),
        is_new=is_new,
        auto_id="queue_%s",
        **kwargs,
    )


def _settings_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the setup services take them (records, not keys); the keys
    were checked against the choices the viewer was offered."""
    from bankcrm.access.models import OrgUnit, User
    from bankcrm.core.models import BusinessCalendar

    values = {name: value for name, value in data.items() if name != "code"}
    values["org_unit"] = OrgUnit.objects.get(pk=data["org_unit"])
    values["supervisor"] = (
        User.objects.get(pk=data["supervisor"]) if data.get("supervisor") else None
    )
    values["calendar"] = (
        BusinessCalendar.objects.get(pk=data["calendar"]) if data.get("calendar") else None
    )
    values["rm_segments"] = list(data.get("rm_segments") or [])
    values["email_address"] = data.get("email_address") or ""
    values["name_zh"] = data.get("name_zh") or ""
    return values


# --- The list --------------------------------------------------------------------------------


@login_required
@require_GET
def queue_list(request: HttpRequest) -> HttpResponse:
    """The queues the viewer administers, with their agents and how many are available."""
    _require_admin(request)
    queues = list(selectors_setup.queue_admin_list(actor=request.user))
    rows = [{"queue": queue, "name": local_name(queue)} for queue in queues]
    return render(
        request, "support/queues.html", {"rows": rows, "may_add": may(request, ADD_QUEUE)}
    )


# --- A queue's settings ----------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def queue_create(request: HttpRequest) -> HttpResponse:
    """A new queue."""
    _require_admin(request)
    require(request, ADD_QUEUE)
    status = 200
    if request.method == "POST":
        form = _queue_form(request, request.POST, is_new=True)
        status = 400
        if form.is_valid():
            try:
                queue = services_setup.queue_create(
                    actor=request.user,
                    code=form.cleaned_data["code"],
                    **_settings_values(form.cleaned_data),
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
                status = status_of(exc)
            else:
                messages.success(request, _("Queue %(name)s is open.") % {"name": queue.name})
                return HttpResponseRedirect(reverse("support:queue_edit", args=[queue.pk]))
    else:
        form = _queue_form(request, None, is_new=True, initial={"is_active": True})
    return render(request, "support/queue_form.html", {"form": form, "queue": None}, status=status)


def _member_form(request: HttpRequest, queue: Queue, data: Any = None, **kwargs: Any) -> Any:
    users = selectors_setup.queue_member_candidates(actor=request.user, queue=queue)
    return QueueMemberForm(data, users=_people(users), skills=_skills(request), **kwargs)


def _existing_member_form(request: HttpRequest, member: Any, data: Any = None) -> Any:
    # The agent is fixed: the only choice offered is the member themself.
    return QueueMemberForm(
        data,
        users=[(member.user_id, user_name(member.user))],
        skills=_skills(request),
        auto_id=f"member_{member.user_id}_%s",
        initial={
            "user": member.user_id,
            "skills": member.skills,
            "languages": member.languages,
            "is_available": member.is_available,
            "max_open_cases": member.max_open_cases,
        },
    )


def _edit_context(request: HttpRequest, queue: Queue, **forms: Any) -> dict[str, Any]:
    members = list(selectors_setup.queue_member_list(actor=request.user, queue=queue))
    bound = forms.get("member_forms") or {}
    return {
        "queue": queue,
        "name": local_name(queue),
        "form": forms.get("form")
        or _queue_form(
            request,
            None,
            is_new=False,
            initial={
                "name": queue.name,
                "name_zh": queue.name_zh,
                "org_unit": queue.org_unit_id,
                "supervisor": queue.supervisor_id,
                "calendar": queue.calendar_id,
                "assignment": queue.assignment,
                "rm_segments": queue.rm_segments,
                "email_address": queue.email_address,
                "is_active": queue.is_active,
            },
        ),
        "members": [
            {
                "member": member,
                "name": user_name(member.user),
                "form": bound.get(member.user_id) or _existing_member_form(request, member),
            }
            for member in members
        ],
        "add_form": forms.get("add_form")
        or _member_form(request, queue, auto_id="member_new_%s", initial={"is_available": True}),
    }


@login_required
@require_http_methods(["GET", "POST"])
def queue_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """A queue's settings and its agents."""
    queue = _queue(request, pk)
    if request.method == "GET":
        return render(request, "support/queue_form.html", _edit_context(request, queue))
    form = _queue_form(request, request.POST, is_new=False)
    status = 400
    if form.is_valid():
        values = _settings_values(form.cleaned_data)
        changes = {name: value for name, value in values.items() if getattr(queue, name) != value}
        try:
            if changes:
                services_setup.queue_update(actor=request.user, queue=queue, changes=changes)
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            messages.success(request, _("The queue is updated."))
            return HttpResponseRedirect(reverse("support:queue_edit", args=[queue.pk]))
    queue = _queue(request, pk)
    return render(
        request, "support/queue_form.html", _edit_context(request, queue, form=form), status=status
    )


# --- Its agents ------------------------------------------------------------------------------


@login_required
@require_POST
def queue_member_set(request: HttpRequest, pk: int) -> HttpResponse:
    """Add an agent to the queue, or change an agent's skills, languages, availability or
    cap."""
    from bankcrm.access.models import User

    queue = _queue(request, pk)
    member = None
    if request.POST.get("existing") == "1" and str(request.POST.get("user", "")).isdigit():
        member = (
            selectors_setup.queue_member_list(actor=request.user, queue=queue)
            .filter(user_id=int(request.POST["user"]))
            .first()
        )
    if member is not None:
        form = _existing_member_form(request, member, request.POST)
    else:
        form = _member_form(request, queue, request.POST, auto_id="member_new_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            services_setup.queue_member_set(
                actor=request.user,
                queue=queue,
                user=User.objects.get(pk=data["user"]),
                skills=list(data.get("skills") or []),
                languages=list(data.get("languages") or []),
                is_available=bool(data.get("is_available")),
                max_open_cases=data["max_open_cases"],
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            messages.success(request, _("The queue's agents are updated."))
            return HttpResponseRedirect(reverse("support:queue_edit", args=[queue.pk]) + "#members")
    forms: dict[str, Any] = (
        {"member_forms": {member.user_id: form}} if member is not None else {"add_form": form}
    )
    return render(
        request, "support/queue_form.html", _edit_context(request, queue, **forms), status=status
    )


@login_required
@require_POST
def queue_member_remove(request: HttpRequest, pk: int, user_pk: int) -> HttpResponse:
    """Take an agent off the queue."""
    queue = _queue(request, pk)
    member = or_404(
        selectors_setup.queue_member_list(actor=request.user, queue=queue).get, user_id=user_pk
    )
    try:
        services_setup.queue_member_remove(actor=request.user, queue=queue, user=member.user)
    except (ValidationError, PermissionDenied, ObjectDoesNotExist) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(
            request, _("%(name)s is no longer in this queue.") % {"name": user_name(member.user)}
        )
    return HttpResponseRedirect(reverse("support:queue_edit", args=[queue.pk]) + "#members")
