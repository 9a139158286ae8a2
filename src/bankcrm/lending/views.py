"""The lending pages: the pipeline board, applications (list, form, the application page and
its panels), loans (list, the loan page and its requests), the delinquency matrix, loan
products and the schedule calculator.

Every read goes through the selectors (scoped to the signed-in person: an application or
loan out of reach is a 404, like one that does not exist); every write through one service
of ``services_applications`` or ``services_loans``. The action forms of the application and
loan pages post and redirect back (they work without script); lists, the board, the
customer search of the application form and the calculator answer HTMX with their partial
(``request.htmx``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import mimetypes
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.models import Role
from bankcrm.access.permissions import actor_has_perm
from bankcrm.banking import selectors as banking_selectors
from bankcrm.banking.models import Account
from bankcrm.core.masking import actor_may_unmask
from bankcrm.core.workflow import (
    workflow_available_transitions,
    workflow_history,
    workflow_sla_status,
    workflow_state_get,
)
from bankcrm.customers.forms import add_service_errors
from bankcrm.customers.models import Party
from bankcrm.customers.search import customer_search
from bankcrm.customers.selectors import party_get

from . import selectors, selectors_pipeline
from . import services_applications as app_services
from . import services_loans as loan_services
from .forms import (
    ApplicationFilterForm,
    ApplicationForm,
    AuthorityRowFormSet,
    CalculatorForm,
    CollateralForm,
    DecisionForm,
    DelinquencyFilterForm,
    DisburseForm,
    DocumentAddForm,
    DocumentRejectForm,
    DocumentRowFormSet,
    DocumentUploadForm,
    DocumentVerifyForm,
    LoanFilterForm,
    NotesForm,
    PartyAddForm,
    PipelineFilterForm,
    PolicyRuleRowFormSet,
    PrepayForm,
    ProductForm,
    ReasonForm,
    RestructureForm,
    TransitionForm,
    WriteOffForm,
    authority_rows_initial,
    document_rows_initial,
    rule_rows_initial,
)
from .models import (
    ApplicationDocument,
    ApplicationParty,
    Collateral,
    Loan,
    LoanApplication,
    LoanProduct,
)
from .tables import delinquency_matrix, instalment_rows, page_of

APPLICATIONS_PER_PAGE = 50
LOANS_PER_PAGE = 50
BOARD_CARDS = 20
HISTORY_LIMIT = 100
PREVIEW_LINES = 12

# Workflow conditions that mean "this step has its own panel" rather than a plain button.
DECISION_GUARD = "lending_decision_service"
DISBURSEMENT_GUARD = "lending_disbursement_service"


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _is_partial(request: HttpRequest, target: str | None = None) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted:
        return False
    return target is None or htmx.target == target


def _language() -> str:
    return translation.get_language() or "en"


def _product_choices(request: HttpRequest, *, active_only: bool = False) -> list[tuple[Any, str]]:
    language = _language()
    products = selectors.loan_product_list(actor=request.user, include_inactive=not active_only)
    return [(product.pk, f"{product.name_for(language)} ({product.code})") for product in products]


def _state_choices() -> list[tuple[str, str]]:
    return [(state.code, state.name) for state in selectors_pipeline.application_states()]


def _form_errors_to(form: Any, exc: ValidationError | PermissionDenied) -> None:
    """A service's refusal on the form: errors of the form's fields on those fields, the
    others (the application's state, a document's status …) on top, as the service
    worded them."""
    if isinstance(exc, PermissionDenied):
        form.add_error(None, str(exc) or _("You do not have permission to do this."))
        return
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)


def _service_message(exc: ValidationError | PermissionDenied) -> str:
    if isinstance(exc, PermissionDenied):
        return str(exc) or _("You do not have permission to do this.")
    return " ".join(exc.messages)


# --- The pipeline board --------------------------------------------------------------------


def _filter_choices(request: HttpRequest) -> dict[str, list[tuple[Any, str]]]:
    actor = request.user
    return {
        "products": _product_choices(request),
        "branches": selectors_pipeline.lending_branch_choices(actor=actor),
        "officers": selectors_pipeline.lending_officer_choices(actor=actor),
    }


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    """The applications by workflow state: counts, amounts, SLA breaches, the oldest cards."""
    _require(request, "lending.view_loanapplication")
    form = PipelineFilterForm(request.GET or None, **_filter_choices(request))
    pipeline = None
    if not form.is_bound or form.is_valid():
        pipeline = selectors_pipeline.pipeline_board(
            actor=request.user,
            cards_per_column=BOARD_CARDS,
            **(form.filters() if form.is_bound else {}),
        )
    context = {
        "form": form,
        "board": pipeline,
        "language": _language(),
        "may_add": actor_has_perm(request.user, "lending.add_loanapplication"),
        "filter_query": request.GET.urlencode(),
    }
    if _is_partial(request, "pipeline-board"):
        return render(request, "lending/partials/board_columns.html", context)
    return render(request, "lending/board.html", context)


# --- Application list -----------------------------------------------------------------------


@login_required
@require_GET
def application_list(request: HttpRequest) -> HttpResponse:
    """Applications within reach, newest first, filtered, 50 to a page."""
    _require(request, "lending.view_loanapplication")
    form = ApplicationFilterForm(
        request.GET or None, states=_state_choices(), **_filter_choices(request)
    )
    page = None
    now = timezone.now()
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else {}
        data = form.cleaned_data if form.is_bound else {}
        state: Any = data.get("state") or None
        if state == "open":
            state = [s.code for s in selectors_pipeline.application_states() if not s.is_terminal]
        queryset = selectors.loan_application_list(
            actor=request.user,
            state=state,
            product=filters.get("product"),
            branch=filters.get("branch"),
            officer=filters.get("officer"),
            query=data.get("q") or None,
        )
        if filters.get("min_age_days"):
            queryset = queryset.filter(
                state_entered_at__lte=now - dt.timedelta(days=filters["min_age_days"])
            )
        page = page_of(queryset, request.GET.get("page"), APPLICATIONS_PER_PAGE)
    context = {
        "form": form,
        "page": page,
        "now": now,
        "state_names": dict(_state_choices()),
        "language": _language(),
        "may_add": actor_has_perm(request.user, "lending.add_loanapplication"),
    }
    if _is_partial(request, "application-table"):
        return render(request, "lending/partials/application_table.html", context)
    return render(request, "lending/application_list.html", context)


# --- The application form -------------------------------------------------------------------


def _party_or_none(request: HttpRequest, pk: Any) -> Party | None:
    if not pk:
        return None
    try:
        return party_get(actor=request.user, pk=pk)
    except (Party.DoesNotExist, ValidationError, ValueError):
        return None


def _account_choices(request: HttpRequest, party: Party | None) -> list[tuple[Any, str]]:
    if party is None or not actor_has_perm(request.user, "banking.view_account"):
        return []
    accounts = banking_selectors.account_list(actor=request.user, party=party).filter(
        status=Account.Status.ACTIVE
    )
    from bankcrm.core.masking import mask

    return [
        (str(account.pk), f"{mask(account.number, 'account')} · {account.product.name} · "
         f"{account.currency}")
        for account in accounts
    ]  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def application_create(request: HttpRequest) -> HttpResponse:
    """A new application: product, applicant (found through the customer search), amount,
    term, purpose, the household's monthly figures and the settlement account."""
    _require(request, "lending.view_loanapplication")
    _require(request, "lending.add_loanapplication")
    data = request.POST if request.method == "POST" else None
    applicant_pk = (data or request.GET).get("applicant") or None
    applicant = _party_or_none(request, applicant_pk)
    products = _product_choices(request, active_only=True)
    accounts = _account_choices(request, applicant)
    initial: dict[str, Any] = {"applicant": applicant.pk} if applicant else {}
    if request.GET.get("product"):
        initial["product"] = request.GET["product"]
    form = ApplicationForm(data, initial=initial, products=products, accounts=accounts)
    if data is not None and form.is_valid():
        if applicant is None:
            form.add_error("applicant", _("Search for the applicant and choose one."))
        else:
            try:
                product = selectors.loan_product_get(
                    actor=request.user, pk=int(form.cleaned_data["product"])
                )
                account_pk = form.cleaned_data.get("settlement_account")
                account = (
                    banking_selectors.account_get(actor=request.user, pk=account_pk)
                    if account_pk
                    else None
                )
                application = app_services.loan_application_create(
                    actor=request.user,
                    data=form.service_data(product=product, applicant=applicant, account=account),
                )
            except (ValidationError, PermissionDenied) as exc:
                _form_errors_to(form, exc)
            except (Http404, Account.DoesNotExist):
                form.add_error("settlement_account", _("Choose one of the listed accounts."))
            else:
                messages.success(
                    request,
                    _("Application %(reference)s was opened as a draft.")
                    % {"reference": application.reference},
                )
                return HttpResponseRedirect(
                    reverse("lending:application_detail", args=[application.pk])
                )
    query = request.GET.get("q", "")[:200]
    context = {
        "form": form,
        "applicant": applicant,
        "q": query,
        "results": _search_results(request, query, exclude=None) if query else None,
        "field_name": "applicant",
    }
    status = 200 if data is None or not form.errors else 400
    return render(request, "lending/application_form.html", context, status=status)


