"""The case pages: the case list and search (``/support/cases/``), opening a case for a caller
or a branch visitor (``/support/cases/new/``) and a case's page.

The case page shows the conversation on the left (messages, internal notes, the reply box
with the response template and knowledge base picker) and the customer's summary on the
right (name, segment, products held, relationship manager, other open cases, KYC band when
the viewer may see it), read through the customers, banking, lending and compliance
selectors so masking and the viewer's reach hold; a case without a customer shows its
contact's details masked and a search to link the customer. Quick actions: the workflow
steps open to the viewer, take and assign, subject/priority/queue, links to the customer's
accounts, loans and transactions, merging into another case, notes and replies.

Every POST goes through one service; a refusal is shown on the form that asked (400, or 403
when the service says the viewer may not). Notes and replies answer HTMX with the
conversation; everything works without script (post, then back to the page).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.core.masking import mask
from bankcrm.core.workflow import (
    workflow_available_transitions,
    workflow_history_rows,
    workflow_state_get,
)

from . import selectors_cases, services_cases
from .forms import (
    AssignForm,
    CaseCreateForm,
    CaseFilterForm,
    CaseUpdateForm,
    ConfirmForm,
    CustomerChoiceForm,
    LinkForm,
    MergeForm,
    NoteForm,
    ReplyForm,
    TransitionForm,
    errors_to,
)
from .models import CaseLink, CaseMessage, CaseType, ComplaintCode, QueueMember, ServiceCase
from .services_mail import case_reply_send
from .views_workspace import (
    ADD_CASE,
    CHANGE_CASE,
    VIEW_CASE,
    WorkingPeriods,
    case_clocks,
    case_rows,
    is_chinese,
    is_htmx,
    local_name,
    may,
    or_404,
    queue_choices,
    require,
    state_choices,
    status_of,
    user_name,
)

LIST_PAGE_SIZE = 50
SEARCH_LIMIT = 25
OTHER_CASES = 5
LINK_TRANSACTIONS = 30
LINK_ACCOUNTS = 50


# --- The case list and search ----------------------------------------------------------------


def _case_type_choices(*, active_only: bool = True) -> list[tuple[str, str]]:
    types = CaseType.objects.order_by("sort_order", "code")
    if active_only:
        types = types.filter(is_active=True)
    return [(case_type.code, local_name(case_type)) for case_type in types]


def _list_filters(data: dict[str, Any], queues: dict[str, Any]) -> dict[str, Any]:
    """The case list form's values as ``case_list`` filters."""
    filters: dict[str, Any] = {}
    status = data.get("status") or ""
    if status == "":
        filters["is_open"] = True
    elif status == "closed":
        filters["is_open"] = False
    if data.get("queue"):
        filters["queue"] = queues[data["queue"]]
    if data.get("assigned"):
        filters["assigned_to"] = data["assigned"]
    for name in ("state", "case_type", "channel", "priority", "received_from", "received_to"):
        if data.get(name) not in (None, ""):
            filters[name] = data[name]
    if data.get("breached"):
        filters["breached"] = True
    if data.get("customer"):
        filters["party"] = data["customer"]
    return filters


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    """Cases the viewer may see, newest first, filtered; or the search box's matches
    (reference, subject, customer name or pinyin, contact e-mail)."""
    require(request, VIEW_CASE)
    actor = request.user
    queues = list(selectors_cases.queue_list(actor=actor))
    by_pk = {str(queue.pk): queue for queue in queues}
    form = CaseFilterForm(
        request.GET or None,
        queues=queue_choices(queues),
        states=state_choices(),
        case_types=_case_type_choices(active_only=False),
        auto_id="filter_%s",
    )
    cases: list[ServiceCase] = []
    next_cursor = None
    searched = False
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        query = (data.get("q") or "").strip()
        filters = _list_filters(data, by_pk)
        narrowed = {name for name in filters if name != "is_open"}
        if query and not narrowed:
            # The search box alone: the search's own indexed look-ups, every status.
            searched = True
            cases = selectors_cases.case_search(actor=actor, q=query, limit=SEARCH_LIMIT)
        else:
            if query:
                filters["q"] = query
            try:
                page = selectors_cases.case_list_page(
                    actor=actor,
                    filters=filters,
                    cursor=request.GET.get("cursor") or None,
                    limit=LIST_PAGE_SIZE,
                )
            except ValidationError as exc:
                errors_to(form, exc, aliases={"party": "customer", "assigned_to": "assigned"})
            else:
                cases, next_cursor = page.items, page.next_cursor
    base_query = request.GET.copy()
    base_query.pop("cursor", None)
    context = {
        "form": form,
        "rows": case_rows(actor, cases, timezone.now()),
        "next_cursor": next_cursor,
        "filter_query": base_query.urlencode(),
        "searched": searched,
        "search_limit": SEARCH_LIMIT,
        "may_add": may(request, ADD_CASE),
    }
    if is_htmx(request, "case-rows-more"):
        return render(request, "support/partials/cases_rows.html", context)
    if is_htmx(request, "case-table"):
        return render(request, "support/partials/cases_table.html", context)
    return render(request, "support/cases.html", context)


