"""Offer pages: the catalogue (``/marketing/offers/``), adding and changing an offer, the
next best offer report, and the customer 360 panel's actions (accept or dismiss a next best
offer, "Offered" on a campaign banner).

The panel's posts answer HTMX with the panel itself (with the form's errors and status 400
or 403 on a refusal); a plain post redirects back to the customer page, or shows the panel
on a page of its own with the errors. A customer out of the viewer's reach is 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm

from . import selectors_offers, services_offers
from .forms_offers import DecisionForm, OfferForm, ReportFilterForm, errors_to
from .models import OfferDecision, ProductOffer
from .views_customer import banners_context, offers_context

PANEL_TEMPLATE = "marketing/partials/customer_offers.html"
BANNER_TEMPLATE = "marketing/partials/customer_banner.html"
PANEL_PAGE_TEMPLATE = "marketing/offer_panel_page.html"


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _is_htmx(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted


def _not_found() -> Http404:
    return Http404(_("Nothing was found at this address."))


def _party_or_404(request: HttpRequest, pk: Any) -> Any:
    try:
        return selectors_offers.party_for(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        raise _not_found() from exc


def _offer_or_404(request: HttpRequest, pk: Any) -> ProductOffer:
    try:
        return selectors_offers.offer_get(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise _not_found() from exc


# --- The catalogue ---------------------------------------------------------------------------


@login_required
@require_GET
def offer_list(request: HttpRequest) -> HttpResponse:
    """Every offer, by code, with its product, validity, value and flags."""
    _require(request, selectors_offers.VIEW_OFFER)
    offers = list(selectors_offers.offer_list(actor=request.user))
    return render(
        request,
        "marketing/offer_list.html",
        {
            "offers": offers,
            "may_add": actor_has_perm(request.user, selectors_offers.ADD_OFFER),
            "may_change": actor_has_perm(request.user, selectors_offers.CHANGE_OFFER),
            "may_report": actor_has_perm(request.user, selectors_offers.VIEW_DECISION),
        },
    )


def _offer_form_page(
    request: HttpRequest, form: OfferForm, offer: ProductOffer | None, status: int = 200
) -> HttpResponse:
    return render(
        request, "marketing/offer_form.html", {"form": form, "offer": offer}, status=status
    )


@login_required
@require_http_methods(["GET", "POST"])
def offer_create(request: HttpRequest) -> HttpResponse:
    """A new offer (``marketing.add_productoffer``)."""
    _require(request, selectors_offers.ADD_OFFER)
    if request.method != "POST":
        return _offer_form_page(request, OfferForm(), None)
    form = OfferForm(request.POST)
    if form.is_valid():
        try:
            offer = services_offers.offer_create(actor=request.user, **form.service_fields())
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
        else:
            messages.success(request, _("The offer %(code)s was added.") % {"code": offer.code})
            return HttpResponseRedirect(reverse("marketing:offer_list"))
    return _offer_form_page(request, form, None, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def offer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an offer (``marketing.change_productoffer``)."""
    _require(request, selectors_offers.CHANGE_OFFER)
    offer = _offer_or_404(request, pk)
    if request.method != "POST":
        return _offer_form_page(request, OfferForm(offer=offer), offer)
    form = OfferForm(request.POST, offer=offer)
    if form.is_valid():
        try:
            offer = services_offers.offer_update(
                actor=request.user, offer=offer, **form.service_fields()
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
        else:
            messages.success(request, _("The offer %(code)s was saved.") % {"code": offer.code})
            return HttpResponseRedirect(reverse("marketing:offer_list"))
    return _offer_form_page(request, form, offer, status=400)


# --- The customer 360 panel ------------------------------------------------------------------


def _panel_context(
    request: HttpRequest,
    party: Any,
    *,
    errors: dict[int, DecisionForm] | None = None,
    notice: str = "",
) -> dict[str, Any]:
    return {
        "party": party,
        "marketing": {
            "party": party,
            "may_decide": actor_has_perm(request.user, selectors_offers.DECIDE_OFFER),
            **offers_context(request.user, party, errors=errors, notice=notice),
        },
    }


@login_required
@require_GET
def offer_panel(request: HttpRequest, party_pk: Any) -> HttpResponse:
    """The customer's next best offer panel (HTMX: the partial; else on its own page)."""
    _require(request, selectors_offers.VIEW_OFFER)
    party = _party_or_404(request, party_pk)
    template = PANEL_TEMPLATE if _is_htmx(request) else PANEL_PAGE_TEMPLATE
    return render(request, template, _panel_context(request, party))


@login_required
@require_POST
def offer_decide(request: HttpRequest, party_pk: Any, offer_pk: int) -> HttpResponse:
    """Accept (a task follows) or dismiss (with a reason) a next best offer."""
    _require(request, selectors_offers.VIEW_OFFER)
    party = _party_or_404(request, party_pk)
    offer = _offer_or_404(request, offer_pk)
    form = DecisionForm(request.POST, prefix=f"offer-{offer.pk}")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        try:
            decision = services_offers.offer_decide(
                actor=request.user,
                party=party,
                offer=offer,
                decision=data["decision"],
                reason=data.get("reason") or "",
                note=data.get("note") or "",
            )
        except ObjectDoesNotExist as exc:
            raise _not_found() from exc
        except PermissionDenied as exc:
            errors_to(form, exc)
            status = 403
        except ValidationError as exc:
            errors_to(form, exc)
        else:
            if decision.decision == OfferDecision.Decision.ACCEPTED:
                notice = _("Accepted: a task “%(title)s” was created.") % {
                    "title": decision.task.title if decision.task else offer.name
                }
            else:
                notice = _("Dismissed: %(reason)s.") % {"reason": decision.get_reason_display()}
            if _is_htmx(request):
                return render(
                    request, PANEL_TEMPLATE, _panel_context(request, party, notice=notice)
                )
            messages.success(request, notice)
            return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]) + "#offers")
    context = _panel_context(request, party, errors={offer.pk: form})
    template = PANEL_TEMPLATE if _is_htmx(request) else PANEL_PAGE_TEMPLATE
    return render(request, template, context, status=status)


