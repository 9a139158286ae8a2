"""The demo bank's marketing: consents, offers, segments, a propensity model, a completed
e-mail + SMS campaign with its uplift, a running banner + call campaign and offer decisions;
a second run changes nothing."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
import zoneinfo
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.management.base import OutputWrapper

from bankcrm.access.models import User
from bankcrm.banking.models import Account
from bankcrm.core.actor import SystemActor
from bankcrm.core.management.commands.demo import DemoRun, seed_organisation, seed_staff
from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Consent, ConsentEvent, ContactPoint, Party, Task
from bankcrm.integrations import demo_marketing
from bankcrm.integrations.demo import seed_customers
from bankcrm.marketing import selectors_offers
from bankcrm.marketing.models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    OfferDecision,
    ProductOffer,
    PropensityScore,
    Segment,
    SegmentMember,
)
from bankcrm.marketing.reports_campaigns import campaign_report
from bankcrm.risk.models import ModelVersion

pytestmark = pytest.mark.django_db

CUSTOMERS = int(os.environ.get("BANKCRM_TEST_DEMO_CUSTOMERS", "240"))


@pytest.fixture
def marketing_env(settings, tmp_path):
    # Argon2 is deliberately slow; hashing is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MARKETING_SMS_DIR = str(tmp_path / "sms")
    return tmp_path


def _demo(customers: int) -> DemoRun:
    # As `make demo` does: the generated year of transactions ends today.
    demo = DemoRun(
        password="Demo-Passw0rd-for-tests",
        stdout=OutputWrapper(io.StringIO()),
        customers=customers,
        seed=7,
        as_of=bank_today(),
    )
    actor = SystemActor("demo")
    seed_organisation(actor=actor, demo=demo)
    seed_staff(actor=actor, demo=demo)
    if customers:
        seed_customers(actor=actor, demo=demo)
    return demo


def _seed(demo: DemoRun, capture) -> dict[str, int]:
    # `bankcrm demo` runs each seeder in its own transaction: sending starts after it commits.
    with capture(execute=True):
        return demo_marketing.seed_marketing(actor=SystemActor("demo"), demo=demo)


def _tables() -> tuple[int, ...]:
    return (
        Consent.objects.count(),
        ConsentEvent.objects.count(),
        ProductOffer.objects.count(),
        Segment.objects.count(),
        SegmentMember.objects.count(),
        ModelVersion.objects.count(),
        PropensityScore.objects.count(),
        Campaign.objects.count(),
        CampaignTarget.objects.count(),
        CampaignMessage.objects.count(),
        Account.objects.count(),
        OfferDecision.objects.count(),
        Task.objects.count(),
        User.objects.count(),
    )


def test_demo_marketing(marketing_env, django_capture_on_commit_callbacks) -> None:
    demo = _demo(CUSTOMERS)
    started = time.perf_counter()
    counts = _seed(demo, django_capture_on_commit_callbacks)
    seconds = time.perf_counter() - started
    print(f"\n{CUSTOMERS} customers: {seconds:.1f} s {counts} {demo_marketing.TIMINGS}")
    as_of = demo.as_of
    # The checker is one of the demo staff (seed_staff); the seeder opens it only when missing.
    assert counts.get("marketing managers", 0) == 0
    checker = User.objects.get(username="mm.xie")
    assert checker.roles.get().code == "marketing_manager"

    # Consents: wording v1, from the demo sources; most customers with an address or phone.
    consents = Consent.objects.filter(party__source_system="demo")
    assert consents.count() == counts["consents granted"]
    assert set(consents.values_list("text__version", flat=True)) == {1}
    assert set(consents.values_list("source", flat=True)) <= {
        "branch", "online_banking", "mobile_app", "paper_form", "preference_page",
        "unsubscribe_link",
    }  # fmt: skip
    with_email = (
        ContactPoint.objects.filter(party__source_system="demo", kind="email", is_primary=True)
        .values("party_id")
        .distinct()
        .count()
    )
    email = consents.filter(purpose="email_marketing").count()
    assert 0.6 < email / with_email < 0.8
    profiling = consents.filter(purpose="profiling").count()
    assert 0.7 < profiling / Party.objects.filter(source_system="demo").count() < 0.9
    # Withdrawn later on the preference page, or through a campaign e-mail's unsubscribe link.
    withdrawn = consents.filter(status="withdrawn")
    unsubscribed = counts.get("unsubscribes", 0)
    assert withdrawn.filter(source="preference_page").count() == counts["consents withdrawn"] > 0
    assert withdrawn.filter(source="unsubscribe_link").count() == unsubscribed
    assert withdrawn.count() == counts["consents withdrawn"] + unsubscribed
    assert not withdrawn.filter(withdrawn_at__isnull=True).exists()
    assert ConsentEvent.objects.count() == (
        counts["consents granted"] + counts["consents withdrawn"] + unsubscribed
    )
    dnc = Party.objects.filter(do_not_contact=True).count()
    assert dnc == counts["do-not-contact customers"] > 0

    # Offers and segments.
    offers = {o.code: o for o in ProductOffer.objects.select_related("product")}
    assert {code: (o.product.code, o.value) for code, o in offers.items()} == {
        "td-12m": ("TD-CNY", Decimal("1200")),
        "cc-platinum": ("CC-CNY", Decimal("900")),
        "wm-balanced": ("WM-CNY", Decimal("2500")),
    }
    assert all(o.eligibility for o in offers.values())
    segments = {s.name: s for s in Segment.objects.all()}
    assert set(segments) == {name for name, _d, _r in demo_marketing.SEGMENTS}
    for segment in segments.values():
        assert segment.last_evaluated_at is not None
        assert segment.member_count == SegmentMember.objects.filter(segment=segment).count()
    pudong = segments["Branch Shanghai Pudong savers"]
    assert pudong.member_count > 0
    assert set(
        SegmentMember.objects.filter(segment=pudong).values_list(
            "party__owning_unit__code", flat=True
        )
    ) == {"SH-PD"}

    # The propensity model, trained on the demo customers, scores every open customer.
    model = ModelVersion.objects.get(name=demo_marketing.MODEL_NAME)
    assert (model.purpose, model.version) == ("propensity", 1)
    assert model.card["product"] == "TD-CNY"
    assert "deposit_balance" not in model.card["selected"]
    open_customers = Party.objects.exclude(status="closed").count()
    assert PropensityScore.objects.count() == counts["propensity scores"] == open_customers
    rm = User.objects.get(username="rm.zhang")
    shown = [
        selectors_offers.next_best_offers(actor=rm, party=party)
        for party in Party.objects.filter(portfolio__manager=rm, kind="person").order_by(
            "source_id"
        )[:20]
    ]
    assert any(shown)

    # The completed campaign: approved by the second marketer, launched five weeks ago.
    done = Campaign.objects.get(name=demo_marketing.COMPLETED)
    zone = zoneinfo.ZoneInfo(django_settings.BANK_TIMEZONE)
    launched = dt.datetime.combine(as_of - dt.timedelta(days=35), dt.time(10), tzinfo=zone)
    assert done.status == "completed"
    assert (done.created_by.username, done.approved_by.username) == ("mm.huang", "mm.xie")
    assert done.launched_at == done.starts_at == launched
    assert done.approved_at < launched and done.created_at < done.approved_at
    assert done.channels == ["email", "sms"]
    messages = CampaignMessage.objects.filter(campaign=done)
    assert not messages.filter(status="queued").exists()
    emails = messages.filter(channel="email").exclude(status__in=["suppressed", "failed"])
    assert len(mail.outbox) == emails.count() > 0
    assert not emails.filter(sent_at__lt=launched).exists()
    assert emails.filter(opened_at__isnull=False).count() == counts["e-mails opened"] > 0
    assert emails.filter(status="clicked").count() == counts["e-mails clicked"] > 0
    assert messages.filter(channel="sms", status="sent").exists()
    assert os.listdir(marketing_env / "sms")
    targets = CampaignTarget.objects.filter(campaign=done)
    treated = targets.filter(group="treatment")
    control = targets.filter(group="control")
    assert treated.count() > control.count() > 0
    converted_t = treated.filter(converted_at__isnull=False).count()
    converted_c = control.filter(converted_at__isnull=False).count()
    assert converted_t + converted_c == counts["conversions"] == counts["term deposits opened"]
    report = campaign_report(actor=User.objects.get(username="mm.huang"), campaign=done)
    uplift = report.overall.uplift
    print(f"uplift {uplift}")
    assert (uplift.conversions_treatment, uplift.conversions_control) == (converted_t, converted_c)
    assert uplift.difference > 0 and uplift.ci_low is not None and uplift.ci_high > 0
    window_end = as_of - dt.timedelta(days=5)
    opened = Account.objects.filter(source_id__startswith=f"mkt-{done.pk}-")
    assert opened.count() == counts["term deposits opened"]
    assert all(launched.date() < a.opened_on < window_end for a in opened)

    # The running campaign: banners on the 360 page, call tasks for the relationship manager.
    running = Campaign.objects.get(name=demo_marketing.RUNNING)
    assert running.status == "running" and running.channels == ["call", "banner"]
    banners = CampaignMessage.objects.filter(campaign=running, channel="banner", status="sent")
    calls = CampaignMessage.objects.filter(campaign=running, channel="call", status="sent")
    assert banners.exists() and calls.exists()
    assert Task.objects.filter(owner=rm, pk__in=calls.values("task")).exists()
    seen = banners.filter(party__portfolio__manager=rm).first()
    assert seen is not None
    assert selectors_offers.customer_banners(actor=rm, party=seen.party, language="en")

    # Next best offer decisions by the relationship manager.
    decisions = OfferDecision.objects.filter(decided_by=rm)
    assert decisions.count() == counts["offer decisions"] == 7
    assert decisions.filter(decision="accepted").count() == 3
    assert sorted(decisions.filter(decision="dismissed").values_list("reason", flat=True)) == [
        "bad_timing", "has_elsewhere", "not_interested", "not_suitable",
    ]  # fmt: skip
    assert not decisions.filter(decision="accepted", task__isnull=True).exists()

    # A second run changes nothing.
    before = _tables()
    assert _seed(demo, django_capture_on_commit_callbacks) == {}
    assert _tables() == before


def test_demo_marketing_without_customers_does_nothing(
    marketing_env, django_capture_on_commit_callbacks
) -> None:
    demo = _demo(0)
    before = _tables()
    assert _seed(demo, django_capture_on_commit_callbacks) == {}
    assert _tables() == before
