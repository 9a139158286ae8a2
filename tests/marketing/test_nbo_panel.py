"""The customer 360's marketing panels: next best offers (accept, dismiss), in-branch campaign
banners, and who sees them."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from bankcrm.access.models import Role
from bankcrm.audit.models import AuditEvent
from bankcrm.customers.models import Task
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget, OfferDecision
from bankcrm.marketing.services_offers import offer_decide
from tests.factories import UserFactory
from tests.factories.marketing import CampaignFactory, CampaignVariantFactory

from .conftest import reachable_customer
from .test_nbo_fixtures import Nbo, client_for, nbo  # noqa: F401

HX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "offers"}


def detail_url(party: Any) -> str:
    return reverse("customers:detail", args=[party.pk])


def decide_url(party: Any, offer: Any) -> str:
    return reverse("marketing:offer_decide", args=[party.pk, offer.pk])


def test_the_360_page_shows_the_ranked_offers(nbo: Nbo) -> None:  # noqa: F811
    answer = client_for(nbo.bank.rm_a).get(detail_url(nbo.customer))
    assert answer.status_code == 200
    page = answer.content.decode()
    assert 'id="offers"' in page
    positions = [page.index(f'data-offer="{code}"') for code in ("wealth", "td12", "card")]
    assert positions == sorted(positions)
    assert 'data-offer="loan"' not in page  # only three places
    assert 'data-offer="current"' not in page
    assert 'data-action="accept"' in page
    assert answer.context["marketing"]["offers"][0]["item"].offer == nbo.offer_wealth


def test_the_360_page_says_when_profiling_consent_is_missing(nbo: Nbo) -> None:  # noqa: F811
    nbo.customer.consents.filter(purpose="profiling").update(status="withdrawn")
    page = client_for(nbo.bank.rm_a).get(detail_url(nbo.customer)).content.decode()
    assert "No consent to profiling: no personalised offers" in page
    assert 'id="offers-list"' not in page


def test_accept_creates_a_task_and_a_decision(nbo: Nbo) -> None:  # noqa: F811
    client = client_for(nbo.bank.rm_a)
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {f"offer-{nbo.offer_wealth.pk}-decision": "accepted"},
        **HX,
    )
    assert answer.status_code == 200
    decision = OfferDecision.objects.get()
    assert (decision.decision, decision.reason, decision.decided_by) == (
        "accepted",
        "",
        nbo.bank.rm_a,
    )
    assert decision.propensity == 0.25
    assert decision.expected_value == 500
    task = decision.task
    assert task.title == f"Offer {nbo.offer_wealth.name} to 张三"
    assert (task.owner, task.party, task.status) == (nbo.bank.rm_a, nbo.customer, "open")
    assert AuditEvent.objects.filter(
        action="offer_decision.accepted", object_pk=str(decision.pk)
    ).exists()
    assert AuditEvent.objects.filter(action="task.create", object_pk=str(task.pk)).exists()
    page = answer.content.decode()
    assert page.startswith('<section class="card"')
    assert "Accepted: a task" in page
    # The accepted offer leaves the panel.
    assert 'data-offer="wealth"' not in page
    assert 'data-offer="loan"' in page


def test_accept_without_script_redirects_to_the_customer(nbo: Nbo) -> None:  # noqa: F811
    answer = client_for(nbo.bank.rm_a).post(
        decide_url(nbo.customer, nbo.offer_card),
        {f"offer-{nbo.offer_card.pk}-decision": "accepted"},
    )
    assert answer.status_code == 302
    assert answer["Location"] == detail_url(nbo.customer) + "#offers"
    assert OfferDecision.objects.get().offer == nbo.offer_card


def test_dismiss_needs_a_reason(nbo: Nbo) -> None:  # noqa: F811
    client = client_for(nbo.bank.rm_a)
    prefix = f"offer-{nbo.offer_wealth.pk}"
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {f"{prefix}-decision": "dismissed", f"{prefix}-reason": "", f"{prefix}-note": "x"},
        **HX,
    )
    assert answer.status_code == 400
    assert "Give the reason for dismissing the offer." in answer.content.decode()
    assert OfferDecision.objects.count() == 0
    assert Task.objects.count() == 0
    assert not AuditEvent.objects.filter(action__startswith="offer_decision").exists()


def test_dismiss_with_a_reason_is_recorded_and_hides_the_offer(nbo: Nbo) -> None:  # noqa: F811
    client = client_for(nbo.bank.rm_a)
    prefix = f"offer-{nbo.offer_wealth.pk}"
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {
            f"{prefix}-decision": "dismissed",
            f"{prefix}-reason": "has_elsewhere",
            f"{prefix}-note": "Has one at ICBC",
        },
        **HX,
    )
    assert answer.status_code == 200
    decision = OfferDecision.objects.get()
    assert (decision.decision, decision.reason, decision.note, decision.task) == (
        "dismissed",
        "has_elsewhere",
        "Has one at ICBC",
        None,
    )
    assert Task.objects.count() == 0
    assert AuditEvent.objects.filter(action="offer_decision.dismissed").count() == 1
    assert 'data-offer="wealth"' not in answer.content.decode()


def test_the_service_names_the_reason_field(nbo: Nbo) -> None:  # noqa: F811
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        offer_decide(
            actor=nbo.bank.rm_a, party=nbo.customer, offer=nbo.offer_card, decision="dismissed"
        )
    assert list(caught.value.message_dict) == ["reason"]
    with pytest.raises(ValidationError) as caught:
        offer_decide(
            actor=nbo.bank.rm_a,
            party=nbo.customer,
            offer=nbo.offer_card,
            decision="dismissed",
            reason="because",
        )
    assert list(caught.value.message_dict) == ["reason"]
    assert OfferDecision.objects.count() == 0


def test_rm_of_another_branch_gets_404_and_nothing_changes(nbo: Nbo) -> None:  # noqa: F811
    client = client_for(nbo.bank.rm_b)
    assert client.get(detail_url(nbo.customer)).status_code == 404
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {f"offer-{nbo.offer_wealth.pk}-decision": "accepted"},
    )
    assert answer.status_code == 404
    panel = reverse("marketing:offer_panel", args=[nbo.customer.pk])
    assert client.get(panel).status_code == 404
    assert OfferDecision.objects.count() == 0
    assert Task.objects.count() == 0


def _agent(setup: Nbo) -> Any:
    return UserFactory(
        username="agent_setup",
        org_unit=setup.bank.branch_a,
        roles=[Role.objects.get(code="service_agent")],
    )


def test_service_agent_sees_no_marketing_panel_and_may_not_decide(nbo: Nbo) -> None:  # noqa: F811
    agent = _agent(nbo)
    client = client_for(agent)
    answer = client.get(detail_url(nbo.customer))
    assert answer.status_code == 200
    assert answer.context["marketing"] is None
    page = answer.content.decode()
    assert 'id="offers"' not in page
    assert 'id="campaign-banners"' not in page
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {f"offer-{nbo.offer_wealth.pk}-decision": "accepted"},
    )
    assert answer.status_code == 403
    assert OfferDecision.objects.count() == 0


def test_viewer_without_the_decision_permission_sees_offers_without_buttons(
    nbo: Nbo,  # noqa: F811
) -> None:
    role = Role.objects.get(code="relationship_manager")
    role.permissions = [p for p in role.permissions if p != "marketing.add_offerdecision"]
    role.save()
    client = client_for(nbo.bank.rm_a)
    page = client.get(detail_url(nbo.customer)).content.decode()
    assert 'data-offer="wealth"' in page
    assert 'data-action="accept"' not in page
    answer = client.post(
        decide_url(nbo.customer, nbo.offer_wealth),
        {f"offer-{nbo.offer_wealth.pk}-decision": "accepted"},
        **HX,
    )
    assert answer.status_code == 403
    assert OfferDecision.objects.count() == 0


# --- Banners ---------------------------------------------------------------------------------


@pytest.fixture
def banner_campaign(nbo: Nbo) -> dict[str, Any]:  # noqa: F811
    mb = nbo.bank
    control = reachable_customer(
        mb, mb.branch_a, "李四", consents=("profiling",), portfolio=mb.bank.portfolio_a
    )
    campaign = CampaignFactory(
        segment__owning_unit=mb.head_office,
        offer=nbo.offer_deposit,
        channels=["banner"],
        status=Campaign.Status.RUNNING,
        starts_at=timezone.now(),
    )
    variant = CampaignVariantFactory(campaign=campaign, code="A")
    now = timezone.now()
    treatment = CampaignTarget.objects.create(
        campaign=campaign, party=nbo.customer, group="treatment", variant=variant, draw=0.7
    )
    CampaignTarget.objects.create(campaign=campaign, party=control, group="control", draw=0.01)
    message = CampaignMessage.objects.create(
        campaign=campaign,
        target=treatment,
        party=nbo.customer,
        channel="banner",
        variant=variant,
        status="sent",
        queued_at=now,
        sent_at=now,
    )
    return {"campaign": campaign, "variant": variant, "message": message, "control": control}


def test_banner_shows_for_treatment_and_marks_opened_once(
    nbo: Nbo,  # noqa: F811
    banner_campaign: dict[str, Any],
) -> None:
    client = client_for(nbo.bank.rm_a)
    page = client.get(detail_url(nbo.customer)).content.decode()
    assert "Offer: 12-month term deposit at 3.1 %" in page
    message = CampaignMessage.objects.get(pk=banner_campaign["message"].pk)
    assert message.status == "opened"
    opened_at = message.opened_at
    assert opened_at is not None
    client.get(detail_url(nbo.customer))
    message.refresh_from_db()
    assert (message.status, message.opened_at) == ("opened", opened_at)
    assert AuditEvent.objects.filter(action="campaign_message.banner_seen").count() == 1


def test_banner_is_in_the_viewers_language(
    nbo: Nbo,  # noqa: F811
    banner_campaign: dict[str, Any],
) -> None:
    client = client_for(nbo.bank.rm_a)
    page = client.get(detail_url(nbo.customer), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "推荐：12个月定期存款年利率3.1%" in page


def test_banner_not_shown_to_the_control_group(
    nbo: Nbo,  # noqa: F811
    banner_campaign: dict[str, Any],
) -> None:
    page = client_for(nbo.bank.rm_a).get(detail_url(banner_campaign["control"])).content.decode()
    assert "12-month term deposit at 3.1 %" not in page


def test_banner_not_shown_once_the_campaign_stops(
    nbo: Nbo,  # noqa: F811
    banner_campaign: dict[str, Any],
) -> None:
    Campaign.objects.filter(pk=banner_campaign["campaign"].pk).update(status="paused")
    page = client_for(nbo.bank.rm_a).get(detail_url(nbo.customer)).content.decode()
    assert "12-month term deposit at 3.1 %" not in page
    assert CampaignMessage.objects.get().opened_at is None


def test_offered_records_the_click(
    nbo: Nbo,  # noqa: F811
    banner_campaign: dict[str, Any],
) -> None:
    message = banner_campaign["message"]
    url = reverse("marketing:banner_offered", args=[nbo.customer.pk, message.pk])
    assert client_for(nbo.bank.rm_b).post(url).status_code == 404
    message.refresh_from_db()
    assert message.clicked_at is None
    answer = client_for(nbo.bank.rm_a).post(url, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200
    assert 'data-offered="1"' in answer.content.decode()
    message.refresh_from_db()
    assert message.status == "clicked"
    assert message.clicked_at is not None and message.opened_at is not None
    assert AuditEvent.objects.filter(action="campaign_message.banner_offered").count() == 1