# --- Finding a customer ----------------------------------------------------------------------


def _customer_results(request: HttpRequest, query: str) -> Any:
    if not query or not may(request, "customers.view_party"):
        return None
    from bankcrm.customers.search import customer_search

    return customer_search(actor=request.user, query=query)


def _party(request: HttpRequest, pk: Any) -> Any:
    """A customer the viewer may see, or None."""
    if not pk or not may(request, "customers.view_party"):
        return None
    from bankcrm.customers.selectors import party_get

    try:
        return party_get(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError):
        return None


@login_required
@require_GET
def customer_search(request: HttpRequest) -> HttpResponse:
    """Customers matching the search box, as choices (the new case form and linking a
    case's customer)."""
    require(request, VIEW_CASE)
    require(request, "customers.view_party")
    query = request.GET.get("q", "")[:200]
    return render(
        request,
        "support/partials/customer_results.html",
        {
            "q": query,
            "results": _customer_results(request, query),
            "chosen": None,
            "allow_none": request.GET.get("none") == "1",
        },
    )


# --- Opening a case --------------------------------------------------------------------------


def _complaint_code_choices(kind: str) -> list[tuple[str, str]]:
    chinese = is_chinese()
    return [
        (code, (name_zh if chinese and name_zh else name))
        for code, name, name_zh in ComplaintCode.objects.filter(kind=kind, is_active=True)
        .order_by("sort_order", "code")
        .values_list("code", "name", "name_zh")
    ]


def _create_form(request: HttpRequest, data: Any, queues: list[Any], **kwargs: Any) -> Any:
    return CaseCreateForm(
        data,
        case_types=_case_type_choices(),
        queues=queue_choices(queues),
        categories=_complaint_code_choices(ComplaintCode.Kind.CATEGORY),
        products=_complaint_code_choices(ComplaintCode.Kind.PRODUCT),
        complaint_types=frozenset(
            CaseType.objects.filter(is_complaint=True, is_active=True).values_list(
                "code", flat=True
            )
        ),
        auto_id="case_%s",
        **kwargs,
    )