def _search_results(request: HttpRequest, query: str, exclude: Any) -> Any:
    if not actor_has_perm(request.user, "customers.view_party"):
        return None
    result = customer_search(actor=request.user, query=query)
    if exclude is not None:
        result = dataclasses.replace(
            result, parties=[party for party in result.parties if party.pk != exclude]
        )
    return result


@login_required
@require_GET
def applicant_search(request: HttpRequest) -> HttpResponse:
    """Customers matching the search box, as choices (``field`` names the form field:
    ``applicant`` on the application form, ``party`` on the parties panel)."""
    _require(request, "lending.view_loanapplication")
    _require(request, "customers.view_party")
    query = request.GET.get("q", "")[:200]
    field_name = "party" if request.GET.get("field") == "party" else "applicant"
    context = {
        "q": query,
        "results": _search_results(request, query, exclude=None) if query else None,
        "field_name": field_name,
        "applicant": None,
    }
    return render(request, "lending/partials/applicant_results.html", context)


@login_required
@require_GET
def applicant_accounts(request: HttpRequest) -> HttpResponse:
    """The settlement account field for the chosen applicant's accounts."""
    _require(request, "lending.add_loanapplication")
    applicant = _party_or_none(request, request.GET.get("applicant"))
    form = ApplicationForm(
        products=[], accounts=_account_choices(request, applicant), auto_id="id_%s"
    )
    return render(
        request,
        "lending/partials/settlement_account_field.html",
        {"form": form, "applicant": applicant},
    )


# --- The application page -----------------------------------------------------------------


@dataclass(frozen=True)
class StepButton:
    """A workflow step the person may take, or see disabled with the reason it waits."""

    code: str
    name: str
    blocked: str | None
    requires_reason: bool
    is_cancel: bool


def _application(request: HttpRequest, pk: Any) -> LoanApplication:
    _require(request, "lending.view_loanapplication")
    return selectors.loan_application_get(actor=request.user, pk=pk)


def _authority(request: HttpRequest, application: LoanApplication) -> dict[str, Any]:
    """Who may approve the application's amount, and whether the viewer may."""
    amount = application.approved_amount or application.amount
    try:
        tier = app_services.authority_tier(application.product, amount)
    except ValidationError as exc:
        return {"error": " ".join(exc.messages)}
    labels = dict(Role.Code.choices)
    roles = [str(labels.get(code, code)) for code in tier.get("roles") or []]
    refusal = app_services.authority_refusal(request.user, tier, amount)
    if application.submitted_by_id and application.submitted_by_id == request.user.pk:
        refusal = _("You submitted this application, so another person must decide on it.")
    return {
        "amount": amount,
        "roles": roles,
        "approvers": tier.get("approvers", 1),
        "up_to": tier.get("up_to"),
        "refusal": refusal,
    }


