"""Reads of sanctions screening for pages and the API, scoped to the actor. Hits are shown
to compliance roles and auditors only (telling anyone else would risk tipping off)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.actor import is_system

from .models import KycProfile, ListSnapshot, RescreenRun, SanctionsList, ScreeningHit


def _require_view(actor: Any, model: str) -> None:
    if not is_system(actor) and not actor_has_perm(actor, f"compliance.view_{model}"):
        raise PermissionDenied(_("You do not have the permission to see this."))


def watch_list_list(*, actor: Any) -> QuerySet[SanctionsList]:
    """The watch lists with their live entry count and newest version."""
    _require_view(actor, "sanctionslist")
    return SanctionsList.objects.annotate(
        live_entries=Count("entries", filter=Q(entries__removed_in__isnull=True)),
    ).order_by("code")


def snapshot_list(*, actor: Any, watch_list: SanctionsList | None = None) -> QuerySet[ListSnapshot]:
    """Versions of the lists (newest first), with their diff counts."""
    _require_view(actor, "listsnapshot")
    queryset = ListSnapshot.objects.select_related("watch_list", "loaded_by")
    if watch_list is not None:
        queryset = queryset.filter(watch_list=watch_list)
    return queryset.order_by("-created_at", "-pk")


def hit_list(*, actor: Any, status: str | None = None, party: Any = None) -> QuerySet[ScreeningHit]:
    """Screening hits the actor may see, newest first."""
    queryset = ScreeningHit.objects.visible_to(actor).select_related(
        "party", "entry", "entry__watch_list", "decided_by", "confirmed_by"
    )
    if status:
        queryset = queryset.filter(status=status)
    if party is not None:
        queryset = queryset.filter(party=party)
    return queryset.order_by("-created_at", "-pk")


def hit_get(*, actor: Any, pk: Any) -> ScreeningHit:
    """One hit the actor may see; else 404."""
    try:
        return hit_list(actor=actor).get(pk=pk)
    except (ScreeningHit.DoesNotExist, ValueError, TypeError) as exc:
        raise Http404 from exc


def rescreen_run_list(*, actor: Any) -> QuerySet[RescreenRun]:
    """Full rescreens, newest first."""
    _require_view(actor, "rescreenrun")
    return RescreenRun.objects.select_related("snapshot", "snapshot__watch_list").order_by(
        "-created_at"
    )


def party_screening_summary(*, actor: Any, party: Any) -> dict[str, Any]:
    """A customer's screening status and hit counts (counts empty when the actor may not
    see hits): {"status", "status_label", "screened_at", "open", "pending", "confirmed",
    "false_positive", "may_see_hits"}."""
    profile = KycProfile.objects.filter(party=party).only("screening_status", "screened_at").first()
    status = profile.screening_status if profile else KycProfile.ScreeningStatus.NOT_SCREENED
    summary: dict[str, Any] = {
        "status": status,
        "status_label": str(KycProfile.ScreeningStatus(status).label),
        "screened_at": profile.screened_at if profile else None,
        "may_see_hits": False,
    }
    hits = hit_list(actor=actor, party=party)
    if is_system(actor) or actor_has_perm(actor, "compliance.view_screeninghit"):
        counts = dict(hits.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
        summary.update(
            may_see_hits=True,
            open=counts.get(ScreeningHit.Status.OPEN, 0),
            pending=counts.get(ScreeningHit.Status.TRUE_MATCH_PENDING, 0),
            confirmed=counts.get(ScreeningHit.Status.TRUE_MATCH, 0),
            false_positive=counts.get(ScreeningHit.Status.FALSE_POSITIVE, 0),
        )
    return summary
