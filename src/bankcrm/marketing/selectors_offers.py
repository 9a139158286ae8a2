"""Reads of product offers: the catalogue, a customer's next best offers, the in-branch
campaign banners on the customer 360 page and the next best offer report.

Next best offers (:func:`next_best_offers`). For one customer the candidates are the offers
that are active, flagged as next best offers and valid today. None at all when the customer
is closed or deceased, asked not to be contacted, has not consented to profiling (PIPL:
personalised offers rest on that consent; the panel then says so) or has reached the
contact limit (``MARKETING_FREQUENCY_CAP`` campaign messages sent within
``MARKETING_FREQUENCY_DAYS`` days). An offer is left out when the customer already holds its
product (an account of it that is not closed, as owner or joint owner), fails its
eligibility rules (``{}``: everyone) or when staff accepted or dismissed it for this customer
within ``MARKETING_NBO_DISMISS_DAYS`` days.

Ranking: expected value = propensity (the customer's latest PropensityScore for the product)
× the offer's value, highest first (ties: higher propensity, then the offer's code). Offers
without a score are never ranked above a scored one: they fill the places the scored offers
leave free, by value, marked "not scored" (so a product the models do not cover yet is still
offered, after every offer the bank can rank). Each item says why: the propensity band
(high ≥ 30 per cent, medium ≥ 10 per cent, else low) with the probability — the scores carry
no per-customer reasons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.access.permissions import actor_has_perm
from bankcrm.banking.models import HOLDER_ROLES, Account, AccountRole
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    OfferDecision,
    ProductOffer,
    PropensityScore,
)
from .models.campaigns import Channel

VIEW_OFFER = "marketing.view_productoffer"
ADD_OFFER = "marketing.add_productoffer"
CHANGE_OFFER = "marketing.change_productoffer"
DECIDE_OFFER = "marketing.add_offerdecision"
VIEW_DECISION = "marketing.view_offerdecision"
HIGH_BAND = 0.30
MEDIUM_BAND = 0.10
# Banner messages that are live on the 360 page (the banner channel "sends" by going live).
LIVE_BANNER_STATUSES = (
    CampaignMessage.Status.SENT,
    CampaignMessage.Status.DELIVERED,
    CampaignMessage.Status.OPENED,
    CampaignMessage.Status.CLICKED,
)
CENT = Decimal("0.01")

BLOCKED_MESSAGES = {
    "closed": gettext_lazy("The customer is closed: no offers."),
    "deceased": gettext_lazy("The customer is deceased: no offers."),
    "do_not_contact": gettext_lazy("The customer asked not to be contacted: no offers."),
    "no_profiling_consent": gettext_lazy("No consent to profiling: no personalised offers"),
    "frequency_cap": gettext_lazy(
        "The customer has reached the contact limit for this period: no offers."
    ),
}


# --- The catalogue ---------------------------------------------------------------------------


def offer_list(*, actor: Any, include_inactive: bool = True) -> QuerySet[ProductOffer]:
    """The offers the actor may see (the catalogue is bank-wide), by code."""
    offers = ProductOffer.objects.visible_to(actor).select_related("product")
    if not include_inactive:
        offers = offers.filter(is_active=True)
    return offers.order_by("code")


def offer_get(*, actor: Any, pk: Any) -> ProductOffer:
    """One offer the actor may see (DoesNotExist otherwise)."""
    return offer_list(actor=actor).get(pk=pk)


def offers_valid_on(day: dt.date) -> QuerySet[ProductOffer]:
    """Active next best offers standing on ``day``."""
    return ProductOffer.objects.filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=day),
        Q(valid_until__isnull=True) | Q(valid_until__gte=day),
        is_active=True,
        is_next_best_offer=True,
    )


# --- Checks on one customer ------------------------------------------------------------------


def party_for(*, actor: Any, pk: Any) -> Party:
    """A customer the actor may see (DoesNotExist otherwise)."""
    return Party.objects.visible_to(actor).select_related("owning_unit").get(pk=pk)


def _require_visible(actor: Any, party: Party) -> None:
    if not Party.objects.visible_to(actor).filter(pk=party.pk).exists():
        raise Party.DoesNotExist(_("No such customer."))


def held_product_ids(party: Party) -> set[int]:
    """Products of which the customer holds an account that is not closed."""
    roles = AccountRole.objects.filter(account=OuterRef("pk"), party=party, role__in=HOLDER_ROLES)
    return set(
        Account.objects.exclude(status=Account.Status.CLOSED)
        .filter(Q(owner=party) | Exists(roles))
        .values_list("product_id", flat=True)
    )


def profiling_consent_granted(party: Party) -> bool:
    """The customer's consent to profiling and personalised offers stands (fresh read)."""
    from bankcrm.customers.selectors_consent import consent_is_granted

    return bool(consent_is_granted(party_id=party.pk, purpose="profiling"))


