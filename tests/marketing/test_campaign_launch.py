"""A campaign's launch: the audience drawn from the segment (suppressed with the first reason
that applies, a reproducible seeded control group, variants by weight), one queued message per
treatment customer and reachable channel, none ever for the control group; the figures, the
audit and the event; a second launch changes nothing."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.banking.models import Account
from bankcrm.core.services_approvals import approval_approve
from bankcrm.customers.models import Party
from bankcrm.events.models import OutboxEvent
from bankcrm.marketing import audience
from bankcrm.marketing.models import (
    Campaign,
    CampaignMessage,
    CampaignTarget,
    Segment,
    SegmentMember,
)
from bankcrm.marketing.services_campaigns import (
    campaign_create,
    campaign_launch,
    campaign_submit,
    campaign_variant_save,
    campaigns_start_due,
)
from tests.factories.banking import AccountFactory
from tests.factories.marketing import ProductOfferFactory, SegmentFactory

from .conftest import reachable_customer

pytestmark = pytest.mark.django_db

CONTENT = {
    "subject_en": "A better rate",
    "subject_zh": "更好的利率",
    "html_en": "<p>Dear {{ name }}</p>",
    "html_zh": "<p>尊敬的{{ name }}</p>",
    "text_en": "Dear {{ name }}",
    "text_zh": "尊敬的{{ name }}",
    "sms_en": "Term deposit at 3.1 per cent",
    "sms_zh": "定期存款年利率3.1",
    "call_script": "Offer the term deposit.",
    "banner_en": "Term deposit 3.1",
    "banner_zh": "定期存款3.1",
}


def static_segment(mb: Any, parties: list[Any], unit: Any = None) -> Segment:
    """A static segment of ``parties`` (members written directly, as a snapshot would)."""
    segment = SegmentFactory(
        kind=Segment.Kind.STATIC, owning_unit=unit or mb.head_office, created_by=mb.marketer
    )
    now = timezone.now()
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=segment, party_id=party.pk, added_at=now) for party in parties]
    )
    return segment


def draft_campaign(
    mb: Any,
    segment: Segment,
    *,
    channels: tuple[str, ...] = ("email",),
    holdout: Any = 10,
    seed: int = 42,
    variants: tuple[tuple[str, int], ...] = (("A", 1),),
    actor: Any = None,
    **fields: Any,
) -> Campaign:
    actor = actor or mb.marketer
    fields.setdefault("offer", ProductOfferFactory(product=mb.deposit))
    fields.setdefault("name", "Term deposit spring")
    campaign = campaign_create(
        actor=actor,
        objective="cross_sell",
        segment=segment,
        channels=list(channels),
        starts_at=timezone.now() + dt.timedelta(hours=2),
        holdout_percent=holdout,
        holdout_seed=seed,
        owning_unit=segment.owning_unit,
        **fields,
    )
    for code, weight in variants:
        campaign_variant_save(actor=actor, campaign=campaign, code=code, weight=weight, **CONTENT)
    return campaign


def approved(mb: Any, campaign: Campaign) -> Campaign:
    approval = campaign_submit(actor=mb.marketer, campaign=campaign, comment="spring")
    approval_approve(actor=mb.marketer2, approval_pk=approval.pk, comment="ok")
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SCHEDULED
    return campaign


def launched(mb: Any, campaign: Campaign) -> dict[str, Any]:
    campaign = approved(mb, campaign)
    result = campaign_launch(campaign=campaign, now=campaign.starts_at + dt.timedelta(minutes=1))
    campaign.refresh_from_db()
    return result


def bulk_parties(unit: Any, count: int) -> list[Party]:
    """``count`` active customers without contact details (a banner campaign reaches them)."""
    parties = [
        Party(
            pk=uuid.UUID(int=n + 1),
            kind=Party.Kind.PERSON,
            display_name=f"客户{n}",
            status=Party.Status.ACTIVE,
            segment=Party.Segment.MASS,
            owning_unit=unit,
        )
        for n in range(count)
    ]
    Party.objects.bulk_create(parties, batch_size=500)
    return parties


def targets(campaign: Campaign) -> dict[Any, CampaignTarget]:
    return {target.party_id: target for target in CampaignTarget.objects.filter(campaign=campaign)}


def test_every_suppression_reason_in_order(marketing_bank: Any) -> None:
    from bankcrm.compliance.models import ScreeningHit

    mb = marketing_bank
    unit = mb.branch_a
    ok = reachable_customer(mb, unit, "可联系")
    closed = reachable_customer(mb, unit, "已销户")
    # Closed and deceased: the first reason in the order wins.
    Party.objects.filter(pk=closed.pk).update(
        status=Party.Status.CLOSED, deceased_on=dt.date(2026, 1, 2)
    )
    deceased = reachable_customer(mb, unit, "已故", deceased_on=dt.date(2026, 3, 1))
    dnc = reachable_customer(mb, unit, "勿扰", do_not_contact=True)
    sanctioned = reachable_customer(mb, unit, "制裁")
    complaining = reachable_customer(mb, unit, "投诉")
    holder = reachable_customer(mb, unit, "已持有")
    joint_holder = reachable_customer(mb, unit, "联名")
    no_consent = reachable_customer(mb, unit, "无同意", consents=())
    sms_only = reachable_customer(mb, unit, "仅短信", consents=("sms_marketing",))
    capped = reachable_customer(mb, unit, "频次")

    entry = _list_entry()
    ScreeningHit.objects.create(
        party=sanctioned, subject_name="制裁", entry=entry, score=Decimal("0.9"), origin="manual"
    )
    # A decided false positive does not suppress.
    ScreeningHit.objects.create(
        party=ok,
        subject_name="可联系",
        entry=entry,
        score=Decimal("0.8"),
        origin="manual",
        status=ScreeningHit.Status.FALSE_POSITIVE,
    )
    _open_complaint(mb, complaining)
    AccountFactory(owner=holder, product=mb.deposit, branch=unit)
    closed_account = AccountFactory(owner=ok, product=mb.deposit, branch=unit)
    closed_account.status = Account.Status.CLOSED
    closed_account.save(update_fields=["status"])
    from bankcrm.banking.models import AccountRole

    joint = AccountFactory(owner=mb.customer_b, product=mb.deposit, branch=mb.branch_b)
    AccountRole.objects.create(account=joint, party=joint_holder, role="joint_owner")
    other = draft_campaign(mb, static_segment(mb, [capped]), holdout=0, seed=1)
    other = approved(mb, other)
    campaign_launch(campaign=other, now=other.starts_at)
    CampaignMessage.objects.filter(campaign=other).update(status="sent", sent_at=timezone.now())
    for n in range(2):
        extra = draft_campaign(mb, static_segment(mb, [capped]), holdout=0, seed=2 + n)
        extra = approved(mb, extra)
        campaign_launch(campaign=extra, now=extra.starts_at)
    CampaignMessage.objects.filter(party=capped).update(status="sent", sent_at=timezone.now())

    parties = [
        ok,
        closed,
        deceased,
        dnc,
        sanctioned,
        complaining,
        holder,
        joint_holder,
        no_consent,
        sms_only,
        capped,
    ]
    campaign = draft_campaign(mb, static_segment(mb, parties), holdout=0, seed=7)
    result = launched(mb, campaign)
    drawn = targets(campaign)
    assert {party.display_name: drawn[party.pk].suppression for party in parties} == {
        "可联系": "",
        "已销户": "inactive",
        "已故": "deceased",
        "勿扰": "do_not_contact",
        "制裁": "sanctions_hit",
        "投诉": "open_complaint",
        "已持有": "holds_product",
        "联名": "holds_product",
        "无同意": "no_consent",
        "仅短信": "no_consent",
        "频次": "frequency_cap",
    }
    assert drawn[ok.pk].group == "treatment"
    assert result["suppressed"] == 10
    assert result["treatment"] == 1
    assert result["suppression"] == {
        "inactive": 1,
        "deceased": 1,
        "do_not_contact": 1,
        "sanctions_hit": 1,
        "open_complaint": 1,
        "holds_product": 2,
        "no_consent": 2,
        "frequency_cap": 1,
    }
    assert list(
        CampaignMessage.objects.filter(campaign=campaign).values_list("party_id", flat=True)
    ) == [ok.pk]


def _list_entry() -> Any:
    from bankcrm.compliance.models import ListEntry, ListSnapshot, SanctionsList

    watch_list = SanctionsList.objects.create(code="ofac-sdn", name="OFAC SDN", source="ofac")
    snapshot = ListSnapshot.objects.create(
        watch_list=watch_list, version=1, source_name="sdn.csv", sha256="0" * 64
    )
    return ListEntry.objects.create(
        watch_list=watch_list,
        entry_id="36",
        schema="person",
        name="Someone Listed",
        content_hash="1" * 64,
        first_snapshot=snapshot,
        last_snapshot=snapshot,
    )


def _open_complaint(mb: Any, party: Any, *, is_open: bool = True) -> Any:
    from bankcrm.support.models import ServiceCase
    from tests.factories.support import CaseTypeFactory, QueueFactory

    case_type = CaseTypeFactory(code="marketing_complaint", is_complaint=True)
    return ServiceCase.objects.create(
        reference=f"C-{party.pk.hex[:10]}",
        case_type=case_type,
        channel="phone",
        subject="Unhappy with fees",
        party=party,
        org_unit=party.owning_unit,
        queue=QueueFactory(org_unit=party.owning_unit),
        received_at=timezone.now(),
        is_open=is_open,
    )


def test_holdout_draw_is_seeded_recorded_and_split_by_weights(marketing_bank: Any) -> None:
    mb = marketing_bank
    parties = bulk_parties(mb.branch_a, 2000)
    segment = static_segment(mb, parties)
    campaign = draft_campaign(
        mb, segment, channels=("banner",), holdout=10, seed=20261130, variants=(("A", 1), ("B", 3))
    )
    result = launched(mb, campaign)
    drawn = targets(campaign)
    variants = {variant.pk: variant for variant in campaign.variants.all()}
    # The control share for this seed and these 2,000 customers: 10 per cent expected.
    assert result["control"] == 212
    assert result["treatment"] == 1788
    assert result["variants"] == {"A": 473, "B": 1315}
    assert result["queued"] == {"banner": 1788}
    # Every recorded draw is the documented formula's value, and the groups follow from it.
    for party in parties:
        target = drawn[party.pk]
        assert target.draw == audience.party_draw(20261130, party.pk)
        group, variant_pk = audience.expected_group(
            campaign=campaign, party_pk=party.pk, variants=list(variants.values())
        )
        assert (target.group, target.variant_id) == (group, variant_pk)
    # The control group never receives anything; each treated customer one banner.
    control = [pk for pk, target in drawn.items() if target.group == "control"]
    assert not CampaignMessage.objects.filter(campaign=campaign, party_id__in=control).exists()
    assert not CampaignMessage.objects.filter(target__group="control").exists()
    messages = CampaignMessage.objects.filter(campaign=campaign)
    assert messages.count() == 1788
    assert set(messages.values_list("status", flat=True)) == {"queued"}

    # The same seed over the same customers draws the same groups again.
    again = draft_campaign(
        mb, segment, channels=("banner",), holdout=10, seed=20261130, variants=(("A", 1), ("B", 3))
    )
    launched(mb, again)
    redrawn = targets(again)
    code = {pk: variant.code for pk, variant in variants.items()}
    again_code = {variant.pk: variant.code for variant in again.variants.all()}
    assert {pk: (t.group, t.draw, code.get(t.variant_id)) for pk, t in drawn.items()} == {
        pk: (t.group, t.draw, again_code.get(t.variant_id)) for pk, t in redrawn.items()
    }
    # Another seed draws another control group.
    other = draft_campaign(mb, segment, channels=("banner",), holdout=10, seed=7)
    launched(mb, other)
    other_control = {pk for pk, t in targets(other).items() if t.group == "control"}
    assert other_control != set(control)


def test_messages_per_reachable_channel_and_launch_once(
    marketing_bank: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mb = marketing_bank
    both = reachable_customer(
        mb, mb.branch_a, "双渠道", consents=("email_marketing", "sms_marketing")
    )
    email_only = reachable_customer(mb, mb.branch_b, "仅邮件")
    foreign = reachable_customer(mb, mb.branch_b, "Alice", consents=("sms_marketing",))
    foreign.person.nationality = "GB"
    foreign.person.save(update_fields=["nationality"])
    campaign = draft_campaign(
        mb, static_segment(mb, [both, email_only, foreign]), channels=("email", "sms"), holdout=0
    )
    campaign = approved(mb, campaign)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = campaign_launch(campaign=campaign, now=campaign.starts_at)
    assert result["launched"] is True
    assert result["queued"] == {"email": 2, "sms": 2}
    assert result["messages"] == 4
    rows = {
        (m.party_id, m.channel): m.contact_point.kind
        for m in CampaignMessage.objects.filter(campaign=campaign).select_related("contact_point")
    }
    assert rows == {
        (both.pk, "email"): "email",
        (both.pk, "sms"): "phone",
        (email_only.pk, "email"): "email",
        (foreign.pk, "sms"): "phone",
    }
    languages = dict(
        CampaignTarget.objects.filter(campaign=campaign).values_list("party_id", "language")
    )
    assert languages == {both.pk: "zh-hans", email_only.pk: "zh-hans", foreign.pk: "en"}
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.RUNNING
    assert campaign.launched_at == campaign.starts_at
    assert campaign.stats["treatment"] == 3
    assert campaign.stats["queued"] == {"email": 2, "sms": 2}
    assert len(callbacks) >= 1
    assert (
        AuditEvent.objects.filter(action="campaign.launch", object_pk=str(campaign.pk)).count() == 1
    )
    launch_events = OutboxEvent.objects.filter(type="campaign.launched", object_pk=str(campaign.pk))
    assert [event.payload["messages"] for event in launch_events] == [4]

    # A second launch (and the due job) change nothing.
    assert campaign_launch(campaign=campaign)["launched"] is False
    assert campaigns_start_due(now=campaign.starts_at + dt.timedelta(hours=1)) == 0
    assert CampaignMessage.objects.filter(campaign=campaign).count() == 4
    assert CampaignTarget.objects.filter(campaign=campaign).count() == 3
    assert (
        AuditEvent.objects.filter(action="campaign.launch", object_pk=str(campaign.pk)).count() == 1
    )


def test_start_due_launches_scheduled_campaigns_whose_start_passed(marketing_bank: Any) -> None:
    mb = marketing_bank
    customer = reachable_customer(mb, mb.branch_a, "到期")
    due = approved(mb, draft_campaign(mb, static_segment(mb, [customer]), holdout=0))
    later = draft_campaign(mb, static_segment(mb, [customer]), holdout=0)
    later.starts_at = due.starts_at + dt.timedelta(days=1)
    later.save(update_fields=["starts_at"])
    later = approved(mb, later)
    draft = draft_campaign(mb, static_segment(mb, [customer]), holdout=0)
    assert campaigns_start_due(now=due.starts_at - dt.timedelta(seconds=1)) == 0
    assert campaigns_start_due(now=due.starts_at + dt.timedelta(minutes=1)) == 1
    statuses = dict(
        Campaign.objects.filter(pk__in=[due.pk, later.pk, draft.pk]).values_list("pk", "status")
    )
    assert statuses == {due.pk: "running", later.pk: "scheduled", draft.pk: "draft"}
    assert CampaignMessage.objects.filter(campaign=due).count() == 1
    assert not CampaignTarget.objects.filter(campaign__in=[later, draft]).exists()


def test_closed_complaint_and_decided_hit_do_not_suppress(marketing_bank: Any) -> None:
    mb = marketing_bank
    customer = reachable_customer(mb, mb.branch_a, "已解决")
    _open_complaint(mb, customer, is_open=False)
    campaign = draft_campaign(mb, static_segment(mb, [customer]), holdout=0)
    result = launched(mb, campaign)
    assert (result["treatment"], result["suppressed"]) == (1, 0)
