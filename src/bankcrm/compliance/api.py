"""REST API of compliance (``/api/v1/compliance/``).

* ``GET /ratings/{party}`` a customer's risk rating with its factors and history,
  ``POST /ratings/{party}/recalc`` recalculates it;
* ``GET /reviews`` (filters: overdue, due_before, party), ``GET /reviews/{id}``,
  ``POST /reviews/{id}/transition``, ``/checklist`` and ``/complete``;
* ``POST /screening/check`` screens a name (nothing stored but the audit),
  ``GET /screening/hits`` and ``/screening/hits/{id}``, ``POST /screening/hits/{id}/decide``;
* ``GET /scenarios`` and ``/scenarios/{id or code}``;
* ``GET /alerts``, ``GET /alerts/{id}``, ``POST /alerts/{id}/assign`` and ``/close``;
* ``GET /cases``, ``POST /cases`` (open from alerts), ``GET /cases/{id}``,
  ``POST /cases/{id}/notes``, ``/transition`` and ``/decide``.

Reads go through the compliance selectors and every change through one service, which checks
who may take it and audits it. Alerts, hits and cases are for compliance roles and auditors
only: anyone else gets 403 (problem ``permission_denied``), and a record outside the caller's
reach 404. Customers appear by key and display name only.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.timefmt import bank_today
from bankcrm.core.workflow import workflow_available_transitions
from bankcrm.customers import selectors as customer_selectors
from bankcrm.customers.models import Party

from .models import Alert, Case, KycProfile, KycReview, ListEntry, Scenario, ScreeningHit
from .schemas import (
    AlertDetailOut,
    AlertFilter,
    AlertOut,
    AssignIn,
    CaseDecisionIn,
    CaseDecisionOut,
    CaseDetailOut,
    CaseFilter,
    CaseOpenIn,
    CaseOut,
    ChecklistItemIn,
    HitDecisionIn,
    HitDetailOut,
    HitFilter,
    HitOut,
    MatchOut,
    NoteIn,
    ReasonIn,
    ReviewCompleteIn,
    ReviewDetailOut,
    ReviewFilter,
    ReviewOut,
    RiskRatingOut,
    ScenarioDetailOut,
    ScenarioOut,
    ScreeningCheckIn,
    TransitionIn,
)
from .views_common import (
    VIEW_ALERT,
    VIEW_CASE,
    VIEW_HIT,
    VIEW_PROFILE,
    VIEW_REVIEW,
    VIEW_SCENARIO,
)

router = Router(tags=["compliance"])


def _actor(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _require(request: HttpRequest, permission: str) -> Any:
    actor = _actor(request)
    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You do not have permission to do this."))
    return actor


def _not_found() -> ProblemError:
    return ProblemError.of(error_codes.NOT_FOUND)


def _get(read: Any, **kwargs: Any) -> Any:
    try:
        result = read(**kwargs)
    except (ObjectDoesNotExist, Http404, ValueError) as exc:
        raise _not_found() from exc
    return result


def _name(user: Any) -> str | None:
    return (user.get_full_name() or user.get_username()) if user is not None else None


def _party_ref(party: Party | None) -> dict[str, Any] | None:
    if party is None:
        return None
    return {"id": party.pk, "display_name": party.display_name}


def _party(request: HttpRequest, pk: Any) -> Party:
    try:
        return customer_selectors.party_get(actor=_actor(request), pk=pk)
    except (Party.DoesNotExist, ValueError) as exc:
        raise _not_found() from exc


def _page(queryset: Any, limit: int, offset: int) -> list[Any]:
    return list(queryset[offset : offset + limit])


def _transitions(actor: Any, subject: Any) -> list[str]:
    return [
        item.transition.code
        for item in workflow_available_transitions(actor=actor, subject=subject)
        if not item.blocked
    ]


# --- Risk ratings ----------------------------------------------------------------------------


def _rating_out(actor: Any, party: Party, profile: KycProfile | None) -> dict[str, Any]:
    from . import selectors_kyc
    from .views_customer import factors_view

    base: dict[str, Any] = {"party": _party_ref(party), "is_rated": False}
    if profile is None:
        return base
    return {
        **base,
        "is_rated": profile.risk_band != "",
        "risk_score": profile.risk_score,
        "risk_band": profile.risk_band,
        "factors": factors_view(profile, may_see_screening=actor_has_perm(actor, VIEW_HIT)),
        "policy": str(profile.policy) if profile.policy_id else None,
        "rated_at": profile.rated_at,
        "due_diligence": profile.due_diligence,
        "last_review_on": profile.last_review_on,
        "next_review_on": profile.next_review_on,
        "pep_status": profile.pep_status,
        "edd_until": profile.edd_until,
        "screening_status": profile.screening_status if actor_has_perm(actor, VIEW_HIT) else "",
        "history": [
            {"rated_at": row.rated_at, "score": row.score, "band": row.band, "trigger": row.trigger}
            for row in selectors_kyc.rating_history(actor=actor, party=party)
        ],
    }


@router.get("/ratings/{uuid:party_pk}", response=RiskRatingOut)
def rating_get(request: HttpRequest, party_pk: Any) -> Any:
    """A customer's risk rating: score, band, each factor's value, points, weight and
    contribution, the review dates, PEP and due diligence, and the latest ratings."""
    from . import selectors_kyc

    actor = _require(request, VIEW_PROFILE)
    party = _party(request, party_pk)
    profile = _get(selectors_kyc.kyc_profile_get, actor=actor, party=party)
    return _rating_out(actor, party, profile)


@router.post("/ratings/{uuid:party_pk}/recalc", response=RiskRatingOut)
def rating_recalc(request: HttpRequest, party_pk: Any) -> Any:
    """Recalculate the customer's rating now (``compliance.rate_party``)."""
    from . import services_kyc

    actor = _require(request, VIEW_PROFILE)
    party = _party(request, party_pk)
    profile = services_kyc.party_rate(actor=actor, party=party, trigger="manual")
    return _rating_out(actor, party, profile)


