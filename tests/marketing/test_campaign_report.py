"""The campaign report's figures on a small campaign worked out by hand: groups, the message
funnel per channel, conversions in treatment and control, uplift overall, per variant and per
customer segment, costs, CPA, cost per incremental acquisition, value and ROI.

The campaign (fixture ``reported``), launched 1 October 2026, offers TD12 (worth 800.00) by
e-mail (0.50 a message) and SMS (2.00), fixed cost 1000.00:

* variant A: 20 treated (12 mass, 8 affluent), 4 converted (3 mass, 1 affluent);
* variant B: 20 treated (12 mass, 8 affluent), 2 converted (2 mass);
* control: 10 (6 mass, 4 affluent), 1 converted (mass); suppressed: 3.

Messages sent (status sent or beyond): e-mail A 19 (12 mass, 7 affluent), B 18 (12 mass,
6 affluent); SMS 4 (A, mass). Cost = 1000 + 37 × 0.50 + 4 × 2.00 = 1026.50.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied

from bankcrm.customers.models import Party
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget, CampaignVariant
from bankcrm.marketing.reports_campaigns import campaign_report
from bankcrm.marketing.services_conversions import conversions_detect
from tests.factories.customers import PersonFactory
from tests.factories.marketing import CampaignFactory, ProductOfferFactory, SegmentFactory

from .test_conversions import AFTER_WINDOW, LAUNCHED, account

pytestmark = pytest.mark.django_db

EMAIL_A = ["clicked"] * 5 + ["opened"] * 5 + ["delivered"] * 5 + ["sent"] * 3 + [
    "bounced", "failed",
]  # fmt: skip
EMAIL_B = ["clicked"] * 2 + ["opened"] * 3 + ["delivered"] * 10 + ["sent"] * 2 + [
    "unsubscribed", "queued", "suppressed",
]  # fmt: skip
SMS_A = ["delivered"] * 4 + ["failed"]


def build_campaign(mb, unit=None, **fields) -> Campaign:
    unit = unit or mb.head_office
    values = {
        "segment": SegmentFactory(owning_unit=unit, created_by=mb.marketer),
        "offer": ProductOfferFactory(product=mb.deposit, value=Decimal("800.00")),
        "channels": ["email", "sms"],
        "status": Campaign.Status.RUNNING,
        "starts_at": LAUNCHED,
        "launched_at": LAUNCHED,
        "conversion_days": 30,
        "cost_fixed": Decimal("1000.00"),
        "cost_per_message": {"email": "0.50", "sms": "2.00"},
        "created_by": mb.marketer,
    }
    values.update(fields)
    return CampaignFactory(**values)


def _people(mb, count, segment):
    unit = mb.branch_a
    return [PersonFactory(owning_unit=unit, segment=segment) for _ in range(count)]


def _convert(mb, party, day=dt.date(2026, 10, 12)):
    account(party, mb.deposit, day)


def populate(mb, campaign) -> None:
    """The audience, messages and accounts described in the module docstring."""
    a = CampaignVariant.objects.create(campaign=campaign, code="A")
    b = CampaignVariant.objects.create(campaign=campaign, code="B")
    now = LAUNCHED
    for variant, emails, sms, converts in (
        (a, EMAIL_A, SMS_A, {"mass": 3, "affluent": 1}),
        (b, EMAIL_B, [], {"mass": 2, "affluent": 0}),
    ):
        people = _people(mb, 12, "mass") + _people(mb, 8, "affluent")
        for index, party in enumerate(people):
            t = CampaignTarget.objects.create(
                campaign=campaign, party=party, group="treatment", variant=variant, draw=0.6
            )
            CampaignMessage.objects.create(
                campaign=campaign, target=t, party=party, channel="email", variant=variant,
                status=emails[index], queued_at=now,
            )  # fmt: skip
            if index < len(sms):
                CampaignMessage.objects.create(
                    campaign=campaign, target=t, party=party, channel="sms", variant=variant,
                    status=sms[index], queued_at=now,
                )  # fmt: skip
        for party in people[: converts["mass"]] + people[12 : 12 + converts["affluent"]]:
            _convert(mb, party)
    control = _people(mb, 6, "mass") + _people(mb, 4, "affluent")
    for party in control:
        CampaignTarget.objects.create(campaign=campaign, party=party, group="control", draw=0.05)
    _convert(mb, control[0])
    for reason, count in (("do_not_contact", 2), ("no_consent", 1)):
        for party in _people(mb, count, "mass"):
            CampaignTarget.objects.create(
                campaign=campaign, party=party, group="suppressed", suppression=reason, draw=0.3
            )
            _convert(mb, party)  # suppressed customers never count
    conversions_detect(campaign=campaign, now=AFTER_WINDOW)


@pytest.fixture
def reported(marketing_bank):
    campaign = build_campaign(marketing_bank)
    populate(marketing_bank, campaign)
    return campaign


def wald(x_t, n_t, x_c, n_c):
    p_t, p_c = x_t / n_t, x_c / n_c
    se = math.sqrt(p_t * (1 - p_t) / n_t + p_c * (1 - p_c) / n_c)
    z = 1.959963984540054
    return p_t - p_c, p_t - p_c - z * se, p_t - p_c + z * se


def test_groups_and_message_funnel(marketing_bank, reported):
    report = campaign_report(actor=marketing_bank.marketer, campaign=reported)
    assert report.groups == {"treatment": 40, "control": 10, "suppressed": 3}
    assert report.suppressed_by_reason == {"do_not_contact": 2, "no_consent": 1}
    assert report.audience == 53
    email, sms = report.funnel
    assert (email.channel, sms.channel) == ("email", "sms")
    assert email.by_status == {
        "queued": 1, "sent": 5, "delivered": 15, "opened": 8, "clicked": 7, "bounced": 1,
        "failed": 1, "unsubscribed": 1, "suppressed": 1,
    }  # fmt: skip
    assert (email.total, email.sent, email.delivered, email.opened, email.clicked) == (
        40, 37, 30, 15, 7,
    )  # fmt: skip
    assert (email.cost_per_message, email.cost) == (Decimal("0.50"), Decimal("18.50"))
    assert sms.by_status["delivered"] == 4 and sms.by_status["failed"] == 1
    assert (sms.total, sms.sent, sms.delivered, sms.cost) == (5, 4, 4, Decimal("8.00"))
    assert report.messages_cost == Decimal("26.50")
    assert report.fixed_cost == Decimal("1000.00")
    assert report.value_per_conversion == Decimal("800.00")
    assert (report.window_from, report.window_to) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))


def test_overall_conversion_uplift_costs_and_return(marketing_bank, reported):
    overall = campaign_report(actor=marketing_bank.marketer, campaign=reported).overall
    u = overall.uplift
    assert (u.conversions_treatment, u.size_treatment) == (6, 40)
    assert (u.conversions_control, u.size_control) == (1, 10)
    assert u.rate_treatment == pytest.approx(0.15, abs=1e-12)
    assert u.rate_control == pytest.approx(0.10, abs=1e-12)
    _difference, low, high = wald(6, 40, 1, 10)
    # d = 0.05; SE = sqrt(0.15*0.85/40 + 0.1*0.9/10) = sqrt(0.0121875)
    assert u.difference == pytest.approx(0.05, abs=1e-12)
    assert u.standard_error == pytest.approx(math.sqrt(0.0121875), abs=1e-12)
    assert (u.ci_low, u.ci_high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert u.relative == pytest.approx(0.5, abs=1e-12)
    assert overall.messages_sent == 41
    assert overall.cost == Decimal("1026.50")
    assert overall.cpa == Decimal("171.08")  # 1026.50 / 6 = 171.083…
    assert overall.incremental == 2.0  # 6 − 1 × 40 / 10
    assert overall.cost_per_incremental == Decimal("513.25")
    assert overall.value == Decimal("1600.00")
    assert overall.roi == Decimal("0.5587")  # (1600 − 1026.50) / 1026.50 = 0.55869…


def test_per_variant_against_the_whole_control_group(marketing_bank, reported):
    a, b = campaign_report(actor=marketing_bank.marketer, campaign=reported).variants
    assert (a.key, a.size_treatment, a.conversions_treatment) == ("A", 20, 4)
    assert (a.size_control, a.conversions_control) == (10, 1)
    assert a.uplift.difference == pytest.approx(0.1, abs=1e-12)
    assert a.messages_sent == 23
    assert a.cost == Decimal("517.50")  # 1000 × 20/40 + 19 × 0.50 + 4 × 2.00
    assert a.cpa == Decimal("129.38")  # 129.375, rounded half to even
    assert a.incremental == 2.0
    assert a.cost_per_incremental == Decimal("258.75")
    assert (a.value, a.roi) == (Decimal("1600.00"), Decimal("2.0918"))
    assert (b.key, b.size_treatment, b.conversions_treatment) == ("B", 20, 2)
    assert b.uplift.difference == pytest.approx(0.0, abs=1e-12)
    assert (b.messages_sent, b.cost, b.cpa) == (18, Decimal("509.00"), Decimal("254.50"))
    assert (b.incremental, b.cost_per_incremental) == (0.0, None)
    assert (b.value, b.roi) == (Decimal("0.00"), Decimal("-1.0000"))


def test_per_customer_segment(marketing_bank, reported):
    mass, affluent = campaign_report(actor=marketing_bank.marketer, campaign=reported).segments
    assert (mass.key, str(mass.label)) == ("mass", str(Party.Segment.MASS.label))
    assert (mass.size_treatment, mass.conversions_treatment) == (24, 5)
    assert (mass.size_control, mass.conversions_control) == (6, 1)
    difference, low, high = wald(5, 24, 1, 6)
    assert mass.uplift.difference == pytest.approx(difference, abs=1e-12)
    assert mass.uplift.ci_low == pytest.approx(low, abs=1e-12)
    assert mass.uplift.ci_high == pytest.approx(high, abs=1e-12)
    assert (mass.messages_sent, mass.cost, mass.cpa) == (28, Decimal("620.00"), Decimal("124.00"))
    assert (mass.incremental, mass.cost_per_incremental) == (1.0, Decimal("620.00"))
    assert (mass.value, mass.roi) == (Decimal("800.00"), Decimal("0.2903"))
    assert affluent.key == "affluent"
    assert (affluent.size_treatment, affluent.conversions_treatment) == (16, 1)
    assert (affluent.size_control, affluent.conversions_control) == (4, 0)
    assert affluent.uplift.relative is None  # nobody in the control group converted
    assert (affluent.messages_sent, affluent.cost) == (13, Decimal("406.50"))
    assert (affluent.cpa, affluent.cost_per_incremental) == (Decimal("406.50"), Decimal("406.50"))
    assert (affluent.value, affluent.roi) == (Decimal("800.00"), Decimal("0.9680"))


def test_the_campaign_value_wins_over_the_offer_and_no_value_no_roi(marketing_bank, reported):
    reported.value_per_conversion = Decimal("500.00")
    reported.save()
    overall = campaign_report(actor=marketing_bank.marketer, campaign=reported).overall
    assert (overall.value, overall.roi) == (Decimal("1000.00"), Decimal("-0.0258"))
    reported.value_per_conversion = None
    reported.offer = None
    reported.save()
    report = campaign_report(actor=marketing_bank.marketer, campaign=reported)
    assert report.value_per_conversion is None
    assert (report.overall.value, report.overall.roi) == (None, None)
    assert report.overall.cpa == Decimal("171.08")


def test_a_campaign_without_audience_reports_zeros_without_errors(marketing_bank):
    campaign = build_campaign(marketing_bank, launched_at=None, status="scheduled")
    report = campaign_report(actor=marketing_bank.marketer, campaign=campaign)
    assert report.groups == {"treatment": 0, "control": 0, "suppressed": 0}
    assert [row.total for row in report.funnel] == [0, 0]
    overall = report.overall
    assert not overall.uplift.measurable
    assert (overall.cost, overall.cpa, overall.incremental) == (Decimal("1000.00"), None, None)
    assert (overall.value, overall.roi, overall.cost_per_incremental) == (None, None, None)
    assert report.variants == [] and report.segments == []
    assert (report.window_from, report.window_to) == (None, None)


def test_an_empty_control_group_is_not_measurable(marketing_bank, reported):
    CampaignTarget.objects.filter(campaign=reported, group="control").delete()
    overall = campaign_report(actor=marketing_bank.marketer, campaign=reported).overall
    assert not overall.uplift.measurable
    assert overall.uplift.rate_treatment == pytest.approx(0.15, abs=1e-12)
    assert (overall.incremental, overall.value, overall.roi) == (None, None, None)
    assert overall.cpa == Decimal("171.08")


def test_reading_the_report_takes_a_fixed_number_of_queries(
    marketing_bank, reported, django_assert_max_num_queries
):
    with django_assert_max_num_queries(12):
        campaign_report(actor=marketing_bank.marketer, campaign=reported)


def test_scope_and_permission(marketing_bank, reported):
    mb = marketing_bank
    with pytest.raises(Campaign.DoesNotExist):
        campaign_report(actor=mb.marketer_a, campaign=reported)  # head office's campaign
    with pytest.raises(PermissionDenied):
        campaign_report(actor=mb.bank.analyst, campaign=reported)
    branch = build_campaign(mb, unit=mb.branch_a)
    assert campaign_report(actor=mb.marketer_a, campaign=branch).groups["treatment"] == 0
    with pytest.raises(Campaign.DoesNotExist):
        campaign_report(actor=mb.rm_b, campaign=branch)
