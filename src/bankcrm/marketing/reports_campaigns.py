"""The campaign effectiveness report: who was in each group, what the messages did, who
converted in treatment and in control, the uplift with its confidence interval (overall, per
variant and per customer segment), and what it cost and earned.

Definitions (the page, the CSV file and the API show the same figures):

* groups: the audience drawn at launch, treatment, control and suppressed (by reason);
* the message funnel, per channel: messages by current status, and how many reached each
  step (sent: status sent or beyond, i.e. sent, delivered, opened, clicked, bounced or
  unsubscribed; delivered; opened; clicked);
* conversions (see :mod:`bankcrm.marketing.services_conversions`) and rates in treatment and
  control; uplift, its 95 per cent interval and p value from
  :func:`bankcrm.marketing.stats.two_proportion_uplift`. Per variant: that variant's treated
  customers against the whole control group (variants are drawn at random from the same
  treatment pool, so the control group stands for each). Per customer segment
  (``Party.segment``): treated against control customers of that segment;
* cost = fixed cost + messages sent × the campaign's cost per message of their channel.
  Per variant and per segment, the messages sent to their customers plus the fixed cost
  shared in proportion to their treated customers;
* CPA (cost per acquisition) = cost / conversions in treatment;
* incremental conversions = uplift × treated customers (= x_t − x_c · n_t / n_c, kept
  exact as a fraction); cost per incremental acquisition = cost / incremental conversions
  (only when there are some);
* value = incremental conversions × value of one conversion (the campaign's, else its
  offer's, converted to the campaign's currency at the latest exchange rates when they
  differ); ROI = (value − cost) / cost.

Money is Decimal rounded to the cent (the bank's rounding mode); ROI is a Decimal ratio to
four places; rates and uplifts are floats (fractions of 1, shown as per cent).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.money import default_rounding

from .models import Campaign, CampaignMessage, CampaignTarget
from .models.campaigns import Channel
from .services_conversions import conversion_window
from .stats import Uplift, two_proportion_uplift

VIEW_PERMISSION = "marketing.view_campaign"
CONFIDENCE = 0.95
CENT = Decimal("0.01")
RATIO_PLACES = Decimal("0.0001")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
MESSAGE_STATUSES: tuple[str, ...] = tuple(CampaignMessage.Status.values)
# A message in one of these statuses left the bank: it is paid for.
SENT_STATUSES = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
DELIVERED_STATUSES = ("delivered", "opened", "clicked")
OPENED_STATUSES = ("opened", "clicked")


@dataclass(frozen=True)
class ChannelFunnel:
    """What one channel's messages did."""

    channel: str
    label: str
    total: int
    by_status: dict[str, int]
    sent: int
    delivered: int
    opened: int
    clicked: int
    cost_per_message: Decimal
    cost: Decimal

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "label": self.label,
            "total": self.total,
            "by_status": dict(self.by_status),
            "sent": self.sent,
            "delivered": self.delivered,
            "opened": self.opened,
            "clicked": self.clicked,
            "delivered_rate": self.rate(self.delivered),
            "opened_rate": self.rate(self.opened),
            "clicked_rate": self.rate(self.clicked),
            "cost_per_message": self.cost_per_message,
            "cost": self.cost,
        }


@dataclass(frozen=True)
class Effect:
    """Conversion in treatment against control for the whole campaign, one variant or one
    customer segment, with its costs and return."""

    key: str
    label: str
    uplift: Uplift
    messages_sent: int
    cost: Decimal
    cpa: Decimal | None
    incremental: float | None
    cost_per_incremental: Decimal | None
    value: Decimal | None
    roi: Decimal | None

    @property
    def size_treatment(self) -> int:
        return self.uplift.size_treatment

    @property
    def size_control(self) -> int:
        return self.uplift.size_control

    @property
    def conversions_treatment(self) -> int:
        return self.uplift.conversions_treatment

    @property
    def conversions_control(self) -> int:
        return self.uplift.conversions_control

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "size_treatment": self.size_treatment,
            "conversions_treatment": self.conversions_treatment,
            "size_control": self.size_control,
            "conversions_control": self.conversions_control,
            "uplift": self.uplift.as_dict(),
            "messages_sent": self.messages_sent,
            "cost": self.cost,
            "cpa": self.cpa,
            "incremental_conversions": self.incremental,
            "cost_per_incremental": self.cost_per_incremental,
            "value": self.value,
            "roi": self.roi,
        }