def messages_sent_recently(party: Party, *, now: dt.datetime | None = None) -> int:
    """Campaign messages sent to the customer within the contact-limit period."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.MARKETING_FREQUENCY_DAYS)
    # Banners do not count: like the sender's limit, only messages that reach out do.
    return (
        CampaignMessage.objects.filter(party=party, sent_at__gte=since)
        .exclude(channel="banner")
        .count()
    )


def recently_decided_offer_ids(party: Party, *, now: dt.datetime | None = None) -> set[int]:
    """Offers staff accepted or dismissed for the customer within the dismissal period."""
    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.MARKETING_NBO_DISMISS_DAYS)
    return set(
        OfferDecision.objects.filter(party=party, created_at__gte=since).values_list(
            "offer_id", flat=True
        )
    )


def eligible(offer: ProductOffer, party: Party, *, today: dt.date) -> bool:
    """The customer meets the offer's eligibility rules (``{}``: everyone)."""
    if not offer.eligibility:
        return True
    from bankcrm.marketing.segments.compiler import party_matches

    return bool(party_matches(definition=offer.eligibility, party=party, today=today))


def blocked_reason(party: Party, *, now: dt.datetime | None = None) -> str:
    """Why the customer gets no offers at all ("" when they may get some): closed,
    deceased, do_not_contact, no_profiling_consent or frequency_cap."""
    if party.status == Party.Status.CLOSED:
        return "closed"
    if party.deceased_on is not None:
        return "deceased"
    if party.do_not_contact:
        return "do_not_contact"
    if not profiling_consent_granted(party):
        return "no_profiling_consent"
    cap = int(settings.MARKETING_FREQUENCY_CAP)
    if cap > 0 and messages_sent_recently(party, now=now) >= cap:
        return "frequency_cap"
    return ""


# --- Next best offers ------------------------------------------------------------------------


def propensity_band(probability: float | None) -> str:
    """high, medium or low (``""`` without a score)."""
    if probability is None:
        return ""
    if probability >= HIGH_BAND:
        return "high"
    if probability >= MEDIUM_BAND:
        return "medium"
    return "low"