def _steps(request: HttpRequest, application: LoanApplication) -> dict[str, Any]:
    buttons: list[StepButton] = []
    decision_steps: list[str] = []
    disburse = None
    for item in workflow_available_transitions(actor=request.user, subject=application):
        step = item.transition
        guards = list(step.guards or [])
        if DECISION_GUARD in guards:
            decision_steps.append(step.code)
            continue
        if DISBURSEMENT_GUARD in guards:
            disburse = step
            continue
        buttons.append(
            StepButton(
                code=step.code,
                name=step.name,
                blocked=item.blocked,
                requires_reason=step.requires_reason,
                is_cancel=step.target.is_terminal,
            )
        )
    return {"buttons": buttons, "decision_steps": decision_steps, "disburse_step": disburse}


def _underwriting_view(application: LoanApplication) -> dict[str, Any]:
    """The stored underwriting result, arranged for the panel (labels of the facts)."""
    from .scoring import NO_MODEL_MESSAGE, credit_scorer_registered
    from .underwriting import FACTS

    result = application.underwriting or {}
    facts = []
    for name, value in (result.get("facts") or {}).items():
        fact = FACTS.get(name)
        number: Decimal | None = None
        if isinstance(value, str):
            try:
                number = Decimal(value)
            except ArithmeticError:
                number = None
        facts.append(
            {
                "name": name,
                "label": fact.label if fact else name,
                "value": value,
                "number": number,
                "why_unknown": (result.get("unknown") or {}).get(name, ""),
                "is_money": name
                in {"monthly_income", "monthly_obligations", "new_instalment",
                    "disposable_income", "requested_amount"},
                "is_percent": name in {"dti", "ltv", "collateral_cover"},
            }
        )  # fmt: skip
    score = result.get("credit_score") if result else None
    if result:
        score_message = result.get("credit_score_message") or ""
    else:
        score_message = "" if credit_scorer_registered() else str(NO_MODEL_MESSAGE)
    return {
        "result": result,
        "facts": facts,
        "rules": result.get("rules") or [],
        "recommendation": result.get("recommendation"),
        "score": _credit_score_view(score) if isinstance(score, dict) else None,
        "score_message": score_message,
    }


def _credit_score_view(score: dict[str, Any]) -> dict[str, Any]:
    """The model's score as the panel shows it: the probability of default as a percentage,
    its recommendation in words, and each reason in the reader's language."""
    chinese = _language().lower().startswith("zh")
    pd_percent: Decimal | None = None
    try:
        if score.get("probability_of_default") is not None:
            pd_percent = Decimal(str(score["probability_of_default"])) * 100
    except ArithmeticError:
        pd_percent = None
    reasons = []
    for reason in score.get("reasons") or []:
        if not isinstance(reason, dict):
            continue
        text = (reason.get("text_zh") if chinese else reason.get("text_en")) or reason.get("text")
        reasons.append(
            {
                "code": reason.get("code") or "",
                "feature": reason.get("feature") or "",
                "text": text or reason.get("feature") or "",
                "points_lost": reason.get("points_lost"),
            }
        )
    if not reasons:
        # A model that gives only its codes.
        reasons = [
            {"code": code, "feature": "", "text": "", "points_lost": None}
            for code in score.get("reason_codes") or []
        ]
    return {
        **score,
        "pd_percent": pd_percent,
        "recommendation": score.get("recommendation") or "",
        "reasons": reasons,
    }


def _offer(application: LoanApplication) -> dict[str, Any] | None:
    """The approved terms with the schedule they imply, from today."""
    if not application.approved_amount or not application.approved_term_months:
        return None
    from .pricing import product_schedule

    offer: dict[str, Any] = {"schedule": None, "error": ""}
    try:
        offer["schedule"] = product_schedule(
            application.product,
            amount=application.approved_amount,
            term_months=application.approved_term_months,
            annual_rate=application.approved_rate or Decimal(0),
            start=timezone.localdate(),
        )
    except ValidationError as exc:
        offer["error"] = " ".join(exc.messages)
    offer["is_expired"] = bool(
        application.offer_expires_on and application.offer_expires_on < timezone.localdate()
    )
    return offer


@dataclass(frozen=True)
class HistoryStep:
    """One step the application took, with the names of its states and step."""

    at: dt.datetime
    actor: str
    step: str
    from_state: str
    to_state: str
    reason: str


def _history(request: HttpRequest, application: LoanApplication) -> dict[str, Any]:
    from bankcrm.core.models.workflow import WorkflowTransition

    names = {state.code: state.name for state in selectors_pipeline.application_states()}
    step_names = dict(
        WorkflowTransition.objects.filter(definition__key=selectors_pipeline.WORKFLOW_KEY)
        .order_by("definition__version", "pk")
        .values_list("code", "name")
    )
    step_names["start"] = _("Opened")
    steps = [
        HistoryStep(
            at=log.at,
            actor=log.actor,
            step=step_names.get(log.transition, log.transition),
            from_state=names.get(log.from_state, log.from_state),
            to_state=names.get(log.to_state, log.to_state),
            reason=log.reason,
        )
        for log in workflow_history(actor=request.user, subject=application)[:HISTORY_LIMIT]
    ]
    events: list[Any] = []
    may_read_audit = actor_has_perm(request.user, "audit.view_auditevent")
    if may_read_audit:
        from bankcrm.audit.selectors import AuditEventFilters, audit_event_list

        events = list(
            audit_event_list(
                actor=request.user,
                filters=AuditEventFilters(
                    object_type=application._meta.label_lower, object_pk=str(application.pk)
                ),
            )[:HISTORY_LIMIT]
        )
    return {"steps": steps, "audit_events": events, "may_read_audit": may_read_audit}


