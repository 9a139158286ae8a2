"""Reading campaigns, always within the actor's reach (the campaign's owning unit)."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Count, QuerySet
from django.db.models.functions import Cast

from .audience import audience_figures
from .models import Campaign, CampaignMessage


def campaign_list(*, actor: Any, status: str | None = None) -> QuerySet[Campaign]:
    """Campaigns the actor may see, newest start first; ``status`` narrows to one status."""
    queryset = Campaign.objects.visible_to(actor).select_related("segment", "offer", "owning_unit")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-starts_at", "-pk")


def campaign_get(*, actor: Any, pk: Any) -> Campaign:
    """One campaign the actor may see (else ``Campaign.DoesNotExist``)."""
    try:
        return (
            Campaign.objects.visible_to(actor)
            .select_related("segment", "offer", "offer__product", "owning_unit", "approval")
            .get(pk=pk)
        )
    except (ValueError, TypeError) as exc:
        raise Campaign.DoesNotExist from exc


def campaign_may_change(*, actor: Any, campaign: Campaign) -> bool:
    """Whether the actor may change this campaign (its unit within their change reach)."""
    return Campaign.objects.restrict(actor, "change").filter(pk=campaign.pk).exists()


def campaign_approval_scope(*, actor: Any) -> QuerySet[Any]:
    """Keys (as text) of the campaigns whose launch ``actor`` may decide on: those they may
    change (the reach of the ``marketing.campaign_launch`` approvals)."""
    return (
        Campaign.objects.restrict(actor, "change")
        .annotate(key=Cast("pk", output_field=CharField()))
        .values("key")
    )


def campaign_audience_summary(*, campaign: Campaign) -> dict[str, Any]:
    """The drawn audience: counts per group, per suppression reason and per variant, and the
    messages queued per channel (all zero before the launch)."""
    return audience_figures(campaign)


def campaign_message_counts(*, campaign: Campaign) -> dict[str, int]:
    """The campaign's messages per status (every status, zero included)."""
    counts = {status: 0 for status in CampaignMessage.Status.values}
    rows = (
        CampaignMessage.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
    )
    for status, count in rows:
        counts[status] = count
    return counts