def expected_value(probability: float | None, value: Decimal) -> Decimal | None:
    """Propensity × value, to the cent."""
    if probability is None:
        return None
    return (Decimal(str(probability)) * Decimal(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _why(probability: float | None) -> list[str]:
    band = propensity_band(probability)
    if not band:
        return [_("Not scored yet: no propensity model has scored this product.")]
    percent = f"{probability * 100:.0f}" if probability is not None else ""
    texts = {
        "high": _("High propensity (%(percent)s per cent)"),
        "medium": _("Medium propensity (%(percent)s per cent)"),
        "low": _("Low propensity (%(percent)s per cent)"),
    }
    return [texts[band] % {"percent": percent}]


@dataclass
class NextBestOffer:
    """One offer for one customer, with what it is expected to be worth."""

    offer: ProductOffer
    product: Any
    propensity: float | None
    value: Decimal
    currency: str
    expected_value: Decimal | None
    band: str
    why: list[str] = field(default_factory=list)

    @property
    def is_scored(self) -> bool:
        return self.propensity is not None

    @property
    def propensity_percent(self) -> str:
        return "" if self.propensity is None else f"{self.propensity * 100:.1f}"


@dataclass
class NextBestOfferPanel:
    """A customer's next best offers, or why there are none."""

    items: list[NextBestOffer]
    blocked: str = ""

    @property
    def blocked_message(self) -> str:
        return str(BLOCKED_MESSAGES.get(self.blocked, "")) if self.blocked else ""


def offer_scores(party: Party, product_ids: set[int]) -> dict[int, float]:
    """The customer's latest propensity per product."""
    return dict(
        PropensityScore.objects.filter(party=party, product_id__in=product_ids).values_list(
            "product_id", "probability"
        )
    )


def _require_view(actor: Any) -> None:
    if not actor_has_perm(actor, VIEW_OFFER):
        raise PermissionDenied(_("You may not see offers."))


def next_best_offer_panel(
    *, actor: Any, party: Party, limit: int = 3, now: dt.datetime | None = None
) -> NextBestOfferPanel:
    """The customer's ranked next best offers (see the module's description), or the reason
    none may be made. DoesNotExist for a customer out of the actor's reach."""
    _require_view(actor)
    _require_visible(actor, party)
    now = now or timezone.now()
    reason = blocked_reason(party, now=now)
    if reason:
        return NextBestOfferPanel(items=[], blocked=reason)
    today = bank_today()
    held = held_product_ids(party)
    decided = recently_decided_offer_ids(party, now=now)
    candidates = [
        offer
        for offer in offers_valid_on(today).select_related("product").order_by("code")
        if offer.product_id not in held
        and offer.pk not in decided
        and eligible(offer, party, today=today)
    ]
    scores = offer_scores(party, {offer.product_id for offer in candidates})
    items = []
    for offer in candidates:
        probability = scores.get(offer.product_id)
        items.append(
            NextBestOffer(
                offer=offer,
                product=offer.product,
                propensity=probability,
                value=offer.value,
                currency=offer.currency,
                expected_value=expected_value(probability, offer.value),
                band=propensity_band(probability),
                why=_why(probability),
            )
        )
    scored = sorted(
        (item for item in items if item.is_scored),
        key=lambda item: (-(item.expected_value or 0), -(item.propensity or 0), item.offer.code),
    )
    unscored = sorted(
        (item for item in items if not item.is_scored),
        key=lambda item: (-item.value, item.offer.code),
    )
    return NextBestOfferPanel(items=(scored + unscored)[: max(0, limit)])


def next_best_offers(*, actor: Any, party: Party, limit: int = 3) -> list[NextBestOffer]:
    """The customer's next best offers, best first (empty when none may be made)."""
    return next_best_offer_panel(actor=actor, party=party, limit=limit).items


# --- In-branch campaign banners --------------------------------------------------------------


@dataclass
class CampaignBanner:
    """A running campaign's banner for a customer in its treatment group."""

    message: CampaignMessage
    campaign: Campaign
    text: str
    offer: ProductOffer | None
    is_offered: bool


def _is_chinese(language: str | None) -> bool:
    return bool(language) and str(language).lower().startswith("zh")


def customer_banners(*, actor: Any, party: Party, language: str | None) -> list[CampaignBanner]:
    """The banners of running campaigns live for this customer (treatment group only; the
    control group never sees the campaign), in ``language`` (the viewer's)."""
    _require_view(actor)
    _require_visible(actor, party)
    messages = (
        CampaignMessage.objects.filter(
            party=party,
            channel=Channel.BANNER,
            status__in=LIVE_BANNER_STATUSES,
            campaign__status=Campaign.Status.RUNNING,
            target__group=CampaignTarget.Group.TREATMENT,
        )
        .select_related("campaign", "campaign__offer", "variant")
        .order_by("campaign__starts_at", "pk")
    )
    chinese = _is_chinese(language)
    banners = []
    for message in messages:
        variant = message.variant
        if variant is None:
            continue
        text = (variant.banner_zh if chinese else "") or variant.banner_en or variant.banner_zh
        if not text:
            continue
        banners.append(
            CampaignBanner(
                message=message,
                campaign=message.campaign,
                text=text,
                offer=message.campaign.offer,
                is_offered=message.clicked_at is not None,
            )
        )
    return banners


def banner_message_get(*, actor: Any, party: Party, pk: Any) -> CampaignMessage:
    """A live banner message of this customer (DoesNotExist otherwise)."""
    _require_visible(actor, party)
    return CampaignMessage.objects.get(
        pk=pk,
        party=party,
        channel=Channel.BANNER,
        status__in=LIVE_BANNER_STATUSES,
        campaign__status=Campaign.Status.RUNNING,
        target__group=CampaignTarget.Group.TREATMENT,
    )


# --- The next best offer report --------------------------------------------------------------


@dataclass
class OfferReportLine:
    """Decisions on one offer (overall, or in one branch)."""

    offer: ProductOffer
    unit: Any = None
    accepted: int = 0
    dismissed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def decided(self) -> int:
        return self.accepted + self.dismissed

    @property
    def acceptance_rate(self) -> Decimal | None:
        """Accepted over decided, in per cent to one place (None when nothing decided)."""
        if not self.decided:
            return None
        rate = Decimal(self.accepted * 100) / Decimal(self.decided)
        return rate.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def reason_counts(self) -> list[tuple[str, str, int]]:
        labels = dict(OfferDecision.Reason.choices)
        return [
            (code, str(labels[code]), self.by_reason.get(code, 0))
            for code in OfferDecision.Reason.values
        ]


@dataclass
class OfferReport:
    """Accepted and dismissed next best offers, per offer and per offer and branch."""

    lines: list[OfferReportLine]
    branches: list[OfferReportLine]
    date_from: dt.date | None
    date_to: dt.date | None

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(code, str(label)) for code, label in OfferDecision.Reason.choices]


def offer_report(
    *, actor: Any, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> OfferReport:
    """Decisions on next best offers of the customers in the actor's reach (decided between
    ``date_from`` and ``date_to``, both included, in the bank's zone), two aggregate
    queries."""
    if not actor_has_perm(actor, VIEW_DECISION):
        raise PermissionDenied(_("You may not see the next best offer report."))
    decisions = OfferDecision.objects.visible_to(actor)
    zone = ZoneInfo(settings.BANK_TIMEZONE)
    if date_from is not None:
        start = dt.datetime.combine(date_from, dt.time.min, tzinfo=zone)
        decisions = decisions.filter(created_at__gte=start)
    if date_to is not None:
        end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        decisions = decisions.filter(created_at__lt=end)
    per_offer = (
        decisions.order_by().values("offer_id", "decision", "reason").annotate(n=Count("pk"))
    )
    per_branch = (
        decisions.order_by()
        .values("offer_id", "party__owning_unit_id", "decision")
        .annotate(n=Count("pk"))
    )
    offer_rows = list(per_offer)
    branch_rows = list(per_branch)
    offer_ids = {row["offer_id"] for row in offer_rows}
    offers = {offer.pk: offer for offer in ProductOffer.objects.filter(pk__in=offer_ids)}
    from bankcrm.access.models import OrgUnit

    units = {
        unit.pk: unit
        for unit in OrgUnit.objects.filter(
            pk__in={row["party__owning_unit_id"] for row in branch_rows}
        )
    }
    lines: dict[int, OfferReportLine] = {}
    for row in offer_rows:
        line = lines.setdefault(row["offer_id"], OfferReportLine(offer=offers[row["offer_id"]]))
        if row["decision"] == OfferDecision.Decision.ACCEPTED:
            line.accepted += row["n"]
        else:
            line.dismissed += row["n"]
            line.by_reason[row["reason"]] = line.by_reason.get(row["reason"], 0) + row["n"]
    branches: dict[tuple[int, Any], OfferReportLine] = {}
    for row in branch_rows:
        key = (row["offer_id"], row["party__owning_unit_id"])
        line = branches.get(key) or OfferReportLine(
            offer=offers[row["offer_id"]], unit=units.get(row["party__owning_unit_id"])
        )
        branches[key] = line
        if row["decision"] == OfferDecision.Decision.ACCEPTED:
            line.accepted += row["n"]
        else:
            line.dismissed += row["n"]
    return OfferReport(
        lines=sorted(lines.values(), key=lambda line: line.offer.code),
        branches=sorted(
            branches.values(),
            key=lambda line: (line.offer.code, line.unit.code if line.unit else ""),
        ),
        date_from=date_from,
        date_to=date_to,
    )
