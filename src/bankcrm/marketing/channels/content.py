"""A campaign variant's texts rendered for one customer.

Marketers write subjects, bodies, SMS and banners with Django's template language
(``Dear {{ name }}``, ``{% if offer_valid_until %}…{% endif %}``). They are rendered by an
engine of their own, never the site's:

* the context holds plain strings only (:data:`CONTENT_VARIABLES`), so a template cannot
  reach a model, a method or a setting;
* no loader: ``{% include %}``/``{% extends %}`` cannot read files; ``{% load %}``, ``{% url %}``,
  ``{% csrf_token %}`` and ``{% debug %}`` are not available (the last prints the context and
  the loaded modules when DEBUG is on);
* HTML bodies are auto-escaped (a customer's name cannot inject markup); subjects, text
  bodies and SMS are rendered without escaping, as plain text.

A template that does not compile or render is a permanent error of the message (the sender
marks it failed with the reason); :func:`content_errors` lets a form check it when it is
saved.

Every SMS ends with an opt-out line in the message's language ("Opt out: <link>") carrying the
same signed unsubscribe link as the e-mail (:func:`sms_text`), whatever the marketer wrote.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

from django.conf import settings
from django.template import (
    Context,
    Engine,
    Library,
    TemplateSyntaxError,
    defaultfilters,
    defaulttags,
)
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from bankcrm.core.timefmt import format_date

from . import ChannelError

# The names a variant's texts may use, with what they hold (shown to marketers).
CONTENT_VARIABLES: dict[str, Any] = {
    "name": _("the customer's name"),
    "offer_name": _("the offer's name, in the customer's language"),
    "offer_terms": _("the offer's terms, in the customer's language"),
    "offer_valid_until": _("the last day of the offer"),
    "click_url": _("the tracked link to the offer"),
    "unsubscribe_url": _("the link that stops this channel's marketing"),
    "preference_url": _("the customer's preference page"),
    "bank_name": _("the bank's name"),
}

REFUSED_TAGS = frozenset({"debug", "load", "url", "csrf_token"})

# The tags and filters content may use: Django's own, less the refused ones. The engine below
# names this module as its only built-in library.
register = Library()
register.filters.update(defaultfilters.register.filters)
register.tags.update(
    {name: tag for name, tag in defaulttags.register.tags.items() if name not in REFUSED_TAGS}
)


class _ContentEngine(Engine):
    default_builtins: ClassVar[list[str]] = []


@functools.cache
def content_engine() -> Engine:
    return _ContentEngine(
        loaders=[],
        libraries={},
        builtins=["bankcrm.marketing.channels.content"],
        autoescape=True,
        debug=False,
    )


def content_errors(source: str) -> str | None:
    """Why ``source`` is not usable content, or None."""
    try:
        content_engine().from_string(source or "")
    except TemplateSyntaxError as exc:
        return str(exc)
    return None


def render_content(source: str, context: dict[str, Any], *, html: bool) -> str:
    """``source`` rendered with ``context`` (auto-escaped when ``html``)."""
    if not source:
        return ""
    try:
        template = content_engine().from_string(source)
        return template.render(Context(context, autoescape=html))
    except Exception as exc:  # any template error makes this content unusable
        raise ChannelError(f"content error: {exc}"[:300], permanent=True) from exc


def is_chinese(language: str | None) -> bool:
    return (language or "").lower().startswith("zh")


def variant_text(variant: Any, field: str, language: str) -> str:
    """The variant's ``field`` ("subject", "html", "text", "sms", "banner") in ``language``,
    else in the other language (a variant written in one language still reaches everyone)."""
    if variant is None:
        return ""
    chinese = getattr(variant, f"{field}_zh", "") or ""
    english = getattr(variant, f"{field}_en", "") or ""
    first, second = (chinese, english) if is_chinese(language) else (english, chinese)
    return first or second


def message_language(message: Any) -> str:
    """The language the message is written in: its audience row's, else the customer's."""
    from bankcrm.marketing.language import customer_language

    return message.target.language or customer_language(message.party)


def content_context(message: Any, language: str) -> dict[str, Any]:
    """The variables of :data:`CONTENT_VARIABLES` for one message (plain strings only)."""
    from bankcrm.customers.services_consent import preference_link
    from bankcrm.marketing.tracking import click_url, unsubscribe_url

    offer = message.campaign.offer
    valid_until = ""
    if offer is not None and offer.valid_until:
        valid_until = format_date(offer.valid_until, language)
    return {
        "name": str(message.party.display_name),
        "offer_name": offer.name_for(language) if offer is not None else "",
        "offer_terms": offer.terms_for(language) if offer is not None else "",
        "offer_valid_until": str(valid_until),
        "click_url": click_url(message),
        "unsubscribe_url": unsubscribe_url(message),
        "preference_url": preference_link(party=message.party, language=language),
        "bank_name": str(settings.BANK_NAME),
    }


def sms_opt_out_line(unsubscribe_link: str, language: str) -> str:
    """The last line of every campaign SMS, in ``language``: the signed unsubscribe link."""
    with translation.override(language):
        return gettext("Opt out: %(url)s") % {"url": unsubscribe_link}


def sms_text(message: Any, *, max_length: int) -> str:
    """The SMS of one message in its language: the variant's SMS text, then the opt-out line
    with the message's signed unsubscribe link. The opt-out line is always kept whole: a text
    too long for ``max_length`` characters is shortened to make room for it. A text that
    already ends with the unsubscribe link (the marketer's own opt-out) and fits gets no
    second one.
    Empty when the variant has no SMS text."""
    language = message_language(message)
    context = content_context(message, language)
    body = render_content(variant_text(message.variant, "sms", language), context, html=False)
    body = body.strip()
    if not body:
        return ""
    link = context["unsubscribe_url"]
    if body.endswith(link):
        if len(body) <= max_length:
            return body
        body = body.removesuffix(link).rstrip()
    line = sms_opt_out_line(link, language)
    room = max(0, max_length - len(line) - 1)
    return f"{body[:room].rstrip()}\n{line}"
