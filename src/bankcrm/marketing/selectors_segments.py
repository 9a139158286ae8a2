"""Reading segments: lists, one segment, its members and a preview, within the actor's reach.

A segment's reach is its owning unit's subtree: an actor sees the segments owned by their
unit or a unit below it (``Segment.objects.visible_to``); a bank-wide role sees all.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from bankcrm.customers.models import Party

from .models import Segment, SegmentMember


def segment_list(*, actor: Any, include_archived: bool = False) -> QuerySet[Segment]:
    """Segments within the actor's reach, by name (archived ones only when asked)."""
    queryset = Segment.objects.visible_to(actor).select_related("owning_unit")
    if not include_archived:
        queryset = queryset.filter(is_archived=False)
    return queryset.order_by("name", "pk")


def segment_get(*, actor: Any, pk: Any) -> Segment:
    """One segment; ``Segment.DoesNotExist`` outside the actor's reach."""
    return Segment.objects.visible_to(actor).select_related("owning_unit").get(pk=pk)


def segment_member_ids(*, segment: Segment) -> QuerySet:
    """The party keys of the segment's members as of its last evaluation (a sub-query)."""
    return SegmentMember.objects.filter(segment=segment).values_list("party_id", flat=True)


def segment_preview(*, actor: Any, segment: Segment, limit: int = 50) -> list[Party]:
    """Up to ``limit`` members the actor may see, by name (one query)."""
    limit = max(1, min(int(limit), 500))
    return list(
        Party.objects.visible_to(actor)
        .filter(segment_memberships__segment=segment)
        .order_by("display_name", "pk")[:limit]
    )