@dataclass(frozen=True)
class CampaignReport:
    """The effectiveness report of one campaign (see the module docstring)."""

    campaign: Campaign
    currency: str
    window_from: dt.date | None
    window_to: dt.date | None
    groups: dict[str, int]
    suppressed_by_reason: dict[str, int]
    funnel: list[ChannelFunnel]
    fixed_cost: Decimal
    value_per_conversion: Decimal | None
    overall: Effect
    variants: list[Effect] = field(default_factory=list)
    segments: list[Effect] = field(default_factory=list)

    @property
    def audience(self) -> int:
        return sum(self.groups.values())

    @property
    def messages_total(self) -> int:
        return sum(row.total for row in self.funnel)

    @property
    def messages_cost(self) -> Decimal:
        return sum((row.cost for row in self.funnel), Decimal("0.00"))

    def as_dict(self) -> dict[str, Any]:
        campaign = self.campaign
        return {
            "campaign": {
                "id": campaign.pk,
                "name": campaign.name,
                "status": campaign.status,
                "success_event": campaign.success_event,
                "conversion_days": campaign.conversion_days,
                "launched_at": campaign.launched_at,
                "completed_at": campaign.completed_at,
            },
            "currency": self.currency,
            "confidence": CONFIDENCE,
            "window_from": self.window_from,
            "window_to": self.window_to,
            "groups": dict(self.groups),
            "suppressed_by_reason": dict(self.suppressed_by_reason),
            "funnel": [row.as_dict() for row in self.funnel],
            "fixed_cost": self.fixed_cost,
            "messages_cost": self.messages_cost,
            "value_per_conversion": self.value_per_conversion,
            "overall": self.overall.as_dict(),
            "variants": [row.as_dict() for row in self.variants],
            "segments": [row.as_dict() for row in self.segments],
        }


# --- Reading -----------------------------------------------------------------------------------


def report_campaign_get(*, actor: Any, pk: Any) -> Campaign:
    """The campaign ``pk`` if the actor may read its report (PermissionDenied without
    ``marketing.view_campaign``; Campaign.DoesNotExist outside the actor's reach)."""
    if not actor_has_perm(actor, VIEW_PERMISSION):
        raise PermissionDenied(_("You may not read campaign reports."))
    return Campaign.objects.visible_to(actor).select_related("offer__product").get(pk=pk)


def _money(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal("0.00")
    return amount if amount.is_finite() else Decimal("0.00")


def _cent(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=default_rounding())


def _fraction_to_decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)


def _value_per_conversion(campaign: Campaign) -> Decimal | None:
    if campaign.value_per_conversion is not None:
        return _money(campaign.value_per_conversion)
    offer = campaign.offer
    if offer is None:
        return None
    value = _money(offer.value)
    if offer.currency == campaign.currency:
        return value
    from bankcrm.banking.selectors import fx_rates_latest

    rates = fx_rates_latest([offer.currency, campaign.currency])
    if offer.currency not in rates or campaign.currency not in rates:
        return None
    return _cent(value * rates[offer.currency] / rates[campaign.currency])


def _costs_per_message(campaign: Campaign) -> dict[str, Decimal]:
    raw = campaign.cost_per_message if isinstance(campaign.cost_per_message, dict) else {}
    return {str(channel): _money(amount) for channel, amount in raw.items()}


