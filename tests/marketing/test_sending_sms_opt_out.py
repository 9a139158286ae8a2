"""Every campaign SMS ends with an opt-out line in the message's language carrying the signed
unsubscribe link that e-mail carries; following it (GET shows the confirmation, POST confirms)
withdraws the SMS consent on that phone and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from django.utils.translation import gettext

from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Consent, ConsentEvent
from bankcrm.marketing import tracking
from bankcrm.marketing.channels.sms import SMS_MAX_LENGTH
from bankcrm.marketing.models import CampaignMessage
from bankcrm.marketing.services_sending import campaign_send_batch

from .conftest import reachable_customer
from .test_sending_helpers import (
    PUBLIC,
    contact_value,
    links_in,
    queue_message,
    running_campaign,
    sending_settings,
)

pytestmark = pytest.mark.django_db

CONSENTS = ("email_marketing", "sms_marketing")


@pytest.fixture
def setup(settings: Any, tmp_path: Any) -> None:
    sending_settings(settings, tmp_path)


def _sent_sms(tmp_path: Any) -> dict[str, dict[str, Any]]:
    """The file adapter's lines of today, by message reference ("m<pk>")."""
    path = tmp_path / "sms" / f"sms-{bank_today().isoformat()}.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return {line["reference"]: line for line in lines}


def _opt_out(url: str, language: str) -> str:
    with translation.override(language):
        return gettext("Opt out: %(url)s") % {"url": url}


def test_sms_ends_with_a_signed_opt_out_link_that_withdraws_the_sms_consent(
    marketing_bank: Any, setup: None, tmp_path: Any
) -> None:
    chinese = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明", CONSENTS)
    english = reachable_customer(marketing_bank, marketing_bank.branch_a, "John Smith", CONSENTS)
    english.person.nationality = "GB"
    english.person.save(update_fields=["nationality"])
    campaign = running_campaign(marketing_bank, channels=["sms"])
    zh_message = queue_message(campaign, chinese, "sms")
    en_message = queue_message(campaign, english, "sms")
    assert (zh_message.target.language, en_message.target.language) == ("zh-hans", "en")

    figures = campaign_send_batch(campaign_id=campaign.pk)

    assert (figures["sent"], figures["remaining"]) == (2, 0)
    sent = _sent_sms(tmp_path)
    zh, en = sent[f"m{zh_message.pk}"], sent[f"m{en_message.pk}"]
    assert zh["to"] == contact_value(chinese, "phone")
    assert en["to"] == contact_value(english, "phone")

    # The variant's text, then one short line with the message's own unsubscribe link.
    en_token = links_in(en["text"])["u"]
    en_link = f"{PUBLIC}/m/u/{en_token}/"
    assert en["text"] == f"Term deposit at 3.1 % - reply STOP to opt out\nOpt out: {en_link}"
    zh_token = links_in(zh["text"])["u"]
    zh_link = f"{PUBLIC}/m/u/{zh_token}/"
    assert zh["text"] == f"定期存款年利率3.1%，回复TD退订\n{_opt_out(zh_link, 'zh-hans')}"
    assert zh["text"].endswith(zh_link)

    # Signed for this message and for unsubscribing only; an altered token is refused.
    assert tracking.read_message_token(en_token, tracking.UNSUBSCRIBE) == en_message.pk
    assert tracking.read_message_token(zh_token, tracking.UNSUBSCRIBE) == zh_message.pk
    with pytest.raises(tracking.LinkInvalid):
        tracking.read_message_token(en_token, tracking.CLICK)
    altered = en_token[:-2] + ("AA" if en_token[-2:] != "AA" else "BB")
    with pytest.raises(tracking.LinkInvalid):
        tracking.read_message_token(altered, tracking.UNSUBSCRIBE)
    assert Client().get(f"/m/u/{altered}/").status_code == 400

    # Following the link: GET shows what it stops and changes nothing ...
    path = en_link.removeprefix(PUBLIC)
    page = Client().get(path)
    assert page.status_code == 200
    assert page["Content-Language"] == "en"
    sms_consent = Consent.objects.get(party=english, purpose="sms_marketing")
    assert sms_consent.status == "granted"
    assert CampaignMessage.objects.get(pk=en_message.pk).status == "sent"

    # ... confirming (POST, no CSRF token: the signed link authorises it) withdraws the SMS
    # consent on that phone, and only that.
    done = Client(enforce_csrf_checks=True).post(path, {"lang": "en"})

    assert done.status_code == 200
    assert 'id="unsubscribe-done"' in done.content.decode()
    sms_consent.refresh_from_db()
    assert (sms_consent.status, sms_consent.source) == ("withdrawn", "unsubscribe_link")
    assert sms_consent.contact_point_id == en_message.contact_point_id
    event = ConsentEvent.objects.filter(consent=sms_consent).order_by("-id").first()
    assert (event.status, event.source) == ("withdrawn", "unsubscribe_link")
    assert Consent.objects.get(party=english, purpose="email_marketing").status == "granted"
    en_message.refresh_from_db()
    assert en_message.status == "unsubscribed" and en_message.unsubscribed_at is not None
    # The other customer's SMS consent is untouched.
    assert Consent.objects.get(party=chinese, purpose="sms_marketing").status == "granted"


