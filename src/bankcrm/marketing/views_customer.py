"""The customer 360's marketing parts: in-branch campaign banners and next best offers.

Shown to those who may see offers (``marketing.view_productoffer``: marketers, relationship
managers, branch managers); accepting, dismissing and "Offered" need
``marketing.add_offerdecision``. The 360 page has checked that the customer is in the
viewer's reach. Showing a banner marks its message opened (once).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import translation

from bankcrm.access.permissions import actor_has_perm

from . import selectors_offers, services_offers
from .forms_offers import DecisionForm
from .models import OfferDecision

NBO_LIMIT = 3


def offers_context(
    actor: Any,
    party: Any,
    *,
    errors: dict[int, DecisionForm] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    """The next best offer panel's part of the context (``marketing.offers`` …)."""
    panel = selectors_offers.next_best_offer_panel(actor=actor, party=party, limit=NBO_LIMIT)
    errors = errors or {}
    rows = []
    for item in panel.items:
        offer = item.offer
        rows.append(
            {
                "item": item,
                "name": offer.name_for(translation.get_language()),
                "product_name": (
                    item.product.name_zh
                    if (translation.get_language() or "").startswith("zh") and item.product.name_zh
                    else item.product.name
                ),
                "decide_url": reverse("marketing:offer_decide", args=[party.pk, offer.pk]),
                "form": errors.get(offer.pk) or DecisionForm(prefix=f"offer-{offer.pk}"),
            }
        )
    return {
        "offers": rows,
        "offers_blocked": panel.blocked,
        "offers_blocked_message": panel.blocked_message,
        "offers_notice": notice,
        "offers_panel_url": reverse("marketing:offer_panel", args=[party.pk]),
        "reasons": OfferDecision.Reason.choices,
    }


def banners_context(actor: Any, party: Any, *, mark_seen: bool = True) -> dict[str, Any]:
    """The banner part of the context (``marketing.banners``); marks them seen."""
    banners = selectors_offers.customer_banners(
        actor=actor, party=party, language=translation.get_language()
    )
    if mark_seen and banners:
        services_offers.campaign_banners_seen(
            actor=actor, party=party, messages=[banner.message for banner in banners]
        )
    return {
        "banners": [
            {
                "banner": banner,
                "offered_url": reverse(
                    "marketing:banner_offered", args=[party.pk, banner.message.pk]
                ),
            }
            for banner in banners
        ]
    }


def customer_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panels' context, or ``{"marketing": None}`` for those who may not see offers."""
    if not actor_has_perm(actor, selectors_offers.VIEW_OFFER):
        return {"marketing": None}
    return {
        "marketing": {
            "party": party,
            "may_decide": actor_has_perm(actor, selectors_offers.DECIDE_OFFER),
            **banners_context(actor, party),
            **offers_context(actor, party),
        }
    }
