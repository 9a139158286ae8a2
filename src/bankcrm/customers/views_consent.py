"""The customer 360's consent panel and the consent pages of staff.

The panel (``customers/partials/consent_panel.html``, context key ``consent``) shows, to
those who may see consents, each purpose on each e-mail address and phone (masked) and the
per-customer purposes: status, since when, source and wording version; the do-not-contact
and deceased flags; a link to the consent page; and, for those who may change consents, a
button that makes the customer's preference link (audited). The consent page lists the same
with the history of every change, and lets staff record a grant, withdrawal or refusal
(source and lawful basis) and set the flags.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm

from . import selectors, selectors_consent, services_consent
from .forms import add_service_errors
from .forms_consent import ConsentRecordForm, ContactFlagsForm, PreferenceLinkForm
from .models import ContactPoint, Party

VIEW_CONSENT = "customers.view_consent"
CHANGE_CONSENT = "customers.change_consent"


def _url(name: str, party: Party) -> str:
    try:
        return reverse(name, args=[party.pk])
    except NoReverseMatch:  # the staff consent pages are not wired in this installation
        return ""


def consent_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panel's context, or ``{"consent": None}`` for those who may not see consents."""
    if not actor_has_perm(actor, VIEW_CONSENT):
        return {"consent": None}
    rows = selectors_consent.consent_panel_rows(actor=actor, party=party)
    may_change = actor_has_perm(actor, CHANGE_CONSENT)
    return {
        "consent": {
            "rows": rows,
            "point_ids": {row.contact_point.pk for row in rows if row.contact_point is not None},
            "granted": sum(1 for row in rows if row.is_granted),
            "do_not_contact": party.do_not_contact,
            "deceased_on": party.deceased_on,
            "may_change": may_change,
            "page_url": _url("customers:consents", party),
            "link_url": _url("customers:consent_link", party) if may_change else "",
        }
    }


# --- Staff pages ---------------------------------------------------------------------------


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _party_or_404(request: HttpRequest, pk: Any) -> Party:
    _require(request, "customers.view_party")
    _require(request, VIEW_CONSENT)
    try:
        return selectors.party_get(actor=request.user, pk=pk)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc


def _contact_points(rows: list[selectors_consent.ConsentRow]) -> list[ContactPoint]:
    seen: dict[Any, ContactPoint] = {}
    for row in rows:
        if row.contact_point is not None:
            seen.setdefault(row.contact_point.pk, row.contact_point)
    return list(seen.values())


def _page_context(
    request: HttpRequest,
    party: Party,
    *,
    record_form: ConsentRecordForm | None = None,
    flags_form: ContactFlagsForm | None = None,
    link: str = "",
) -> dict[str, Any]:
    actor = request.user
    rows = selectors_consent.consent_overview(actor=actor, party=party)
    events = selectors_consent.consent_event_list(actor=actor, party=party)
    for event in events:
        event.masked_point = selectors_consent.contact_point_masked(  # type: ignore[attr-defined]
            event.consent.contact_point
        )
    return {
        "party": party,
        "rows": rows,
        "events": events,
        "may_change": actor_has_perm(actor, CHANGE_CONSENT),
        "record_form": record_form or ConsentRecordForm(contact_points=_contact_points(rows)),
        "flags_form": flags_form
        or ContactFlagsForm(
            initial={"do_not_contact": party.do_not_contact, "deceased_on": party.deceased_on}
        ),
        "link_form": PreferenceLinkForm(),
        "link": link,
        "valid_days": services_consent.preference_link_days(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def consents(request: HttpRequest, pk: Any) -> HttpResponse:
    """The customer's consents and their history (GET); record a choice (POST)."""
    party = _party_or_404(request, pk)
    if request.method != "POST":
        return render(request, "customers/consent_page.html", _page_context(request, party))
    _require(request, CHANGE_CONSENT)
    rows = selectors_consent.consent_overview(actor=request.user, party=party)
    form = ConsentRecordForm(request.POST, contact_points=_contact_points(rows))
    if form.is_valid():
        try:
            services_consent.consent_record(
                actor=request.user, party=party, **form.service_arguments()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except Party.DoesNotExist as exc:
            raise Http404(_("No such customer.")) from exc
        else:
            messages.success(request, _("The customer's choice was recorded."))
            return HttpResponseRedirect(reverse("customers:consents", args=[party.pk]))
    context = _page_context(request, party, record_form=form)
    return render(request, "customers/consent_page.html", context, status=400)


@login_required
@require_POST
def consent_flags(request: HttpRequest, pk: Any) -> HttpResponse:
    """Set the do-not-contact flag and the date of death."""
    party = _party_or_404(request, pk)
    _require(request, CHANGE_CONSENT)
    form = ContactFlagsForm(request.POST)
    if form.is_valid():
        try:
            services_consent.party_contact_flags_set(
                actor=request.user, party=party, **form.service_arguments()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except Party.DoesNotExist as exc:
            raise Http404(_("No such customer.")) from exc
        else:
            messages.success(request, _("The contact flags were saved."))
            return HttpResponseRedirect(reverse("customers:consents", args=[party.pk]))
    context = _page_context(request, party, flags_form=form)
    return render(request, "customers/consent_page.html", context, status=400)


@login_required
@require_POST
def consent_link(request: HttpRequest, pk: Any) -> HttpResponse:
    """Make the customer's preference link (audited), to give or send to them."""
    party = _party_or_404(request, pk)
    _require(request, CHANGE_CONSENT)
    form = PreferenceLinkForm(request.POST)
    language = form.cleaned_data["language"] if form.is_valid() else ""
    try:
        link = services_consent.preference_link_issue(
            actor=request.user, party=party, language=language or None
        )
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc
    context = {
        "party": party,
        "link": link,
        "valid_days": services_consent.preference_link_days(),
    }
    htmx = getattr(request, "htmx", None)
    if htmx and not htmx.boosted:
        return render(request, "customers/consent_link.html", context)
    return render(request, "customers/consent_page.html", _page_context(request, party, link=link))


# The staff consent pages, included in ``customers/urls.py`` under the "customers" namespace.
def staff_urlpatterns() -> list[Any]:
    from django.urls import path

    return [
        path("<uuid:pk>/consents/", consents, name="consents"),
        path("<uuid:pk>/consents/flags/", consent_flags, name="consent_flags"),
        path("<uuid:pk>/consents/link/", consent_link, name="consent_link"),
    ]