@login_required
@require_http_methods(["GET", "POST"])
def case_create(request: HttpRequest) -> HttpResponse:
    """Open a case for a caller or a visitor at the branch (``?party=`` preselects the
    customer, as the customer page's "New case" button does)."""
    require(request, VIEW_CASE)
    require(request, ADD_CASE)
    actor = request.user
    queues = list(selectors_cases.queue_list(actor=actor))
    by_pk = {str(queue.pk): queue for queue in queues}
    status = 200
    if request.method == "POST":
        form = _create_form(request, request.POST, queues)
        chosen = _party(request, request.POST.get("party"))
        if form.is_valid():
            data = form.cleaned_data
            if data.get("party") and chosen is None:
                form.add_error("party", _("Search for the customer and choose one."))
            else:
                try:
                    case = services_cases.case_create(
                        actor=actor,
                        case_type=data["case_type"],
                        channel=data["channel"],
                        subject=data["subject"],
                        description=data.get("description") or "",
                        party=chosen,
                        priority=data.get("priority"),
                        queue=by_pk.get(data.get("queue") or ""),
                        contact_name=data.get("contact_name") or "",
                        contact_email=data.get("contact_email") or "",
                        contact_phone=data.get("contact_phone") or "",
                        language=data.get("language") or None,
                        complaint=form.complaint(),
                    )
                except (ValidationError, PermissionDenied) as exc:
                    errors_to(
                        form,
                        exc,
                        aliases={
                            "category": "complaint_category",
                            "product": "complaint_product",
                            "received_on": "complaint_received_on",
                        },
                    )
                    status = status_of(exc)
                else:
                    messages.success(
                        request, _("Case %(reference)s is open.") % {"reference": case.reference}
                    )
                    return HttpResponseRedirect(reverse("support:case_detail", args=[case.pk]))
        if status == 200:
            status = 400
    else:
        chosen = _party(request, request.GET.get("party"))
        form = _create_form(
            request,
            None,
            queues,
            initial={"party": chosen.pk if chosen else None, "channel": "phone"},
        )
    query = request.GET.get("q", "")[:200]
    context = {
        "form": form,
        "chosen": chosen,
        "q": query,
        "results": _customer_results(request, query),
        "may_search": may(request, "customers.view_party"),
    }
    return render(request, "support/case_new.html", context, status=status)


# --- The case page ---------------------------------------------------------------------------


def _case(request: HttpRequest, pk: uuid.UUID) -> ServiceCase:
    require(request, VIEW_CASE)
    return or_404(selectors_cases.case_get, actor=request.user, pk=pk)


def _may_change(request: HttpRequest, case: ServiceCase) -> bool:
    """Whether the viewer may work this very case (the visibility rule with "change")."""
    if not may(request, CHANGE_CASE) or case.merged_into_id is not None:
        return False
    return (
        selectors_cases.case_visible(actor=request.user, action="change")
        .filter(pk=case.pk)
        .exists()
    )


def _transition_buttons(request: HttpRequest, case: ServiceCase) -> list[dict[str, Any]]:
    return [
        {
            "code": item.transition.code,
            "name": item.transition.name,
            "blocked": item.blocked,
            "requires_reason": item.transition.requires_reason,
            "is_terminal": item.transition.target.is_terminal,
        }
        for item in workflow_available_transitions(actor=request.user, subject=case)
    ]


def _history_rows(request: HttpRequest, case: ServiceCase) -> list[dict[str, Any]]:
    return workflow_history_rows(actor=request.user, subject=case)


def _address(value: str) -> str:
    if not value:
        return ""
    return mask(value, "email" if "@" in value else "phone")


def _conversation(request: HttpRequest, case: ServiceCase) -> list[dict[str, Any]]:
    """The case's messages and notes, oldest first; the customer's addresses masked."""
    items = selectors_cases.case_messages(actor=request.user, case=case)
    return [
        {
            "message": message,
            "is_note": message.direction == CaseMessage.Direction.NOTE,
            "is_inbound": message.direction == CaseMessage.Direction.INBOUND,
            "from": _address(message.from_address),
            "to": _address(message.to_address),
            "author": user_name(message.author),
        }
        for message in items
    ]


def _agent_choices(case: ServiceCase) -> list[tuple[str, str]]:
    """The agents of the case's queue (those away are marked)."""
    members = (
        QueueMember.objects.filter(queue_id=case.queue_id, user__is_active=True)
        .select_related("user")
        .order_by("user__username")
    )
    return [
        (
            str(member.user_id),
            user_name(member.user)
            if member.is_available
            else _("%(name)s (away)") % {"name": user_name(member.user)},
        )
        for member in members
    ]