def _application_context(
    request: HttpRequest, application: LoanApplication, **forms: Any
) -> dict[str, Any]:
    actor = request.user
    today = timezone.localdate()
    may_change = actor_has_perm(actor, "lending.change_loanapplication")
    state = workflow_state_get(subject=application)
    steps = _steps(request, application)
    documents = list(application.documents.select_related("uploaded_by", "verified_by"))
    failed = forms.pop("document_forms", None) or {}
    for document in documents:
        # Shown on the checklist line: whether it has expired, and a refused action's errors.
        document.is_expired = bool(  # type: ignore[attr-defined]
            document.expires_on and document.expires_on < today
        )
        document.failed_form = failed.get(document.pk)  # type: ignore[attr-defined]
    parties = list(application.parties.select_related("party").order_by("role", "pk"))
    collateral = list(application.collateral.order_by("pk"))
    from .guards import DECISION_ACTION

    pending = selectors_pipeline.pending_approvals_for(
        actor=actor, target=application, action=DECISION_ACTION
    )
    context: dict[str, Any] = {
        "application": application,
        "state": state,
        "sla": workflow_sla_status(subject=application),
        "today": today,
        "language": _language(),
        "may_change": may_change,
        "may_unmask": actor_may_unmask(actor),
        "may_view_customer": actor_has_perm(actor, "customers.view_party"),
        "is_open": state is not None and not state.is_terminal,
        "documents": documents,
        "parties": parties,
        "collateral": collateral,
        "collateral_summary": selectors_pipeline.collateral_summary(application=application),
        "underwriting": _underwriting_view(application),
        "may_underwrite": may_change
        and application.state in ("submitted", "documents_collected", "underwriting", "referred"),
        "authority": _authority(request, application),
        "pending_decisions": pending,
        "offer": _offer(application),
        "loan": Loan.objects.filter(application=application).only("pk", "reference").first(),
        "history": _history(request, application),
        "transition_form": TransitionForm(),
        "disburse_form": DisburseForm(),
        "document_add_form": DocumentAddForm(),
        "party_form": PartyAddForm(),
        "collateral_form": CollateralForm(initial={"valuation_date": today}),
        "notes_form": NotesForm(initial={"notes": application.analyst_notes}),
        "decision_form": DecisionForm(),
        "party_q": (request.GET.get("party_q") or "")[:200],
        **steps,
    }
    if context["party_q"]:
        context["party_results"] = _search_results(
            request, context["party_q"], exclude=application.applicant_id
        )
    context.update(forms)
    return context


def _render_application(
    request: HttpRequest, application: LoanApplication, status: int = 200, **forms: Any
) -> HttpResponse:
    application.refresh_from_db()
    return render(
        request,
        "lending/application_detail.html",
        _application_context(request, application, **forms),
        status=status,
    )


