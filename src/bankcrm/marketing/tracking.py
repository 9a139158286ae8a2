"""Signed links in campaign messages: click, open (the tracking pixel) and unsubscribe.

A link carries the message's key signed with ``django.core.signing`` (the project's
SECRET_KEY) under a salt per kind, so a click token cannot be replayed as an unsubscribe
token, and a changed key or kind fails the signature. Links stay valid
``MARKETING_LINK_DAYS`` days from sending: an old e-mail's unsubscribe link then shows the
"expired" page, which points to the preference page instead.

A click link may carry a destination of its own (a second link in the e-mail); it is inside
the signed value, so the link cannot be turned into an open redirect.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

CLICK = "click"
OPEN = "open"
UNSUBSCRIBE = "unsubscribe"
KINDS = (CLICK, OPEN, UNSUBSCRIBE)

_SALT_PREFIX = "marketing.message."


class LinkInvalid(signing.BadSignature):
    """The token was altered, truncated, made for another kind of link, or is not a token."""


class LinkExpired(LinkInvalid):
    """The token is genuine but older than MARKETING_LINK_DAYS."""


@dataclass(frozen=True)
class MessageLink:
    """What a valid token says: the message, and for a click link its own destination."""

    message_pk: int
    target: str | None = None


def _salt(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown link kind {kind!r}")
    return _SALT_PREFIX + kind


def link_max_age() -> dt.timedelta:
    return dt.timedelta(days=int(settings.MARKETING_LINK_DAYS))


def message_token(message_pk: int, kind: str, target: str | None = None) -> str:
    """The signed token of ``kind`` ("click", "open", "unsubscribe") for one message."""
    value: Any = [int(message_pk), target] if target else int(message_pk)
    return signing.dumps(value, salt=_salt(kind), compress=False)


def read_message_link(token: str, kind: str) -> MessageLink:
    """The message (and click destination) of a token; :class:`LinkExpired` when too old,
    :class:`LinkInvalid` when not genuine."""
    try:
        value = signing.loads(token, salt=_salt(kind), max_age=link_max_age())
    except signing.SignatureExpired as exc:
        raise LinkExpired(str(exc)) from exc
    except signing.BadSignature as exc:
        raise LinkInvalid(str(exc)) from exc
    if isinstance(value, int) and not isinstance(value, bool):
        return MessageLink(value)
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
        and kind == CLICK
    ):
        return MessageLink(value[0], value[1])
    raise LinkInvalid("Unexpected token content")


def read_message_token(token: str, kind: str) -> int:
    """The message key of a token (see :func:`read_message_link`)."""
    return read_message_link(token, kind).message_pk


def _absolute(path: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{path}"


def click_url(message: Any, target: str | None = None) -> str:
    """The tracked link to the campaign's landing page (or to ``target``)."""
    token = message_token(message.pk, CLICK, target)
    return _absolute(reverse("marketing_public:click", args=[token]))


def open_pixel_url(message: Any) -> str:
    """The 1×1 image whose loading records that the e-mail was opened."""
    return _absolute(reverse("marketing_public:open", args=[message_token(message.pk, OPEN)]))


def unsubscribe_url(message: Any) -> str:
    """The page where the customer stops this channel's marketing on this address."""
    token = message_token(message.pk, UNSUBSCRIBE)
    return _absolute(reverse("marketing_public:unsubscribe", args=[token]))