def _link_records(
    request: HttpRequest, case: ServiceCase
) -> list[tuple[Any, list[tuple[str, str]]]]:
    """The customer's records the viewer may link, grouped by kind (value "kind:pk")."""
    if case.party_id is None or not may(request, "customers.view_party"):
        return []
    actor = request.user
    groups: list[tuple[Any, list[tuple[str, str]]]] = []
    try:
        if may(request, "banking.view_account"):
            from bankcrm.banking.selectors import account_list

            accounts = account_list(actor=actor, party=case.party_id)[:LINK_ACCOUNTS]
            groups.append(
                (
                    CaseLink.Kind.ACCOUNT.label,
                    [
                        (
                            f"account:{a.pk}",
                            f"{a.product.name} · **** {a.number_last4} · {a.currency}",
                        )
                        for a in accounts
                    ],
                )
            )
        if may(request, "lending.view_loan"):
            from bankcrm.lending.selectors import loan_list

            loans = loan_list(actor=actor, borrower=case.party_id)[:LINK_ACCOUNTS]
            groups.append(
                (
                    CaseLink.Kind.LOAN.label,
                    [
                        (f"loan:{loan.pk}", f"{loan.reference} · {loan.product.name}")
                        for loan in loans
                    ],
                )
            )
        if may(request, "lending.view_loanapplication"):
            from bankcrm.lending.selectors import loan_application_list

            applications = loan_application_list(actor=actor, applicant=case.party_id)[
                :LINK_ACCOUNTS
            ]
            groups.append(
                (
                    CaseLink.Kind.LOAN_APPLICATION.label,
                    [
                        (f"loan_application:{a.pk}", f"{a.reference} · {a.product.name}")
                        for a in applications
                    ],
                )
            )
        if may(request, "banking.view_transaction"):
            from bankcrm.banking.selectors import transaction_queryset

            transactions = transaction_queryset(actor=actor, party=case.party_id).select_related(
                "account"
            )[:LINK_TRANSACTIONS]
            groups.append(
                (
                    CaseLink.Kind.TRANSACTION.label,
                    [
                        (
                            f"transaction:{t.pk}",
                            f"{t.booking_date.isoformat()} · {t.amount} {t.account.currency}"
                            + (f" · {t.description[:40]}" if t.description else ""),
                        )
                        for t in transactions
                    ],
                )
            )
    except (ObjectDoesNotExist, PermissionDenied):
        # The customer is out of the viewer's reach: nothing of theirs to link.
        return []
    return [(label, choices) for label, choices in groups if choices]


def customer_summary(request: HttpRequest, case: ServiceCase) -> dict[str, Any]:
    """The right-hand column: the customer's 360 summary as the viewer may see it, or the
    case's contact (masked) when there is no customer or the customer is out of reach."""
    actor = request.user
    summary: dict[str, Any] = {
        "party": None,
        "contact_name": mask(case.contact_name, "name"),
        "contact_email": mask(case.contact_email, "email"),
        "contact_phone": mask(case.contact_phone, "phone"),
        "out_of_reach": False,
    }
    if case.party is None:
        return summary
    party = _party(request, case.party.pk)
    if party is None:
        summary["out_of_reach"] = True
        summary["masked_name"] = mask(case.party.display_name, "name")
        return summary
    summary["party"] = party
    summary["relationship_manager"] = party.relationship_manager
    if may(request, "customers.view_contactpoint"):
        from bankcrm.customers.selectors import contact_point_list

        summary["contacts"] = [
            {
                "kind": contact.get_kind_display(),
                "value": mask(contact.value, "phone" if contact.kind == "phone" else "email")
                if contact.kind in ("phone", "email")
                else "",
            }
            for contact in contact_point_list(actor=actor, party=party)
            if contact.is_primary and contact.kind in ("phone", "email")
        ]
    if may(request, "banking.view_account"):
        from bankcrm.banking.selectors import account_list

        summary["accounts"] = list(account_list(actor=actor, party=party)[:10])
    if may(request, "lending.view_loan") or may(request, "lending.view_loanapplication"):
        from bankcrm.lending.selectors_pipeline import party_lending_summary

        summary["lending"] = party_lending_summary(actor=actor, party=party, limit=5)
    if may(request, "compliance.view_kycprofile"):
        from bankcrm.compliance.selectors_kyc import kyc_profile_get

        try:
            summary["kyc"] = kyc_profile_get(actor=actor, party=party)
        except ObjectDoesNotExist:
            summary["kyc"] = None
    summary["other_cases"] = list(
        selectors_cases.case_list(actor=actor, filters={"party": party, "is_open": True})
        .exclude(pk=case.pk)
        .select_related(None)
        .only("pk", "reference", "subject")[:OTHER_CASES]
    )
    return summary


