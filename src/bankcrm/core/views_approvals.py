"""Approval pages: the queue (to decide, and my requests) and one request with its decision."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from .approvals import approval_action_get, approval_get, approval_list, approval_may_decide
from .models.approvals import PendingApproval
from .services_approvals import approval_approve, approval_cancel, approval_reject


class ApproveForm(forms.Form):
    comment = forms.CharField(
        label=gettext_lazy("Comment (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason for rejecting"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Say why you reject this request.")},
    )


class CancelForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why you withdraw it (optional)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's refusal in the form: on its field when it names one, else on top."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
def approval_list_view(request: HttpRequest) -> HttpResponse:
    approvals = list(approval_list(actor=request.user))
    to_decide = [a for a in approvals if approval_may_decide(actor=request.user, approval=a)]
    mine = [a for a in approvals if a.maker_id == request.user.pk]
    decided = [a for a in approvals if a.checker_id == request.user.pk]
    context = {"to_decide": to_decide, "mine": mine, "decided": decided}
    return render(request, "core/approval_list.html", context)


def _detail(request: HttpRequest, approval: PendingApproval, **forms_: Any) -> HttpResponse:
    action = approval_action_get(approval.action)
    context = {
        "approval": approval,
        "action_description": action.description if action else approval.action,
        "may_decide": approval_may_decide(actor=request.user, approval=approval),
        "may_cancel": approval.maker_id == request.user.pk
        and approval.status == PendingApproval.Status.PENDING,
        "approve_form": forms_.get("approve_form") or ApproveForm(),
        "reject_form": forms_.get("reject_form") or RejectForm(),
        "cancel_form": forms_.get("cancel_form") or CancelForm(),
    }
    return render(request, "core/approval_detail.html", context)


@login_required
@require_http_methods(["GET"])
def approval_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _detail(request, approval_get(actor=request.user, pk=pk))


@login_required
@require_POST
def approval_approve_view(request: HttpRequest, pk: int) -> HttpResponse:
    approval = approval_get(actor=request.user, pk=pk)
    form = ApproveForm(request.POST)
    if form.is_valid():
        try:
            approval = approval_approve(
                actor=request.user, approval_pk=approval.pk, comment=form.cleaned_data["comment"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            if approval.status == PendingApproval.Status.APPROVED:
                messages.success(request, _("Approved and applied."))
            else:
                messages.error(
                    request,
                    _("Approved, but the change could not be applied: %(reason)s")
                    % {"reason": approval.failure_reason},
                )
            return redirect("core:approval_detail", pk=approval.pk)
    return _detail(request, approval, approve_form=form)


@login_required
@require_POST
def approval_reject_view(request: HttpRequest, pk: int) -> HttpResponse:
    approval = approval_get(actor=request.user, pk=pk)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            approval_reject(
                actor=request.user, approval_pk=approval.pk, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Request rejected."))
            return redirect("core:approval_detail", pk=approval.pk)
    return _detail(request, approval, reject_form=form)


@login_required
@require_POST
def approval_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    approval = approval_get(actor=request.user, pk=pk)
    if approval.maker_id != request.user.pk:
        raise PermissionDenied
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            approval_cancel(
                actor=request.user, approval_pk=approval.pk, reason=form.cleaned_data["reason"]
            )
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Request withdrawn."))
            return redirect("core:approval_detail", pk=approval.pk)
    return _detail(request, approval, cancel_form=form)
