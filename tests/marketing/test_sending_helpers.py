"""Helpers of the sending and tracking tests: a running campaign with its variant and offer,
queued messages made directly (as the launch makes them), a signed-in API client.

No tests here; the sending and tracking modules import from it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.test import Client
from django.utils import timezone

from bankcrm.customers.models import ContactPoint
from bankcrm.marketing.language import customer_language
from bankcrm.marketing.models import Campaign, CampaignMessage, CampaignTarget
from tests.factories.marketing import (
    CampaignFactory,
    CampaignVariantFactory,
    ProductOfferFactory,
    SegmentFactory,
)

PUBLIC = "https://bank.example"
LANDING = "https://www.bank.example/td12"
LINK = re.compile(r"https://bank\.example/m/([cou])/([^/\s\"'<>]+)/")

CHANNEL_POINT_KIND = {"email": "email", "sms": "phone", "call": "phone"}


def sending_settings(settings: Any, tmp_path: Any) -> None:
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.MARKETING_EMAIL_FROM = "offers@bank.example"
    settings.BANK_NAME = "Example Bank"
    settings.MARKETING_SMS_DIR = str(tmp_path / "sms")
    settings.MARKETING_SMS_BACKEND = "bankcrm.marketing.channels.sms.FileSmsBackend"
    settings.MARKETING_FREQUENCY_CAP = 3
    settings.MARKETING_FREQUENCY_DAYS = 30
    settings.MARKETING_SEND_BATCH = 500
    settings.MARKETING_LINK_DAYS = 90


def running_campaign(marketing: Any, **fields: Any) -> Campaign:
    """A running e-mail campaign offering the 12-month deposit, with variant A."""
    offer = ProductOfferFactory(
        code=fields.pop("offer_code", f"td12-{Campaign.objects.count() + 1}"),
        product=marketing.deposit,
        name="12-month deposit at 3.1 per cent",
        name_zh="12个月定期存款年利率3.1%",
        terms_en="Fixed 3.1 per cent a year for 12 months; from CNY 50,000.",
        terms_zh="12个月固定年利率3.1%，5万元起存。",
        valid_until=dt.date(2026, 12, 31),
    )
    segment = SegmentFactory(owning_unit=marketing.head_office, created_by=marketing.marketer)
    values: dict[str, Any] = {
        "offer": offer,
        "segment": segment,
        "owning_unit": marketing.head_office,
        "status": Campaign.Status.RUNNING,
        "landing_url": LANDING,
        "throttle_per_minute": 600,
        "created_by": marketing.marketer,
        "channels": ["email"],
        "launched_at": timezone.now(),
    }
    values.update(fields)
    campaign = CampaignFactory(**values)
    CampaignVariantFactory(campaign=campaign, code="A")
    return campaign


def queue_message(
    campaign: Campaign,
    party: Any,
    channel: str = "email",
    *,
    language: str | None = None,
    contact_point: Any = "primary",
) -> CampaignMessage:
    """One queued message to ``party`` as the launch queues it (target row in treatment)."""
    variant = campaign.variants.get(code="A")
    target, _created = CampaignTarget.objects.get_or_create(
        campaign=campaign,
        party=party,
        defaults={
            "group": CampaignTarget.Group.TREATMENT,
            "variant": variant,
            "draw": 0.5,
            "language": language or customer_language(party),
        },
    )
    if contact_point == "primary":
        kind = CHANNEL_POINT_KIND.get(channel)
        contact_point = (
            ContactPoint.objects.filter(party=party, kind=kind, is_primary=True).first()
            if kind
            else None
        )
    return CampaignMessage.objects.create(
        campaign=campaign,
        target=target,
        party=party,
        channel=channel,
        variant=variant,
        contact_point=contact_point,
        queued_at=timezone.now(),
    )


def contact_value(party: Any, kind: str) -> str:
    return str(ContactPoint.objects.get(party=party, kind=kind, is_primary=True).value)


def client_for(user: Any) -> Client:
    if not user.mfa_enabled:
        user.mfa_enabled = True
        user.password_changed_at = timezone.now()
        user.save(update_fields=["mfa_enabled", "password_changed_at"])
    client = Client()
    client.force_login(user)
    return client


def links_in(text: str) -> dict[str, str]:
    """The first signed link of each kind in ``text``: {"c": token, "o": token, "u": token}."""
    found: dict[str, str] = {}
    for kind, token in LINK.findall(text):
        found.setdefault(kind, token)
    return found