@login_required
@require_POST
def banner_offered(request: HttpRequest, party_pk: Any, message_pk: int) -> HttpResponse:
    """Staff made a banner's offer to the customer: the message is marked clicked."""
    _require(request, selectors_offers.DECIDE_OFFER)
    party = _party_or_404(request, party_pk)
    try:
        message = selectors_offers.banner_message_get(
            actor=request.user, party=party, pk=message_pk
        )
        services_offers.campaign_banner_offered(actor=request.user, party=party, message=message)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise _not_found() from exc
    if _is_htmx(request):
        context = {
            "party": party,
            "marketing": {
                "party": party,
                "may_decide": True,
                **banners_context(request.user, party, mark_seen=False),
            },
        }
        return render(request, BANNER_TEMPLATE, context)
    messages.success(request, _("Recorded: the offer was made."))
    return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]))


# --- The report ------------------------------------------------------------------------------


@login_required
@require_GET
def offer_report(request: HttpRequest) -> HttpResponse:
    """Accepted and dismissed next best offers per offer (reasons, acceptance rate) and per
    offer and branch, for the customers in the viewer's reach."""
    _require(request, selectors_offers.VIEW_DECISION)
    form = ReportFilterForm(request.GET or None)
    date_from = date_to = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            date_from = form.cleaned_data.get("date_from")
            date_to = form.cleaned_data.get("date_to")
        else:
            status = 400
    report = selectors_offers.offer_report(actor=request.user, date_from=date_from, date_to=date_to)
    return render(
        request, "marketing/offer_report.html", {"form": form, "report": report}, status=status
    )