def _partial_html(template: str, context: dict[str, Any], request: HttpRequest) -> str:
    # Another part's panel, rendered in its own context (its names cannot clash with ours).
    return mark_safe(render_to_string(template, context, request=request))  # noqa: S308  # nosec B308 B703


def _kb_picker(request: HttpRequest, case: ServiceCase) -> str:
    from .views_knowledge import kb_picker_context

    context = {"case": case, **kb_picker_context(request.user, case, q="")}
    return _partial_html("support/partials/kb_picker.html", context, request)


def _complaint_panel(request: HttpRequest, case: ServiceCase) -> str:
    if not case.case_type.is_complaint:
        return ""
    from .views_complaints import complaint_panel_context

    context = {"case": case, **complaint_panel_context(request.user, case)}
    return _partial_html("support/partials/complaint_panel.html", context, request)


def _survey(case: ServiceCase) -> Any:
    from .selectors_knowledge import survey_summary

    return survey_summary(case)


def _conversation_context(
    request: HttpRequest, case: ServiceCase, may_change: bool, **forms: Any
) -> dict[str, Any]:
    return {
        "case": case,
        "conversation": _conversation(request, case),
        "may_change": may_change,
        "reply_form": forms.get("reply_form") or ReplyForm(auto_id="reply_%s"),
        "note_form": forms.get("note_form") or NoteForm(auto_id="note_%s"),
        "kb_picker_html": _kb_picker(request, case) if may_change else "",
    }


def _clocks_context(case: ServiceCase) -> dict[str, Any]:
    return {"clocks": case_clocks(case, WorkingPeriods(timezone.now()))}


def _case_context(request: HttpRequest, case: ServiceCase, **forms: Any) -> dict[str, Any]:
    actor = request.user
    may_change = _may_change(request, case)
    state = workflow_state_get(subject=case)
    queues = list(selectors_cases.queue_list(actor=actor)) if may_change else []
    if may_change and case.queue_id not in {queue.pk for queue in queues}:
        queues.insert(0, case.queue)
    links = selectors_cases.case_links(actor=actor, case=case)
    # The knowledge base picker lists the linked articles to those who work the case.
    articles = (
        []
        if may_change
        else list(case.article_links.select_related("article").order_by("created_at"))
    )
    context = {
        "case": case,
        "state": state,
        "type_name": local_name(case.case_type),
        "queue_name": local_name(case.queue),
        "may_change": may_change,
        "may_take": may_change and case.is_open and case.assigned_to_id != actor.pk,
        "buttons": _transition_buttons(request, case) if may_change else [],
        "history": _history_rows(request, case),
        "links": links,
        "articles": articles,
        "customer": customer_summary(request, case),
        "may_link_customer": may_change and may(request, "customers.view_party"),
        "complaint_html": _complaint_panel(request, case),
        "survey": _survey(case),
        "transition_form": forms.get("transition_form"),
        "assign_form": forms.get("assign_form")
        or AssignForm(
            agents=_agent_choices(case) if may_change else [],
            auto_id="assign_%s",
            initial={"assignee": str(case.assigned_to_id or "")},
        ),
        "update_form": forms.get("update_form")
        or CaseUpdateForm(
            queues=queue_choices(queues),
            auto_id="update_%s",
            initial={
                "subject": case.subject,
                "priority": case.priority,
                "queue": str(case.queue_id),
            },
        ),
        "link_form": forms.get("link_form")
        or LinkForm(records=_link_records(request, case) if may_change else [], auto_id="link_%s"),
        "merge_form": forms.get("merge_form") or MergeForm(auto_id="merge_%s"),
        "party_form": forms.get("party_form") or CustomerChoiceForm(auto_id="party_%s"),
        "party_q": request.GET.get("q", "")[:200],
        "party_results": _customer_results(request, request.GET.get("q", "")[:200])
        if may_change and case.party_id is None
        else None,
        **_clocks_context(case),
        **_conversation_context(request, case, may_change, **forms),
    }
    return context


