"""The compliance pages of alerts and investigations: the dashboard, the alert list and an
alert's page (its evidence, assigning, closing, opening a case), the case list and a case's
page (workflow, alerts, notes, narrative, decision, flow graph, report exports), and the
monitoring scenarios.

Every read goes through the compliance selectors and every change through one service
(which checks who may take it and writes the audit trail). Alerts and cases are for
compliance roles and auditors only: anyone else gets 403 on a list and 404 on a record.
Step forms post and redirect back (they work without script); lists answer HTMX with
their table.
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
from django.utils import timezone, translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from bankcrm.core.workflow import (
    workflow_available_transitions,
    workflow_history_rows,
    workflow_state_get,
)

from . import selectors_cases, services_alerts, services_cases
from .forms import (
    ActiveForm,
    AlertFilterForm,
    AssignForm,
    CaseDecisionForm,
    CaseFilterForm,
    CaseOpenForm,
    NoteForm,
    ReasonForm,
    ReportExportForm,
    TransitionForm,
    age_buckets,
    errors_to,
)
from .models import Alert, Case, Scenario
from .models.kyc import RiskBand
from .views_common import (
    ADD_CASE,
    CHANGE_ALERT,
    CHANGE_CASE,
    CHANGE_SCENARIO,
    DECIDE_CASE,
    EXPORT_REPORT,
    LIST_LIMIT,
    VIEW_ALERT,
    VIEW_CASE,
    VIEW_HIT,
    VIEW_REVIEW,
    VIEW_SCENARIO,
    bar_chart,
    is_partial,
    may,
    object_step,
    or_404,
    require,
    status_of,
    user_name,
)

EVIDENCE_TRANSACTIONS = 50


# --- Dashboard -------------------------------------------------------------------------------


def dashboard_figures(counts: dict[str, Any], scenario_names: dict[str, str]) -> dict[str, Any]:
    """The dashboard's charts and figures from ``selectors_cases.dashboard_counts``, each
    with the URL of its list."""
    alerts_url = reverse("compliance:alert_list")
    reviews_url = reverse("compliance:review_list")
    by_age = counts.get("alerts_by_age") or {}
    by_scenario = counts.get("alerts_by_scenario") or {}
    risk = counts.get("risk_distribution") or {}
    band_labels = dict(RiskBand.choices)
    age_rows = [
        (label, by_age.get(code, 0), f"{alerts_url}?age={code}", "age")
        for code, label, *_rest in age_buckets()
    ]
    scenario_rows = [
        (scenario_names.get(code, code), n, f"{alerts_url}?scenario={code}", "scenario")
        for code, n in sorted(by_scenario.items(), key=lambda item: (-item[1], item[0]))
    ]
    band_rows = [
        (band_labels.get(band, band), risk.get(band, 0), f"{reviews_url}?band={band}", band)
        for band in ("low", "medium", "high")
    ]
    return {
        "age_chart": bar_chart(_("Open alerts by age"), age_rows),
        "scenario_chart": bar_chart(_("Open alerts by scenario"), scenario_rows),
        "risk_chart": bar_chart(_("Customers by risk band"), band_rows),
        "alerts_open": counts.get("alerts_open", 0),
        "hits_awaiting": counts.get("hits_awaiting_decision", 0),
        "reviews_due": counts.get("reviews_due_30d", 0),
        "reviews_overdue": counts.get("reviews_overdue", 0),
        "unrated": risk.get("unrated", 0),
    }


def _is_chinese() -> bool:
    return (translation.get_language() or "").lower().startswith("zh")


def _scenario_names() -> dict[str, str]:
    rows = Scenario.objects.values_list("code", "name", "name_zh")
    chinese = _is_chinese()
    names = {code: (name_zh if chinese else "") or name for code, name, name_zh in rows}
    names.setdefault("screening", _("Sanctions and PEP screening"))
    return names


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Open alerts by age and by scenario, hits awaiting a decision, reviews due and overdue,
    and the customers by risk band; every figure links to its list."""
    require(request, VIEW_ALERT)
    counts = selectors_cases.dashboard_counts(actor=request.user)
    context = dashboard_figures(counts, _scenario_names())
    context["may_view_hits"] = may(request, VIEW_HIT)
    context["may_view_reviews"] = may(request, VIEW_REVIEW)
    context["may_view_cases"] = may(request, VIEW_CASE)
    return render(request, "compliance/dashboard.html", context)


# --- Alerts ----------------------------------------------------------------------------------


