"""Reading alerts and investigation cases, for compliance roles and auditors only.

Alerts and cases must never reach the customer's relationship manager or branch (the
tipping-off rule): every selector here first checks that the actor holds the view permission
(``compliance.view_alert`` / ``compliance.view_case``, held by compliance officers and
auditors) and raises PermissionDenied otherwise; a single record outside the actor's reach
is a 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.timefmt import bank_today

from .models import Alert, Case, CaseNote, KycProfile, ScreeningHit

# Age buckets of open alerts, in days since first raised: (code, lowest day, highest day).
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-2d", 0, 2),
    ("3-7d", 3, 7),
    ("8-30d", 8, 30),
    (">30d", 31, None),
)


def _require_view(actor: Any, model: str) -> None:
    if not actor_has_perm(actor, f"compliance.view_{model}"):
        raise PermissionDenied(_("Compliance alerts and cases are for compliance staff only."))


def alert_list(
    *,
    actor: Any,
    status: str | list[str] | None = None,
    scenario: str | None = None,
    party: Any = None,
    source: str | None = None,
) -> QuerySet[Alert]:
    """Alerts the actor may see, newest activity first. ``status`` "open" means every open
    status; ``scenario`` is a scenario code; ``party`` a customer or its key."""
    _require_view(actor, "alert")
    queryset = Alert.objects.visible_to(actor).select_related(
        "party", "scenario", "case", "assigned_to", "hit"
    )
    if status == "open":
        queryset = queryset.filter(status__in=Alert.OPEN_STATUSES)
    elif isinstance(status, list | tuple):
        queryset = queryset.filter(status__in=list(status))
    elif status:
        queryset = queryset.filter(status=status)
    if scenario:
        queryset = queryset.filter(scenario__code=scenario)
    if party is not None:
        queryset = queryset.filter(party_id=getattr(party, "pk", party))
    if source:
        queryset = queryset.filter(source=source)
    return queryset.order_by("-last_seen_at", "-pk")


def alert_get(*, actor: Any, pk: Any) -> Alert:
    """One alert the actor may see; 404 otherwise."""
    try:
        return alert_list(actor=actor).get(pk=pk)
    except (Alert.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def case_list(
    *,
    actor: Any,
    state: str | None = None,
    party: Any = None,
    assigned_to: Any = None,
    is_open: bool | None = None,
) -> QuerySet[Case]:
    """Investigation cases the actor may see, newest first."""
    _require_view(actor, "case")
    queryset = Case.objects.visible_to(actor).select_related(
        "party", "assigned_to", "opened_by", "workflow"
    )
    if state:
        queryset = queryset.filter(state=state)
    if party is not None:
        queryset = queryset.filter(party_id=getattr(party, "pk", party))
    if assigned_to is not None:
        queryset = queryset.filter(assigned_to_id=getattr(assigned_to, "pk", assigned_to))
    if is_open is True:
        queryset = queryset.filter(decision="")
    elif is_open is False:
        queryset = queryset.exclude(decision="")
    return queryset.annotate(alert_count=Count("alerts")).order_by("-created_at", "-pk")


def case_get(*, actor: Any, pk: Any = None, reference: str | None = None) -> Case:
    """One case the actor may see (by key or reference); 404 otherwise."""
    queryset = case_list(actor=actor)
    try:
        if reference:
            return queryset.get(reference=reference)
        return queryset.get(pk=pk)
    except (Case.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def case_notes(*, actor: Any, case: Case) -> QuerySet[CaseNote]:
    """The case's notes, oldest first (the caller fetched the case through ``case_get``)."""
    _require_view(actor, "case")
    return (
        CaseNote.objects.visible_to(actor)
        .filter(case=case)
        .select_related("author")
        .order_by("created_at", "pk")
    )


def case_alerts(*, actor: Any, case: Case) -> QuerySet[Alert]:
    """The alerts grouped into the case."""
    return alert_list(actor=actor).filter(case=case)


def dashboard_counts(*, actor: Any, today: dt.date | None = None) -> dict[str, Any]:
    """Figures of the compliance dashboard: open alerts by age bucket and by scenario (or
    screening list), hits awaiting decision, cases by state, KYC reviews due and overdue,
    and the customers per risk band."""
    _require_view(actor, "alert")
    today = today or bank_today()
    now = timezone.now()
    open_alerts = Alert.objects.visible_to(actor).filter(status__in=Alert.OPEN_STATUSES)
    by_age: dict[str, int] = {}
    for code, low, high in AGE_BUCKETS:
        bucket = open_alerts.filter(first_seen_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            bucket = bucket.filter(first_seen_at__gt=now - dt.timedelta(days=high + 1))
        by_age[code] = bucket.count()
    by_scenario: dict[str, int] = {}
    for code, source, count in (
        open_alerts.values_list("scenario__code", "source").annotate(n=Count("pk")).order_by()
    ):
        label = code or source
        by_scenario[label] = by_scenario.get(label, 0) + count
    hits_open = 0
    if actor_has_perm(actor, "compliance.view_screeninghit"):
        hits_open = (
            ScreeningHit.objects.visible_to(actor).filter(status=ScreeningHit.Status.OPEN).count()
        )
    cases_by_state: dict[str, int] = {}
    if actor_has_perm(actor, "compliance.view_case"):
        cases_by_state = dict(
            Case.objects.visible_to(actor)
            .values_list("state")
            .annotate(n=Count("pk"))
            .order_by()
            .values_list("state", "n")
        )
    profiles = KycProfile.objects.visible_to(actor)
    reviews_due = profiles.filter(next_review_on__lte=today + dt.timedelta(days=30)).count()
    reviews_overdue = profiles.filter(next_review_on__lt=today).count()
    distribution = dict(
        profiles.values_list("risk_band")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("risk_band", "n")
    )
    return {
        "alerts_open": sum(by_age.values()),
        "alerts_by_age": by_age,
        "alerts_by_scenario": dict(sorted(by_scenario.items(), key=lambda kv: -kv[1])),
        "hits_awaiting_decision": hits_open,
        "cases_by_state": cases_by_state,
        "reviews_due_30d": reviews_due,
        "reviews_overdue": reviews_overdue,
        "risk_distribution": {band: distribution.get(band, 0) for band in ("low", "medium", "high")}
        | ({"unrated": distribution[""]} if distribution.get("") else {}),
    }


__all__ = [
    "AGE_BUCKETS",
    "alert_get",
    "alert_list",
    "case_alerts",
    "case_get",
    "case_list",
    "case_notes",
    "dashboard_counts",
]
