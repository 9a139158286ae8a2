"""The links in campaign messages, open without signing in (under /m/): click, open and
unsubscribe. Each carries a signed token (``bankcrm.marketing.tracking``); a tampered token
answers 400, an expired one 410, a message that no longer exists 404, and none of them
records anything.

* Click (``/m/c/<token>/``): records the click (the first time) and redirects to the link's
  own destination, else the campaign's landing page; a campaign without one shows the
  offer's page (its terms, in the customer's language).
* Open (``/m/o/<token>/``): a 1×1 transparent GIF; loading it records the open.
* Unsubscribe (``/m/u/<token>/``): GET shows what the link stops, in the message's language
  (``?lang=en|zh-hans`` switches); POST withdraws the channel's consent on the message's
  address and shows the result. The POST needs no CSRF token: mail clients' one-click
  unsubscribe (RFC 8058, announced by the ``List-Unsubscribe-Post`` header) posts from outside
  the site, and the signed token is what authorises it.

HEAD requests (link checkers, mail scanners) get the same answer but record nothing.
Pages are never cached and send no referrer (the token is in the address).
"""

from __future__ import annotations

import base64
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from . import services_sending, tracking
from .language import LANGUAGES
from .models import CampaignMessage

# The smallest transparent GIF (43 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _asked_language(request: HttpRequest) -> str | None:
    value = (request.GET.get("lang") or request.POST.get("lang") or "").lower()
    return value if value in LANGUAGES else None


def _page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    language: str,
    status: int = 200,
) -> HttpResponse:
    with translation.override(language):
        response = render(
            request, f"marketing/{template}", {**context, "language": language}, status=status
        )
        response["Content-Language"] = language
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _link_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    language = _asked_language(request) or translation.get_language() or "en"
    if isinstance(exc, tracking.LinkExpired):
        status, expired = 410, True
    elif isinstance(exc, CampaignMessage.DoesNotExist):
        status, expired = 404, False
    else:
        status, expired = 400, False
    return _page(
        request, "public_link_error.html", {"expired": expired}, language=language, status=status
    )


_LINK_ERRORS = (tracking.LinkInvalid, CampaignMessage.DoesNotExist)


@never_cache
@require_safe
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Record the click and go to the offer."""
    try:
        if request.method == "HEAD":
            found = services_sending.message_for_link(token=token, kind=tracking.CLICK)
            message, target = found.message, found.target
        else:
            event = services_sending.message_event(token=token, kind=tracking.CLICK)
            message, target = event.message, event.target
    except _LINK_ERRORS as exc:
        return _link_error(request, exc)
    destination = target or message.campaign.landing_url
    if destination:
        response: HttpResponse = HttpResponseRedirect(destination)
        response["Referrer-Policy"] = "no-referrer"
        return response
    language = _asked_language(request) or services_sending.message_language(message)
    return _page(
        request,
        "public_offer.html",
        {**services_sending.offer_page_context(message, language), "switch_language": True},
        language=language,
    )


@never_cache
@require_safe
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """The tracking image: record the open, answer a transparent 1×1 GIF."""
    status = 200
    if request.method == "GET":
        try:
            services_sending.message_event(token=token, kind=tracking.OPEN)
        except tracking.LinkExpired:
            status = 410
        except _LINK_ERRORS:
            status = 400
    response = HttpResponse(PIXEL_GIF, content_type="image/gif", status=status)
    response["Content-Length"] = str(len(PIXEL_GIF))
    return response


@never_cache
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link stops and a button; POST: stop it (also RFC 8058 one-click)."""
    try:
        found = services_sending.message_for_link(token=token, kind=tracking.UNSUBSCRIBE)
        if not services_sending.unsubscribe_applies(found.message):
            raise CampaignMessage.DoesNotExist("Nothing to unsubscribe from.")
        if request.method == "POST":
            services_sending.message_event(token=token, kind=tracking.UNSUBSCRIBE)
    except _LINK_ERRORS as exc:
        return _link_error(request, exc)
    message = found.message
    language = _asked_language(request) or services_sending.message_language(message)
    context = {
        **services_sending.unsubscribe_page_context(message, language),
        "switch_language": True,
    }
    template = "public_unsubscribed.html" if request.method == "POST" else "public_unsubscribe.html"
    return _page(request, template, context, language=language)
