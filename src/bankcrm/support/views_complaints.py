"""Complaint pages: the complaints register (period filter, CSV and XLSX downloads) and the
complaint panel of a case page (facts, deadline countdown, extension, outcome and root
cause, redress and its approval).

The panel is a partial (``support/partials/complaint_panel.html``) the case page includes
with :func:`complaint_panel_context`; its forms post here. An HTMX post answers with the
panel itself (with the form's errors and status 400/403 on a refusal); a plain post
redirects back to the case page (or shows the panel on its own page with the errors).
Reads go through the complaint selectors, changes through one service each; a case or a
complaint out of the viewer's reach is 404.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.approvals import approval_may_decide
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.timefmt import bank_today

from . import reports_complaints, services_complaints
from .forms_complaints import (
    ComplaintExtendForm,
    ComplaintUpdateForm,
    RedressDecisionForm,
    RedressForm,
    RedressPaidForm,
    RegisterFilterForm,
    currency_choices,
    errors_to,
)
from .models import Complaint, ServiceCase
from .selectors_complaints import (
    EXPORT_PERMISSION,
    case_visible_to,
    complaint_for_case,
    complaint_visible,
)

PANEL_TEMPLATE = "support/partials/complaint_panel.html"
PANEL_PAGE_TEMPLATE = "support/complaints_panel_page.html"
REGISTER_TEMPLATE = "support/complaints_register.html"
REGISTER_PAGE_ROWS = 500


# --- The complaint panel ---------------------------------------------------------------------


def _base_currency() -> str:
    from bankcrm.banking.selectors import base_currency

    return base_currency()


def case_page_url(case: ServiceCase | Any) -> str:
    """The case page (owned by the agent pages), else the complaint panel's own page;
    ``case`` is a case or its key."""
    pk = getattr(case, "pk", case)
    try:
        return reverse("support:case_detail", args=[pk])
    except NoReverseMatch:
        return reverse("support:complaint_panel", args=[pk])


def complaint_panel_context(
    actor: Any, case: ServiceCase, *, forms: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The context of ``support/partials/complaint_panel.html`` for ``case``.

    Keys start with ``complaint`` so the case page can merge them into its own context.
    ``complaint`` is None when the case has no complaint the actor may see (the partial
    then renders nothing). ``forms`` replaces the blank forms (to show a refused one with
    its errors): keys ``update``, ``extend``, ``redress``, ``decision``, ``paid``.
    """
    complaint = complaint_for_case(actor=actor, case=case)
    if complaint is None:
        return {"complaint": None, "complaint_case": case}
    forms = forms or {}
    today = bank_today()
    days_left = (complaint.deadline - today).days
    is_open = complaint.answered_on is None and case.is_open
    may_change = complaint_visible(actor=actor, action="change").filter(pk=complaint.pk).exists()
    extension_refusal = services_complaints.complaint_extension_refusal(complaint, today)
    approval = complaint.redress_approval
    status = complaint.redress_status
    statuses = Complaint.RedressStatus
    pending = (
        approval is not None
        and status == statuses.PENDING_APPROVAL
        and approval.status == PendingApproval.Status.PENDING
    )
    may_decide = (
        pending
        and may_change
        and approval is not None
        and approval_may_decide(actor=actor, approval=approval)
    )
    redress_initial = {"currency": complaint.redress_currency or _base_currency()}
    if complaint.redress_amount is not None and status != statuses.APPROVED:
        redress_initial["amount"] = f"{complaint.redress_amount:.2f}"
    case_pk = case.pk
    return {
        "complaint": complaint,
        "complaint_case": case,
        "complaint_today": today,
        "complaint_days_left": days_left,
        "complaint_days_overdue": -days_left if days_left < 0 else 0,
        "complaint_is_open": is_open,
        "complaint_is_overdue": is_open and days_left < 0,
        "complaint_is_due_today": is_open and days_left == 0,
        "complaint_may_change": may_change,
        "complaint_may_extend": may_change and extension_refusal is None,
        "complaint_extension_refusal": extension_refusal,
        "complaint_may_set_redress": may_change
        and status not in (statuses.PENDING_APPROVAL, statuses.PAID),
        "complaint_may_mark_paid": may_change and status == statuses.APPROVED,
        "complaint_redress_pending": pending,
        "complaint_may_decide_redress": may_decide,
        "complaint_approval": approval,
        "complaint_threshold": services_complaints.redress_threshold(),
        "complaint_base_currency": _base_currency(),
        "complaint_currencies": currency_choices(),
        "complaint_update_form": forms.get("update") or ComplaintUpdateForm(complaint=complaint),
        "complaint_extend_form": forms.get("extend") or ComplaintExtendForm(),
        "complaint_redress_form": forms.get("redress") or RedressForm(initial=redress_initial),
        "complaint_decision_form": forms.get("decision") or RedressDecisionForm(),
        "complaint_paid_form": forms.get("paid") or RedressPaidForm(),
        "complaint_urls": {
            "panel": reverse("support:complaint_panel", args=[case_pk]),
            "update": reverse("support:complaint_update", args=[case_pk]),
            "extend": reverse("support:complaint_extend", args=[case_pk]),
            "redress": reverse("support:complaint_redress", args=[case_pk]),
            "decide": reverse("support:complaint_redress_decide", args=[case_pk]),
            "paid": reverse("support:complaint_redress_paid", args=[case_pk]),
            "case": case_page_url(case),
        },
    }


