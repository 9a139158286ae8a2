"""Campaign e-mail: the variant rendered in the customer's language inside the bank's layout
(HTML and plain text, both always present), sent with Django's mail API through the bank's
mail server (``EMAIL_URL``; the file backend under ``var/mail`` when none is set).

Every e-mail carries:

* ``Message-ID`` made here and kept as the message's ``provider_ref`` (delivery reports and
  bounces name it);
* ``List-Unsubscribe`` (the signed unsubscribe link) and ``List-Unsubscribe-Post:
  List-Unsubscribe=One-Click`` (RFC 8058: mail clients show an unsubscribe button that
  POSTs to the link; the page accepts that POST without a form);
* the tracked call-to-action link, the preference page link and the open-tracking image.

Links to web pages written in the variant's HTML are wrapped in signed click links, so a
click on any of them counts (the destination is inside the signature: no open redirect).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import smtplib
from email.utils import formataddr, make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.utils import translation

from . import ChannelError, Delivery
from .content import (
    content_context,
    is_chinese,
    message_language,
    render_content,
    variant_text,
)

_HREF = re.compile(r"""href=(["'])(https?://[^"']+)\1""", re.IGNORECASE)
SUBJECT_MAX_LENGTH = 250


def _domain(address: str) -> str:
    domain = address.rpartition("@")[2].strip().strip(">").strip(".")
    return domain or "bankcrm.localhost"


def _one_line(text: str) -> str:
    return " ".join((text or "").split())[:SUBJECT_MAX_LENGTH]


def track_links(body_html: str, message: Any) -> str:
    """Each http(s) link of ``body_html`` replaced by a signed click link to it (links into
    the bank's own public pages are left alone)."""
    from bankcrm.marketing.tracking import click_url

    own = settings.PUBLIC_BASE_URL

    def replace(match: re.Match[str]) -> str:
        quote, target = match.group(1), html.unescape(match.group(2))
        if own and target.startswith(own + "/"):
            return match.group(0)
        return f"href={quote}{html.escape(click_url(message, target), quote=True)}{quote}"

    return _HREF.sub(replace, body_html)


def html_to_text(body_html: str) -> str:
    from bankcrm.support.mail import html_to_text as convert

    return convert(body_html)


def email_message(message: Any, *, to: str) -> EmailMultiAlternatives:
    """The e-mail of one campaign message (not sent), with its Message-ID header set."""
    from bankcrm.marketing.tracking import open_pixel_url

    language = message_language(message)
    variant = message.variant
    context = content_context(message, language)
    subject_source = variant_text(variant, "subject", language)
    subject = _one_line(render_content(subject_source, context, html=False))
    body_html = render_content(variant_text(variant, "html", language), context, html=True)
    body_text = render_content(variant_text(variant, "text", language), context, html=False)
    if not subject:
        raise ChannelError("the variant has no e-mail subject", permanent=True)
    if not body_html.strip() and not body_text.strip():
        raise ChannelError("the variant has no e-mail text", permanent=True)
    if body_html.strip():
        body_html = track_links(body_html, message)
    else:
        body_html = "".join(
            f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
            for part in body_text.strip().split("\n\n")
        )
    if not body_text.strip():
        body_text = html_to_text(body_html)
    layout = {
        **context,
        "subject": subject,
        "body_html": body_html,
        "body_text": body_text.strip(),
        "open_pixel_url": open_pixel_url(message),
        "is_chinese": is_chinese(language),
    }
    with translation.override(language):
        html_part = render_to_string("marketing/email/message.html", layout)
        text_part = render_to_string("marketing/email/message_text.html", layout).strip() + "\n"
    sender = settings.MARKETING_EMAIL_FROM
    message_id = make_msgid(idstring=f"m{message.pk}", domain=_domain(sender))
    headers = {
        "Message-ID": message_id,
        "List-Unsubscribe": f"<{context['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Content-Language": "zh-Hans" if is_chinese(language) else "en",
    }
    mail = EmailMultiAlternatives(
        subject=subject,
        body=text_part,
        from_email=formataddr((str(settings.BANK_NAME), sender)),
        to=[to],
        headers=headers,
    )
    mail.attach_alternative(html_part, "text/html")
    return mail


def is_permanent(exc: BaseException) -> bool:
    """A 5xx answer: the server will refuse the same message again."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _text in exc.recipients.values()]
        return bool(codes) and all(int(code) >= 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return int(exc.smtp_code) >= 500
    return False


def describe(exc: BaseException) -> str:
    """The server's answer ("550 5.1.1 No such mailbox") or the error's name and text."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
            for code, text in exc.recipients.values()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    return f"{type(exc).__name__}: {exc}"


class EmailChannel:
    """Sends campaign e-mail over one mail server connection per batch."""

    code = "email"

    def __init__(self) -> None:
        self._connection: Any = None

    def _open(self) -> Any:
        if self._connection is None:
            connection = get_connection(fail_silently=False)
            # Opened here, so that each send of the batch reuses it instead of connecting anew.
            connection.open()
            self._connection = connection
        return self._connection

    def deliver(self, message: Any, *, now: dt.datetime) -> Delivery:
        point = message.contact_point
        address = (getattr(point, "value", "") or "").strip() if point is not None else ""
        if not address or "@" not in address:
            raise ChannelError("no e-mail address", permanent=True)
        mail = email_message(message, to=address)
        try:
            mail.connection = self._open()
            mail.send(fail_silently=False)
        except (smtplib.SMTPException, OSError) as exc:
            # The session may be broken (disconnect, timeout): the next message reconnects.
            self.close()
            raise ChannelError(describe(exc)[:300], permanent=is_permanent(exc)) from exc
        return Delivery(provider_ref=mail.extra_headers["Message-ID"])

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.close()
