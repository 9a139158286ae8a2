"""Conversions: which customers of a campaign's audience took the offered product.

A customer of the treatment or the control group (never a suppressed one) converted when an
account of the offered product (success event ``product_opened``) or of the product's
category (``category_opened``) was opened with the customer as its primary holder
(``Account.owner``) or as an owner (``AccountRole`` "owner") on a day from the launch day to
the launch day plus the campaign's conversion window (both included, in the bank's zone),
and the customer held no such account at the launch (opened before the launch day and not
closed before it). The control group is measured exactly like the treatment group: that is
what makes the uplift honest.

Detection is one SQL ``UPDATE`` per campaign over the targets not yet converted, so running
it twice changes nothing; ``conversion_ref`` is the key of the earliest account opened in
the window and ``converted_at`` the start of its opening day in the bank's zone.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    CharField,
    DateTimeField,
    DurationField,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Coalesce, Concat, Lower, Substr
from django.utils import timezone

from bankcrm.audit.services import audit_record
from bankcrm.banking.models import Account, AccountRole
from bankcrm.core.actor import SystemActor
from bankcrm.events.services import event_record

from .models import Campaign, CampaignMessage, CampaignTarget

DETECT_ACTOR = SystemActor("marketing.conversions_detect")
# Campaigns whose conversions are still looked for (a paused campaign's messages went out).
MEASURED_STATUSES = (
    Campaign.Status.RUNNING,
    Campaign.Status.PAUSED,
    Campaign.Status.COMPLETED,
)
# Accounts of the window's last day may be loaded from core banking the night after it.
LATE_LOAD_DAYS = 1


def _zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)


def conversion_window(campaign: Campaign) -> tuple[dt.date, dt.date] | None:
    """The first and last day (bank's zone, both included) on which an account opened counts
    as a conversion; None before the launch."""
    if campaign.launched_at is None:
        return None
    start = campaign.launched_at.astimezone(_zone()).date()
    return start, start + dt.timedelta(days=campaign.conversion_days)


def _product_accounts(campaign: Campaign) -> QuerySet[Account] | None:
    offer = campaign.offer
    if offer is None or campaign.success_event == Campaign.SuccessEvent.NONE:
        return None
    if campaign.success_event == Campaign.SuccessEvent.CATEGORY_OPENED:
        return Account.objects.filter(product__category=offer.product.category)
    return Account.objects.filter(product_id=offer.product_id)


def _holder_paths(accounts: QuerySet[Account]) -> tuple[QuerySet[Account], QuerySet[Account]]:
    """``accounts`` of the target's customer (the outer query is CampaignTarget): as primary
    holder, and through an owner role. Kept as two queries, each reaching the customer's few
    accounts through its own index, rather than one OR that no index serves."""
    as_holder = accounts.filter(owner_id=OuterRef("party_id"))
    as_owner = accounts.filter(
        roles__party_id=OuterRef("party_id"), roles__role=AccountRole.Role.OWNER
    )
    return as_holder, as_owner


def _held_by_target(accounts: QuerySet[Account]) -> Q:
    as_holder, as_owner = _holder_paths(accounts)
    return Q(Exists(as_holder)) | Q(Exists(as_owner))


def _uuid_text(expression: Expression | F) -> Expression:
    """The account key as its canonical text (``str(uuid)``) on both databases: SQLite
    stores a UUID as 32 hex digits, PostgreSQL prints it with hyphens."""
    text = Cast(expression, output_field=CharField(max_length=36))
    if connection.vendor == "postgresql":
        return text
    parts: list[Any] = []
    for start, length in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12)):
        if parts:
            parts.append(Value("-"))
        parts.append(Substr(text, start, length))
    return Lower(Concat(*parts, output_field=CharField(max_length=36)))


def _day_start(offset: dt.timedelta) -> Expression:
    """The start of the account's opening day in the bank's zone, as a UTC instant."""
    return Cast("opened_on", output_field=DateTimeField()) - Value(
        offset, output_field=DurationField()
    )


def conversions_detect(
    *, campaign: Campaign, now: dt.datetime | None = None, actor: Any = None
) -> int:
    """Mark the campaign's treatment and control customers who converted within its window
    (see the module docstring) in one SQL update; returns how many were newly marked.

    Idempotent: converted customers are left as they are. Audited as one event with the
    counts. A campaign not launched, or measuring no success event, has none."""
    actor = actor or DETECT_ACTOR
    window = conversion_window(campaign)
    accounts = _product_accounts(campaign)
    if window is None or accounts is None:
        return 0
    now = now or timezone.now()
    first_day, last_day = window
    last_day = min(last_day, now.astimezone(_zone()).date())
    if last_day < first_day:
        return 0
    in_window = accounts.filter(opened_on__gte=first_day, opened_on__lte=last_day)
    held_before = accounts.filter(opened_on__lt=first_day).filter(
        Q(closed_on__isnull=True) | Q(closed_on__gte=first_day)
    )
    # The account named: the earliest opened in the window, primary-holder accounts first.
    first_held, first_owned = (
        path.order_by("opened_on", "pk") for path in _holder_paths(in_window)
    )
    midnight = dt.datetime.combine(first_day, dt.time(), tzinfo=_zone())
    offset = midnight.utcoffset() or dt.timedelta(0)
    with transaction.atomic():
        newly = (
            CampaignTarget.objects.filter(
                campaign_id=campaign.pk,
                group__in=[CampaignTarget.Group.TREATMENT, CampaignTarget.Group.CONTROL],
                converted_at__isnull=True,
            )
            # Uncorrelated first (hashed by PostgreSQL): only the few customers who opened
            # such an account at all reach the per-customer checks below.
            .filter(
                Q(party_id__in=in_window.values("owner_id"))
                | Q(
                    party_id__in=AccountRole.objects.filter(
                        role=AccountRole.Role.OWNER, account__in=in_window
                    ).values("party_id")
                )
            )
            .filter(_held_by_target(in_window))
            .exclude(_held_by_target(held_before))
            .update(
                conversion_ref=Coalesce(
                    *(
                        Subquery(path.annotate(ref=_uuid_text(F("pk"))).values("ref")[:1])
                        for path in (first_held, first_owned)
                    ),
                    output_field=CharField(max_length=64),
                ),
                converted_at=Coalesce(
                    *(
                        Subquery(path.annotate(day=_day_start(offset)).values("day")[:1])
                        for path in (first_held, first_owned)
                    ),
                    output_field=DateTimeField(),
                ),
            )
        )
        totals = _conversion_counts(campaign)
        audit_record(
            actor=actor,
            action="campaign.conversions_detect",
            target=campaign,
            after={
                "window_from": first_day.isoformat(),
                "window_to": last_day.isoformat(),
                "success_event": campaign.success_event,
                "new_conversions": newly,
                "conversions_treatment": totals.get(CampaignTarget.Group.TREATMENT, 0),
                "conversions_control": totals.get(CampaignTarget.Group.CONTROL, 0),
            },
        )
    return newly


def _conversion_counts(campaign: Campaign) -> dict[str, int]:
    from django.db.models import Count

    rows = (
        CampaignTarget.objects.filter(campaign_id=campaign.pk, converted_at__isnull=False)
        .values("group")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return {row["group"]: row["count"] for row in rows}


def _complete(campaign: Campaign, now: dt.datetime, actor: Any) -> bool:
    """Close a running campaign whose window has passed and whose queue is empty."""
    with transaction.atomic():
        if CampaignMessage.objects.filter(
            campaign_id=campaign.pk, status=CampaignMessage.Status.QUEUED
        ).exists():
            return False
        changed = Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.RUNNING).update(
            status=Campaign.Status.COMPLETED, completed_at=now, updated_at=now
        )
        if not changed:
            return False
        audit_record(
            actor=actor,
            action="campaign.complete",
            target=campaign,
            before={"status": Campaign.Status.RUNNING},
            after={"status": Campaign.Status.COMPLETED, "completed_at": now.isoformat()},
        )
        event_record(
            type="campaign.completed",
            target=campaign,
            payload={"campaign": campaign.pk, "completed_at": now.isoformat()},
        )
    return True


def conversions_detect_all(*, now: dt.datetime | None = None, actor: Any = None) -> int:
    """Detect the conversions of every launched campaign (running, paused or completed)
    still within its window (and the day after it, for accounts loaded overnight); complete
    each running campaign whose window has passed and whose queue is empty. Returns the
    number of conversions newly marked. The nightly job."""
    actor = actor or DETECT_ACTOR
    now = now or timezone.now()
    today = now.astimezone(_zone()).date()
    total = 0
    campaigns = Campaign.objects.filter(
        status__in=MEASURED_STATUSES, launched_at__isnull=False
    ).select_related("offer__product")
    for campaign in campaigns.order_by("pk"):
        window = conversion_window(campaign)
        if window is None:
            continue
        last_day = window[1]
        if today <= last_day + dt.timedelta(days=LATE_LOAD_DAYS):
            total += conversions_detect(campaign=campaign, now=now, actor=actor)
        if campaign.status == Campaign.Status.RUNNING and today > last_day:
            _complete(campaign, now, actor)
    return total
