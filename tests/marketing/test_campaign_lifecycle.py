"""A campaign's life before and around its launch: drafting with each bad field named and
nothing written, submission checks, approval by a second person (never the maker), rejection
and withdrawal back to draft, pause, resume, cancellation, and the reach of branch marketers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from bankcrm.audit.models import AuditEvent
from bankcrm.core.models.approvals import PendingApproval
from bankcrm.core.services_approvals import approval_approve, approval_cancel, approval_reject
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget, Segment
from bankcrm.marketing.selectors_campaigns import campaign_get, campaign_list
from bankcrm.marketing.services_campaigns import (
    campaign_cancel,
    campaign_create,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_submit,
    campaign_update,
    campaign_variant_delete,
    campaign_variant_save,
)
from tests.factories.marketing import ProductOfferFactory, SegmentFactory

from .conftest import reachable_customer
from .test_campaign_launch import CONTENT, approved, draft_campaign, static_segment

pytestmark = pytest.mark.django_db


def problems(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict


def test_create_names_every_bad_field_and_writes_nothing(marketing_bank: Any) -> None:
    mb = marketing_bank
    other_branch = SegmentFactory(owning_unit=mb.branch_b, created_by=mb.marketer)
    inactive = ProductOfferFactory(product=mb.deposit, is_active=False)
    before = Campaign.objects.count()
    with pytest.raises(ValidationError) as refused:
        campaign_create(
            actor=mb.marketer_a,
            name=" ",
            objective="cross_sell",
            segment=other_branch,
            channels=["email", "fax"],
            starts_at=timezone.now() + dt.timedelta(days=1),
            holdout_percent="60",
            offer=inactive,
            landing_url="javascript:alert(1)",
        )
    assert set(problems(refused.value)) == {
        "name",
        "segment",
        "channels",
        "holdout_percent",
        "offer",
        "landing_url",
    }
    assert problems(refused.value)["channels"] == ["Unknown channel: fax."]
    assert problems(refused.value)["holdout_percent"] == ["The control group is 0 to 50 per cent."]
    with pytest.raises(ValidationError) as empty:
        campaign_create(
            actor=mb.marketer,
            name="No channel",
            segment=SegmentFactory(owning_unit=mb.head_office),
            channels=[],
            starts_at=timezone.now() + dt.timedelta(days=1),
        )
    assert problems(empty.value) == {"channels": ["Choose at least one channel."]}
    assert Campaign.objects.count() == before


def test_create_draws_a_seed_and_defaults_to_the_makers_unit(marketing_bank: Any) -> None:
    mb = marketing_bank
    campaign = campaign_create(
        actor=mb.marketer_a,
        name="Branch A savings",
        objective="cross_sell",
        segment=SegmentFactory(owning_unit=mb.branch_a),
        channels=["sms", "email", "email"],
        starts_at=timezone.now() + dt.timedelta(days=1),
        cost_per_message={"email": "0.01", "sms": "0.05"},
    )
    assert campaign.owning_unit == mb.branch_a
    assert campaign.channels == ["email", "sms"]
    assert 0 <= campaign.holdout_seed < 2**62
    assert campaign.status == "draft"
    assert campaign.created_by == mb.marketer_a
    assert campaign.cost_per_message == {"email": "0.01", "sms": "0.05"}
    assert AuditEvent.objects.filter(action="campaign.create", object_pk=str(campaign.pk)).exists()


def test_submit_checks_content_and_start(marketing_bank: Any) -> None:
    mb = marketing_bank
    campaign = draft_campaign(
        mb, SegmentFactory(owning_unit=mb.head_office), channels=("email", "sms"), variants=()
    )
    with pytest.raises(ValidationError) as none:
        campaign_submit(actor=mb.marketer, campaign=campaign)
    assert problems(none.value) == {
        "variants": ["Add at least one variant with the campaign's content."]
    }
    campaign_variant_save(
        actor=mb.marketer,
        campaign=campaign,
        code="a",
        **{**CONTENT, "subject_zh": "", "sms_en": " "},
    )
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=timezone.now() - dt.timedelta(1))
    campaign.refresh_from_db()
    with pytest.raises(ValidationError) as missing:
        campaign_submit(actor=mb.marketer, campaign=campaign)
    assert problems(missing.value) == {
        "variants": [
            "Variant A: subject (Chinese) is missing.",
            "Variant A: SMS (English) is missing.",
        ],
        "starts_at": ["The start must be in the future."],
    }
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert not PendingApproval.objects.exists()


def test_maker_cannot_approve_another_marketer_does(marketing_bank: Any) -> None:
    mb = marketing_bank
    campaign = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office))
    approval = campaign_submit(actor=mb.marketer, campaign=campaign, comment="Spring drive")
    campaign.refresh_from_db()
    assert campaign.status == "pending_approval"
    assert campaign.approval == approval
    assert approval.action == "marketing.campaign_launch"
    # Drafts only: a submitted campaign cannot be edited.
    with pytest.raises(ValidationError) as locked:
        campaign_update(actor=mb.marketer, campaign=campaign, name="Changed")
    assert list(problems(locked.value)) == ["status"]
    with pytest.raises(PermissionDenied):
        approval_approve(actor=mb.marketer, approval_pk=approval.pk)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.approved_by) == ("pending_approval", None)
    # A branch marketer cannot decide on a head-office campaign (out of reach).
    with pytest.raises(PermissionDenied):
        approval_approve(actor=mb.marketer_a, approval_pk=approval.pk)
    decided = approval_approve(actor=mb.marketer2, approval_pk=approval.pk, comment="fine")
    assert decided.status == "approved"
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.approved_by == mb.marketer2
    assert campaign.approved_at is not None
    assert campaign.name == "Term deposit spring"


def test_rejection_and_withdrawal_return_to_draft(
    marketing_bank: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mb = marketing_bank
    campaign = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office))
    approval = campaign_submit(actor=mb.marketer, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        approval_reject(actor=mb.marketer2, approval_pk=approval.pk, reason="Wrong offer")
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    campaign_update(actor=mb.marketer, campaign=campaign, name="Term deposit summer")
    second = campaign_submit(actor=mb.marketer, campaign=campaign)
    with django_capture_on_commit_callbacks(execute=True):
        approval_cancel(actor=mb.marketer, approval_pk=second.pk, reason="Later")
    campaign.refresh_from_db()
    assert campaign.status == "draft"
    assert (
        AuditEvent.objects.filter(
            action="campaign.return_to_draft", object_pk=str(campaign.pk)
        ).count()
        == 2
    )


def test_approval_of_a_cancelled_campaign_fails(marketing_bank: Any) -> None:
    mb = marketing_bank
    campaign = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office))
    approval = campaign_submit(actor=mb.marketer, campaign=campaign)
    campaign_cancel(actor=mb.marketer2, campaign=campaign, reason="Budget")
    decided = approval_approve(actor=mb.marketer2, approval_pk=approval.pk)
    assert decided.status == "failed"
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"


def test_variants_edit_and_delete_only_in_draft(marketing_bank: Any) -> None:
    mb = marketing_bank
    campaign = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office))
    variant = campaign_variant_save(actor=mb.marketer, campaign=campaign, code="b", weight=3)
    assert (variant.code, variant.weight) == ("B", 3)
    with pytest.raises(ValidationError) as bad:
        campaign_variant_save(actor=mb.marketer, campaign=campaign, code="toolongcode", weight=0)
    assert set(problems(bad.value)) == {"code", "weight"}
    campaign_variant_delete(actor=mb.marketer, campaign=campaign, code="B")
    assert list(campaign.variants.values_list("code", flat=True)) == ["A"]
    approved(mb, campaign)
    with pytest.raises(ValidationError):
        campaign_variant_save(actor=mb.marketer, campaign=campaign, code="A", weight=2)
    assert campaign.variants.get(code="A").weight == 1


def test_pause_resume_cancel(marketing_bank: Any) -> None:
    mb = marketing_bank
    customer = reachable_customer(mb, mb.branch_a, "暂停")
    campaign = approved(mb, draft_campaign(mb, static_segment(mb, [customer]), holdout=0))
    campaign_pause(actor=mb.marketer, campaign=campaign, reason="Hold")
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    # A paused campaign is not launched by the due job.
    with pytest.raises(ValidationError):
        campaign_launch(campaign=campaign)
    campaign_resume(actor=mb.marketer, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    campaign_launch(campaign=campaign, now=campaign.starts_at)
    campaign_pause(actor=mb.marketer, campaign=campaign)
    campaign_resume(actor=mb.marketer, campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == "running"
    with pytest.raises(ValidationError):
        campaign_resume(actor=mb.marketer, campaign=campaign)
    campaign_cancel(actor=mb.marketer, campaign=campaign, reason="Stop")
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"
    assert list(
        CampaignMessage.objects.filter(campaign=campaign).values_list("status", "detail")
    ) == [("suppressed", "campaign cancelled")]
    with pytest.raises(ValidationError):
        campaign_cancel(actor=mb.marketer, campaign=campaign)


def test_branch_marketer_cannot_reach_head_office_campaigns(marketing_bank: Any) -> None:
    mb = marketing_bank
    head = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office))
    branch = draft_campaign(mb, SegmentFactory(owning_unit=mb.branch_a), actor=mb.marketer_a)
    assert list(campaign_list(actor=mb.marketer_a)) == [branch]
    assert set(campaign_list(actor=mb.marketer)) == {head, branch}
    with pytest.raises(Campaign.DoesNotExist):
        campaign_get(actor=mb.marketer_a, pk=head.pk)
    with pytest.raises(Campaign.DoesNotExist):
        campaign_update(actor=mb.marketer_a, campaign=head, name="Mine now")
    with pytest.raises(Campaign.DoesNotExist):
        campaign_submit(actor=mb.marketer_a, campaign=head)
    with pytest.raises(Campaign.DoesNotExist):
        campaign_cancel(actor=mb.marketer_a, campaign=head)
    approved(mb, head)
    with pytest.raises(PermissionDenied):
        campaign_launch(campaign=head, actor=mb.rm_a)
    with pytest.raises(Campaign.DoesNotExist):
        campaign_launch(campaign=head, actor=mb.marketer_a)
    head.refresh_from_db()
    assert (head.name, head.status, head.launched_at) == ("Term deposit spring", "scheduled", None)
    assert not CampaignTarget.objects.filter(campaign=head).exists()


def test_dynamic_segment_is_evaluated_within_the_campaigns_unit(marketing_bank: Any) -> None:
    mb = marketing_bank
    inside = reachable_customer(mb, mb.branch_a, "分行内")
    reachable_customer(mb, mb.branch_b, "分行外")
    segment = SegmentFactory(
        kind=Segment.Kind.DYNAMIC, owning_unit=mb.branch_a, created_by=mb.marketer_a
    )
    campaign = draft_campaign(mb, segment, holdout=0, actor=mb.marketer_a)
    approval = campaign_submit(actor=mb.marketer_a, campaign=campaign)
    approval_approve(actor=mb.marketer, approval_pk=approval.pk)
    campaign.refresh_from_db()
    result = campaign_launch(campaign=campaign, now=campaign.starts_at)
    parties = set(
        CampaignTarget.objects.filter(campaign=campaign).values_list("party_id", flat=True)
    )
    # customer_a of the shared bank fixture is in branch A too (no consent: suppressed).
    assert inside.pk in parties
    assert mb.customer_b.pk not in parties
    assert set(
        CampaignMessage.objects.filter(campaign=campaign).values_list("party_id", flat=True)
    ) == {inside.pk}
    assert result["treatment"] == 1


def test_commands_launch_and_start_due(marketing_bank: Any) -> None:
    import json
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    mb = marketing_bank
    customer = reachable_customer(mb, mb.branch_a, "命令")
    draft = draft_campaign(mb, static_segment(mb, [customer]), holdout=0)
    with pytest.raises(CommandError):
        call_command("marketing", "campaign-launch", "--campaign", str(draft.pk))
    campaign = approved(mb, draft)
    out = StringIO()
    call_command("marketing", "campaign-launch", "--campaign", str(campaign.pk), stdout=out)
    line = json.loads(out.getvalue().strip().splitlines()[-1])
    assert (line["action"], line["launched"], line["messages"]) == ("campaign-launch", True, 1)
    out = StringIO()
    call_command("marketing", "campaigns-start-due", stdout=out)
    assert json.loads(out.getvalue().strip().splitlines()[-1])["launched"] == 0
    from bankcrm.marketing.tasks_campaigns import campaigns_start_due

    assert campaigns_start_due.name == "marketing.campaigns_start_due"
    assert campaigns_start_due() == 0
