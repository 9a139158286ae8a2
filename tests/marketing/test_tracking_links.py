"""The signed links of campaign messages: click, open and unsubscribe; tampered (400) and
expired (410) links change nothing; a message's status only moves forward and each time is
recorded once."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from bankcrm.customers.models import Consent, ConsentEvent
from bankcrm.marketing import tracking
from bankcrm.marketing.models import CampaignMessage
from bankcrm.marketing.services_sending import campaign_send_batch, message_event
from bankcrm.marketing.views_public import PIXEL_GIF

from .conftest import reachable_customer
from .test_sending_helpers import LANDING, queue_message, running_campaign, sending_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(settings: Any, tmp_path: Any) -> None:
    sending_settings(settings, tmp_path)


def _sent(marketing: Any, channel: str = "email", **campaign: Any) -> CampaignMessage:
    customer = reachable_customer(
        marketing, marketing.branch_a, "王小明", consents=("email_marketing", "sms_marketing")
    )
    sent = queue_message(
        running_campaign(marketing, channels=[channel], **campaign), customer, channel
    )
    campaign_send_batch(campaign_id=sent.campaign_id)
    sent.refresh_from_db()
    assert sent.status == "sent"
    return sent


def _path(kind: str, message: CampaignMessage, target: str | None = None) -> str:
    letter = {"click": "c", "open": "o", "unsubscribe": "u"}[kind]
    return f"/m/{letter}/{tracking.message_token(message.pk, kind, target)}/"


def _state(message: CampaignMessage) -> tuple[Any, ...]:
    message.refresh_from_db()
    return (message.status, message.opened_at, message.clicked_at, message.unsubscribed_at)


def test_click_records_once_and_redirects_to_the_landing_page(
    marketing_bank: Any, setup: None
) -> None:
    message = _sent(marketing_bank)
    answer = Client().get(_path("click", message))
    assert (answer.status_code, answer["Location"]) == (302, LANDING)
    assert answer["Referrer-Policy"] == "no-referrer"
    status, _opened, clicked, _unsub = _state(message)
    assert status == "clicked" and clicked is not None
    Client().get(_path("click", message))
    assert _state(message)[2] == clicked
    # A second link of the e-mail goes to its own destination (signed with it).
    other = Client().get(_path("click", message, "https://www.bank.example/rates"))
    assert other["Location"] == "https://www.bank.example/rates"
    # HEAD (a mail scanner) follows the link but records nothing new.
    assert Client().head(_path("click", message)).status_code == 302


def test_click_without_landing_page_shows_the_offer_in_the_customers_language(
    marketing_bank: Any, setup: None
) -> None:
    message = _sent(marketing_bank, landing_url="")
    answer = Client().get(_path("click", message))
    assert answer.status_code == 200
    assert answer["Content-Language"] == "zh-hans"
    page = answer.content.decode()
    assert '<html lang="zh-Hans">' in page
    assert "12个月定期存款年利率3.1%" in page and "12个月固定年利率3.1%，5万元起存。" in page
    assert "2026年12月31日" in page
    english = Client().get(_path("click", message) + "?lang=en").content.decode()
    assert "12-month deposit at 3.1 per cent" in english and "31 Dec 2026" in english
    assert "/preferences/" not in page


def test_open_pixel_is_a_gif_and_status_only_moves_forward(
    marketing_bank: Any, setup: None
) -> None:
    message = _sent(marketing_bank)
    answer = Client().get(_path("open", message))
    assert (answer.status_code, answer["Content-Type"], answer.content) == (
        200,
        "image/gif",
        PIXEL_GIF,
    )
    status, opened, clicked, _ = _state(message)
    assert (status, clicked) == ("opened", None) and opened is not None
    Client().get(_path("click", message))
    Client().get(_path("open", message))
    status, opened_again, clicked, _ = _state(message)
    assert (status, opened_again) == ("clicked", opened) and clicked is not None


def test_events_after_a_final_status_record_their_time_only(
    marketing_bank: Any, setup: None
) -> None:
    message = _sent(marketing_bank)
    CampaignMessage.objects.filter(pk=message.pk).update(
        status="bounced", bounced_at=timezone.now()
    )
    Client().get(_path("open", message))
    status, opened, _clicked, _ = _state(message)
    assert status == "bounced" and opened is not None


def test_links_of_a_message_never_sent_record_nothing(marketing_bank: Any, setup: None) -> None:
    customer = reachable_customer(marketing_bank, marketing_bank.branch_a, "王小明")
    message = queue_message(running_campaign(marketing_bank), customer)
    assert Client().get(_path("open", message)).status_code == 200
    assert Client().get(_path("click", message)).status_code == 302
    assert _state(message) == ("queued", None, None, None)


def test_unsubscribe_confirms_then_withdraws_the_consent_on_that_address(
    marketing_bank: Any, setup: None
) -> None:
    message = _sent(marketing_bank)
    path = _path("unsubscribe", message)
    page = Client().get(path)
    assert page.status_code == 200
    assert page["Content-Language"] == "zh-hans"
    body = page.content.decode()
    assert '<html lang="zh-Hans">' in body and 'id="unsubscribe-button"' in body
    assert "/preferences/" in body
    assert _state(message)[0] == "sent"
    assert Consent.objects.get(party=message.party, purpose="email_marketing").status == "granted"

    done = Client(enforce_csrf_checks=True).post(path, {"lang": "en"})

    assert done.status_code == 200
    assert 'id="unsubscribe-done"' in done.content.decode()
    assert done["Content-Language"] == "en"
    status, _opened, _clicked, unsubscribed = _state(message)
    assert status == "unsubscribed" and unsubscribed is not None
    consent = Consent.objects.get(party=message.party, purpose="email_marketing")
    assert (consent.status, consent.contact_point_id) == ("withdrawn", message.contact_point_id)
    assert consent.withdrawn_at is not None
    event = ConsentEvent.objects.filter(consent=consent).order_by("-id").first()
    assert (event.status, event.source) == ("withdrawn", "unsubscribe_link")
    # The SMS consent on the phone is untouched.
    assert Consent.objects.get(party=message.party, purpose="sms_marketing").status == "granted"
    # Twice is harmless.
    assert Client().post(path).status_code == 200
    assert ConsentEvent.objects.filter(consent=consent, status="withdrawn").count() == 1


def test_one_click_unsubscribe_from_a_mail_client(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank, channel="sms")
    answer = Client(enforce_csrf_checks=True).post(
        _path("unsubscribe", message),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 200
    assert _state(message)[0] == "unsubscribed"
    assert Consent.objects.get(party=message.party, purpose="sms_marketing").status == "withdrawn"
    assert Consent.objects.get(party=message.party, purpose="email_marketing").status == "granted"


@pytest.mark.parametrize("kind", ["click", "open", "unsubscribe"])
def test_tampered_and_foreign_tokens_are_refused_and_change_nothing(
    marketing_bank: Any, setup: None, kind: str
) -> None:
    message = _sent(marketing_bank)
    good = _path(kind, message)
    token = good.split("/")[3]
    letter = good.split("/")[2]
    other_kind = "open" if kind != "open" else "click"
    bad_tokens = [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature altered
        tracking.message_token(message.pk + 1, kind)[:-4] + token[-4:],  # key changed
        tracking.message_token(message.pk, other_kind),  # another kind of link
        "nonsense",
    ]
    for bad in bad_tokens:
        for method in ("get", "post") if kind == "unsubscribe" else ("get",):
            answer = getattr(Client(), method)(f"/m/{letter}/{bad}/")
            assert answer.status_code == 400, (bad, method)
            if kind != "open":
                assert 'data-expired="false"' in answer.content.decode()
    assert _state(message) == ("sent", None, None, None)
    assert Consent.objects.get(party=message.party, purpose="email_marketing").status == "granted"


@pytest.mark.parametrize("kind", ["click", "open", "unsubscribe"])
def test_expired_links_answer_410_and_change_nothing(
    marketing_bank: Any, setup: None, kind: str
) -> None:
    message = _sent(marketing_bank)
    long_ago = time.time() - 91 * 86400
    with mock.patch("django.core.signing.time.time", return_value=long_ago):
        path = _path(kind, message)
    for method in ("get", "post") if kind == "unsubscribe" else ("get",):
        answer = getattr(Client(), method)(path)
        assert answer.status_code == 410
        if kind != "open":
            assert 'data-expired="true"' in answer.content.decode()
    assert _state(message) == ("sent", None, None, None)
    assert Consent.objects.get(party=message.party, purpose="email_marketing").status == "granted"
    with pytest.raises(tracking.LinkExpired):
        message_event(token=path.split("/")[3], kind=kind)


def test_link_to_a_deleted_message_is_not_found(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank)
    path = _path("click", message)
    CampaignMessage.objects.filter(pk=message.pk).delete()
    assert Client().get(path).status_code == 404


def test_a_banner_has_no_unsubscribe_link(marketing_bank: Any, setup: None) -> None:
    message = _sent(marketing_bank, channel="banner")
    assert Client().get(_path("unsubscribe", message)).status_code == 404
    assert Client().post(_path("unsubscribe", message)).status_code == 404


def test_link_lifetime_setting(settings: Any) -> None:
    settings.MARKETING_LINK_DAYS = 7
    assert tracking.link_max_age() == dt.timedelta(days=7)
    token = tracking.message_token(42, "click", "https://x.example/")
    assert tracking.read_message_link(token, "click") == tracking.MessageLink(
        42, "https://x.example/"
    )
    with pytest.raises(tracking.LinkInvalid):
        tracking.read_message_link(token, "open")
