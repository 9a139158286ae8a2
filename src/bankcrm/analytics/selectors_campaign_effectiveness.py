"""Reading the campaign effectiveness report across campaigns: one row per campaign launched
in a period, with the figures of its own report, and totals by channel, objective and product.

A campaign's figures are those of its own report (:mod:`bankcrm.marketing.reports_campaigns`,
the "whole campaign" line), computed by the same function (``_effect``: uplift and its 95 per
cent interval from :func:`bankcrm.marketing.stats.two_proportion_uplift`, cost, CPA,
incremental conversions, value, ROI) from the same counts; only the reading differs: instead
of a few queries per campaign, the audiences and conversions of every campaign listed are
counted in one grouped statement and their messages in another, whatever the number of
campaigns. The campaigns are those the viewer may see (``marketing.selectors_campaigns.
campaign_list``: the campaign's owning unit within their reach), and each campaign's figures
are the whole campaign's, as on its own report.

Totals add campaigns up per currency (amounts are never summed across currencies):

* counts, messages, cost and value are sums; CPA = cost / conversions in treatment;
* incremental conversions are the sum of the campaigns' (uplift × treated customers);
  the **uplift of a total** is that sum over the treated customers of the campaigns whose
  uplift is measurable (both groups drawn): the average of their uplifts weighted by their
  treated customers, not the difference of the pooled rates (campaigns hold back different
  shares, so pooling them would compare unlike groups); its 95 per cent interval is
  ± 1.96 × √(Σ n_t² × se²) / Σ n_t, the campaigns being independent;
* ROI = (value − cost) / cost, only when every campaign of the total has a value;
* totals by channel hold that channel's messages and their cost (sent × the campaign's price
  of a message on it): conversions belong to a campaign, not to one of its channels.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.money import default_rounding
from bankcrm.core.timefmt import bank_today
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget
from bankcrm.marketing.models.campaigns import Channel
from bankcrm.marketing.reports_campaigns import (
    CONFIDENCE,
    DELIVERED_STATUSES,
    OPENED_STATUSES,
    RATIO_PLACES,
    SENT_STATUSES,
    Effect,
    _cent,
    _costs_per_message,
    _effect,
    _money,
)
from bankcrm.marketing.reports_campaigns import VIEW_PERMISSION as VIEW_CAMPAIGN_REPORTS
from bankcrm.marketing.selectors_campaigns import campaign_list
from bankcrm.marketing.stats import z_quantile

# Statuses a launched campaign can be in.
LAUNCHED_STATUSES = (
    Campaign.Status.RUNNING,
    Campaign.Status.PAUSED,
    Campaign.Status.COMPLETED,
    Campaign.Status.CANCELLED,
)
MAX_DAYS = 3660


@dataclass
class CampaignRow:
    """One campaign: who was in it, what its messages did, and its effect (``Effect``, the
    whole-campaign line of its own report)."""

    campaign: Campaign
    currency: str
    audience: int
    treatment: int
    control: int
    suppressed: int
    messages: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    effect: Effect
    value_per_conversion: Decimal | None
    url: str

    @property
    def pk(self) -> int:
        return int(self.campaign.pk)

    @property
    def product(self) -> Any:
        offer = self.campaign.offer
        return offer.product if offer is not None else None

    def as_dict(self) -> dict[str, Any]:
        campaign, effect = self.campaign, self.effect
        uplift = effect.uplift
        product = self.product
        labels = dict(Channel.choices)
        return {
            "campaign": campaign.pk,
            "name": campaign.name,
            "status": str(campaign.get_status_display()),
            "objective": str(campaign.get_objective_display()),
            "product": product.code if product is not None else "",
            "product_name": product.name if product is not None else "",
            "channels": ", ".join(str(labels.get(c, c)) for c in campaign.channels or []),
            "launched_at": campaign.launched_at,
            "currency": self.currency,
            "audience": self.audience,
            "treatment": self.treatment,
            "control": self.control,
            "suppressed": self.suppressed,
            "sent": self.sent,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "conversions_treatment": uplift.conversions_treatment,
            "conversions_control": uplift.conversions_control,
            "rate_treatment": uplift.rate_treatment,
            "rate_control": uplift.rate_control,
            "uplift": uplift.difference,
            "ci_low": uplift.ci_low,
            "ci_high": uplift.ci_high,
            "p_value": uplift.p_value,
            "cost": effect.cost,
            "cpa": effect.cpa,
            "incremental": effect.incremental,
            "cost_per_incremental": effect.cost_per_incremental,
            "value": effect.value,
            "roi": effect.roi,
        }


@dataclass
class EffectTotal:
    """Campaigns added up (by objective, product, or all), in one currency (module
    docstring)."""

    key: str
    label: str
    currency: str
    campaigns: int = 0
    audience: int = 0
    treatment: int = 0
    control: int = 0
    conversions_treatment: int = 0
    conversions_control: int = 0
    sent: int = 0
    cost: Decimal = Decimal("0.00")
    value: Decimal = Decimal("0.00")
    is_value_complete: bool = True
    incremental: float = 0.0
    measured_treatment: int = 0
    variance_sum: float = 0.0
    filters: dict[str, str] = field(default_factory=dict)

    def add(self, row: CampaignRow) -> None:
        effect, uplift = row.effect, row.effect.uplift
        self.campaigns += 1
        self.audience += row.audience
        self.treatment += row.treatment
        self.control += row.control
        self.conversions_treatment += uplift.conversions_treatment
        self.conversions_control += uplift.conversions_control
        self.sent += row.sent
        self.cost += effect.cost
        if effect.value is None:
            self.is_value_complete = False
        else:
            self.value += effect.value
        if uplift.measurable and effect.incremental is not None:
            n_t = uplift.size_treatment
            self.incremental += effect.incremental
            self.measured_treatment += n_t
            self.variance_sum += n_t * n_t * (uplift.standard_error or 0.0) ** 2

    @property
    def cpa(self) -> Decimal | None:
        if not self.conversions_treatment:
            return None
        return _cent(self.cost / self.conversions_treatment)

    @property
    def uplift(self) -> float | None:
        if not self.measured_treatment:
            return None
        return self.incremental / self.measured_treatment

    def _half_width(self) -> float | None:
        if not self.measured_treatment:
            return None
        return z_quantile(CONFIDENCE) * math.sqrt(self.variance_sum) / self.measured_treatment

    @property
    def ci_low(self) -> float | None:
        uplift, half = self.uplift, self._half_width()
        return None if uplift is None or half is None else uplift - half

    @property
    def ci_high(self) -> float | None:
        uplift, half = self.uplift, self._half_width()
        return None if uplift is None or half is None else uplift + half

    @property
    def cost_per_incremental(self) -> Decimal | None:
        if self.incremental <= 0:
            return None
        return _cent(self.cost / Decimal(str(self.incremental)))

    @property
    def total_value(self) -> Decimal | None:
        return self.value if self.is_value_complete and self.campaigns else None

    @property
    def roi(self) -> Decimal | None:
        value = self.total_value
        if value is None or self.cost <= 0:
            return None
        return ((value - self.cost) / self.cost).quantize(RATIO_PLACES, rounding=default_rounding())

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "currency": self.currency,
            "campaigns": self.campaigns,
            "audience": self.audience,
            "treatment": self.treatment,
            "control": self.control,
            "conversions_treatment": self.conversions_treatment,
            "conversions_control": self.conversions_control,
            "sent": self.sent,
            "uplift": self.uplift,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "incremental": self.incremental if self.measured_treatment else None,
            "cost": self.cost,
            "cpa": self.cpa,
            "cost_per_incremental": self.cost_per_incremental,
            "value": self.total_value,
            "roi": self.roi,
        }


@dataclass
class ChannelTotal:
    """One channel's messages over the campaigns listed, in one currency."""

    channel: str
    label: str
    currency: str
    campaigns: int = 0
    messages: int = 0
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    clicked: int = 0
    cost: Decimal = Decimal("0.00")

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "label": self.label,
            "currency": self.currency,
            "campaigns": self.campaigns,
            "messages": self.messages,
            "sent": self.sent,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "delivered_rate": self.rate(self.delivered),
            "opened_rate": self.rate(self.opened),
            "clicked_rate": self.rate(self.clicked),
            "cost": self.cost,
        }