@login_required
@require_GET
def case_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A case: the conversation beside the customer's summary, SLA clocks, quick actions,
    the complaint panel for complaints and the survey result once answered."""
    case = _case(request, pk)
    return render(request, "support/case_detail.html", _case_context(request, case))


def _case_post(
    request: HttpRequest,
    pk: uuid.UUID,
    form: Any,
    name: str,
    action: Callable[[ServiceCase, dict[str, Any]], Any],
    done: Callable[[Any], str],
    *,
    aliases: dict[str, str] | None = None,
    conversation: bool = False,
) -> HttpResponse:
    """A quick action's POST: the form parsed, one service called. Success: the service's
    message and back to the page (an HTMX note or reply: the fresh conversation). Refusal:
    the page again with the form's errors (400, or 403 when the viewer may not)."""
    case = _case(request, pk)
    require(request, CHANGE_CASE)
    status = 400
    if form.is_valid():
        try:
            result = action(case, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc, aliases)
            status = status_of(exc)
        else:
            if conversation and is_htmx(request):
                case = _case(request, pk)
                context = _conversation_context(request, case, _may_change(request, case))
                context.update(_clocks_context(case))
                context["notice"] = done(result)
                context["oob_clocks"] = True
                return render(request, "support/partials/case_conversation.html", context)
            messages.success(request, done(result))
            target = result if isinstance(result, ServiceCase) else case
            return HttpResponseRedirect(reverse("support:case_detail", args=[target.pk]))
    case = _case(request, pk)
    if conversation and is_htmx(request):
        # HTMX swaps only successful answers: the errors come back in the conversation.
        context = _conversation_context(request, case, _may_change(request, case), **{name: form})
        return render(request, "support/partials/case_conversation.html", context)
    return render(
        request,
        "support/case_detail.html",
        _case_context(request, case, **{name: form}),
        status=status,
    )


