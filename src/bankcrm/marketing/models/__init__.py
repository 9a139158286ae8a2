"""Marketing: segments of customers, product offers, campaigns with their audience, control
group and messages, propensity scores and the relationship managers' offer decisions."""

from .campaigns import Campaign, CampaignMessage, CampaignTarget, CampaignVariant
from .offers import OfferDecision, ProductOffer, PropensityScore
from .segments import Segment, SegmentMember

__all__ = [
    "Campaign",
    "CampaignMessage",
    "CampaignTarget",
    "CampaignVariant",
    "OfferDecision",
    "ProductOffer",
    "PropensityScore",
    "Segment",
    "SegmentMember",
]