def _effect(
    *,
    key: str,
    label: str,
    counts: tuple[int, int, int, int],
    sent_by_channel: dict[str, int],
    fixed_share: Decimal,
    prices: dict[str, Decimal],
    value_per_conversion: Decimal | None,
) -> Effect:
    conv_t, n_t, conv_c, n_c = counts
    uplift = two_proportion_uplift(conv_t, n_t, conv_c, n_c, CONFIDENCE)
    sent = sum(sent_by_channel.values())
    cost = _cent(
        fixed_share
        + sum(
            (count * prices.get(channel, Decimal(0)) for channel, count in sent_by_channel.items()),
            Decimal(0),
        )
    )
    cpa = _cent(cost / conv_t) if conv_t else None
    incremental_exact = Fraction(conv_t) - Fraction(conv_c * n_t, n_c) if n_t and n_c else None
    incremental = float(incremental_exact) if incremental_exact is not None else None
    cost_per_incremental = None
    value = None
    roi = None
    if incremental_exact is not None:
        if incremental_exact > 0:
            cost_per_incremental = _cent(cost / _fraction_to_decimal(incremental_exact))
        if value_per_conversion is not None:
            value = _cent(value_per_conversion * _fraction_to_decimal(incremental_exact))
            if cost > 0:
                roi = ((value - cost) / cost).quantize(RATIO_PLACES, rounding=default_rounding())
    return Effect(
        key=key,
        label=label,
        uplift=uplift,
        messages_sent=sent,
        cost=cost,
        cpa=cpa,
        incremental=incremental,
        cost_per_incremental=cost_per_incremental,
        value=value,
        roi=roi,
    )


