"""Campaign e-mail through a real SMTP server on 127.0.0.1 (aiosmtpd, started by the test):
both parts, the customer's language, signed links, List-Unsubscribe; a customer who
withdraws consent after the messages were queued receives nothing."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail

from bankcrm.customers.models import Consent, ConsentPurpose, ContactPoint
from bankcrm.customers.services_consent import consent_withdraw
from bankcrm.marketing import tracking
from bankcrm.marketing.models import Campaign, CampaignMessage
from bankcrm.marketing.services_campaigns import campaign_launch
from bankcrm.marketing.services_sending import campaign_send_batch
from bankcrm.marketing.tasks_sending import campaign_send
from tests.support.mailservers import (  # noqa: F401  (fixtures)
    RefusingHandler,
    customer_mailserver,
    django_smtp,
    free_port,
    point_django_at,
    smtp_server,
)

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


@pytest.fixture
def setup(settings: Any, tmp_path: Any) -> None:
    sending_settings(settings, tmp_path)


def _parts(received: Any) -> tuple[str, str]:
    message = received.message
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    return html, text


def test_email_arrives_in_the_customers_language_with_both_parts_and_signed_links(
    marketing_bank: Any,
    setup: None,
    django_smtp: Any,  # noqa: F811
) -> None:
    chinese = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    english = reachable_customer(marketing_bank, marketing_bank.branch_a, "John Smith")
    english.person.nationality = "GB"
    english.person.save(update_fields=["nationality"])
    campaign = running_campaign(marketing_bank)
    zh_message = queue_message(campaign, chinese)
    en_message = queue_message(campaign, english)
    assert (zh_message.target.language, en_message.target.language) == ("zh-hans", "en")

    figures = campaign_send_batch(campaign_id=campaign.pk)

    assert (figures["sent"], figures["remaining"], figures["status"]) == (2, 0, "running")
    received = {r.rcpt_tos[0]: r for r in django_smtp.wait_for(2)}
    assert set(received) == {contact_value(chinese, "email"), contact_value(english, "email")}

    zh = received[contact_value(chinese, "email")]
    zh_html, zh_text = _parts(zh)
    assert zh.header("Subject") == "您的储蓄可以获得更好的利率"
    assert zh.header("From") == "Example Bank <offers@bank.example>"
    assert zh.header("Content-Language") == "zh-Hans"
    assert "<p>尊敬的王小明，定期存款年利率3.1%。</p>" in zh_html
    assert zh_text.startswith("尊敬的王小明，定期存款年利率3.1%。")
    assert "12个月固定年利率3.1%，5万元起存。" in zh_text
    assert "2026年12月31日" in zh_text

    en = received[contact_value(english, "email")]
    en_html, en_text = _parts(en)
    assert en.header("Subject") == "A better rate for your savings"
    assert en.header("Content-Language") == "en"
    assert "<p>Dear John Smith, open a term deposit at 3.1 %.</p>" in en_html
    assert en_text.startswith("Dear John Smith, open a term deposit at 3.1 %.")
    assert "Fixed 3.1 per cent a year for 12 months; from CNY 50,000." in en_text
    assert "31 Dec 2026" in en_text

    for message, got in ((zh_message, zh), (en_message, en)):
        message.refresh_from_db()
        html, text = _parts(got)
        assert message.status == CampaignMessage.Status.SENT
        assert message.attempts == 1
        assert message.sent_at is not None
        assert message.provider_ref == got.header("Message-ID")
        assert message.provider_ref.endswith("@bank.example>")
        # Links of each kind, signed for this message and this kind.
        text_links, html_links = links_in(text), links_in(html)
        assert set(text_links) == {"c", "u"}
        assert set(html_links) == {"c", "o", "u"}
        assert tracking.read_message_token(text_links["c"], "click") == message.pk
        assert tracking.read_message_token(text_links["u"], "unsubscribe") == message.pk
        assert tracking.read_message_token(html_links["o"], "open") == message.pk
        with pytest.raises(tracking.LinkInvalid):
            tracking.read_message_token(text_links["c"], "unsubscribe")
        # The unsubscribe header names the same signed link, with one-click unsubscribe.
        unsubscribe = f"{PUBLIC}/m/u/{text_links['u']}/"
        assert got.header("List-Unsubscribe") == f"<{unsubscribe}>"
        assert got.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert f"{PUBLIC}/preferences/" in text
        assert f'<img src="{PUBLIC}/m/o/{html_links["o"]}/"' in html


def test_withdrawn_consent_after_queueing_means_nothing_is_sent(
    marketing_bank: Any,
    setup: None,
    django_smtp: Any,  # noqa: F811
) -> None:
    """The launch queues both customers; one withdraws e-mail consent before sending: the
    SMTP server receives the other's e-mail only, and the message says why."""
    stays = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    leaves = reachable_customer(marketing_bank, marketing_bank.branch_a, "李娜")
    campaign = running_campaign(
        marketing_bank, status=Campaign.Status.SCHEDULED, launched_at=None, holdout_percent=0
    )
    figures = campaign_launch(campaign=campaign)
    assert figures["launched"] is True
    queued = {m.party_id: m for m in CampaignMessage.objects.filter(campaign=campaign)}
    assert set(queued) == {stays.pk, leaves.pk}
    assert {m.status for m in queued.values()} == {"queued"}

    point = ContactPoint.objects.get(party=leaves, kind="email")
    consent_withdraw(
        actor=marketing_bank.manager_a,
        party=leaves,
        purpose=ConsentPurpose.EMAIL_MARKETING,
        source="contact_centre",
        contact_point=point,
    )
    campaign_send.delay(campaign.pk)

    assert [r.rcpt_tos for r in django_smtp.received] == [[contact_value(stays, "email")]]
    sent, withheld = (CampaignMessage.objects.get(pk=queued[p.pk].pk) for p in (stays, leaves))
    assert (sent.status, sent.sent_at is not None) == ("sent", True)
    assert (withheld.status, withheld.detail, withheld.attempts) == (
        "suppressed",
        "consent withdrawn",
        0,
    )
    assert withheld.sent_at is None and withheld.provider_ref == ""
    assert Consent.objects.get(party=leaves).status == "withdrawn"