# --- Reviews ---------------------------------------------------------------------------------


def _review_out(review: KycReview, today: Any) -> dict[str, Any]:
    return {
        "id": review.pk,
        "party": _party_ref(review.party),
        "kind": review.kind,
        "reason": review.reason,
        "due_on": review.due_on,
        "is_overdue": review.completed_at is None and review.due_on < today,
        "state": review.state,
        "risk_band_at_start": review.risk_band_at_start,
        "assigned_to": _name(review.assigned_to),
        "outcome": review.outcome,
        "completed_at": review.completed_at,
        "escalated_at": review.escalated_at,
    }


def _review_detail(actor: Any, review: KycReview) -> dict[str, Any]:
    checklist = []
    for item in review.checklist or []:
        if isinstance(item, dict):
            checklist.append(
                {
                    "code": str(item.get("code", "")),
                    "label": str(item.get("label", "")),
                    "required": bool(item.get("required")),
                    "done": bool(item.get("done")),
                    "note": str(item.get("note") or ""),
                    "by": str(item["by"]) if item.get("by") else None,
                    "at": str(item["at"]) if item.get("at") else None,
                }
            )
    return {
        **_review_out(review, bank_today()),
        "checklist": checklist,
        "conclusion": review.conclusion,
        "transitions": _transitions(actor, review) if review.completed_at is None else [],
    }


def _review(request: HttpRequest, pk: uuid.UUID) -> KycReview:
    from . import selectors_kyc

    actor = _require(request, VIEW_REVIEW)
    return _get(selectors_kyc.kyc_review_get, actor=actor, pk=pk)


@router.get("/reviews", response=list[ReviewOut])
def review_list(request: HttpRequest, filters: Query[ReviewFilter]) -> Any:
    """KYC reviews by due date (open ones unless ``include_completed``); ``overdue`` past
    their due date, ``due_before`` due before a day, ``party`` one customer's."""
    from . import selectors_kyc

    actor = _require(request, VIEW_REVIEW)
    party = _party(request, filters.party) if filters.party is not None else None
    queryset = selectors_kyc.kyc_review_list(
        actor=actor,
        due_before=filters.due_before,
        overdue=filters.overdue,
        party=party,
        open_only=not filters.include_completed,
    )
    today = bank_today()
    return [_review_out(review, today) for review in _page(queryset, filters.limit, filters.offset)]


@router.get("/reviews/{uuid:pk}", response=ReviewDetailOut)
def review_get(request: HttpRequest, pk: uuid.UUID) -> Any:
    """One review with its evidence checklist and the steps open to the caller."""
    review = _review(request, pk)
    return _review_detail(_actor(request), review)


@router.post("/reviews/{uuid:pk}/transition", response=ReviewDetailOut)
def review_transition(request: HttpRequest, pk: uuid.UUID, payload: TransitionIn) -> Any:
    """Take a workflow step of the review (``transitions`` lists those open)."""
    from . import services_kyc

    review = services_kyc.kyc_review_transition(
        actor=_actor(request),
        review=_review(request, pk),
        transition=payload.transition,
        reason=payload.reason,
    )
    return _review_detail(_actor(request), _review(request, review.pk))


