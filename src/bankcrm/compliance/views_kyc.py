"""The KYC/CDD pages: the review list (open, overdue, due soon), a review's page (its
evidence checklist, workflow steps and completion with an outcome), enhanced due diligence
of a customer (source of wealth and funds, senior-management approval) and recalculating a
customer's risk rating.

Relationship and branch managers see the reviews of their own customers (the selectors scope
them; another branch's review is a 404) and relationship managers tick the checklist; every
change goes through one KYC service, which checks who may take it and audits it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import workflow_state_get
from bankcrm.customers import selectors as customer_selectors
from bankcrm.customers.models import Party

from . import selectors_kyc, services_kyc
from .forms import (
    ChecklistItemForm,
    EddForm,
    ReviewCompleteForm,
    ReviewFilterForm,
    TransitionForm,
    errors_to,
)
from .models import EddRecord, KycReview
from .views import _attach_state_names, _history_rows, _transition_buttons
from .views_common import (
    ADD_EDD,
    CHANGE_REVIEW,
    LIST_LIMIT,
    RATE_PARTY,
    VIEW_EDD,
    VIEW_PROFILE,
    VIEW_REVIEW,
    is_partial,
    may,
    object_step,
    or_404,
    require,
    status_of,
)

DUE_SOON_DAYS = 30


# --- Reviews ---------------------------------------------------------------------------------


@login_required
@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    """KYC reviews in progress by due date: all, the overdue ones, or those due soon; a risk
    band narrows them to customers of that band."""
    require(request, VIEW_REVIEW)
    form = ReviewFilterForm(request.GET or None)
    reviews: list[KycReview] = []
    today = bank_today()
    if not form.is_bound or form.is_valid():
        show = form.cleaned_data.get("show") if form.is_bound else ""
        kwargs: dict[str, Any] = {}
        if show == "overdue":
            kwargs["overdue"] = True
        elif show == "due30":
            kwargs["due_before"] = today + dt.timedelta(days=DUE_SOON_DAYS)
        queryset = selectors_kyc.kyc_review_list(actor=request.user, **kwargs)
        band = request.GET.get("band", "")
        if band in ("low", "medium", "high") and isinstance(queryset, QuerySet):
            queryset = queryset.filter(party__kyc__risk_band=band)
        if isinstance(queryset, QuerySet):
            queryset = queryset.filter(completed_at__isnull=True).select_related(
                "party", "assigned_to"
            )
        reviews = list(queryset[:LIST_LIMIT])
    _attach_state_names(reviews)
    for review in reviews:
        review.is_overdue = review.due_on < today  # type: ignore[attr-defined]
        items = [i for i in review.checklist or [] if isinstance(i, dict)]
        review.items_done = sum(1 for i in items if i.get("done"))  # type: ignore[attr-defined]
        review.items_total = len(items)  # type: ignore[attr-defined]
    context = {"form": form, "reviews": reviews, "limit": LIST_LIMIT, "today": today}
    if is_partial(request, "review-table"):
        return render(request, "compliance/partials/review_table.html", context)
    return render(request, "compliance/review_list.html", context)


def _review(request: HttpRequest, pk: uuid.UUID) -> KycReview:
    require(request, VIEW_REVIEW)
    return or_404(selectors_kyc.kyc_review_get, actor=request.user, pk=pk)


def _review_context(request: HttpRequest, review: KycReview, **forms: Any) -> dict[str, Any]:
    state = workflow_state_get(subject=review)
    is_open = review.completed_at is None
    may_change = may(request, CHANGE_REVIEW) and is_open
    checklist = [dict(item) for item in review.checklist or [] if isinstance(item, dict)]
    for item in checklist:
        item["form"] = ChecklistItemForm(
            auto_id=f"item_{item.get('code', '')}_%s",
            initial={"item": item.get("code"), "done": not item.get("done"), "note": ""},
        )
    required_open = [i for i in checklist if i.get("required") and not i.get("done")]
    profile = getattr(review.party, "kyc", None)
    return {
        "review": review,
        "party": review.party,
        "profile": profile,
        "state": state,
        "is_open": is_open,
        "is_overdue": is_open and review.due_on < bank_today(),
        "checklist": checklist,
        "required_open": required_open,
        "may_check": may_change,
        "may_complete": may_change,
        "buttons": _transition_buttons(request, review) if may_change else [],
        "history": _history_rows(request, review),
        "complete_form": forms.get("complete_form") or ReviewCompleteForm(auto_id="complete_%s"),
        "step_form": forms.get("step_form"),
        "item_form": forms.get("item_form"),
    }


@login_required
@require_GET
def review_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A KYC review: the customer's rating, the evidence checklist, the steps and completion."""
    review = _review(request, pk)
    return render(request, "compliance/review_detail.html", _review_context(request, review))