def _case_or_404(request: HttpRequest, case_pk: Any) -> ServiceCase:
    try:
        return (
            case_visible_to(request.user, "view")
            .select_related("party", "org_unit", "queue", "case_type")
            .get(pk=case_pk)
        )
    except (ObjectDoesNotExist, ValueError, ValidationError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def _complaint_or_404(request: HttpRequest, case: ServiceCase) -> Complaint:
    complaint = complaint_for_case(actor=request.user, case=case)
    if complaint is None:
        raise Http404(_("Nothing was found at this address."))
    return complaint


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted


def _render_panel(
    request: HttpRequest,
    case: ServiceCase,
    *,
    forms: dict[str, Any] | None = None,
    status: int = 200,
    notice: str = "",
) -> HttpResponse:
    context = complaint_panel_context(request.user, case, forms=forms)
    context["complaint_notice"] = notice
    template = PANEL_TEMPLATE if _is_htmx(request) else PANEL_PAGE_TEMPLATE
    return render(request, template, context, status=status)


@login_required
@require_GET
def complaint_panel(request: HttpRequest, case_pk: Any) -> HttpResponse:
    """The complaint panel of a case (HTMX: the partial; else on a page of its own)."""
    case = _case_or_404(request, case_pk)
    _complaint_or_404(request, case)
    return _render_panel(request, case)


def _panel_step(
    request: HttpRequest,
    case_pk: Any,
    key: str,
    form_class: type[Any],
    action: Callable[[Complaint, Any], Any],
    done: str,
) -> HttpResponse:
    """Run one panel form: on success back to the case (or the fresh panel for HTMX); on a
    refusal the panel again with the form's errors (400, or 403 for a permission)."""
    case = _case_or_404(request, case_pk)
    complaint = _complaint_or_404(request, case)
    form = (
        form_class(request.POST, complaint=complaint)
        if form_class is ComplaintUpdateForm
        else form_class(request.POST)
    )
    status = 400
    if form.is_valid():
        try:
            action(complaint, form)
        except ObjectDoesNotExist as exc:
            raise Http404(_("Nothing was found at this address.")) from exc
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = 403 if isinstance(exc, PermissionDenied) else 400
        else:
            if _is_htmx(request):
                return _render_panel(request, case, notice=done)
            messages.success(request, done)
            return HttpResponseRedirect(case_page_url(case))
    return _render_panel(request, case, forms={key: form}, status=status)


@login_required
@require_POST
def complaint_update(request: HttpRequest, case_pk: Any) -> HttpResponse:
    return _panel_step(
        request,
        case_pk,
        "update",
        ComplaintUpdateForm,
        lambda complaint, form: services_complaints.complaint_update(
            actor=request.user, complaint=complaint, changes=form.changes()
        ),
        _("The complaint was updated."),
    )


@login_required
@require_POST
def complaint_extend(request: HttpRequest, case_pk: Any) -> HttpResponse:
    return _panel_step(
        request,
        case_pk,
        "extend",
        ComplaintExtendForm,
        lambda complaint, form: services_complaints.complaint_extend(
            actor=request.user, complaint=complaint, reason=form.cleaned_data["reason"]
        ),
        _("The deadline was extended."),
    )


@login_required
@require_POST
def complaint_redress(request: HttpRequest, case_pk: Any) -> HttpResponse:
    return _panel_step(
        request,
        case_pk,
        "redress",
        RedressForm,
        lambda complaint, form: services_complaints.complaint_redress_set(
            actor=request.user,
            complaint=complaint,
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            reason=form.cleaned_data["reason"],
        ),
        _("The redress was recorded."),
    )


@login_required
@require_POST
def complaint_redress_decide(request: HttpRequest, case_pk: Any) -> HttpResponse:
    return _panel_step(
        request,
        case_pk,
        "decision",
        RedressDecisionForm,
        lambda complaint, form: services_complaints.complaint_redress_decide(
            actor=request.user,
            complaint=complaint,
            approve=form.cleaned_data["decision"] == "approve",
            comment=form.cleaned_data["comment"],
        ),
        _("The redress decision was recorded."),
    )


@login_required
@require_POST
def complaint_redress_paid(request: HttpRequest, case_pk: Any) -> HttpResponse:
    return _panel_step(
        request,
        case_pk,
        "paid",
        RedressPaidForm,
        lambda complaint, form: services_complaints.complaint_redress_paid(
            actor=request.user, complaint=complaint, reason=form.cleaned_data["reason"]
        ),
        _("The redress was recorded as paid."),
    )


# --- The complaints register -----------------------------------------------------------------


def _default_period() -> tuple[dt.date, dt.date]:
    today = bank_today()
    return today.replace(day=1), today


def _register_form(request: HttpRequest) -> RegisterFilterForm:
    if "date_from" in request.GET or "date_to" in request.GET:
        return RegisterFilterForm(request.GET)
    start, end = _default_period()
    return RegisterFilterForm({"date_from": start.isoformat(), "date_to": end.isoformat()})


def _require_export(request: HttpRequest) -> None:
    if not actor_has_perm(request.user, EXPORT_PERMISSION):
        raise PermissionDenied(_("You may not export the complaints register."))


@login_required
@require_GET
def complaints_register(request: HttpRequest) -> HttpResponse:
    """The register of the complaints received in a period, with the downloads."""
    _require_export(request)
    form = _register_form(request)
    rows: list[dict[str, Any]] = []
    status = 200
    if form.is_valid():
        rows = reports_complaints.complaints_register(
            actor=request.user,
            date_from=form.cleaned_data["date_from"],
            date_to=form.cleaned_data["date_to"],
        )
        for row in rows[:REGISTER_PAGE_ROWS]:
            row["url"] = case_page_url(row["case"])
    else:
        status = 400
    context = {
        "form": form,
        "rows": rows[:REGISTER_PAGE_ROWS],
        "row_count": len(rows),
        "row_limit": REGISTER_PAGE_ROWS,
        "query": "",
        "late_count": sum(1 for row in rows if row["within_deadline"] == "no"),
    }
    if form.is_valid():
        context["query"] = (
            f"date_from={form.cleaned_data['date_from'].isoformat()}"
            f"&date_to={form.cleaned_data['date_to'].isoformat()}"
        )
    return render(request, REGISTER_TEMPLATE, context, status=status)


def _register_download(request: HttpRequest, fmt: str) -> HttpResponse:
    _require_export(request)
    form = RegisterFilterForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "rows": [], "row_count": 0, "row_limit": REGISTER_PAGE_ROWS}
        return render(request, REGISTER_TEMPLATE, context, status=400)
    start, end = form.cleaned_data["date_from"], form.cleaned_data["date_to"]
    if fmt == "csv":
        body = reports_complaints.complaints_register_csv(
            actor=request.user, date_from=start, date_to=end
        )
        content_type = reports_complaints.CSV_CONTENT_TYPE
    else:
        body = reports_complaints.complaints_register_xlsx(
            actor=request.user, date_from=start, date_to=end
        )
        content_type = reports_complaints.XLSX_CONTENT_TYPE
    response = HttpResponse(body, content_type=content_type)
    name = reports_complaints.register_file_name(start, end, fmt)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def complaints_register_csv(request: HttpRequest) -> HttpResponse:
    return _register_download(request, "csv")


@login_required
@require_GET
def complaints_register_xlsx(request: HttpRequest) -> HttpResponse:
    return _register_download(request, "xlsx")
