"""Conversion detection: a treatment or control customer converted when an account of the
offered product (or its category) was opened as its holder within the window after the
launch, and they held none at the launch; suppressed customers never count; one SQL update,
idempotent, audited; the nightly job completes campaigns whose window has passed."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import AccountRole, Product
from bankcrm.events.models import OutboxEvent
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget
from bankcrm.marketing.services_conversions import (
    conversion_window,
    conversions_detect,
    conversions_detect_all,
)
from bankcrm.marketing.tasks_conversions import conversions_detect as conversions_task
from tests.factories.banking import AccountFactory, AccountRoleFactory, ProductFactory
from tests.factories.customers import PersonFactory
from tests.factories.marketing import CampaignFactory, ProductOfferFactory, SegmentFactory

pytestmark = pytest.mark.django_db

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def shanghai(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


LAUNCHED = shanghai(2026, 10, 1, 10, 0)  # window: 1 to 31 October 2026 (30 days)
AFTER_WINDOW = shanghai(2026, 11, 5, 2, 0)


def make_campaign(mb, **fields) -> Campaign:
    segment = SegmentFactory(owning_unit=mb.head_office, created_by=mb.marketer)
    offer = ProductOfferFactory(product=mb.deposit, value=800)
    values = {
        "segment": segment,
        "offer": offer,
        "status": Campaign.Status.RUNNING,
        "starts_at": LAUNCHED,
        "launched_at": LAUNCHED,
        "conversion_days": 30,
        "created_by": mb.marketer,
    }
    values.update(fields)
    return CampaignFactory(**values)


def target(campaign, group="treatment", party=None, unit=None, **fields) -> CampaignTarget:
    party = party or PersonFactory(owning_unit=unit or campaign.owning_unit)
    if group == "suppressed":
        fields.setdefault("suppression", CampaignTarget.Suppression.DO_NOT_CONTACT)
    return CampaignTarget.objects.create(
        campaign=campaign, party=party, group=group, draw=0.5, **fields
    )


def account(party, product, opened_on, **fields):
    return AccountFactory(
        owner=party, product=product, opened_on=opened_on, branch=party.owning_unit, **fields
    )


@pytest.fixture
def world(marketing_bank):
    mb = marketing_bank
    campaign = make_campaign(mb)
    td6 = ProductFactory(code="TD6", name="6-month deposit", category=Product.Category.TERM_DEPOSIT)
    t = {}
    for name in (
        "in_window", "first_day", "last_day", "after", "before", "held", "held_closed",
        "other_product", "same_category", "role", "joint", "two", "nothing",
    ):  # fmt: skip
        t[name] = target(campaign)
    t["control_in"] = target(campaign, "control")
    t["control_nothing"] = target(campaign, "control")
    t["suppressed_in"] = target(campaign, "suppressed")
    d = mb.deposit
    accounts = {
        "in_window": account(t["in_window"].party, d, dt.date(2026, 10, 15)),
        "first_day": account(t["first_day"].party, d, dt.date(2026, 10, 1)),
        "last_day": account(t["last_day"].party, d, dt.date(2026, 10, 31)),
        "after": account(t["after"].party, d, dt.date(2026, 11, 1)),
        "before": account(t["before"].party, d, dt.date(2026, 9, 30)),
        "held_old": account(t["held"].party, d, dt.date(2025, 1, 1)),
        "held_new": account(t["held"].party, d, dt.date(2026, 10, 10)),
        "closed_old": account(
            t["held_closed"].party, d, dt.date(2024, 1, 1), closed_on=dt.date(2025, 6, 30),
            status="closed",
        ),
        "closed_new": account(t["held_closed"].party, d, dt.date(2026, 10, 10)),
        "other_product": account(t["other_product"].party, mb.current, dt.date(2026, 10, 10)),
        "same_category": account(t["same_category"].party, td6, dt.date(2026, 10, 12)),
        "two_late": account(t["two"].party, d, dt.date(2026, 10, 12)),
        "two_early": account(t["two"].party, d, dt.date(2026, 10, 5)),
        "control_in": account(t["control_in"].party, d, dt.date(2026, 10, 20)),
        "suppressed_in": account(t["suppressed_in"].party, d, dt.date(2026, 10, 5)),
    }  # fmt: skip
    # Held through a role: someone else is the primary holder, the customer an owner.
    someone = PersonFactory(owning_unit=mb.branch_a)
    accounts["role"] = account(someone, d, dt.date(2026, 10, 8))
    AccountRoleFactory(account=accounts["role"], party=t["role"].party, role=AccountRole.Role.OWNER)
    accounts["joint"] = account(someone, d, dt.date(2026, 10, 9), number="6222 9999 0000 0001")
    AccountRoleFactory(
        account=accounts["joint"], party=t["joint"].party, role=AccountRole.Role.JOINT_OWNER
    )
    return {"mb": mb, "campaign": campaign, "targets": t, "accounts": accounts}


def converted(campaign) -> dict[str, tuple[str, dt.datetime]]:
    return {
        str(row.party_id): (row.conversion_ref, row.converted_at)
        for row in CampaignTarget.objects.filter(campaign=campaign, converted_at__isnull=False)
    }


def expect(world, names) -> dict[str, tuple[str, dt.datetime]]:
    t, a = world["targets"], world["accounts"]
    refs = {"two": "two_early", "held_closed": "closed_new"}
    result = {}
    for name in names:
        acc = a[refs.get(name, name)]
        day = dt.datetime.combine(acc.opened_on, dt.time(), tzinfo=SHANGHAI)
        result[str(t[name].party_id)] = (str(acc.pk), day)
    return result


CONVERTED = ["in_window", "first_day", "last_day", "held_closed", "role", "two", "control_in"]


def test_accounts_opened_within_the_window_convert(world):
    campaign = world["campaign"]
    assert conversion_window(campaign) == (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    count = conversions_detect(campaign=campaign, now=AFTER_WINDOW)
    assert count == 7
    assert converted(campaign) == expect(world, CONVERTED)


def test_detection_is_one_update_and_running_it_twice_changes_nothing(world):
    campaign = world["campaign"]
    with CaptureQueriesContext(connection) as queries:
        assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 7
    updates = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('UPDATE "marketing_campaigntarget"')
    ]
    assert len(updates) == 1
    first = converted(campaign)
    assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 0
    assert converted(campaign) == first


def test_detection_is_audited_with_its_counts(world):
    campaign = world["campaign"]
    conversions_detect(campaign=campaign, now=AFTER_WINDOW)
    event = AuditEvent.objects.get(action="campaign.conversions_detect")
    assert event.actor == "system:marketing.conversions_detect"
    assert event.object_pk == str(campaign.pk)
    assert event.after == {
        "window_from": "2026-10-01",
        "window_to": "2026-10-31",
        "success_event": "product_opened",
        "new_conversions": 7,
        "conversions_treatment": 6,
        "conversions_control": 1,
    }


def test_only_days_already_passed_count_while_the_window_runs(world):
    campaign = world["campaign"]
    assert conversions_detect(campaign=campaign, now=shanghai(2026, 10, 9, 23, 0)) == 3
    assert converted(campaign) == expect(world, ["first_day", "role", "two"])
    # Later runs add the rest, never touching those already converted.
    assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 4
    assert converted(campaign) == expect(world, CONVERTED)


def test_the_category_counts_when_the_success_event_is_the_category(world):
    campaign = world["campaign"]
    campaign.success_event = Campaign.SuccessEvent.CATEGORY_OPENED
    campaign.save()
    assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 8
    assert str(world["targets"]["same_category"].party_id) in converted(campaign)


def test_nothing_is_measured_without_a_success_event_or_a_launch(world):
    campaign = world["campaign"]
    campaign.success_event = Campaign.SuccessEvent.NONE
    assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 0
    campaign.success_event = Campaign.SuccessEvent.PRODUCT_OPENED
    campaign.launched_at = None
    assert conversions_detect(campaign=campaign, now=AFTER_WINDOW) == 0
    assert converted(campaign) == {}
    assert not AuditEvent.objects.filter(action="campaign.conversions_detect").exists()


def test_the_nightly_job_measures_and_completes_campaigns(world):
    mb = world["mb"]
    campaign = world["campaign"]
    # Still sending: its window passed too, but a message waits in the queue.
    busy = make_campaign(mb)
    busy_target = target(busy)
    account(busy_target.party, mb.deposit, dt.date(2026, 10, 3))
    CampaignMessage.objects.create(
        campaign=busy, target=busy_target, party=busy_target.party, channel="email",
        queued_at=LAUNCHED,
    )  # fmt: skip
    # Launched long ago: its window closed before last night; it is no longer measured.
    old = make_campaign(mb, launched_at=shanghai(2026, 8, 1, 9, 0), status="completed")
    old_target = target(old)
    account(old_target.party, mb.deposit, dt.date(2026, 8, 3))
    # Not launched yet.
    make_campaign(mb, launched_at=None, status="scheduled")
    night = shanghai(2026, 11, 1, 2, 0)  # the night after the window's last day
    assert conversions_detect_all(now=night) == 8
    campaign.refresh_from_db()
    busy.refresh_from_db()
    old.refresh_from_db()
    assert (campaign.status, campaign.completed_at) == ("completed", night)
    assert (busy.status, busy.completed_at) == ("running", None)
    assert converted(old) == {}
    assert AuditEvent.objects.filter(action="campaign.complete").count() == 1
    assert OutboxEvent.objects.filter(type="campaign.completed").count() == 1
    # The next night: nothing new, nothing completed twice; the window has closed.
    assert conversions_detect_all(now=shanghai(2026, 11, 2, 2, 0)) == 0
    assert AuditEvent.objects.filter(action="campaign.complete").count() == 1


def test_the_command_and_the_task(world):
    campaign = world["campaign"]
    out = StringIO()
    call_command(
        "marketing", "conversions", "--campaign", str(campaign.pk),
        "--now", AFTER_WINDOW.isoformat(), stdout=out,
    )  # fmt: skip
    line = out.getvalue().strip().splitlines()[-1]
    assert json.loads(line) == {
        "action": "conversions", "campaign": campaign.pk, "new_conversions": 7,
    }  # fmt: skip
    assert AuditEvent.objects.get(action="campaign.conversions_detect").actor == (
        "system:command.marketing_conversions"
    )
    assert conversions_task(campaign_id=campaign.pk, now=AFTER_WINDOW.isoformat()) == 0
    assert conversions_task(now=AFTER_WINDOW.isoformat()) == 0