def _scenario_choices() -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in _scenario_names().items() if k != "screening")


def _alert_rows(request: HttpRequest, form: AlertFilterForm) -> list[Alert]:
    data = form.cleaned_data if form.is_bound else {}
    status = data.get("status") or ""
    scenario = data.get("scenario") or None
    statuses: Any
    if status == "all":
        statuses = None
    elif status:
        statuses = status
    else:
        statuses = list(Alert.OPEN_STATUSES)
    queryset = selectors_cases.alert_list(
        actor=request.user,
        status=statuses,
        scenario=None if scenario == "screening" else scenario,
        source=Alert.Source.SCREENING if scenario == "screening" else None,
        party=data.get("customer") or None,
    )
    age = data.get("age")
    if age:
        now = timezone.now()
        for code, _label, low, high in age_buckets():
            if code == age:
                queryset = queryset.filter(first_seen_at__lte=now - dt.timedelta(days=low))
                if high is not None:
                    queryset = queryset.filter(first_seen_at__gt=now - dt.timedelta(days=high + 1))
    assigned = data.get("assigned")
    if assigned == "me":
        queryset = queryset.filter(assigned_to_id=request.user.pk)
    elif assigned == "none":
        queryset = queryset.filter(assigned_to__isnull=True)
    if isinstance(queryset, QuerySet):
        queryset = queryset.select_related("party", "scenario", "assigned_to", "case")
    return list(queryset[:LIST_LIMIT])


@login_required
@require_GET
def alert_list(request: HttpRequest) -> HttpResponse:
    """Alerts, open ones by default, filtered by status, scenario, age and assignment."""
    require(request, VIEW_ALERT)
    form = AlertFilterForm(request.GET or None, scenarios=_scenario_choices())
    alerts: list[Alert] = []
    if not form.is_bound or form.is_valid():
        if not form.is_bound:
            form.cleaned_data = {}
        alerts = _alert_rows(request, form)
    now = timezone.now()
    for alert in alerts:
        alert.age_days = (now - alert.first_seen_at).days  # type: ignore[attr-defined]
    context = {"form": form, "alerts": alerts, "limit": LIST_LIMIT}
    if is_partial(request, "alert-table"):
        return render(request, "compliance/partials/alert_table.html", context)
    return render(request, "compliance/alert_list.html", context)


def _alert(request: HttpRequest, pk: int) -> Alert:
    require(request, VIEW_ALERT)
    return or_404(selectors_cases.alert_get, actor=request.user, pk=pk)


def _evidence_transactions(request: HttpRequest, ids: list[Any]) -> list[Any]:
    if not ids or not may(request, "banking.view_transaction"):
        return []
    from bankcrm.banking import selectors as banking_selectors

    clean = [int(i) for i in ids if str(i).isdigit()][:EVIDENCE_TRANSACTIONS]
    return list(
        banking_selectors.transaction_queryset(actor=request.user)
        .filter(pk__in=clean)
        .select_related("account")
    )