def test_refused_recipient_fails_at_once_with_the_servers_answer(
    marketing_bank: Any, setup: None, settings: Any
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    campaign = running_campaign(marketing_bank)
    message = queue_message(campaign, customer)
    with smtp_server(RefusingHandler()) as server:
        point_django_at(settings, server)
        figures = campaign_send_batch(campaign_id=campaign.pk)
    message.refresh_from_db()
    assert (figures["failed"], figures["remaining"]) == (1, 0)
    assert (message.status, message.attempts) == ("failed", 1)
    assert message.detail == "550 5.1.1 No such mailbox here"
    assert server.received == []


def test_unreachable_server_is_retried_next_batch_and_fails_after_three_attempts(
    marketing_bank: Any, setup: None, settings: Any
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    campaign = running_campaign(marketing_bank)
    message = queue_message(campaign, customer)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    for attempt, status in ((1, "queued"), (2, "queued"), (3, "failed")):
        figures = campaign_send_batch(campaign_id=campaign.pk)
        message.refresh_from_db()
        assert (message.status, message.attempts) == (status, attempt)
        assert message.detail.startswith("ConnectionRefusedError")
    assert (figures["failed"], figures["retry"], figures["remaining"]) == (1, 0, 0)
    # Once the server is back, a deferred message goes out on the next batch.
    other = queue_message(
        campaign, reachable_customer(marketing_bank, marketing_bank.branch_a, "李娜")
    )
    with smtp_server() as server:
        point_django_at(settings, server)
        campaign_send_batch(campaign_id=campaign.pk)
        assert [r.rcpt_tos for r in server.wait_for(1)] == [[contact_value(other.party, "email")]]


def test_content_is_escaped_and_restricted(marketing_bank: Any, setup: None) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "<b>Eve</b>")
    campaign = running_campaign(marketing_bank)
    message = queue_message(campaign, customer)
    campaign_send_batch(campaign_id=campaign.pk)
    html = mail.outbox[0].alternatives[0][0]
    assert "尊敬的&lt;b&gt;Eve&lt;/b&gt;" in html and "<b>Eve</b>" not in html
    assert mail.outbox[0].body.startswith("尊敬的<b>Eve</b>")  # text part: not HTML

    refused = running_campaign(marketing_bank)
    variant = refused.variants.get()
    for source, expected in (
        ("{% debug %}", "content error: Invalid block tag on line 1: 'debug'."),
        ("{% load i18n %}", "content error: Invalid block tag on line 1: 'load'."),
        ('{% include "web/base.html" %}', "content error: Invalid block tag on line 1: 'include'."),
        ("{{ name.pk }}", None),
    ):
        variant.html_zh = source
        variant.save(update_fields=["html_zh"])
        CampaignMessage.objects.filter(campaign=refused).delete()
        bad = queue_message(refused, customer)
        campaign_send_batch(campaign_id=refused.pk)
        bad.refresh_from_db()
        if expected is None:
            assert bad.status == "sent"
        else:
            assert (bad.status, bad.attempts) == ("failed", 1)
            assert bad.detail.startswith(expected), bad.detail
    assert message.pk


def test_links_in_the_body_are_wrapped_in_signed_click_links(
    marketing_bank: Any, setup: None
) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    campaign = running_campaign(marketing_bank)
    variant = campaign.variants.get()
    variant.html_zh = '<p><a href="https://www.bank.example/rates?a=1&amp;b=2">利率</a></p>'
    variant.save(update_fields=["html_zh"])
    message = queue_message(campaign, customer)
    campaign_send_batch(campaign_id=campaign.pk)
    html = mail.outbox[0].alternatives[0][0]
    token = links_in(html)["c"]
    link = tracking.read_message_link(token, "click")
    assert (link.message_pk, link.target) == (message.pk, "https://www.bank.example/rates?a=1&b=2")
    assert 'href="https://www.bank.example/rates' not in html
