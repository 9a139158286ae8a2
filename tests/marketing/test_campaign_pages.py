"""Campaign pages and API: list with status filter, create and edit with bad fields shown,
variant editor with its preview, detail with the audience and the actions, submit / pause /
resume / cancel, problem+json errors, and 404 for a campaign out of reach (nothing changed)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from bankcrm.marketing.models import Campaign, CampaignVariant
from tests.factories.marketing import ProductOfferFactory, SegmentFactory

from .conftest import reachable_customer
from .test_campaign_launch import CONTENT, approved, draft_campaign, launched, static_segment

pytestmark = pytest.mark.django_db

API = "/api/v1/marketing"
PROBLEM = "application/problem+json"


def client_for(user: Any) -> Client:
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.save(update_fields=["mfa_enabled"])
    client = Client()
    client.force_login(user)
    return client


def send(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def problem_fields(answer: Any) -> dict[str, str]:
    assert answer["Content-Type"].startswith(PROBLEM)
    return {error["field"]: error["message"] for error in answer.json()["errors"]}


def test_list_scoped_and_filtered(marketing_bank: Any) -> None:
    mb = marketing_bank
    head = draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office), name="Head office one")
    branch = draft_campaign(
        mb, SegmentFactory(owning_unit=mb.branch_a), actor=mb.marketer_a, name="Branch A one"
    )
    approved(mb, head)
    page = client_for(mb.marketer_a).get("/marketing/campaigns/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Branch A one" in body and "Head office one" not in body
    everyone = client_for(mb.marketer)
    scheduled = everyone.get("/marketing/campaigns/?status=scheduled", HTTP_HX_REQUEST="true")
    assert scheduled.status_code == 200
    text = scheduled.content.decode()
    assert "Head office one" in text and "Branch A one" not in text
    assert "<html" not in text
    assert f'data-campaign="{branch.pk}"' in everyone.get("/marketing/campaigns/").content.decode()
    # A relationship manager reads the campaigns of their own unit only.
    rm_page = client_for(mb.rm_a).get("/marketing/campaigns/").content.decode()
    assert "Branch A one" in rm_page and "Head office one" not in rm_page
    from bankcrm.access.models import Role
    from tests.factories import UserFactory

    agent = UserFactory(
        username="agent", org_unit=mb.head_office, roles=[Role.objects.get(code="service_agent")]
    )
    assert client_for(agent).get("/marketing/campaigns/").status_code == 403


def test_create_edit_variant_submit_through_pages(marketing_bank: Any) -> None:
    mb = marketing_bank
    segment = SegmentFactory(owning_unit=mb.head_office)
    offer = ProductOfferFactory(product=mb.deposit)
    client = client_for(mb.marketer)
    assert client.get("/marketing/campaigns/new/").status_code == 200
    starts = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "name": "Savings push",
        "objective": "cross_sell",
        "offer": offer.pk,
        "segment": segment.pk,
        "channels": ["email", "banner"],
        "starts_at": starts,
        "holdout_percent": "60",
        "throttle_per_minute": "100",
        "success_event": "product_opened",
        "conversion_days": "30",
        "currency": "CNY",
        "cost_fixed": "1000",
        "cost_email": "0.02",
    }
    refused = client.post("/marketing/campaigns/new/", form)
    assert refused.status_code == 400
    assert "holdout_percent_error" in refused.content.decode()
    assert not Campaign.objects.exists()
    created = client.post("/marketing/campaigns/new/", {**form, "holdout_percent": "15"})
    assert created.status_code == 302
    campaign = Campaign.objects.get()
    assert created["Location"] == f"/marketing/campaigns/{campaign.pk}/"
    assert (campaign.channels, campaign.holdout_percent) == (["email", "banner"], 15)
    assert campaign.cost_per_message == {"email": "0.02"}
    edited = client.post(
        f"/marketing/campaigns/{campaign.pk}/edit/",
        {**form, "holdout_percent": "20", "name": "Savings"},
    )
    assert edited.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.holdout_percent) == ("Savings", 20)
    detail = client.get(f"/marketing/campaigns/{campaign.pk}/")
    assert detail.status_code == 200
    assert "campaign-add-variant" in detail.content.decode()
    assert "campaign-problems" in detail.content.decode()
    variant_url = f"/marketing/campaigns/{campaign.pk}/variants/A/"
    assert client.get(variant_url).status_code == 200
    bad = client.post(variant_url, {**CONTENT, "weight": "1", "html_en": "{% if %}"})
    assert bad.status_code == 400
    assert not CampaignVariant.objects.exists()
    saved = client.post(variant_url, {**CONTENT, "weight": "2"})
    assert saved.status_code == 302
    preview = client.get(variant_url).content.decode()
    assert "Dear Alice Chen" in preview and "尊敬的王小明" in preview
    submitted = client.post(f"/marketing/campaigns/{campaign.pk}/submit/", {"comment": "Go"})
    assert submitted.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "pending_approval"
    # The maker sees no way to decide; the second marketer does.
    assert (
        "campaign-decide" not in client.get(f"/marketing/campaigns/{campaign.pk}/").content.decode()
    )
    other = client_for(mb.marketer2).get(f"/marketing/campaigns/{campaign.pk}/").content.decode()
    assert "campaign-decide" in other


def test_detail_shows_audience_and_pause_resume_cancel(marketing_bank: Any) -> None:
    mb = marketing_bank
    customers = [reachable_customer(mb, mb.branch_a, f"客户{n}") for n in range(3)]
    customers.append(reachable_customer(mb, mb.branch_a, "勿扰", do_not_contact=True))
    campaign = draft_campaign(mb, static_segment(mb, customers), holdout=0)
    launched(mb, campaign)
    client = client_for(mb.marketer)
    page = client.get(f"/marketing/campaigns/{campaign.pk}/").content.decode()
    assert 'id="audience-treatment">3<' in page
    assert 'id="audience-suppressed">1<' in page
    assert client.post(f"/marketing/campaigns/{campaign.pk}/pause/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert client.post(f"/marketing/campaigns/{campaign.pk}/resume/").status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == "running"
    client.post(f"/marketing/campaigns/{campaign.pk}/cancel/", {"comment": "stop"})
    campaign.refresh_from_db()
    assert campaign.status == "cancelled"


def test_out_of_reach_is_404_everywhere_and_nothing_changes(marketing_bank: Any) -> None:
    mb = marketing_bank
    head = approved(mb, draft_campaign(mb, SegmentFactory(owning_unit=mb.head_office)))
    client = client_for(mb.marketer_a)
    base = f"/marketing/campaigns/{head.pk}"
    for url in (f"{base}/", f"{base}/edit/", f"{base}/variants/A/"):
        assert client.get(url).status_code == 404, url
    for action in ("submit", "cancel", "pause", "resume"):
        assert client.post(f"{base}/{action}/").status_code == 404, action
    for method, url in (
        ("get", f"{API}/campaigns/{head.pk}"),
        ("get", f"{API}/campaigns/{head.pk}/audience"),
        ("get", f"{API}/campaigns/{head.pk}/variants"),
    ):
        assert getattr(client, method)(url).status_code == 404
    for action in ("submit", "cancel", "pause", "resume"):
        assert send(client, "post", f"{API}/campaigns/{head.pk}/{action}", {}).status_code == 404
    assert send(client, "patch", f"{API}/campaigns/{head.pk}", {"name": "x"}).status_code == 404
    head.refresh_from_db()
    assert (head.status, head.name) == ("scheduled", "Term deposit spring")


def test_api_round_trip_and_problems(marketing_bank: Any) -> None:
    mb = marketing_bank
    customer = reachable_customer(mb, mb.branch_a, "接口")
    segment = static_segment(mb, [customer])
    offer = ProductOfferFactory(product=mb.deposit)
    client = client_for(mb.marketer)
    starts = (timezone.now() + dt.timedelta(days=1)).isoformat()
    bad = send(
        client,
        "post",
        f"{API}/campaigns",
        {
            "name": "API",
            "segment": segment.pk,
            "starts_at": starts,
            "holdout_percent": "51",
            "channels": ["pigeon"],
        },
    )
    assert bad.status_code == 422 or bad.status_code == 400
    assert set(problem_fields(bad)) == {"body.holdout_percent", "body.channels"}
    assert not Campaign.objects.exists()
    created = send(
        client,
        "post",
        f"{API}/campaigns",
        {
            "name": "API",
            "segment": segment.pk,
            "offer": offer.pk,
            "starts_at": starts,
            "holdout_percent": "0",
            "holdout_seed": 99,
            "owning_unit": mb.head_office.pk,
        },
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert created.json()["holdout_seed"] == 99
    assert created.json()["status"] == "draft"
    patched = send(client, "patch", f"{API}/campaigns/{pk}", {"name": "API renamed"})
    assert patched.json()["name"] == "API renamed"
    unsent = send(client, "post", f"{API}/campaigns/{pk}/submit", {})
    assert "body.variants" in problem_fields(unsent)
    variant = send(client, "put", f"{API}/campaigns/{pk}/variants/a", {**CONTENT, "weight": 2})
    assert variant.status_code == 200 and variant.json()["code"] == "A"
    assert [v["code"] for v in client.get(f"{API}/campaigns/{pk}/variants").json()] == ["A"]
    submitted = send(client, "post", f"{API}/campaigns/{pk}/submit", {"comment": "go"})
    assert submitted.status_code == 200
    assert submitted.json()["campaign"]["status"] == "pending_approval"
    approval = submitted.json()["approval"]
    again = send(client, "patch", f"{API}/campaigns/{pk}", {"name": "late"})
    assert problem_fields(again) == {
        "body.status": "Only a draft can be changed; this campaign is awaiting approval."
    }
    from bankcrm.core.services_approvals import approval_approve

    approval_approve(actor=mb.marketer2, approval_pk=approval)
    from bankcrm.marketing.services_campaigns import campaign_launch

    campaign_launch(campaign=Campaign.objects.get(pk=pk), now=timezone.now() + dt.timedelta(days=1))
    audience = client.get(f"{API}/campaigns/{pk}/audience").json()
    assert audience["treatment"] == 1
    assert audience["queued"] == {"email": 1}
    assert audience["message_status"]["queued"] == 1
    paused = send(client, "post", f"{API}/campaigns/{pk}/pause", {"comment": "wait"})
    assert paused.json()["status"] == "paused"
    resumed = send(client, "post", f"{API}/campaigns/{pk}/resume", {})
    assert resumed.json()["status"] == "running"
    listed = client.get(f"{API}/campaigns?status=running").json()
    assert [c["id"] for c in listed] == [pk]
    cancelled = send(client, "post", f"{API}/campaigns/{pk}/cancel", {"comment": "done"})
    assert cancelled.json()["status"] == "cancelled"