@login_required
@require_POST
def case_transition(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take a workflow step of the case (its reason when the step asks for one)."""

    def done(case: Any) -> str:
        state = workflow_state_get(subject=case) if isinstance(case, ServiceCase) else None
        return _("The case is now “%(state)s”.") % {
            "state": state.name if state else getattr(case, "state", "")
        }

    return _case_post(
        request, pk, TransitionForm(request.POST, auto_id="transition_%s"), "transition_form",
        lambda case, data: services_cases.case_transition(
            actor=request.user, case=case, transition=data["transition"],
            reason=data.get("reason") or "",
        ),
        done,
    )  # fmt: skip


@login_required
@require_POST
def case_take(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take the case: assign it to myself."""
    return _case_post(
        request, pk, ConfirmForm(request.POST), "assign_form",
        lambda case, _data: services_cases.case_take(actor=request.user, case=case),
        lambda _result: _("The case is yours."),
    )  # fmt: skip


@login_required
@require_POST
def case_assign(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Assign the case to an agent of its queue, or back to the queue."""
    case = _case(request, pk)
    form = AssignForm(request.POST, agents=_agent_choices(case), auto_id="assign_%s")

    def action(case: ServiceCase, data: dict[str, Any]) -> Any:
        user = None
        if data.get("assignee"):
            user = (
                QueueMember.objects.select_related("user")
                .get(queue_id=case.queue_id, user_id=int(data["assignee"]))
                .user
            )
        return services_cases.case_assign(actor=request.user, case=case, user=user)

    def done(_result: Any) -> str:
        if form.cleaned_data.get("assignee"):
            return _("The case is assigned.")
        return _("The case is back in its queue, assigned to nobody.")

    return _case_post(
        request, pk, form, "assign_form", action, done, aliases={"assigned_to": "assignee"}
    )


@login_required
@require_POST
def case_update(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Change the case's subject, priority or queue (a new priority re-applies the SLA
    policy)."""
    queues = {str(queue.pk): queue for queue in selectors_cases.queue_list(actor=request.user)}
    case = _case(request, pk)
    queues.setdefault(str(case.queue_id), case.queue)
    form = CaseUpdateForm(request.POST, queues=queue_choices(queues.values()), auto_id="update_%s")

    def action(case: ServiceCase, data: dict[str, Any]) -> Any:
        changes: dict[str, Any] = {}
        if data["subject"] != case.subject:
            changes["subject"] = data["subject"]
        if data["priority"] != case.priority:
            changes["priority"] = data["priority"]
        if data["queue"] != str(case.queue_id):
            changes["queue"] = queues[data["queue"]]
        if not changes:
            return case
        return services_cases.case_update(actor=request.user, case=case, changes=changes)

    return _case_post(
        request, pk, form, "update_form", action, lambda _result: _("The case is updated.")
    )


@login_required
@require_POST
def case_link_add(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Link one of the customer's accounts, loans, loan applications or transactions."""
    case = _case(request, pk)
    form = LinkForm(request.POST, records=_link_records(request, case), auto_id="link_%s")
    return _case_post(
        request, pk, form, "link_form",
        lambda case, data: services_cases.case_link_add(
            actor=request.user, case=case, kind=data["record"][0], object_pk=data["record"][1]
        ),
        lambda link: _("%(label)s is linked.") % {"label": getattr(link, "label", "")},
        aliases={"kind": "record", "object_pk": "record"},
    )  # fmt: skip


@login_required
@require_POST
def case_link_remove(request: HttpRequest, pk: uuid.UUID, link_pk: int) -> HttpResponse:
    """Remove a link of the case."""
    case = _case(request, pk)
    link = case.links.filter(pk=link_pk).first()
    if link is None:
        raise Http404(_("Nothing was found at this address."))
    return _case_post(
        request, pk, ConfirmForm(request.POST), "link_form",
        lambda case, _data: services_cases.case_link_remove(
            actor=request.user, case=case, link=link
        ),
        lambda _result: _("The link is removed."),
    )  # fmt: skip


@login_required
@require_POST
def case_merge(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Merge this case (a duplicate) into another case, given by its reference."""
    form = MergeForm(request.POST, auto_id="merge_%s")

    def action(case: ServiceCase, data: dict[str, Any]) -> Any:
        try:
            into = selectors_cases.case_get(actor=request.user, reference=data["into"])
        except ObjectDoesNotExist:
            raise ValidationError(
                {
                    "into": _("No case you may see has the reference %(reference)s.")
                    % {"reference": data["into"]}
                }
            ) from None
        return services_cases.case_merge(
            actor=request.user, duplicate=case, into=into, reason=data["reason"]
        )

    return _case_post(
        request, pk, form, "merge_form", action,
        lambda into: _("The case is merged into %(reference)s.")
        % {"reference": getattr(into, "reference", "")},
        aliases={"duplicate": "into"},
    )  # fmt: skip


@login_required
@require_POST
def case_party_set(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Link the case to its customer (chosen through the customer search)."""
    form = CustomerChoiceForm(request.POST, auto_id="party_%s")

    def action(case: ServiceCase, data: dict[str, Any]) -> Any:
        party = _party(request, data["party"])
        if party is None:
            raise ValidationError({"party": _("Search for the customer and choose one.")})
        return services_cases.case_party_set(actor=request.user, case=case, party=party)

    return _case_post(
        request, pk, form, "party_form", action,
        lambda _result: _("The case is linked to its customer."),
    )  # fmt: skip


@login_required
@require_POST
def case_note_add(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Add an internal note to the conversation."""
    return _case_post(
        request, pk, NoteForm(request.POST, auto_id="note_%s"), "note_form",
        lambda case, data: services_cases.case_note_add(
            actor=request.user, case=case, text=data["text"]
        ),
        lambda _result: _("The note is added."),
        conversation=True,
    )  # fmt: skip


@login_required
@require_POST
def case_reply(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Reply to the customer: e-mailed when the case has an address, else recorded (the
    answer given on the phone or at the branch)."""

    def done(message: Any) -> str:
        if getattr(message, "status", "") == CaseMessage.Status.RECORDED:
            return _("The reply is recorded.")
        return _("The reply is on its way to the customer.")

    return _case_post(
        request, pk, ReplyForm(request.POST, auto_id="reply_%s"), "reply_form",
        lambda case, data: case_reply_send(
            actor=request.user, case=case, body=data["body"],
            subject=data.get("subject") or None, template_code=data.get("template_code") or "",
        ),
        done,
        aliases={"to": "body"},
        conversation=True,
    )  # fmt: skip