@router.post("/reviews/{uuid:pk}/checklist", response=ReviewDetailOut)
def review_check_item(request: HttpRequest, pk: uuid.UUID, payload: ChecklistItemIn) -> Any:
    """Tick (``done: true``) or untick an item of the evidence checklist, with a note."""
    from . import services_kyc

    services_kyc.kyc_review_check_item(
        actor=_actor(request),
        review=_review(request, pk),
        code=payload.code,
        done=payload.done,
        note=payload.note,
    )
    return _review_detail(_actor(request), _review(request, pk))


@router.post("/reviews/{uuid:pk}/complete", response=ReviewDetailOut)
def review_complete(request: HttpRequest, pk: uuid.UUID, payload: ReviewCompleteIn) -> Any:
    """Complete the review with its outcome and conclusion."""
    from . import services_kyc

    services_kyc.kyc_review_complete(
        actor=_actor(request),
        review=_review(request, pk),
        outcome=payload.outcome,
        conclusion=payload.conclusion,
    )
    return _review_detail(_actor(request), _review(request, pk))


# --- Screening -------------------------------------------------------------------------------


def _entry_out(entry: ListEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "watch_list": entry.watch_list.code,
        "entry_id": entry.entry_id,
        "kind": entry.schema,
        "name": entry.name,
        "names": [n if isinstance(n, dict) else {"name": str(n)} for n in entry.names or []],
        "birth_dates": [str(d) for d in entry.birth_dates or []],
        "countries": [str(c) for c in entry.countries or []],
        "identifiers": [i for i in entry.identifiers or [] if isinstance(i, dict)],
        "gender": entry.gender,
        "programs": [str(p) for p in entry.programs or []],
        "is_active": entry.is_active,
    }


def _hit_out(hit: ScreeningHit) -> dict[str, Any]:
    return {
        "id": hit.pk,
        "party": _party_ref(hit.party),
        "subject_name": hit.subject_name,
        "entry": _entry_out(hit.entry),
        "score": hit.score,
        "origin": hit.origin,
        "status": hit.status,
        "created_at": hit.created_at,
        "decided_by": _name(hit.decided_by),
        "decided_at": hit.decided_at,
        "decision_reason": hit.decision_reason,
        "confirmed_by": _name(hit.confirmed_by),
    }


def _hit_detail(hit: ScreeningHit) -> dict[str, Any]:
    return {**_hit_out(hit), "explanation": hit.explanation or {}, "approval": hit.approval_id}


def _hit(request: HttpRequest, pk: int) -> ScreeningHit:
    from . import selectors_screening

    actor = _require(request, VIEW_HIT)
    return _get(selectors_screening.hit_get, actor=actor, pk=pk)


@router.post("/screening/check", response=list[MatchOut])
def screening_check(request: HttpRequest, payload: ScreeningCheckIn) -> Any:
    """Screen a name (optionally with date of birth, country and type) against the loaded
    lists: every match above the reporting floor with its score and explanation; ``is_alert``
    when at or above the alert threshold. Nothing is stored; the check is audited."""
    from . import services_screening

    matches = services_screening.screening_check(
        actor=_actor(request),
        name=payload.name,
        birth_date=payload.birth_date,
        country=payload.country,
        schema=payload.schema_,
    )
    rows = []
    for match in matches:
        row = services_screening.match_json(match)
        rows.append({**row, "watch_list": row["list"], "kind": row["schema"]})
    return rows


@router.get("/screening/hits", response=list[HitOut])
def hit_list(request: HttpRequest, filters: Query[HitFilter]) -> Any:
    """Screening hits, newest first; filter by status and customer."""
    from . import selectors_screening

    actor = _require(request, VIEW_HIT)
    queryset = selectors_screening.hit_list(
        actor=actor, status=filters.status or None, party=filters.party
    )
    return [_hit_out(hit) for hit in _page(queryset, filters.limit, filters.offset)]


@router.get("/screening/hits/{int:pk}", response=HitDetailOut)
def hit_get(request: HttpRequest, pk: int) -> Any:
    """One hit with the list entry and the matcher's explanation (which name parts matched
    how, which attributes matched or conflicted)."""
    return _hit_detail(_hit(request, pk))


@router.post("/screening/hits/{int:pk}/decide", response=HitDetailOut)
def hit_decide(request: HttpRequest, pk: int, payload: HitDecisionIn) -> Any:
    """Decide an open hit: ``false_positive`` closes it and whitelists the pair while neither
    side changes; ``true_match`` waits for a second compliance officer (``status``
    ``true_match_pending``, ``approval`` the request)."""
    from . import services_screening

    services_screening.hit_decide(
        actor=_actor(request), hit=_hit(request, pk), decision=payload.decision,
        reason=payload.reason,
    )  # fmt: skip
    return _hit_detail(_hit(request, pk))


