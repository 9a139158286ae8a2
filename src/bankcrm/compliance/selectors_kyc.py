"""KYC reads, scoped to the actor: KYC profiles and reviews follow the customer's scope
(a branch manager sees those of the branch's customers, a compliance officer the bank's)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet

from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from . import ubo
from .models import KycProfile, KycReview, RatingPolicy, RiskRatingHistory


def kyc_profile_get(*, actor: Any, party: Party) -> KycProfile | None:
    """The customer's KYC profile, or None when not rated yet. A customer the actor may not
    see, or an actor without ``compliance.view_kycprofile``, raises KycProfile.DoesNotExist."""
    if (
        not _may_view_profiles(actor)
        or not Party.objects.visible_to(actor).filter(pk=party.pk).exists()
    ):
        raise KycProfile.DoesNotExist("No such KYC profile.")
    return KycProfile.objects.visible_to(actor).select_related("policy").filter(party=party).first()


def _may_view_profiles(actor: Any) -> bool:
    from bankcrm.access.permissions import actor_has_perm

    return actor_has_perm(actor, "compliance.view_kycprofile")


def rating_history(*, actor: Any, party: Party, limit: int = 20) -> list[RiskRatingHistory]:
    """The customer's latest ratings, newest first."""
    return list(
        RiskRatingHistory.objects.visible_to(actor)
        .filter(party=party)
        .order_by("-rated_at", "-id")[:limit]
    )


def kyc_review_list(
    *,
    actor: Any,
    due_before: dt.date | None = None,
    overdue: bool | None = None,
    party: Party | None = None,
    open_only: bool = True,
) -> QuerySet[KycReview]:
    """Reviews the actor may see, earliest due first; ``overdue``: past their due date (True),
    or not (False). A state's SLA is shown by the workflow, not counted as overdue here."""
    queryset = KycReview.objects.visible_to(actor).select_related("party", "assigned_to")
    if open_only:
        queryset = queryset.filter(completed_at__isnull=True)
    if party is not None:
        queryset = queryset.filter(party=party)
    if due_before is not None:
        queryset = queryset.filter(due_on__lt=due_before)
    if overdue is not None:
        late = Q(completed_at__isnull=True) & (Q(due_on__lt=bank_today()))
        queryset = queryset.filter(late) if overdue else queryset.exclude(late)
    return queryset.order_by("due_on", "pk")


def kyc_review_get(*, actor: Any, pk: Any) -> KycReview:
    """One review the actor may see (else KycReview.DoesNotExist)."""
    return KycReview.objects.visible_to(actor).select_related("party", "assigned_to").get(pk=pk)


def risk_distribution(*, actor: Any) -> dict[str, Any]:
    """Customers the actor may see by risk band, due diligence and review status."""
    profiles = KycProfile.objects.visible_to(actor)
    bands = {
        row["risk_band"] or "unrated": row["n"]
        for row in profiles.values("risk_band").annotate(n=Count("pk"))
    }
    diligence = {
        row["due_diligence"]: row["n"]
        for row in profiles.values("due_diligence").annotate(n=Count("pk"))
    }
    today = bank_today()
    return {
        "bands": {band: bands.get(band, 0) for band in ("low", "medium", "high", "unrated")},
        "due_diligence": diligence,
        "pep": profiles.exclude(pep_status=KycProfile.PepStatus.NONE).count(),
        "reviews_due": profiles.filter(next_review_on__lte=today).count(),
        "reviews_open": kyc_review_list(actor=actor).count(),
        "reviews_overdue": kyc_review_list(actor=actor, overdue=True).count(),
    }


def party_ubo(*, actor: Any, party: Party, threshold: Decimal | None = None) -> ubo.UboResult:
    """The ownership of an organisation the actor may see, with its KYC profile; the threshold
    is the active rating policy's ``ubo_threshold_percent`` unless given."""
    if not Party.objects.visible_to(actor).filter(pk=party.pk).exists() or not _may_view_profiles(
        actor
    ):
        raise Party.DoesNotExist("No such customer.")
    if threshold is None:
        threshold = ubo_threshold()
    return ubo.ownership(party.pk, threshold=threshold)


def ubo_threshold() -> Decimal:
    """The beneficial-ownership threshold of the active rating policy, in percent."""
    from .rating import DEFAULT_UBO_THRESHOLD_PERCENT

    policy = RatingPolicy.objects.filter(is_active=True).only("spec").first()
    spec = policy.spec if policy is not None else {}
    return Decimal(str(spec.get("ubo_threshold_percent", DEFAULT_UBO_THRESHOLD_PERCENT)))
