"""Factories of the marketing module: segments, offers, campaigns and their variants.

Audiences and messages are made by the launch (the service) in tests, so that the control
group draw, suppression and queueing are those of real campaigns.
"""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from bankcrm.marketing.models import Campaign, CampaignVariant, ProductOffer, Segment

from . import OrgUnitFactory, UserFactory
from .banking import ProductFactory


class SegmentFactory(factory.django.DjangoModelFactory):
    """A dynamic segment; its ``definition`` defaults to every active customer."""

    class Meta:
        model = Segment

    name = factory.Sequence(lambda n: f"Segment {n}")
    kind = Segment.Kind.DYNAMIC
    definition = factory.LazyFunction(
        lambda: {"all": [{"field": "party.status", "op": "eq", "value": "active"}]}
    )
    owning_unit = factory.SubFactory(OrgUnitFactory)
    created_by = factory.SubFactory(UserFactory)


class ProductOfferFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductOffer

    code = factory.Sequence(lambda n: f"offer-{n}")
    product = factory.SubFactory(ProductFactory)
    name = factory.Sequence(lambda n: f"Offer {n}")
    name_zh = "优惠"
    terms_en = "3.1 % a year for 12 months."
    terms_zh = "12个月年利率3.1%。"
    value = 800
    currency = "CNY"


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft e-mail campaign to a segment, starting in an hour, with a 10 % control group."""

    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    objective = Campaign.Objective.CROSS_SELL
    offer = factory.SubFactory(ProductOfferFactory)
    segment = factory.SubFactory(SegmentFactory)
    channels = factory.LazyFunction(lambda: ["email"])
    owning_unit = factory.LazyAttribute(lambda o: o.segment.owning_unit)
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(hours=1))
    holdout_percent = 10
    holdout_seed = factory.Sequence(lambda n: 1000 + n)
    created_by = factory.SubFactory(UserFactory)


class CampaignVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CampaignVariant

    campaign = factory.SubFactory(CampaignFactory)
    code = "A"
    subject_en = "A better rate for your savings"
    subject_zh = "您的储蓄可以获得更好的利率"
    html_en = "<p>Dear {{ name }}, open a term deposit at 3.1 %.</p>"
    html_zh = "<p>尊敬的{{ name }}，定期存款年利率3.1%。</p>"
    text_en = "Dear {{ name }}, open a term deposit at 3.1 %."
    text_zh = "尊敬的{{ name }}，定期存款年利率3.1%。"
    sms_en = "Term deposit at 3.1 % - reply STOP to opt out"
    sms_zh = "定期存款年利率3.1%，回复TD退订"
    call_script = "Offer the 12-month term deposit at 3.1 %."
    banner_en = "Offer: 12-month term deposit at 3.1 %"
    banner_zh = "推荐：12个月定期存款年利率3.1%"
