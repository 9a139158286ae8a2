"""The campaign effectiveness report across campaigns, against figures worked out by hand.

Campaigns launched in the autumn of 2026 (currency CNY):

* **P** "Term deposit push" (head office, cross-sell, offers TD12 worth 800.00, e-mail at
  0.50 and SMS at 2.00 a message, fixed cost 1000.00, launched 1 Oct, running): 20 treated
  (5 converted), 10 control (1 converted), 2 suppressed. E-mails to the 20 treated: 4 clicked,
  4 opened, 6 delivered, 2 sent, 1 bounced, 1 failed, 1 queued, 1 suppressed → 17 sent, 14
  delivered, 8 opened, 4 clicked; SMS to 5: 4 delivered, 1 failed → 4 sent.
  Cost 1000 + 17 × 0.50 + 4 × 2.00 = 1016.50; CPA 1016.50 / 5 = 203.30; uplift
  0.25 − 0.10 = 0.15, se = √(0.25 × 0.75 / 20 + 0.1 × 0.9 / 10) = √0.018375; incremental
  5 − 1 × 20 / 10 = 3; cost per incremental 338.83; value 3 × 800 = 2400.00; ROI
  (2400 − 1016.50) / 1016.50 = 1.3610.
* **Q** "Card activation" (branch A, activation, offers CUR, a conversion worth 150.00, SMS at
  1.00, fixed 200.00, launched 2 Nov, completed): 10 treated (2 converted), 5 control
  (1 converted); SMS to the 10: 8 delivered, 2 failed. Cost 208.00; CPA 104.00; uplift 0;
  se = √(0.016 + 0.032); incremental 0; value 0.00; ROI −1.0000.
* **S** "Branch B savings" (branch B, cross-sell, TD12, e-mail at 0.10, no fixed cost, no
  control group, launched 3 Nov, running): 2 treated (1 converted), 2 e-mails delivered.
  Cost 0.20, CPA 0.20; uplift not measurable, so no incremental conversions, value or ROI.
* Left out: one launched in June 2025 (before the period) and a draft never launched.

All three (head-office marketer): cost 1224.70, 8 conversions → CPA 153.09; incremental 3
over the 30 treated customers of P and Q → uplift 0.1, interval ± 1.96 × √(20² × 0.018375 +
10² × 0.048) / 30 = ± 1.96 × √12.15 / 30; cost per incremental 408.23; no ROI (S has no
value).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.analytics.selectors_campaign_effectiveness import campaign_effectiveness
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget
from bankcrm.marketing.reports_campaigns import campaign_report
from tests.factories.customers import PersonFactory
from tests.factories.marketing import CampaignFactory, ProductOfferFactory, SegmentFactory
from tests.marketing.conftest import access_seeds, marketing_bank  # noqa: F401
from tests.support.conftest import shanghai

pytestmark = pytest.mark.django_db

Z = 1.959963984540054
PERIOD = {"date_from": dt.date(2026, 9, 1), "date_to": dt.date(2026, 11, 30)}
EMAIL_P = ["clicked"] * 4 + ["opened"] * 4 + ["delivered"] * 6 + ["sent"] * 2 + [
    "bounced", "failed", "queued", "suppressed",
]  # fmt: skip
SMS_P = ["delivered"] * 4 + ["failed"]
SMS_Q = ["delivered"] * 8 + ["failed"] * 2


def make_campaign(mb, unit, launched, **fields) -> Campaign:
    values = {
        "segment": SegmentFactory(owning_unit=unit, created_by=mb.marketer),
        "offer": ProductOfferFactory(product=mb.deposit, value=Decimal("800.00")),
        "owning_unit": unit,
        "status": Campaign.Status.RUNNING,
        "starts_at": launched,
        "launched_at": launched,
        "created_by": mb.marketer,
    }
    values.update(fields)
    return CampaignFactory(**values)


def audience(campaign, people, *, treated, converted, control=0, control_converted=0,
             suppressed=0):  # fmt: skip
    """Targets: the first ``treated`` people treated (the first ``converted`` of them
    converted), then ``control`` (the first ``control_converted`` converted), then
    ``suppressed``. Returns the treated targets."""
    moment = campaign.launched_at + dt.timedelta(days=3)
    targets = []
    for index in range(treated):
        targets.append(
            CampaignTarget.objects.create(
                campaign=campaign,
                party=people[index],
                group="treatment",
                draw=0.6,
                converted_at=moment if index < converted else None,
            )
        )
    for offset in range(control):
        CampaignTarget.objects.create(
            campaign=campaign, party=people[treated + offset], group="control", draw=0.05,
            converted_at=moment if offset < control_converted else None,
        )  # fmt: skip
    for offset in range(suppressed):
        CampaignTarget.objects.create(
            campaign=campaign, party=people[treated + control + offset], group="suppressed",
            suppression="do_not_contact", draw=0.3,
        )  # fmt: skip
    return targets


def messages(campaign, targets, channel, statuses):
    for target, status in zip(targets, statuses, strict=False):
        CampaignMessage.objects.create(
            campaign=campaign, target=target, party=target.party, channel=channel,
            status=status, queued_at=campaign.launched_at,
        )  # fmt: skip


@pytest.fixture
def campaigns(marketing_bank):  # noqa: F811
    mb = marketing_bank
    people = [PersonFactory(owning_unit=mb.branch_a) for _ in range(32)]
    p = make_campaign(
        mb, mb.head_office, shanghai(2026, 10, 1, 10), name="Term deposit push",
        channels=["email", "sms"], cost_fixed=Decimal("1000.00"),
        cost_per_message={"email": "0.50", "sms": "2.00"},
    )  # fmt: skip
    treated = audience(p, people, treated=20, converted=5, control=10, control_converted=1,
                       suppressed=2)  # fmt: skip
    messages(p, treated, "email", EMAIL_P)
    messages(p, treated, "sms", SMS_P)
    q = make_campaign(
        mb, mb.branch_a, shanghai(2026, 11, 2, 10), name="Card activation",
        objective=Campaign.Objective.ACTIVATION, status=Campaign.Status.COMPLETED,
        offer=ProductOfferFactory(product=mb.current, value=Decimal("200.00")),
        value_per_conversion=Decimal("150.00"), channels=["sms"],
        cost_fixed=Decimal("200.00"), cost_per_message={"sms": "1.00"},
    )  # fmt: skip
    treated = audience(q, people, treated=10, converted=2, control=5, control_converted=1)
    messages(q, treated, "sms", SMS_Q)
    s = make_campaign(
        mb, mb.branch_b, shanghai(2026, 11, 3, 10), name="Branch B savings",
        channels=["email"], cost_fixed=Decimal("0"), cost_per_message={"email": "0.10"},
        holdout_percent=0,
    )  # fmt: skip
    treated = audience(s, people, treated=2, converted=1)
    messages(s, treated, "email", ["delivered", "delivered"])
    old = make_campaign(mb, mb.head_office, shanghai(2025, 6, 1, 10), name="Old")
    audience(old, people, treated=3, converted=3)
    make_campaign(
        mb, mb.head_office, shanghai(2026, 10, 5, 10), name="Draft",
        status=Campaign.Status.DRAFT, launched_at=None,
    )  # fmt: skip
    return {"P": p, "Q": q, "S": s}


def by_name(report):
    return {row.campaign.name: row for row in report.campaigns}


def test_each_campaigns_figures(marketing_bank, campaigns):  # noqa: F811
    report = campaign_effectiveness(actor=marketing_bank.marketer, **PERIOD)
    assert [row.campaign.name for row in report.campaigns] == [
        "Branch B savings", "Card activation", "Term deposit push",
    ]  # fmt: skip
    p = by_name(report)["Term deposit push"]
    assert (p.audience, p.treatment, p.control, p.suppressed) == (32, 20, 10, 2)
    assert (p.messages, p.sent, p.delivered, p.opened, p.clicked) == (25, 21, 18, 8, 4)
    u = p.effect.uplift
    assert (u.conversions_treatment, u.conversions_control) == (5, 1)
    assert u.difference == pytest.approx(0.15, abs=1e-12)
    se = math.sqrt(0.018375)
    assert u.ci_low == pytest.approx(0.15 - Z * se, abs=1e-12)
    assert u.ci_high == pytest.approx(0.15 + Z * se, abs=1e-12)
    assert p.effect.cost == Decimal("1016.50")
    assert p.effect.cpa == Decimal("203.30")
    assert p.effect.incremental == 3.0
    assert p.effect.cost_per_incremental == Decimal("338.83")
    assert (p.effect.value, p.effect.roi) == (Decimal("2400.00"), Decimal("1.3610"))
    assert p.url == f"/marketing/campaigns/{p.pk}/report/"

    q = by_name(report)["Card activation"]
    assert (q.treatment, q.control, q.sent, q.delivered) == (10, 5, 8, 8)
    assert q.effect.uplift.difference == pytest.approx(0.0, abs=1e-12)
    assert q.effect.uplift.standard_error == pytest.approx(math.sqrt(0.048), abs=1e-12)
    assert (q.effect.cost, q.effect.cpa) == (Decimal("208.00"), Decimal("104.00"))
    assert (q.effect.incremental, q.effect.cost_per_incremental) == (0.0, None)
    assert (q.effect.value, q.effect.roi) == (Decimal("0.00"), Decimal("-1.0000"))

    s = by_name(report)["Branch B savings"]
    assert (s.treatment, s.control, s.effect.cost, s.effect.cpa) == (
        2, 0, Decimal("0.20"), Decimal("0.20"),
    )  # fmt: skip
    assert not s.effect.uplift.measurable
    assert (s.effect.incremental, s.effect.value, s.effect.roi) == (None, None, None)


def test_rows_match_each_campaigns_own_report(marketing_bank, campaigns):  # noqa: F811
    report = campaign_effectiveness(actor=marketing_bank.marketer, **PERIOD)
    for row in report.campaigns:
        own = campaign_report(actor=marketing_bank.marketer, campaign=row.campaign)
        assert row.effect.as_dict() == own.overall.as_dict()
        assert row.audience == own.audience
        assert row.sent == sum(channel.sent for channel in own.funnel)


def test_totals(marketing_bank, campaigns):  # noqa: F811
    report = campaign_effectiveness(actor=marketing_bank.marketer, **PERIOD)
    (total,) = report.totals
    assert (total.currency, total.campaigns, total.audience) == ("CNY", 3, 49)
    assert (total.treatment, total.control, total.sent) == (32, 15, 31)
    assert (total.conversions_treatment, total.conversions_control) == (8, 2)
    assert total.cost == Decimal("1224.70")
    assert total.cpa == Decimal("153.09")
    assert total.incremental == 3.0 and total.measured_treatment == 30
    assert total.uplift == pytest.approx(0.1, abs=1e-12)
    half = Z * math.sqrt(20**2 * 0.018375 + 10**2 * 0.048) / 30
    assert total.ci_low == pytest.approx(0.1 - half, abs=1e-12)
    assert total.ci_high == pytest.approx(0.1 + half, abs=1e-12)
    assert total.cost_per_incremental == Decimal("408.23")
    assert (total.total_value, total.roi) == (None, None)

    cross_sell, activation = report.by_objective
    assert (cross_sell.key, cross_sell.campaigns, cross_sell.cost) == (
        "cross_sell", 2, Decimal("1016.70"),
    )  # fmt: skip
    assert cross_sell.cpa == Decimal("169.45")
    assert cross_sell.uplift == pytest.approx(0.15, abs=1e-12)
    assert (activation.key, activation.total_value, activation.roi) == (
        "activation", Decimal("0.00"), Decimal("-1.0000"),
    )  # fmt: skip
    assert {row.key: row.campaigns for row in report.by_product} == {"TD12": 2, "CUR": 1}

    email, sms = report.by_channel
    assert (email.channel, email.campaigns, email.messages, email.sent) == ("email", 2, 22, 19)
    assert (email.delivered, email.opened, email.clicked) == (16, 8, 4)
    assert email.cost == Decimal("8.70")
    assert (sms.channel, sms.campaigns, sms.messages, sms.sent, sms.delivered) == (
        "sms", 2, 15, 12, 12,
    )  # fmt: skip
    assert sms.cost == Decimal("16.00")


def test_filters(marketing_bank, campaigns):  # noqa: F811
    actor = marketing_bank.marketer

    def names(**filters):
        report = campaign_effectiveness(actor=actor, **{**PERIOD, **filters})
        return sorted(row.campaign.name for row in report.campaigns)

    assert names(channel="sms") == ["Card activation", "Term deposit push"]
    assert names(status="completed") == ["Card activation"]
    assert names(objective="cross_sell") == ["Branch B savings", "Term deposit push"]
    assert names(product="CUR") == ["Card activation"]
    assert names(date_from=dt.date(2026, 11, 1), date_to=dt.date(2026, 11, 2)) == [
        "Card activation"
    ]
    assert names(date_from=dt.date(2025, 1, 1), date_to=dt.date(2025, 12, 31)) == ["Old"]
    with pytest.raises(ValidationError) as error:
        campaign_effectiveness(
            actor=actor, date_from=dt.date(2026, 12, 1), date_to=dt.date(2026, 1, 1),
            channel="fax", status="draft", objective="fun",
        )  # fmt: skip
    assert set(error.value.message_dict) == {"date_to", "channel", "status", "objective"}


def test_scope_and_permission(marketing_bank, campaigns):  # noqa: F811
    mb = marketing_bank
    # A branch A marketer sees branch A's campaign only; its figures are the whole
    # campaign's, as on its own report.
    report = campaign_effectiveness(actor=mb.marketer_a, **PERIOD)
    assert [row.campaign.name for row in report.campaigns] == ["Card activation"]
    assert report.totals[0].cost == Decimal("208.00")
    assert [total.channel for total in report.by_channel] == ["sms"]
    # A credit analyst reads reports but not campaigns.
    with pytest.raises(PermissionDenied):
        campaign_effectiveness(actor=mb.bank.analyst, **PERIOD)


def test_a_fixed_number_of_statements_whatever_the_campaigns(marketing_bank, campaigns):  # noqa: F811
    actor = marketing_bank.marketer
    campaign_effectiveness(actor=actor, **PERIOD)  # warm the permission cache
    with CaptureQueriesContext(connection) as few:
        campaign_effectiveness(actor=actor, **PERIOD)
    people = [PersonFactory(owning_unit=marketing_bank.branch_a) for _ in range(4)]
    for day in range(5, 11):
        extra = make_campaign(
            marketing_bank, marketing_bank.head_office, shanghai(2026, 10, day, 10),
            channels=["email"], cost_per_message={"email": "0.10"},
        )  # fmt: skip
        treated = audience(extra, people, treated=2, converted=1, control=2)
        messages(extra, treated, "email", ["sent", "clicked"])
    with CaptureQueriesContext(connection) as many:
        report = campaign_effectiveness(actor=actor, **PERIOD)
    assert len(report.campaigns) == 9
    assert len(many) == len(few) <= 4