# --- Scenarios -------------------------------------------------------------------------------


def _scenario_out(scenario: Scenario) -> dict[str, Any]:
    return {
        "id": scenario.pk,
        "code": scenario.code,
        "name": scenario.name,
        "name_zh": scenario.name_zh,
        "description": scenario.description,
        "typology": scenario.typology,
        "mode": scenario.mode,
        "version": scenario.version,
        "is_active": scenario.is_active,
    }


@router.get("/scenarios", response=list[ScenarioOut])
def scenario_list(request: HttpRequest) -> Any:
    """The monitoring scenarios."""
    _require(request, VIEW_SCENARIO)
    return [_scenario_out(s) for s in Scenario.objects.order_by("code")]


@router.get("/scenarios/{key}", response=ScenarioDetailOut)
def scenario_get(request: HttpRequest, key: str) -> Any:
    """One scenario (by id or code) with its specification: rules, windows, thresholds and
    weights."""
    _require(request, VIEW_SCENARIO)
    lookup = {"pk": int(key)} if key.isdigit() else {"code": key}
    scenario = _get(Scenario.objects.get, **lookup)
    return {**_scenario_out(scenario), "spec": scenario.spec or {}}


# --- Alerts ----------------------------------------------------------------------------------


def _alert_out(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "source": alert.source,
        "party": _party_ref(alert.party),
        "scenario": alert.scenario.code if alert.scenario is not None else None,
        "hit": alert.hit_id,
        "score": alert.score,
        "title": alert.title,
        "status": alert.status,
        "first_seen_at": alert.first_seen_at,
        "last_seen_at": alert.last_seen_at,
        "occurrences": alert.occurrences,
        "case": alert.case.reference if alert.case is not None else None,
        "assigned_to": _name(alert.assigned_to),
        "closed_at": alert.closed_at,
        "close_reason": alert.close_reason,
    }


def _alert(request: HttpRequest, pk: int) -> Alert:
    from . import selectors_cases

    actor = _require(request, VIEW_ALERT)
    return _get(selectors_cases.alert_get, actor=actor, pk=pk)


@router.get("/alerts", response=list[AlertOut])
def alert_list(request: HttpRequest, filters: Query[AlertFilter]) -> Any:
    """Alerts, latest activity first; filter by status (``open`` for every open status),
    scenario code, source and customer."""
    from . import selectors_cases

    actor = _require(request, VIEW_ALERT)
    queryset = selectors_cases.alert_list(
        actor=actor,
        status=filters.status or None,
        scenario=filters.scenario or None,
        party=filters.party,
        source=filters.source,
    )
    return [_alert_out(alert) for alert in _page(queryset, filters.limit, filters.offset)]


@router.get("/alerts/{int:pk}", response=AlertDetailOut)
def alert_get(request: HttpRequest, pk: int) -> Any:
    """One alert with its evidence: rules (value against threshold), transactions,
    counterparties and period."""
    alert = _alert(request, pk)
    return {**_alert_out(alert), "evidence": alert.evidence or {}}


@router.post("/alerts/{int:pk}/assign", response=AlertDetailOut)
def alert_assign(request: HttpRequest, pk: int, payload: AssignIn) -> Any:
    """Assign the alert to a compliance officer (or, without ``assignee``, to the caller)."""
    from bankcrm.access.selectors import user_list

    from . import services_alerts

    actor = _actor(request)
    assignee = actor
    if payload.assignee is not None:
        assignee = user_list(actor=actor).filter(pk=payload.assignee, is_active=True).first()
        if assignee is None:
            raise ProblemError.of(
                error_codes.VALIDATION_ERROR,
                errors=[
                    {"field": "body.assignee", "message": _("No such user."), "code": "invalid"}
                ],
            )
    services_alerts.alert_assign(actor=actor, alert=_alert(request, pk), assignee=assignee)
    return alert_get(request, pk)


@router.post("/alerts/{int:pk}/close", response=AlertDetailOut)
def alert_close(request: HttpRequest, pk: int, payload: ReasonIn) -> Any:
    """Close the alert as raising no suspicion, with the reason."""
    from . import services_alerts

    services_alerts.alert_close(
        actor=_actor(request), alert=_alert(request, pk), reason=payload.reason
    )
    return alert_get(request, pk)


# --- Cases -----------------------------------------------------------------------------------