def _rules_view(rules: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for rule in rules or []:
        if not isinstance(rule, dict):
            continue
        rows.append(
            {
                "code": rule.get("code", ""),
                "label": rule.get("label") or rule.get("name") or rule.get("code", ""),
                "value": rule.get("value"),
                "threshold": rule.get("threshold"),
                "fired": bool(rule.get("fired")),
            }
        )
    return rows


def _flow_svg(graph: dict[str, Any] | None) -> str:
    """The flow graph as inline SVG, drawn by the case module's renderer (which escapes
    every label)."""
    if not graph or not graph.get("edges"):
        return ""
    return str(services_cases.flow_graph_svg(graph))


def _flow_rows(graph: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The flow graph's edges as table rows (the chart's accessible equivalent)."""
    if not graph:
        return []
    labels = {node["id"]: node.get("label", node["id"]) for node in graph.get("nodes", [])}
    return [
        {
            "source": labels.get(edge["source"], edge["source"]),
            "target": labels.get(edge["target"], edge["target"]),
            "count": edge.get("count"),
            "sums": edge.get("sums") or {},
            "first": edge.get("first"),
            "last": edge.get("last"),
        }
        for edge in graph.get("edges", [])
    ]


def _alert_graph(alert: Alert) -> dict[str, Any]:
    """The alert's flow graph: the case's when the alert is in one, else its own evidence's."""
    if alert.case is not None:
        return services_cases.case_flow_graph(alert.case)
    return services_cases.alert_flow_graph(alert)


def _officer_queryset(request: HttpRequest) -> Any:
    """Who an alert can be assigned to: active staff with the compliance officer role that the
    viewer may see (the access module's selector)."""
    from bankcrm.access.selectors import user_list

    return (
        user_list(actor=request.user)
        .filter(is_active=True, roles__code="compliance_officer")
        .distinct()
    )


def _officers(request: HttpRequest) -> list[tuple[str, str]]:
    users = _officer_queryset(request).exclude(pk=request.user.pk)
    return [(str(user.pk), user_name(user)) for user in users]


def _alert_context(request: HttpRequest, alert: Alert, **forms: Any) -> dict[str, Any]:
    evidence = alert.evidence or {}
    is_open = alert.status in Alert.OPEN_STATUSES
    may_change = may(request, CHANGE_ALERT)
    transactions = _evidence_transactions(request, evidence.get("transactions") or [])
    graph = _alert_graph(alert)
    return {
        "alert": alert,
        "is_open": is_open,
        "rules": _rules_view(evidence.get("rules") or []),
        "transactions": transactions,
        "flow_rows": _flow_rows(graph),
        "transaction_ids": evidence.get("transactions") or [],
        "counterparties": evidence.get("counterparties") or [],
        "window": evidence.get("window") or [],
        "flow_svg": mark_safe(_flow_svg(graph)),  # noqa: S308  # nosec B308 B703
        "may_change": may_change and is_open,
        "may_open_case": may(request, ADD_CASE) and is_open and alert.case_id is None,
        "assign_form": forms.get("assign_form")
        or AssignForm(officers=_officers(request), auto_id="assign_%s"),
        "close_form": forms.get("close_form") or ReasonForm(auto_id="close_%s"),
        "case_form": forms.get("case_form")
        or CaseOpenForm(auto_id="case_%s", initial={"title": alert.title}),
    }


@login_required
@require_GET
def alert_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An alert: its score, what fired (each rule's value against its threshold), the
    transactions and counterparties behind it; assign, close with a reason, open a case."""
    alert = _alert(request, pk)
    return render(request, "compliance/alert_detail.html", _alert_context(request, alert))


def _alert_step(
    request: HttpRequest, pk: int, form: Any, name: str, action: Any, done: Any
) -> HttpResponse:
    alert = _alert(request, pk)
    status = 400
    if form.is_valid():
        try:
            result = action(alert, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            messages.success(request, done(alert, result))
            if isinstance(result, Case):
                return HttpResponseRedirect(reverse("compliance:case_detail", args=[result.pk]))
            return HttpResponseRedirect(reverse("compliance:alert_detail", args=[alert.pk]))
    alert.refresh_from_db()
    return render(
        request,
        "compliance/alert_detail.html",
        _alert_context(request, alert, **{name: form}),
        status=status,
    )


@login_required
@require_POST
def alert_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Assign the alert to a compliance officer (or take it)."""
    form = AssignForm(request.POST, officers=_officers(request), auto_id="assign_%s")

    def action(alert: Alert, data: dict[str, Any]) -> Any:
        assignee = request.user
        if data.get("assignee"):
            assignee = _officer_queryset(request).get(pk=data["assignee"])
        return services_alerts.alert_assign(actor=request.user, alert=alert, assignee=assignee)

    return _alert_step(
        request, pk, form, "assign_form", action,
        lambda alert, _r: _("Alert %(pk)s is assigned.") % {"pk": alert.pk},
    )  # fmt: skip


@login_required
@require_POST
def alert_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the alert as raising no suspicion, saying why."""
    return _alert_step(
        request, pk, ReasonForm(request.POST, auto_id="close_%s"), "close_form",
        lambda alert, data: services_alerts.alert_close(
            actor=request.user, alert=alert, reason=data["reason"]
        ),
        lambda alert, _r: _("Alert %(pk)s is closed.") % {"pk": alert.pk},
    )  # fmt: skip


@login_required
@require_POST
def alert_case_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Open an investigation case with this alert."""
    return _alert_step(
        request, pk, CaseOpenForm(request.POST, auto_id="case_%s"), "case_form",
        lambda alert, data: services_cases.case_open(
            actor=request.user, alerts=[alert], title=data.get("title") or ""
        ),
        lambda _alert, case: _("Case %(reference)s is open.") % {"reference": case.reference},
    )  # fmt: skip


# --- Cases -----------------------------------------------------------------------------------


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    """Investigation cases: open ones by default, or decided, or all."""
    require(request, VIEW_CASE)
    form = CaseFilterForm(request.GET or None)
    cases: list[Case] = []
    if not form.is_bound or form.is_valid():
        show = form.cleaned_data.get("status") if form.is_bound else ""
        queryset = selectors_cases.case_list(actor=request.user)
        if show == "decided":
            queryset = queryset.exclude(decision="")
        elif show != "all":
            queryset = queryset.filter(decision="")
        if isinstance(queryset, QuerySet):
            queryset = queryset.select_related("party", "assigned_to", "workflow")
        cases = list(queryset[:LIST_LIMIT])
    _attach_state_names(cases)
    context = {"form": form, "cases": cases, "limit": LIST_LIMIT}
    if is_partial(request, "case-table"):
        return render(request, "compliance/partials/case_table.html", context)
    return render(request, "compliance/case_list.html", context)


def _attach_state_names(items: list[Any]) -> None:
    from bankcrm.core.models.workflow import WorkflowState

    keys = {(item.workflow_id, item.state) for item in items if item.workflow_id}
    names: dict[tuple[int, str], str] = {}
    if keys:
        for state in WorkflowState.objects.filter(
            definition_id__in={k[0] for k in keys}, code__in={k[1] for k in keys}
        ):
            names[(state.definition_id, state.code)] = state.name
    for item in items:
        item.state_name = names.get((item.workflow_id, item.state), item.state)


def _case(request: HttpRequest, pk: uuid.UUID) -> Case:
    require(request, VIEW_CASE)
    return or_404(selectors_cases.case_get, actor=request.user, pk=pk)


def _transition_buttons(
    request: HttpRequest, subject: Any, *, decision_guard: str = ""
) -> list[dict[str, Any]]:
    """The workflow steps open to the viewer; steps that only a decision service takes (the
    case's decision) are left to the decision form."""
    return [
        {
            "code": item.transition.code,
            "name": item.transition.name,
            "blocked": item.blocked,
            "requires_reason": item.transition.requires_reason,
            "is_terminal": item.transition.target.is_terminal,
        }
        for item in workflow_available_transitions(actor=request.user, subject=subject)
        if not (decision_guard and decision_guard in (item.transition.guards or []))
    ]


def _history_rows(request: HttpRequest, subject: Any) -> list[dict[str, Any]]:
    """The item's workflow steps, oldest first, with the states' names."""
    return workflow_history_rows(actor=request.user, subject=subject)


def _case_context(request: HttpRequest, case: Case, **forms: Any) -> dict[str, Any]:
    graph = services_cases.case_flow_graph(case)
    state = workflow_state_get(subject=case)
    is_open = not (state is not None and state.is_terminal)
    may_change = may(request, CHANGE_CASE) and is_open
    selectors = selectors_cases
    alerts = list(selectors.case_alerts(actor=request.user, case=case))
    notes = list(selectors.case_notes(actor=request.user, case=case))
    return {
        "case": case,
        "state": state,
        "is_open": is_open,
        "alerts": alerts,
        "notes": notes,
        "history": _history_rows(request, case),
        "buttons": _transition_buttons(request, case, decision_guard=services_cases.DECISION_GUARD)
        if may_change
        else [],
        "flow_rows": _flow_rows(graph),
        "flow_svg": mark_safe(_flow_svg(graph)),  # noqa: S308  # nosec B308 B703
        "may_note": may_change,
        "may_decide": may(request, DECIDE_CASE) and is_open and not case.decision,
        "may_export": may(request, EXPORT_REPORT),
        "reports": list(case.reports.order_by("-created_at")[:20]),
        "note_form": forms.get("note_form") or NoteForm(auto_id="note_%s"),
        "decision_form": forms.get("decision_form")
        or CaseDecisionForm(auto_id="decision_%s", initial={"narrative": case.narrative}),
        "transition_form": forms.get("transition_form"),
        "report_form": forms.get("report_form") or ReportExportForm(auto_id="report_%s"),
    }


@login_required
@require_GET
def case_detail(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """A case: its workflow state and steps, its alerts, notes, narrative and decision, the
    money's flow graph and the regulatory report exports."""
    case = _case(request, pk)
    return render(request, "compliance/case_detail.html", _case_context(request, case))


def _case_step(
    request: HttpRequest, pk: uuid.UUID, form: Any, name: str, action: Any, done: str
) -> HttpResponse:
    case = _case(request, pk)
    return object_step(
        request,
        case,
        form,
        action,
        done,
        detail_url="compliance:case_detail",
        template="compliance/case_detail.html",
        context=lambda: _case_context(request, case, **{name: form}),
    )


@login_required
@require_POST
def case_transition(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Take a workflow step of the case."""
    return _case_step(
        request, pk, TransitionForm(request.POST, auto_id="transition_%s"), "transition_form",
        lambda case, data: services_cases.case_transition(
            actor=request.user, case=case, transition=data["transition"],
            reason=data.get("reason") or "",
        ),
        _("The case has moved on."),
    )  # fmt: skip


@login_required
@require_POST
def case_note_add(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Add a note to the case (notes are never edited)."""
    return _case_step(
        request, pk, NoteForm(request.POST, auto_id="note_%s"), "note_form",
        lambda case, data: services_cases.case_note_add(
            actor=request.user, case=case, text=data["text"]
        ),
        _("The note is added."),
    )  # fmt: skip


@login_required
@require_POST
def case_decide(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Decide the case with its narrative."""
    return _case_step(
        request, pk, CaseDecisionForm(request.POST, auto_id="decision_%s"), "decision_form",
        lambda case, data: services_cases.case_decide(
            actor=request.user, case=case, decision=data["decision"],
            narrative=data["narrative"],
        ),
        _("The case is decided."),
    )  # fmt: skip


@login_required
@require_POST
def case_report(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """Export a regulatory report of the case as a file (recorded and audited)."""
    case = _case(request, pk)
    form = ReportExportForm(request.POST, auto_id="report_%s")
    status = 400
    if form.is_valid():
        try:
            from .reports import report_export

            file_name, content = report_export(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                case=case,
                fmt=form.cleaned_data.get("fmt") or "",
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            content_type = {"xml": "application/xml", "json": "application/json"}.get(
                file_name.rsplit(".", 1)[-1], "text/csv"
            )
            response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{file_name}"'
            response["X-Content-Type-Options"] = "nosniff"
            response["Cache-Control"] = "private, no-store"
            return response
    return render(
        request,
        "compliance/case_detail.html",
        _case_context(request, case, report_form=form),
        status=status,
    )


@login_required
@require_GET
def case_flow_svg(request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
    """The case's flow graph as a standalone SVG file."""
    case = _case(request, pk)
    svg = _flow_svg(services_cases.case_flow_graph(case))
    if not svg:
        raise Http404(_("This case has no flow graph."))
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


# --- Scenarios -------------------------------------------------------------------------------


@login_required
@require_GET
def scenario_list(request: HttpRequest) -> HttpResponse:
    """The monitoring scenarios, their typology, mode and whether they run."""
    require(request, VIEW_SCENARIO)
    scenarios = list(Scenario.objects.order_by("code"))
    return render(request, "compliance/scenario_list.html", {"scenarios": scenarios})


@login_required
@require_GET
def scenario_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One scenario's specification: its rules, weights and thresholds (read-only)."""
    require(request, VIEW_SCENARIO)
    scenario = or_404(Scenario.objects.get, pk=pk)
    return render(request, "compliance/scenario_detail.html", _scenario_context(request, scenario))


def _scenario_context(request: HttpRequest, scenario: Scenario, form: Any = None) -> dict[str, Any]:
    import json

    spec = scenario.spec or {}
    return {
        "scenario": scenario,
        "rules": [r for r in spec.get("rules", []) if isinstance(r, dict)],
        "spec_json": json.dumps(spec, indent=2, ensure_ascii=False, sort_keys=True),
        "spec_extra": {k: v for k, v in spec.items() if k != "rules"},
        "may_switch": may(request, CHANGE_SCENARIO),
        "active_form": form
        or ActiveForm(auto_id="active_%s", initial={"is_active": not scenario.is_active}),
    }


@login_required
@require_POST
def scenario_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Switch a scenario on or off, with the reason."""
    require(request, VIEW_SCENARIO)
    require(request, CHANGE_SCENARIO)
    scenario = or_404(Scenario.objects.get, pk=pk)
    form = ActiveForm(request.POST, auto_id="active_%s")
    status = 400
    if form.is_valid():
        try:
            services_alerts.scenario_active_set(
                actor=request.user,
                scenario=scenario,
                is_active=form.cleaned_data["is_active"],
                reason=form.cleaned_data["reason"],
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            messages.success(request, _("The scenario is updated."))
            return HttpResponseRedirect(reverse("compliance:scenario_detail", args=[pk]))
    return render(
        request,
        "compliance/scenario_detail.html",
        _scenario_context(request, scenario, form),
        status=status,
    )
