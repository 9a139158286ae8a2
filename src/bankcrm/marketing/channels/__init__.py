"""The channels a campaign message goes out through: e-mail, SMS, a relationship manager's
call list (a staff task) and the customer 360 banner.

Each channel has a class with ``deliver(message, *, now) -> Delivery`` that hands one
message over (raising :class:`ChannelError` when it cannot) and ``close()``.
:func:`open_channels` gives the sender one instance of each for a batch, so the e-mail channel
keeps one SMTP connection and the SMS channel one gateway client for the whole batch.

:data:`CHANNEL_PURPOSE` names the consent each channel needs on the message's contact point
(the banner needs none: it is shown to staff in the branch, not sent to the customer).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from bankcrm.customers.models import ConsentPurpose
from bankcrm.marketing.models.campaigns import Channel

CHANNEL_PURPOSE: dict[str, str | None] = {
    Channel.EMAIL: ConsentPurpose.EMAIL_MARKETING,
    Channel.SMS: ConsentPurpose.SMS_MARKETING,
    Channel.CALL: ConsentPurpose.PHONE_MARKETING,
    Channel.BANNER: None,
}

# Channels that contact the customer: they count towards the contact limit
# (MARKETING_FREQUENCY_CAP) and are stopped by it. A banner is not a contact.
CONTACT_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.CALL)


class ChannelError(Exception):
    """A message could not be handed over. ``permanent``: trying again cannot help (a 5xx
    answer, no address, no relationship manager); otherwise the sender retries it."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent


@dataclass
class Delivery:
    """What a channel reports for a message it took: the provider's reference (SMTP
    Message-ID, SMS gateway id) and, for a call, the staff task made of it."""

    provider_ref: str = ""
    task: Any = None


class MessageChannel(Protocol):
    code: str

    def deliver(self, message: Any, *, now: dt.datetime) -> Delivery: ...

    def close(self) -> None: ...


def channel_class(code: str) -> type[MessageChannel]:
    from .banner import BannerChannel
    from .call import CallChannel
    from .email import EmailChannel
    from .sms import SmsChannel

    classes: dict[str, type[MessageChannel]] = {
        Channel.EMAIL: EmailChannel,
        Channel.SMS: SmsChannel,
        Channel.CALL: CallChannel,
        Channel.BANNER: BannerChannel,
    }
    try:
        return classes[code]
    except KeyError:
        raise ChannelError(f"unknown channel {code!r}", permanent=True) from None


class OpenChannels:
    """One instance of each channel a batch uses, made on first use."""

    def __init__(self) -> None:
        self._open: dict[str, MessageChannel] = {}

    def __getitem__(self, code: str) -> MessageChannel:
        if code not in self._open:
            self._open[code] = channel_class(code)()
        return self._open[code]

    def close(self) -> None:
        for channel in self._open.values():
            channel.close()
        self._open.clear()


@contextmanager
def open_channels() -> Iterator[OpenChannels]:
    channels = OpenChannels()
    try:
        yield channels
    finally:
        channels.close()