def _fixed_share(fixed: Decimal, part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal(0)
    return fixed * part / whole


def campaign_report(*, actor: Any, campaign: Campaign) -> CampaignReport:
    """The effectiveness report of ``campaign`` (module docstring), read in a fixed number
    of aggregate queries whatever the audience's size. PermissionDenied without
    ``marketing.view_campaign``; Campaign.DoesNotExist when the campaign is outside the
    actor's reach."""
    campaign = report_campaign_get(actor=actor, pk=campaign.pk)
    converted = Q(converted_at__isnull=False)
    targets = CampaignTarget.objects.filter(campaign_id=campaign.pk)

    groups = {value: 0 for value in CampaignTarget.Group.values}
    conversions: dict[str, int] = defaultdict(int)
    suppressed: dict[str, int] = {}
    for row in (
        targets.values("group", "suppression")
        .annotate(size=Count("pk"), converted=Count("pk", filter=converted))
        .order_by()
    ):
        groups[row["group"]] = groups.get(row["group"], 0) + row["size"]
        conversions[row["group"]] += row["converted"]
        if row["group"] == CampaignTarget.Group.SUPPRESSED:
            reason = row["suppression"] or ""
            suppressed[reason] = suppressed.get(reason, 0) + row["size"]
    n_t, n_c = groups[CampaignTarget.Group.TREATMENT], groups[CampaignTarget.Group.CONTROL]
    conv_t = conversions[CampaignTarget.Group.TREATMENT]
    conv_c = conversions[CampaignTarget.Group.CONTROL]

    prices = _costs_per_message(campaign)
    messages = CampaignMessage.objects.filter(campaign_id=campaign.pk)
    sent_filter = Q(status__in=SENT_STATUSES)
    funnel_rows = (
        messages.values("channel")
        .annotate(
            total=Count("pk"),
            sent=Count("pk", filter=sent_filter),
            delivered=Count(
                "pk", filter=Q(status__in=DELIVERED_STATUSES) | Q(delivered_at__isnull=False)
            ),
            opened=Count("pk", filter=Q(status__in=OPENED_STATUSES) | Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(status="clicked") | Q(clicked_at__isnull=False)),
            **{
                f"status_{status}": Count("pk", filter=Q(status=status))
                for status in MESSAGE_STATUSES
            },
        )
        .order_by()
    )
    labels = dict(Channel.choices)
    by_channel = {row["channel"]: row for row in funnel_rows}
    channel_order = [c for c in (campaign.channels or []) if c in labels] + sorted(
        c for c in by_channel if c not in (campaign.channels or [])
    )
    funnel: list[ChannelFunnel] = []
    sent_total: dict[str, int] = {}
    for channel in channel_order:
        row = by_channel.get(channel, {})
        sent = row.get("sent", 0)
        sent_total[channel] = sent
        price = prices.get(channel, Decimal(0))
        funnel.append(
            ChannelFunnel(
                channel=channel,
                label=str(labels.get(channel, channel)),
                total=row.get("total", 0),
                by_status={status: row.get(f"status_{status}", 0) for status in MESSAGE_STATUSES},
                sent=sent,
                delivered=row.get("delivered", 0),
                opened=row.get("opened", 0),
                clicked=row.get("clicked", 0),
                cost_per_message=price,
                cost=_cent(sent * price),
            )
        )

    fixed = _money(campaign.cost_fixed)
    value_per_conversion = _value_per_conversion(campaign)
    common: dict[str, Any] = {"prices": prices, "value_per_conversion": value_per_conversion}
    overall = _effect(
        key="overall",
        label=_("Whole campaign"),
        counts=(conv_t, n_t, conv_c, n_c),
        sent_by_channel=sent_total,
        fixed_share=fixed,
        **common,
    )

    variants = _variant_effects(campaign, targets, messages, fixed, n_t, n_c, conv_c, common)
    segments = _segment_effects(targets, messages, fixed, n_t, common)
    window = conversion_window(campaign)
    return CampaignReport(
        campaign=campaign,
        currency=campaign.currency,
        window_from=window[0] if window else None,
        window_to=window[1] if window else None,
        groups=groups,
        suppressed_by_reason=suppressed,
        funnel=funnel,
        fixed_cost=_cent(fixed),
        value_per_conversion=value_per_conversion,
        overall=overall,
        variants=variants,
        segments=segments,
    )


def _sent_by(messages: Any, key: str) -> dict[Any, dict[str, int]]:
    sent: dict[Any, dict[str, int]] = defaultdict(dict)
    for row in (
        messages.filter(status__in=SENT_STATUSES)
        .values(key, "channel")
        .annotate(count=Count("pk"))
        .order_by()
    ):
        sent[row[key]][row["channel"]] = row["count"]
    return sent


def _variant_effects(
    campaign: Campaign,
    targets: Any,
    messages: Any,
    fixed: Decimal,
    n_t: int,
    n_c: int,
    conv_c: int,
    common: dict[str, Any],
) -> list[Effect]:
    counts = {
        row["variant"]: row
        for row in targets.filter(group=CampaignTarget.Group.TREATMENT)
        .values("variant")
        .annotate(size=Count("pk"), converted=Count("pk", filter=Q(converted_at__isnull=False)))
        .order_by()
    }
    sent = _sent_by(messages, "target__variant")
    effects = []
    variants = list(campaign.variants.order_by("code"))
    keys: list[tuple[Any, str]] = [(v.pk, v.code) for v in variants]
    if None in counts:
        keys.append((None, _("No variant")))
    for pk, code in keys:
        row = counts.get(pk, {"size": 0, "converted": 0})
        effects.append(
            _effect(
                key=str(code),
                label=str(code),
                counts=(row["converted"], row["size"], conv_c, n_c),
                sent_by_channel=sent.get(pk, {}),
                fixed_share=_fixed_share(fixed, row["size"], n_t),
                **common,
            )
        )
    return effects


def _segment_effects(
    targets: Any, messages: Any, fixed: Decimal, n_t: int, common: dict[str, Any]
) -> list[Effect]:
    from bankcrm.customers.models import Party

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in (
        targets.filter(group__in=[CampaignTarget.Group.TREATMENT, CampaignTarget.Group.CONTROL])
        .values("group", "party__segment")
        .annotate(size=Count("pk"), converted=Count("pk", filter=Q(converted_at__isnull=False)))
        .order_by()
    ):
        bucket = counts[row["party__segment"] or ""]
        bucket[f"{row['group']}_size"] += row["size"]
        bucket[f"{row['group']}_converted"] += row["converted"]
    sent = _sent_by(messages, "party__segment")
    labels = dict(Party.Segment.choices)
    order = [value for value in Party.Segment.values if value in counts] + sorted(
        value for value in counts if value not in labels
    )
    effects = []
    for segment in order:
        bucket = counts[segment]
        size_t = bucket["treatment_size"]
        effects.append(
            _effect(
                key=segment,
                label=str(labels.get(segment, segment or _("No segment"))),
                counts=(
                    bucket["treatment_converted"],
                    size_t,
                    bucket["control_converted"],
                    bucket["control_size"],
                ),
                sent_by_channel=sent.get(segment, {}),
                fixed_share=_fixed_share(fixed, size_t, n_t),
                **common,
            )
        )
    return effects


# --- Sections (the page and the exports) --------------------------------------------------------


def _effect_rows(effects: Iterable[Effect]) -> list[list[Any]]:
    rows = []
    for effect in effects:
        u = effect.uplift
        rows.append(
            [
                effect.key,
                effect.label,
                u.size_treatment,
                u.conversions_treatment,
                u.rate_treatment,
                u.size_control,
                u.conversions_control,
                u.rate_control,
                u.difference,
                u.ci_low,
                u.ci_high,
                u.relative,
                u.z,
                u.p_value,
                effect.messages_sent,
                effect.cost,
                effect.cpa,
                effect.incremental,
                effect.cost_per_incremental,
                effect.value,
                effect.roi,
            ]
        )
    return rows


def report_sections(report: CampaignReport) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report as tables (title, headings, rows): what the CSV file holds."""
    campaign = report.campaign
    effect_headings = [
        _("Key"),
        _("Name"),
        _("Treatment customers"),
        _("Treatment conversions"),
        _("Treatment rate"),
        _("Control customers"),
        _("Control conversions"),
        _("Control rate"),
        _("Uplift"),
        _("Interval low (95 per cent)"),
        _("Interval high (95 per cent)"),
        _("Relative uplift"),
        _("z"),
        _("p value"),
        _("Messages sent"),
        _("Cost"),
        _("Cost per acquisition"),
        _("Incremental conversions"),
        _("Cost per incremental acquisition"),
        _("Value"),
        _("Return on investment"),
    ]
    group_labels = dict(CampaignTarget.Group.choices)
    reason_labels = dict(CampaignTarget.Suppression.choices)
    status_labels = dict(CampaignMessage.Status.choices)
    return [
        (
            _("Campaign"),
            [_("Field"), _("Value")],
            [
                [_("Campaign"), campaign.name],
                [_("Status"), campaign.status],
                [_("Success event"), campaign.success_event],
                [_("Conversion window from"), report.window_from],
                [_("Conversion window to"), report.window_to],
                [_("Currency"), report.currency],
                [_("Fixed cost"), report.fixed_cost],
                [_("Value of one conversion"), report.value_per_conversion],
            ],
        ),
        (
            _("Groups"),
            [_("Group"), _("Name"), _("Customers")],
            [[key, str(group_labels.get(key, key)), n] for key, n in report.groups.items()],
        ),
        (
            _("Suppressed customers"),
            [_("Reason"), _("Name"), _("Customers")],
            [
                [key, str(reason_labels.get(key, key)), n]
                for key, n in sorted(report.suppressed_by_reason.items())
            ],
        ),
        (
            _("Messages by channel and status"),
            [_("Channel"), *[str(status_labels[s]) for s in MESSAGE_STATUSES], _("Total")],
            [
                [row.channel, *[row.by_status[s] for s in MESSAGE_STATUSES], row.total]
                for row in report.funnel
            ],
        ),
        (
            _("Message funnel"),
            [
                _("Channel"),
                _("Sent"),
                _("Delivered"),
                pgettext("message", "Opened"),
                _("Clicked"),
                _("Cost per message"),
                _("Cost"),
            ],
            [
                [
                    row.channel,
                    row.sent,
                    row.delivered,
                    row.opened,
                    row.clicked,
                    row.cost_per_message,
                    row.cost,
                ]
                for row in report.funnel
            ],
        ),
        (_("Effect overall"), effect_headings, _effect_rows([report.overall])),
        (_("Effect per variant"), effect_headings, _effect_rows(report.variants)),
        (_("Effect per customer segment"), effect_headings, _effect_rows(report.segments)),
    ]


def report_file_name(campaign: Campaign) -> str:
    return f"campaign-{campaign.pk}-report.csv"