def _back_to(application: LoanApplication, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("lending:application_detail", args=[application.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _status_of(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


@login_required
@require_GET
def application_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The application page: header, steps, checklist, parties, collateral, underwriting,
    decision, offer and history."""
    application = _application(request, pk)
    return render(
        request, "lending/application_detail.html", _application_context(request, application)
    )


@login_required
@require_POST
def application_transition(request: HttpRequest, pk: Any) -> HttpResponse:
    """Take one workflow step (through ``loan_application_transition``)."""
    application = _application(request, pk)
    form = TransitionForm(request.POST)
    disburse_form = DisburseForm(request.POST)
    if not form.is_valid():
        return _render_application(request, application, 400, transition_form=form)
    step = form.cleaned_data["transition"]
    options: dict[str, Any] = {}
    if step == "disburse":
        if not disburse_form.is_valid():
            return _render_application(request, application, 400, disburse_form=disburse_form)
        options = {
            name: value for name, value in disburse_form.cleaned_data.items() if value is not None
        }
    try:
        result = app_services.loan_application_transition(
            actor=request.user,
            application=application,
            transition=step,
            reason=form.cleaned_data.get("reason") or "",
            **options,
        )
    except (ValidationError, PermissionDenied) as exc:
        target = disburse_form if step == "disburse" else form
        _form_errors_to(target, exc)
        key = "disburse_form" if step == "disburse" else "transition_form"
        return _render_application(request, application, _status_of(exc), **{key: target})
    if isinstance(result, Loan):
        messages.success(
            request,
            _("The loan %(reference)s was booked and paid out.") % {"reference": result.reference},
        )
        return HttpResponseRedirect(reverse("lending:loan_detail", args=[result.pk]))
    application.refresh_from_db()
    state = workflow_state_get(subject=application)
    messages.success(
        request,
        _("The application is now “%(state)s”.")
        % {"state": state.name if state else application.state},
    )
    return _back_to(application)


@login_required
@require_POST
def application_underwrite(request: HttpRequest, pk: Any) -> HttpResponse:
    """Run the underwriting (facts, policy rules, recommendation) and store the result."""
    application = _application(request, pk)
    try:
        result = app_services.loan_application_underwrite(
            actor=request.user, application=application
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _service_message(exc))
        if isinstance(exc, PermissionDenied):
            raise
        return _back_to(application, "underwriting")
    labels = {
        "approve": _("approve"),
        "refer": _("refer to a senior approver"),
        "decline": _("decline"),
    }
    messages.success(
        request,
        _("Underwriting done: the rules recommend to %(recommendation)s.")
        % {"recommendation": labels.get(result["recommendation"], result["recommendation"])},
    )
    return _back_to(application, "underwriting")


@login_required
@require_POST
def application_notes(request: HttpRequest, pk: Any) -> HttpResponse:
    """Save the analyst's notes."""
    application = _application(request, pk)
    form = NotesForm(request.POST)
    if form.is_valid():
        try:
            app_services.loan_application_notes_update(
                actor=request.user, application=application, notes=form.cleaned_data["notes"]
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_application(request, application, _status_of(exc), notes_form=form)
        messages.success(request, _("The notes were saved."))
        return _back_to(application, "underwriting")
    return _render_application(request, application, 400, notes_form=form)


@login_required
@require_POST
def application_decide(request: HttpRequest, pk: Any) -> HttpResponse:
    """Approve, decline or refer (through ``loan_application_decide``)."""
    application = _application(request, pk)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _render_application(request, application, 400, decision_form=form)
    data = form.cleaned_data
    try:
        result = app_services.loan_application_decide(
            actor=request.user,
            application=application,
            decision=data["decision"],
            reason=data["reason"],
            amount=data.get("amount"),
            term_months=data.get("term_months"),
            rate=data.get("rate"),
            override_reason=data.get("override_reason") or "",
        )
    except (ValidationError, PermissionDenied) as exc:
        _form_errors_to(form, exc)
        return _render_application(request, application, _status_of(exc), decision_form=form)
    if not isinstance(result, LoanApplication):
        messages.info(
            request,
            _("This amount needs a second approver: request %(pk)s waits in the approvals queue.")
            % {"pk": result.pk},
        )
    else:
        messages.success(
            request,
            _("The decision “%(decision)s” was recorded.")
            % {"decision": result.get_decision_display()},
        )
    return _back_to(application, "decision")


# --- Documents ------------------------------------------------------------------------------


def _document(application: LoanApplication, document_pk: Any) -> ApplicationDocument:
    try:
        return application.documents.get(pk=document_pk)
    except (ApplicationDocument.DoesNotExist, ValidationError, ValueError) as exc:
        raise Http404(_("No such document.")) from exc


@login_required
@require_POST
def document_add(request: HttpRequest, pk: Any) -> HttpResponse:
    """Add a line to the checklist."""
    application = _application(request, pk)
    form = DocumentAddForm(request.POST)
    if form.is_valid():
        name = form.cleaned_data["name"].strip()
        code = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60] or "document"
        taken = set(application.documents.values_list("code", flat=True))
        base, number = code, 2
        while code in taken:
            code = f"{base[:56]}_{number}"
            number += 1
        try:
            app_services.application_document_add(
                actor=request.user,
                application=application,
                code=code,
                name=name,
                is_required=form.cleaned_data["is_required"],
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_application(
                request, application, _status_of(exc), document_add_form=form
            )
        messages.success(request, _("“%(name)s” was added to the checklist.") % {"name": name})
        return _back_to(application, "documents")
    return _render_application(request, application, 400, document_add_form=form)


def _document_form_error(
    request: HttpRequest,
    application: LoanApplication,
    document: ApplicationDocument,
    form: Any,
    status: int,
) -> HttpResponse:
    return _render_application(request, application, status, document_forms={document.pk: form})


def _document_action(
    request: HttpRequest,
    pk: Any,
    document_pk: Any,
    form_class: Any,
    action: Callable[[ApplicationDocument, dict[str, Any]], Any],
    done: str,
) -> HttpResponse:
    """One step on a checklist line: validate the form, call the service, say what happened
    (``done`` names the document) or show the form's errors on the application page."""
    application = _application(request, pk)
    document = _document(application, document_pk)
    form = form_class(request.POST, request.FILES)
    if not form.is_valid():
        return _document_form_error(request, application, document, form, 400)
    try:
        action(document, form.cleaned_data)
    except (ValidationError, PermissionDenied) as exc:
        _form_errors_to(form, exc)
        return _document_form_error(request, application, document, form, _status_of(exc))
    messages.success(request, done % {"name": document.name})
    return _back_to(application, f"document-{document.pk}")


@login_required
@require_POST
def document_upload(request: HttpRequest, pk: Any, document_pk: Any) -> HttpResponse:
    """Upload the file of one checklist line."""

    def upload(document: ApplicationDocument, data: dict[str, Any]) -> Any:
        file = data["file"]
        return app_services.application_document_upload(
            actor=request.user,
            document=document,
            file_name=file.name,
            content=file.read(),
            content_type=file.content_type or "",
            expires_on=data.get("expires_on"),
        )

    return _document_action(
        request, pk, document_pk, DocumentUploadForm, upload, _("“%(name)s” was uploaded.")
    )


@login_required
@require_POST
def document_verify(request: HttpRequest, pk: Any, document_pk: Any) -> HttpResponse:
    """Verify a received document."""

    def verify(document: ApplicationDocument, data: dict[str, Any]) -> Any:
        return app_services.application_document_verify(
            actor=request.user, document=document, expires_on=data.get("expires_on")
        )

    return _document_action(
        request, pk, document_pk, DocumentVerifyForm, verify, _("“%(name)s” was verified.")
    )


@login_required
@require_POST
def document_reject(request: HttpRequest, pk: Any, document_pk: Any) -> HttpResponse:
    """Reject a received document, saying why."""

    def reject(document: ApplicationDocument, data: dict[str, Any]) -> Any:
        return app_services.application_document_reject(
            actor=request.user, document=document, reason=data["reason"]
        )

    return _document_action(
        request, pk, document_pk, DocumentRejectForm, reject, _("“%(name)s” was rejected.")
    )


def _safe_file_name(name: str) -> str:
    cleaned = re.sub(r"[^\w.\- ]+", "_", name or "").strip() or "document"
    return cleaned[:120]


@login_required
@require_GET
def document_download(request: HttpRequest, pk: Any, document_pk: Any) -> HttpResponse:
    """The uploaded file (every download is recorded in the audit trail)."""
    application = _application(request, pk)
    document = _document(application, document_pk)
    content = app_services.application_document_content(actor=request.user, document=document)
    name = _safe_file_name(document.file_name)
    content_type = (
        document.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"
    return response


# --- Parties and collateral ---------------------------------------------------------------


@login_required
@require_POST
def party_add(request: HttpRequest, pk: Any) -> HttpResponse:
    """Add a co-applicant or guarantor."""
    application = _application(request, pk)
    form = PartyAddForm(request.POST)
    if form.is_valid():
        party = _party_or_none(request, form.cleaned_data["party"])
        if party is None:
            form.add_error("party", _("Search for the customer and choose one."))
        else:
            try:
                app_services.application_party_add(
                    actor=request.user,
                    application=application,
                    party=party,
                    role=form.cleaned_data["role"],
                    monthly_income=form.cleaned_data.get("monthly_income") or Decimal(0),
                    guaranteed_amount=form.cleaned_data.get("guaranteed_amount"),
                )
            except (ValidationError, PermissionDenied) as exc:
                _form_errors_to(form, exc)
                return _render_application(request, application, _status_of(exc), party_form=form)
            messages.success(
                request, _("%(name)s was added to the application.") % {"name": party.display_name}
            )
            return _back_to(application, "parties")
    return _render_application(request, application, 400, party_form=form)


@login_required
@require_POST
def party_remove(request: HttpRequest, pk: Any, party_pk: int) -> HttpResponse:
    """Take a co-applicant or guarantor off the application."""
    application = _application(request, pk)
    row = ApplicationParty.objects.filter(application=application, pk=party_pk).first()
    if row is None:
        raise Http404(_("No such party to the application."))
    form = ReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        app_services.application_party_remove(
            actor=request.user, application_party=row, reason=reason
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _service_message(exc))
        if isinstance(exc, PermissionDenied):
            raise
        return _back_to(application, "parties")
    messages.success(request, _("The party was taken off the application."))
    return _back_to(application, "parties")


def _collateral_item(application: LoanApplication, item_pk: Any) -> Collateral:
    item = Collateral.objects.filter(application=application, pk=item_pk).first()
    if item is None:
        raise Http404(_("No such collateral item."))
    return item


@login_required
@require_POST
def collateral_add(request: HttpRequest, pk: Any) -> HttpResponse:
    """Pledge a collateral item."""
    application = _application(request, pk)
    form = CollateralForm(request.POST)
    if form.is_valid():
        try:
            app_services.collateral_add(
                actor=request.user, application=application, data=form.service_data()
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_application(request, application, _status_of(exc), collateral_form=form)
        messages.success(request, _("The collateral item was added."))
        return _back_to(application, "collateral")
    return _render_application(request, application, 400, collateral_form=form)


@login_required
@require_http_methods(["GET", "POST"])
def collateral_edit(request: HttpRequest, pk: Any, item_pk: int) -> HttpResponse:
    """Change a collateral item (a new valuation, another haircut)."""
    application = _application(request, pk)
    item = _collateral_item(application, item_pk)
    _require(request, "lending.change_loanapplication")
    status = 200
    if request.method == "POST":
        form = CollateralForm(request.POST)
        if form.is_valid():
            changes = form.changes(item)
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return _back_to(application, "collateral")
            try:
                app_services.collateral_update(actor=request.user, collateral=item, changes=changes)
            except (ValidationError, PermissionDenied) as exc:
                _form_errors_to(form, exc)
                status = _status_of(exc)
            else:
                messages.success(request, _("The collateral item was saved."))
                return _back_to(application, "collateral")
        else:
            status = 400
    else:
        form = CollateralForm(initial=CollateralForm.initial_of(item))
    return render(
        request,
        "lending/collateral_edit.html",
        {"application": application, "item": item, "form": form},
        status=status,
    )


@login_required
@require_POST
def collateral_remove(request: HttpRequest, pk: Any, item_pk: int) -> HttpResponse:
    """Release a collateral item."""
    application = _application(request, pk)
    item = _collateral_item(application, item_pk)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        app_services.collateral_remove(actor=request.user, collateral=item, reason=reason)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _service_message(exc))
        if isinstance(exc, PermissionDenied):
            raise
        return _back_to(application, "collateral")
    messages.success(request, _("The collateral item was removed."))
    return _back_to(application, "collateral")


# --- Loans ------------------------------------------------------------------------------------


def _loan_filter_choices(request: HttpRequest) -> dict[str, list[tuple[Any, str]]]:
    return {
        "products": _product_choices(request),
        "branches": selectors_pipeline.lending_branch_choices(actor=request.user),
    }


@login_required
@require_GET
def loan_list(request: HttpRequest) -> HttpResponse:
    """Loans within reach, newest first, filtered (the delinquency matrix links here)."""
    _require(request, "lending.view_loan")
    form = LoanFilterForm(request.GET or None, **_loan_filter_choices(request))
    page = None
    if not form.is_bound or form.is_valid():
        queryset = selectors.loan_list(
            actor=request.user, **(form.filters() if form.is_bound else {})
        )
        page = page_of(queryset, request.GET.get("page"), LOANS_PER_PAGE)
    context = {"form": form, "page": page, "language": _language()}
    if _is_partial(request, "loan-table"):
        return render(request, "lending/partials/loan_table.html", context)
    return render(request, "lending/loan_list.html", context)


def _loan(request: HttpRequest, pk: Any) -> Loan:
    _require(request, "lending.view_loan")
    return selectors.loan_get(actor=request.user, pk=pk)


def _loan_context(request: HttpRequest, loan: Loan, **forms: Any) -> dict[str, Any]:
    actor = request.user
    today = timezone.localdate()
    schedule = list(selectors.loan_schedule(actor=actor, loan=loan))
    is_open = loan.status not in (Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF)
    may_change = actor_has_perm(actor, "lending.change_loan")
    rows = instalment_rows(schedule, today)
    next_due = next((row for row in rows if row.status != "paid"), None)
    return {
        "loan": loan,
        "today": today,
        "language": _language(),
        "rows": rows,
        "next_due": next_due,
        "overdue_count": sum(1 for row in rows if row.status == "overdue"),
        "paid_count": sum(1 for row in rows if row.status == "paid"),
        "repayments": list(selectors.loan_repayments(actor=actor, loan=loan)),
        "is_open": is_open,
        "may_change": may_change and is_open,
        "may_view_customer": actor_has_perm(actor, "customers.view_party"),
        "pending_requests": selectors_pipeline.pending_approvals_for(actor=actor, target=loan),
        "prepay_form": PrepayForm(initial={"on": today}),
        "restructure_form": RestructureForm(
            initial={"annual_rate": loan.annual_rate.normalize(), "method": loan.method}
        ),
        "write_off_form": WriteOffForm(),
        **forms,
    }


@login_required
@require_GET
def loan_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The loan page: terms, status, days past due, schedule, repayments and requests."""
    loan = _loan(request, pk)
    return render(request, "lending/loan_detail.html", _loan_context(request, loan))


def _render_loan(request: HttpRequest, loan: Loan, status: int, **forms: Any) -> HttpResponse:
    loan.refresh_from_db()
    return render(
        request, "lending/loan_detail.html", _loan_context(request, loan, **forms), status=status
    )


def _back_to_loan(loan: Loan, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("lending:loan_detail", args=[loan.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


@login_required
@require_POST
def loan_prepay(request: HttpRequest, pk: Any) -> HttpResponse:
    """Record an early repayment and recompute the rest of the schedule."""
    loan = _loan(request, pk)
    form = PrepayForm(request.POST)
    if form.is_valid():
        try:
            loan_services.loan_prepay(
                actor=request.user,
                loan=loan,
                amount=form.cleaned_data["amount"],
                on=form.cleaned_data["on"],
                mode=form.cleaned_data["mode"],
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_loan(request, loan, _status_of(exc), prepay_form=form)
        messages.success(request, _("The early repayment was recorded."))
        return _back_to_loan(loan, "schedule")
    return _render_loan(request, loan, 400, prepay_form=form)


@login_required
@require_POST
def loan_restructure(request: HttpRequest, pk: Any) -> HttpResponse:
    """Propose a restructuring (decided by a second person)."""
    loan = _loan(request, pk)
    form = RestructureForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            request_ = loan_services.loan_restructure_request(
                actor=request.user,
                loan=loan,
                annual_rate=data["annual_rate"],
                term_months=data["term_months"],
                method=data["method"],
                reason=data["reason"],
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_loan(request, loan, _status_of(exc), restructure_form=form)
        messages.info(
            request,
            _("Restructuring request %(pk)s waits for a second person's decision.")
            % {"pk": request_.pk},
        )
        return _back_to_loan(loan, "requests")
    return _render_loan(request, loan, 400, restructure_form=form)


@login_required
@require_POST
def loan_write_off(request: HttpRequest, pk: Any) -> HttpResponse:
    """Propose a write-off (decided by a second person)."""
    loan = _loan(request, pk)
    form = WriteOffForm(request.POST)
    if form.is_valid():
        try:
            request_ = loan_services.loan_write_off_request(
                actor=request.user, loan=loan, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            _form_errors_to(form, exc)
            return _render_loan(request, loan, _status_of(exc), write_off_form=form)
        messages.info(
            request,
            _("Write-off request %(pk)s waits for a second person's decision.")
            % {"pk": request_.pk},
        )
        return _back_to_loan(loan, "requests")
    return _render_loan(request, loan, 400, write_off_form=form)


# --- Delinquency ------------------------------------------------------------------------------


@login_required
@require_GET
def delinquency(request: HttpRequest) -> HttpResponse:
    """Loans by delinquency bucket and branch: counts, outstanding principal, arrears."""
    _require(request, "lending.view_loan")
    from .selectors_loans import delinquency_summary

    form = DelinquencyFilterForm(request.GET or None, products=_product_choices(request))
    product = None
    if form.is_bound and form.is_valid() and form.cleaned_data.get("product"):
        product = int(form.cleaned_data["product"])
    rows = delinquency_summary(actor=request.user, product=product)
    matrix = delinquency_matrix(list(rows))
    return render(
        request,
        "lending/delinquency.html",
        {"form": form, "matrix": matrix, "product": product},
    )


# --- Products ---------------------------------------------------------------------------------


@login_required
@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    """The loan products, offered and withdrawn."""
    _require(request, "lending.view_loanproduct")
    products = list(selectors.loan_product_list(actor=request.user, include_inactive=True))
    return render(
        request,
        "lending/product_list.html",
        {
            "products": products,
            "language": _language(),
            "may_add": actor_has_perm(request.user, "lending.add_loanproduct"),
            "may_change": actor_has_perm(request.user, "lending.change_loanproduct"),
        },
    )


def _fact_choices() -> list[tuple[str, str]]:
    from .underwriting import FACTS

    return [(name, str(fact.label)) for name, fact in FACTS.items()]


def _row_formsets(data: Any, product: LoanProduct | None, extra_rows: str = "") -> dict[str, Any]:
    """The three row editors, bound to ``data`` or filled from ``product``."""
    formsets = {}
    for prefix, formset_class, initial_of, field in (
        ("documents", DocumentRowFormSet, document_rows_initial, "required_documents"),
        ("tiers", AuthorityRowFormSet, authority_rows_initial, "authority_limits"),
        ("rules", PolicyRuleRowFormSet, rule_rows_initial, "policy_rules"),
    ):
        kwargs: dict[str, Any] = {"prefix": prefix}
        if prefix == "rules":
            kwargs["form_kwargs"] = {"facts": _fact_choices()}
        if data is not None:
            formset = formset_class(data, **kwargs)
            if extra_rows == prefix:
                # "Add a row": the same rows again, with one more blank one.
                mutable = data.copy()
                mutable[f"{prefix}-TOTAL_FORMS"] = str(
                    int(data.get(f"{prefix}-TOTAL_FORMS", 0)) + 1
                )
                formset = formset_class(mutable, **kwargs)
        else:
            formset = formset_class(
                initial=initial_of(getattr(product, field) if product else []), **kwargs
            )
        formsets[prefix] = formset
    return formsets


def _row_errors_to(formsets: dict[str, Any], form: ProductForm, exc: ValidationError) -> None:
    """Put the service's errors on the product form and on the rows they name
    (``authority_limits.1.roles`` → the second tier's roles)."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    names = {
        "required_documents": "documents",
        "authority_limits": "tiers",
        "policy_rules": "rules",
    }
    plain: dict[str, Any] = {}
    for key, errors in exc.error_dict.items():
        head, _sep, rest = key.partition(".")
        if head in names:
            formset = formsets[names[head]]
            index_text, _sep, field = rest.partition(".")
            forms_with_items = [f for f in formset.forms if f.is_valid() and f.as_item()]
            if index_text.isdigit() and int(index_text) < len(forms_with_items):
                row = forms_with_items[int(index_text)]
                row.add_error(field if field in row.fields else None, errors)
                continue
            for error in errors:
                for message in error.messages:
                    form.add_error(None, f"{formset_label(head)}: {message}")
            continue
        plain[key] = errors
    if plain:
        add_service_errors(form, ValidationError(plain))


def formset_label(field: str) -> str:
    labels = {
        "required_documents": _("Required documents"),
        "authority_limits": _("Approval authority"),
        "policy_rules": _("Policy rules"),
    }
    return str(labels.get(field, field))


@login_required
@require_http_methods(["GET", "POST"])
def product_edit(request: HttpRequest, pk: Any = None) -> HttpResponse:
    """A loan product's fields, its document checklist, approval tiers and policy rules."""
    _require(request, "lending.view_loanproduct")
    product = selectors.loan_product_get(actor=request.user, pk=pk) if pk else None
    _require(request, "lending.change_loanproduct" if product else "lending.add_loanproduct")
    status = 200
    if request.method == "POST":
        form = ProductForm(request.POST)
        add_row = request.POST.get("add_row", "")
        formsets = _row_formsets(request.POST, product, add_row)
        if add_row in formsets:
            # An added row is not a submission: what was typed comes back, without errors.
            form = ProductForm(initial=request.POST.dict())
            return render(
                request,
                "lending/product_form.html",
                {"form": form, "product": product, "formsets": formsets},
            )
        valid = form.is_valid() & all(formset.is_valid() for formset in formsets.values())
        if valid:
            data = form.product_data()
            data["required_documents"] = formsets["documents"].items()
            data["authority_limits"] = formsets["tiers"].items()
            data["policy_rules"] = formsets["rules"].items()
            try:
                if product is None:
                    product = app_services.loan_product_create(actor=request.user, data=data)
                    messages.success(
                        request, _("The product %(code)s was created.") % {"code": product.code}
                    )
                else:
                    changes = {
                        name: value
                        for name, value in data.items()
                        if getattr(product, name) != value
                    }
                    if not changes:
                        messages.info(request, _("Nothing was changed."))
                        return HttpResponseRedirect(reverse("lending:product_list"))
                    app_services.loan_product_update(
                        actor=request.user, product=product, changes=changes
                    )
                    messages.success(
                        request, _("The product %(code)s was saved.") % {"code": product.code}
                    )
            except ValidationError as exc:
                _row_errors_to(formsets, form, exc)
                status = 400
                if product is not None:
                    product.refresh_from_db()
            else:
                return HttpResponseRedirect(reverse("lending:product_list"))
        else:
            status = 400
    else:
        form = ProductForm(initial=ProductForm.initial_of(product) if product else {
            "currency": "CNY", "frequency": "monthly", "method": "annuity",
            "day_count": "act365", "offer_valid_days": 30, "is_active": True,
        })  # fmt: skip
        formsets = _row_formsets(None, product)
    return render(
        request,
        "lending/product_form.html",
        {"form": form, "product": product, "formsets": formsets},
        status=status,
    )


# --- The schedule calculator ------------------------------------------------------------------


@login_required
@require_GET
def calculator(request: HttpRequest) -> HttpResponse:
    """A schedule from amount, rate, term, method and day count, with its totals and APR."""
    _require(request, "lending.view_loanproduct")
    from .pricing import schedule_periods
    from .schedule import ScheduleTerms, schedule_build

    form = CalculatorForm(request.GET or None)
    schedule = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            terms = ScheduleTerms(
                principal=data["amount"],
                annual_rate=data["annual_rate"],
                periods=schedule_periods(data["months"], data["frequency"]),
                method=data["method"],
                day_count=data["day_count"],
                frequency=data["frequency"],
                start=form.start_date(timezone.localdate()),
                grace_periods=data.get("grace_periods") or 0,
                upfront_fee=data.get("upfront_fee") or Decimal(0),
                period_fee=data.get("period_fee") or Decimal(0),
                currency=data["currency"],
            )
            schedule = schedule_build(terms)
        except ValidationError as exc:
            _calculator_errors(form, exc)
    context = {"form": form, "schedule": schedule}
    status = 400 if form.is_bound and form.errors else 200
    if _is_partial(request, "calculator-result"):
        return render(request, "lending/partials/calculator_result.html", context, status=status)
    return render(request, "lending/calculator.html", context, status=status)


# The schedule engine's field names → the calculator's.
_CALCULATOR_FIELDS = {
    "principal": "amount",
    "periods": "months",
    "start": "start",
    "upfront_fee": "upfront_fee",
    "period_fee": "period_fee",
    "term_months": "months",
}


def _calculator_errors(form: CalculatorForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        mapped = {_CALCULATOR_FIELDS.get(key, key): value for key, value in exc.error_dict.items()}
        add_service_errors(form, ValidationError(mapped))
    else:
        form.add_error(None, exc)