def test_a_long_sms_is_shortened_and_keeps_its_opt_out_line_whole(
    marketing_bank: Any, setup: None, tmp_path: Any
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明", CONSENTS)
    campaign = running_campaign(marketing_bank, channels=["sms"])
    variant = campaign.variants.get()
    variant.sms_zh = "存" * SMS_MAX_LENGTH
    variant.save(update_fields=["sms_zh"])
    message = queue_message(campaign, customer, "sms")

    campaign_send_batch(campaign_id=campaign.pk)

    text = _sent_sms(tmp_path)[f"m{message.pk}"]["text"]
    link = f"{PUBLIC}/m/u/{links_in(text)['u']}/"
    line = _opt_out(link, "zh-hans")
    assert len(text) == SMS_MAX_LENGTH
    assert text == "存" * (SMS_MAX_LENGTH - len(line) - 1) + "\n" + line
    assert tracking.read_message_token(links_in(text)["u"], tracking.UNSUBSCRIBE) == message.pk


def test_an_sms_ending_with_its_own_unsubscribe_link_gets_no_second_one(
    marketing_bank: Any, setup: None, tmp_path: Any
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明", CONSENTS)
    campaign = running_campaign(marketing_bank, channels=["sms"])
    variant = campaign.variants.get()
    variant.sms_zh = "定期存款年利率3.1%，退订请点 {{ unsubscribe_url }}"
    variant.save(update_fields=["sms_zh"])
    message = queue_message(campaign, customer, "sms")

    campaign_send_batch(campaign_id=campaign.pk)

    text = _sent_sms(tmp_path)[f"m{message.pk}"]["text"]
    token = links_in(text)["u"]
    assert text == f"定期存款年利率3.1%，退订请点 {PUBLIC}/m/u/{token}/"
    assert tracking.read_message_token(token, tracking.UNSUBSCRIBE) == message.pk

    # Too long to fit: the marketer's link goes and the opt-out line takes its place, whole.
    longer = running_campaign(marketing_bank, channels=["sms"])
    # As long as the field allows; with the link it no longer fits in one message.
    longer.variants.update(sms_zh="存" * (SMS_MAX_LENGTH - 30) + " {{ unsubscribe_url }}")
    long_message = queue_message(longer, customer, "sms")
    campaign_send_batch(campaign_id=longer.pk)
    text = _sent_sms(tmp_path)[f"m{long_message.pk}"]["text"]
    link = f"{PUBLIC}/m/u/{links_in(text)['u']}/"
    line = _opt_out(link, "zh-hans")
    assert text == "存" * (SMS_MAX_LENGTH - len(line) - 1) + "\n" + line
    assert text.count("/m/u/") == 1
    assert tracking.read_message_token(links_in(text)["u"], tracking.UNSUBSCRIBE) == long_message.pk