@dataclass
class CampaignEffectivenessReport:
    """The campaigns launched in the period that the viewer may see, and their totals."""

    date_from: dt.date
    date_to: dt.date
    filters: dict[str, str]
    campaigns: list[CampaignRow]
    by_channel: list[ChannelTotal]
    by_objective: list[EffectTotal]
    by_product: list[EffectTotal]
    totals: list[EffectTotal]
    confidence: float = CONFIDENCE


# --- Reading ---------------------------------------------------------------------------------


def _bank_midnight(day: dt.date) -> dt.datetime:
    zone = zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)
    return dt.datetime.combine(day, dt.time.min, tzinfo=zone)


def default_range(today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The twelve months up to today: from the first day of the month eleven months back."""
    today = today or bank_today()
    month = today.month - 11
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return dt.date(year, month, 1), today


def campaigns_launched(
    *,
    actor: Any,
    date_from: dt.date,
    date_to: dt.date,
    objective: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    status: str | None = None,
) -> QuerySet[Campaign]:
    """Campaigns the actor may see launched from ``date_from`` to ``date_to`` (bank days,
    both included), narrowed by objective, offered product (code), channel and status."""
    queryset = campaign_list(actor=actor, status=status or None).filter(
        launched_at__gte=_bank_midnight(date_from),
        launched_at__lt=_bank_midnight(date_to + dt.timedelta(days=1)),
    )
    if objective:
        queryset = queryset.filter(objective=objective)
    if product:
        queryset = queryset.filter(offer__product__code=product)
    if channel:
        # ``channels`` is a JSON list of channel codes; its text holds the quoted code (a
        # lookup SQLite and PostgreSQL both run, unlike JSON containment).
        queryset = queryset.filter(channels__icontains=f'"{channel}"')
    return queryset


def _check(date_from: dt.date, date_to: dt.date, objective: Any, channel: Any, status: Any) -> None:
    errors: dict[str, list[str]] = {}
    if date_from > date_to:
        errors["date_to"] = [_("The period ends before it starts.")]
    elif (date_to - date_from).days >= MAX_DAYS:
        errors["date_from"] = [
            _("Choose at most %(days)s days; narrow the dates.") % {"days": MAX_DAYS}
        ]
    if objective and objective not in Campaign.Objective.values:
        errors["objective"] = [_("Unknown objective.")]
    if channel and channel not in Channel.values:
        errors["channel"] = [_("Unknown channel.")]
    if status and status not in LAUNCHED_STATUSES:
        errors["status"] = [_("Choose running, paused, completed or cancelled.")]
    if errors:
        raise ValidationError(errors)


def _value_per_conversion(campaign: Campaign, rates: dict[str, Decimal]) -> Decimal | None:
    """What one conversion is worth (the rule of the campaign's own report), with the
    exchange rates read once for every campaign."""
    if campaign.value_per_conversion is not None:
        return _money(campaign.value_per_conversion)
    offer = campaign.offer
    if offer is None:
        return None
    value = _money(offer.value)
    if offer.currency == campaign.currency:
        return value
    if offer.currency not in rates or campaign.currency not in rates:
        return None
    return _cent(value * rates[offer.currency] / rates[campaign.currency])


def campaign_effectiveness(
    *,
    actor: Any,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    objective: str | None = None,
    product: str | None = None,
    channel: str | None = None,
    status: str | None = None,
) -> CampaignEffectivenessReport:
    """The campaigns launched from ``date_from`` to ``date_to`` (default: the twelve months
    up to today) that ``actor`` may see, newest launch first, with their effect, and the
    totals (module docstring). Reads the campaigns, their audiences and conversions, their
    messages and (when an offer is priced in another currency) the exchange rates: four
    statements whatever the number of campaigns. PermissionDenied without
    ``marketing.view_campaign``; ValidationError naming each bad filter."""
    if not actor_has_perm(actor, VIEW_CAMPAIGN_REPORTS):
        raise PermissionDenied(_("You may not read campaign reports."))
    if date_from is None or date_to is None:
        default_from, default_to = default_range()
        date_from, date_to = date_from or default_from, date_to or default_to
    _check(date_from, date_to, objective, channel, status)
    queryset = campaigns_launched(
        actor=actor,
        date_from=date_from,
        date_to=date_to,
        objective=objective,
        product=product,
        channel=channel,
        status=status,
    ).select_related("offer__product")
    campaigns = list(queryset.order_by("-launched_at", "-pk"))
    keys = queryset.values("pk")

    groups: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    if campaigns:
        for row in (
            CampaignTarget.objects.filter(campaign_id__in=keys)
            .values("campaign_id", "group")
            .annotate(size=Count("pk"), converted=Count("pk", filter=Q(converted_at__isnull=False)))
            .order_by()
        ):
            groups[row["campaign_id"]][row["group"]] = (row["size"], row["converted"])
    funnels: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    if campaigns:
        for row in (
            CampaignMessage.objects.filter(campaign_id__in=keys)
            .values("campaign_id", "channel")
            .annotate(
                total=Count("pk"),
                sent=Count("pk", filter=Q(status__in=SENT_STATUSES)),
                delivered=Count(
                    "pk", filter=Q(status__in=DELIVERED_STATUSES) | Q(delivered_at__isnull=False)
                ),
                opened=Count(
                    "pk", filter=Q(status__in=OPENED_STATUSES) | Q(opened_at__isnull=False)
                ),
                clicked=Count("pk", filter=Q(status="clicked") | Q(clicked_at__isnull=False)),
            )
            .order_by()
        ):
            funnels[row["campaign_id"]][row["channel"]] = row
    foreign = {
        currency
        for campaign in campaigns
        if campaign.value_per_conversion is None
        and campaign.offer is not None
        and campaign.offer.currency != campaign.currency
        for currency in (campaign.offer.currency, campaign.currency)
    }
    rates: dict[str, Decimal] = {}
    if foreign:
        from bankcrm.banking.selectors import fx_rates_latest

        rates = fx_rates_latest(sorted(foreign))

    rows = [
        _campaign_row(campaign, groups.get(campaign.pk, {}), funnels.get(campaign.pk, {}), rates)
        for campaign in campaigns
    ]
    return CampaignEffectivenessReport(
        date_from=date_from,
        date_to=date_to,
        filters={
            name: value
            for name, value in {
                "objective": objective,
                "product": product,
                "channel": channel,
                "status": status,
            }.items()
            if value
        },
        campaigns=rows,
        by_channel=_channel_totals(rows, funnels),
        by_objective=_effect_totals(rows, "objective"),
        by_product=_effect_totals(rows, "product"),
        totals=_effect_totals(rows, None),
    )


def _campaign_row(
    campaign: Campaign,
    groups: dict[str, tuple[int, int]],
    funnel: dict[str, dict[str, int]],
    rates: dict[str, Decimal],
) -> CampaignRow:
    n_t, conv_t = groups.get(CampaignTarget.Group.TREATMENT, (0, 0))
    n_c, conv_c = groups.get(CampaignTarget.Group.CONTROL, (0, 0))
    suppressed = groups.get(CampaignTarget.Group.SUPPRESSED, (0, 0))[0]
    prices = _costs_per_message(campaign)
    value_per_conversion = _value_per_conversion(campaign, rates)
    effect = _effect(
        key="overall",
        label=_("Whole campaign"),
        counts=(conv_t, n_t, conv_c, n_c),
        sent_by_channel={channel: row["sent"] for channel, row in funnel.items()},
        fixed_share=_money(campaign.cost_fixed),
        prices=prices,
        value_per_conversion=value_per_conversion,
    )
    return CampaignRow(
        campaign=campaign,
        currency=campaign.currency,
        audience=n_t + n_c + suppressed,
        treatment=n_t,
        control=n_c,
        suppressed=suppressed,
        messages=sum(row["total"] for row in funnel.values()),
        sent=sum(row["sent"] for row in funnel.values()),
        delivered=sum(row["delivered"] for row in funnel.values()),
        opened=sum(row["opened"] for row in funnel.values()),
        clicked=sum(row["clicked"] for row in funnel.values()),
        effect=effect,
        value_per_conversion=value_per_conversion,
        url=reverse("marketing:campaign_report", args=[campaign.pk]),
    )


def _channel_totals(
    rows: list[CampaignRow], funnels: dict[int, dict[str, dict[str, int]]]
) -> list[ChannelTotal]:
    labels = dict(Channel.choices)
    totals: dict[tuple[str, str], ChannelTotal] = {}
    for row in rows:
        campaign = row.campaign
        prices = _costs_per_message(campaign)
        funnel = funnels.get(campaign.pk, {})
        for channel in sorted(set(campaign.channels or []) | set(funnel)):
            key = (channel, row.currency)
            total = totals.get(key)
            if total is None:
                total = totals[key] = ChannelTotal(
                    channel=channel, label=str(labels.get(channel, channel)), currency=row.currency
                )
            counts = funnel.get(channel, {})
            total.campaigns += 1
            total.messages += counts.get("total", 0)
            total.sent += counts.get("sent", 0)
            total.delivered += counts.get("delivered", 0)
            total.opened += counts.get("opened", 0)
            total.clicked += counts.get("clicked", 0)
            total.cost += _cent(counts.get("sent", 0) * prices.get(channel, Decimal(0)))
    order = {value: index for index, value in enumerate(Channel.values)}
    return sorted(totals.values(), key=lambda t: (order.get(t.channel, 99), t.channel, t.currency))


def _effect_totals(rows: list[CampaignRow], by: str | None) -> list[EffectTotal]:
    totals: dict[tuple[str, str], EffectTotal] = {}
    objectives = dict(Campaign.Objective.choices)
    for row in rows:
        campaign = row.campaign
        if by == "objective":
            key, label = campaign.objective, str(objectives.get(campaign.objective, ""))
            filters = {"objective": key}
        elif by == "product":
            product = row.product
            key = product.code if product is not None else ""
            label = product.name if product is not None else _("No product offered")
            filters = {"product": key} if key else {}
        else:
            key, label, filters = "all", _("All campaigns"), {}
        total = totals.get((key, row.currency))
        if total is None:
            total = totals[(key, row.currency)] = EffectTotal(
                key=key, label=str(label), currency=row.currency, filters=filters
            )
        total.add(row)
    if by == "objective":
        order = {value: index for index, value in enumerate(Campaign.Objective.values)}
        return sorted(totals.values(), key=lambda t: (order.get(t.key, 99), t.currency))
    return sorted(totals.values(), key=lambda t: (t.label, t.currency))


__all__ = [
    "LAUNCHED_STATUSES",
    "CampaignEffectivenessReport",
    "CampaignRow",
    "ChannelTotal",
    "EffectTotal",
    "campaign_effectiveness",
    "campaigns_launched",
    "default_range",
]
