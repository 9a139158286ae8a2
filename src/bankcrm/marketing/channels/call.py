"""The relationship manager's call list: a call-channel message becomes a task for the
customer's relationship manager (the manager of the customer's portfolio), due within
:data:`CALL_DUE_DAYS` days (or by the campaign's end, if sooner), with the call script and the
offer's terms. A customer outside any portfolio has no one to call them: the message fails
with the detail "no relationship manager".
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.timefmt import bank_today

from . import ChannelError, Delivery
from .content import message_language

CALL_DUE_DAYS = 7
CALL_ACTOR = SystemActor("marketing.campaign_send")
NO_RELATIONSHIP_MANAGER = "no relationship manager"


def call_due_on(campaign: Any, today: dt.date) -> dt.date:
    due = today + dt.timedelta(days=CALL_DUE_DAYS)
    if campaign.ends_at is not None:
        ends = campaign.ends_at.astimezone(zoneinfo.ZoneInfo(settings.BANK_TIMEZONE)).date()
        if today <= ends < due:
            due = ends
    return due


def call_task_texts(message: Any) -> tuple[str, str]:
    """The task's title and description, in the relationship manager's language."""
    campaign = message.campaign
    offer = campaign.offer
    language = message_language(message)
    offer_name = offer.name_for(language) if offer is not None else campaign.name
    title = _("Call %(customer)s: %(offer)s") % {
        "customer": message.party.display_name,
        "offer": offer_name,
    }
    lines = [
        _("Campaign: %(campaign)s") % {"campaign": campaign.name},
        _("Customer's language: %(language)s")
        % {"language": _("Chinese") if language.startswith("zh") else _("English")},
    ]
    if message.variant is not None and message.variant.call_script:
        lines += ["", _("Script:"), message.variant.call_script]
    if offer is not None and offer.terms_for(language):
        lines += ["", _("Terms:"), offer.terms_for(language)]
    return title[:200], "\n".join(lines)


class CallChannel:
    """Puts the customer on their relationship manager's call list (one task per message)."""

    code = "call"

    def deliver(self, message: Any, *, now: dt.datetime) -> Delivery:
        from bankcrm.customers.services import task_create

        party = message.party
        manager = party.relationship_manager
        if manager is None or not manager.is_active:
            raise ChannelError(NO_RELATIONSHIP_MANAGER, permanent=True)
        with translation.override(manager.language or settings.LANGUAGE_CODE):
            title, description = call_task_texts(message)
        task = task_create(
            actor=CALL_ACTOR,
            title=title,
            owner=manager,
            party=party,
            due_on=call_due_on(message.campaign, bank_today()),
            description=description,
        )
        return Delivery(task=task)

    def close(self) -> None:
        return None
