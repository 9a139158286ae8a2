"""The customer's own preference page, reached by the signed, expiring link of
``services_consent.preference_link`` without signing in.

The customer sees every marketing purpose on each of their e-mail addresses and phones
(masked) and the per-customer purposes, each with the wording in force, and switches them on
or off, and may object to all marketing at once (the customer's do-not-contact flag); saving
records the changes (source "preference page") and shows what changed. The
page speaks English or Chinese: ``?lang=en|zh-hans``, else the link's language, else Chinese
for customers of Chinese nationality (and those with none on record), English otherwise.
A tampered link answers 400, an expired one 410, and neither changes anything. CSRF-protected,
never cached, never indexed, and no referrer leaves it (the token is in the address).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from . import services_consent
from .models import Party
from .selectors_consent import ConsentRow, party_consent_rows
from .services_consent import LANGUAGES, PreferenceLinkError


def party_language(party: Party) -> str:
    """Chinese unless the customer's nationality on record is another country's."""
    person = getattr(party, "person", None) if party.is_person else None
    nationality = (getattr(person, "nationality", "") or "").upper()
    return "en" if nationality and nationality != "CN" else "zh-hans"


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
            request,
            f"customers/{template}",
            {**context, "language": language, "languages": LANGUAGES},
            status=status,
        )
        response["Content-Language"] = language
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _groups(rows: list[ConsentRow], language: str) -> list[dict[str, Any]]:
    """Rows grouped by purpose, each purpose with its wording in the page's language."""
    groups: OrderedDict[str, dict[str, Any]] = OrderedDict()
    for row in rows:
        group = groups.setdefault(
            row.purpose,
            {
                "purpose": row.purpose,
                "label": row.purpose_label,
                "text": row.current_text.text_for(language) if row.current_text else "",
                "version": row.current_text.version if row.current_text else None,
                "rows": [],
            },
        )
        group["rows"].append(row)
    return list(groups.values())


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def preference_page(request: HttpRequest, token: str) -> HttpResponse:
    """Show (GET) or save (POST) the customer's marketing choices."""
    asked = _asked_language(request)
    try:
        party, link_language = services_consent.preference_token_read(token)
    except PreferenceLinkError as exc:
        return _page(
            request,
            "preferences_error.html",
            {"expired": exc.status == 410},
            language=asked or "zh-hans",
            status=exc.status,
        )
    language = asked or link_language or party_language(party)
    with translation.override(language):
        rows = party_consent_rows(party=party)
    context: dict[str, Any] = {"party": party, "token": token}
    if request.method == "POST":
        chosen = set(request.POST.getlist("choice"))
        choices = {row.key: row.key in chosen for row in rows}
        # Only a form that showed the switch may clear it: an unticked box sends nothing.
        do_not_contact = (
            request.POST.get("do_not_contact") == "1"
            if request.POST.get("do_not_contact_shown") == "1"
            else None
        )
        was_do_not_contact = party.do_not_contact
        try:
            changed = services_consent.preferences_apply(
                token=token, choices=choices, language=language, do_not_contact=do_not_contact
            )
        except PreferenceLinkError as exc:
            return _page(
                request,
                "preferences_error.html",
                {"expired": exc.status == 410},
                language=language,
                status=exc.status,
            )
        except ValidationError:
            context["error"] = True
            context["groups"] = _groups(rows, language)
            return _page(request, "preferences.html", context, language=language, status=400)
        party.refresh_from_db(fields=["do_not_contact"])
        with translation.override(language):
            rows = party_consent_rows(party=party)
        context.update(
            {
                "changed": changed,
                "changed_count": len(changed) + (party.do_not_contact != was_do_not_contact),
                "groups": _groups(rows, language),
            }
        )
        return _page(request, "preferences_done.html", context, language=language)
    context["groups"] = _groups(rows, language)
    return _page(request, "preferences.html", context, language=language)