def _case_out(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "reference": case.reference,
        "party": _party_ref(case.party),
        "title": case.title,
        "state": case.state,
        "priority": case.priority,
        "decision": case.decision,
        "decided_by": _name(case.decided_by),
        "decided_at": case.decided_at,
        "opened_by": _name(case.opened_by) or "",
        "assigned_to": _name(case.assigned_to),
        "created_at": case.created_at,
    }


def _case(request: HttpRequest, pk: uuid.UUID) -> Case:
    from . import selectors_cases

    actor = _require(request, VIEW_CASE)
    return _get(selectors_cases.case_get, actor=actor, pk=pk)


def _case_detail(request: HttpRequest, pk: uuid.UUID) -> dict[str, Any]:
    from . import selectors_cases, services_cases

    actor = _actor(request)
    case = _case(request, pk)
    return {
        **_case_out(case),
        "narrative": case.narrative,
        "alerts": [_alert_out(a) for a in selectors_cases.case_alerts(actor=actor, case=case)],
        "notes": [
            {"at": note.created_at, "author": _name(note.author) or "", "text": note.text}
            for note in selectors_cases.case_notes(actor=actor, case=case)
        ],
        "transitions": _transitions(actor, case),
        "flow_graph": services_cases.case_flow_graph(case),
    }


@router.get("/cases", response=list[CaseOut])
def case_list(request: HttpRequest, filters: Query[CaseFilter]) -> Any:
    """Investigation cases, newest first; filter by workflow state, customer and whether
    decided (``is_open``)."""
    from . import selectors_cases

    actor = _require(request, VIEW_CASE)
    queryset = selectors_cases.case_list(
        actor=actor, state=filters.state or None, party=filters.party, is_open=filters.is_open
    )
    return [_case_out(case) for case in _page(queryset, filters.limit, filters.offset)]


@router.post("/cases", response={201: CaseDetailOut})
def case_open(request: HttpRequest, payload: CaseOpenIn) -> Any:
    """Open a case from one customer's open alerts."""
    from . import selectors_cases, services_cases

    actor = _require(request, VIEW_ALERT)
    alerts = list(selectors_cases.alert_list(actor=actor).filter(pk__in=payload.alerts))
    missing = sorted(set(payload.alerts) - {alert.pk for alert in alerts})
    if missing:
        raise ProblemError.of(
            error_codes.VALIDATION_ERROR,
            errors=[
                {
                    "field": "body.alerts",
                    "message": _("No such alert: %(ids)s.") % {"ids": ", ".join(map(str, missing))},
                    "code": "invalid",
                }
            ],
        )
    case = services_cases.case_open(actor=actor, alerts=alerts, title=payload.title)
    return Status(201, _case_detail(request, case.pk))


@router.get("/cases/{uuid:pk}", response=CaseDetailOut)
def case_get(request: HttpRequest, pk: uuid.UUID) -> Any:
    """One case with its alerts, notes, narrative, open steps and flow graph."""
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/notes", response={201: CaseDetailOut})
def case_note_add(request: HttpRequest, pk: uuid.UUID, payload: NoteIn) -> Any:
    """Add a note to the case (notes are never edited)."""
    from . import services_cases

    services_cases.case_note_add(actor=_actor(request), case=_case(request, pk), text=payload.text)
    return Status(201, _case_detail(request, pk))


@router.post("/cases/{uuid:pk}/transition", response=CaseDetailOut)
def case_transition(request: HttpRequest, pk: uuid.UUID, payload: TransitionIn) -> Any:
    """Take a workflow step of the case (``transitions`` lists those open)."""
    from . import services_cases

    services_cases.case_transition(
        actor=_actor(request), case=_case(request, pk), transition=payload.transition,
        reason=payload.reason,
    )  # fmt: skip
    return _case_detail(request, pk)


@router.post("/cases/{uuid:pk}/decide", response=CaseDecisionOut)
def case_decide(request: HttpRequest, pk: uuid.UUID, payload: CaseDecisionIn) -> Any:
    """Decide the case with its narrative: ``no_suspicion`` closes it at once; ``reported``
    and ``exit`` wait for a second compliance officer (``pending_approval``)."""
    from . import services_cases

    result = services_cases.case_decide(
        actor=_actor(request), case=_case(request, pk), decision=payload.decision,
        narrative=payload.narrative,
    )  # fmt: skip
    pending = isinstance(result, PendingApproval) and (
        result.status == PendingApproval.Status.PENDING
    )
    return {
        "result": "pending_approval" if pending else "decided",
        "approval": result.pk if isinstance(result, PendingApproval) else None,
        "case": _case_detail(request, pk),
    }