def _review_step(
    request: HttpRequest, pk: uuid.UUID, form: Any, name: str, action: Any, done: str
) -> HttpResponse:
    review = _review(request, pk)
    return object_step(
        request,
        review,
        form,
        action,
        done,
        detail_url="compliance:review_detail",
        template="compliance/review_detail.html",
        context=lambda: _review_context(request, review, **{name: form}),
    )


@login_required
@require_POST
def review_check_item(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Tick (or untick) an item of the evidence checklist, with a note."""
    return _review_step(
        request, pk, ChecklistItemForm(request.POST), "item_form",
        lambda review, data: services_kyc.kyc_review_check_item(
            actor=request.user, review=review, code=data["item"], done=data["done"],
            note=data.get("note") or "",
        ),
        _("The checklist is updated."),
    )  # fmt: skip


@login_required
@require_POST
def review_transition(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take a workflow step of the review."""
    return _review_step(
        request, pk, TransitionForm(request.POST, auto_id="step_%s"), "step_form",
        lambda review, data: services_kyc.kyc_review_transition(
            actor=request.user, review=review, transition=data["transition"],
            reason=data.get("reason") or "",
        ),
        _("The review has moved on."),
    )  # fmt: skip


@login_required
@require_POST
def review_complete(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Complete the review with its outcome and conclusion (the next review date follows)."""
    return _review_step(
        request, pk, ReviewCompleteForm(request.POST, auto_id="complete_%s"), "complete_form",
        lambda review, data: services_kyc.kyc_review_complete(
            actor=request.user, review=review, outcome=data["outcome"],
            conclusion=data["conclusion"],
        ),
        _("The review is complete."),
    )  # fmt: skip


# --- Enhanced due diligence and rating -------------------------------------------------------


def _party(request: HttpRequest, pk: Any) -> Party:
    try:
        return customer_selectors.party_get(actor=request.user, pk=pk)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc


def _edd_records(request: HttpRequest, party: Party) -> list[EddRecord]:
    selectors = selectors_kyc
    reader = getattr(selectors, "edd_record_list", None)
    if callable(reader):
        return list(reader(actor=request.user, party=party))
    return list(
        EddRecord.objects.visible_to(request.user)
        .filter(party=party)
        .select_related("requested_by", "decided_by")
    )


@login_required
@require_http_methods(["GET", "POST"])
def edd(request: HttpRequest, party_pk: Any) -> HttpResponse:
    """A customer's enhanced due diligence: PEP status, the records and their approval state,
    and the form to submit a new one for senior-management approval."""
    require(request, VIEW_EDD)
    party = _party(request, party_pk)
    profile = or_404(selectors_kyc.kyc_profile_get, actor=request.user, party=party)
    form = EddForm(request.POST or None, auto_id="edd_%s")
    status = 200
    if request.method == "POST":
        require(request, ADD_EDD)
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                services_kyc.edd_submit(
                    actor=request.user,
                    party=party,
                    source_of_wealth=data["source_of_wealth"],
                    source_of_funds=data["source_of_funds"],
                    notes=data.get("notes") or "",
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
                status = status_of(exc)
            else:
                messages.success(
                    request,
                    _("Enhanced due diligence is submitted for senior-management approval."),
                )
                return HttpResponseRedirect(reverse("compliance:edd", args=[party.pk]))
    records = _edd_records(request, party)
    context = {
        "party": party,
        "profile": profile,
        "records": records,
        "has_pending": any(r.status == EddRecord.Status.PENDING for r in records),
        "form": form,
        "may_submit": may(request, ADD_EDD),
    }
    return render(request, "compliance/edd.html", context, status=status)


@login_required
@require_POST
def party_rate(request: HttpRequest, party_pk: Any) -> HttpResponse:
    """Recalculate the customer's risk rating now."""
    require(request, VIEW_PROFILE)
    require(request, RATE_PARTY)
    party = _party(request, party_pk)
    try:
        profile = services_kyc.party_rate(actor=request.user, party=party, trigger="manual")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(
            request,
            _("The risk rating is recalculated: %(band)s.")
            % {"band": profile.get_risk_band_display() or "—"},
        )
    return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]) + "#compliance")
