"""Staff pages of campaigns.

* ``marketing:campaign_list`` (within reach; status filter; HTMX swaps the rows),
  ``campaign_create``, ``campaign_edit`` (drafts only), ``campaign_detail`` (status, approval,
  audience summary, messages by status, actions), ``campaign_variant`` (one A/B variant's
  content in both languages, with an e-mail preview per language for a sample customer);
* ``campaign_submit``, ``campaign_cancel``, ``campaign_pause``, ``campaign_resume`` (POST).

Reads go through ``selectors_campaigns`` (a campaign out of reach is 404), each change
through one audited service.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm
from bankcrm.core.approvals import approval_may_decide

from . import selectors_campaigns, services_campaigns
from .channels.content import render_content
from .forms_campaigns import ActionForm, CampaignForm, VariantForm, errors_to
from .models import Campaign, CampaignMessage, CampaignTarget, CampaignVariant

VIEW_CAMPAIGN = "marketing.view_campaign"
ADD_CAMPAIGN = "marketing.add_campaign"
CHANGE_CAMPAIGN = "marketing.change_campaign"
LAUNCH_CAMPAIGN = "marketing.launch_campaign"
LIST_LIMIT = 200
SAMPLE_NAMES = {"en": "Alice Chen", "zh-hans": "王小明"}


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def _campaign_or_404(request: HttpRequest, pk: int) -> Campaign:
    try:
        return selectors_campaigns.campaign_get(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def _report_url(campaign: Campaign) -> str:
    try:
        return reverse("marketing:campaign_report", args=[campaign.pk])
    except NoReverseMatch:
        return ""


def _as_local_input(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


# --- List and detail -------------------------------------------------------------------------


@login_required
@require_GET
def campaign_list(request: HttpRequest) -> HttpResponse:
    """The campaigns within reach, newest start first, optionally of one status."""
    _require(request, VIEW_CAMPAIGN)
    status = request.GET.get("status", "")
    if status not in Campaign.Status.values:
        status = ""
    campaigns = list(
        selectors_campaigns.campaign_list(actor=request.user, status=status or None)[:LIST_LIMIT]
    )
    context = {
        "campaigns": campaigns,
        "status": status,
        "statuses": Campaign.Status.choices,
        "may_add": _may(request, ADD_CAMPAIGN),
    }
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        return render(request, "marketing/partials/campaign_rows.html", context)
    return render(request, "marketing/campaign_list.html", context)


@login_required
@require_GET
def campaign_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A campaign: status, approval, audience drawn, messages by status and its actions."""
    _require(request, VIEW_CAMPAIGN)
    campaign = _campaign_or_404(request, pk)
    may_change = _may(request, CHANGE_CAMPAIGN) and selectors_campaigns.campaign_may_change(
        actor=request.user, campaign=campaign
    )
    may_launch = _may(request, LAUNCH_CAMPAIGN) and may_change
    status = campaign.status
    approval = campaign.approval
    summary = selectors_campaigns.campaign_audience_summary(campaign=campaign)
    counts = selectors_campaigns.campaign_message_counts(campaign=campaign)
    reasons = [
        (label, summary["suppression"].get(value, 0))
        for value, label in CampaignTarget.Suppression.choices
    ]
    variants = list(campaign.variants.order_by("code"))
    context = {
        "campaign": campaign,
        "approval": approval,
        "may_decide": approval is not None
        and approval_may_decide(actor=request.user, approval=approval),
        "summary": summary,
        "reasons": reasons,
        "variant_rows": [(v, summary["variants"].get(v.code, 0)) for v in variants],
        "message_counts": [
            (label, counts.get(value, 0)) for value, label in CampaignMessage.Status.choices
        ],
        "problems": _problem_lines(campaign) if status == Campaign.Status.DRAFT else [],
        "may_edit": may_change and status == Campaign.Status.DRAFT,
        "may_submit": may_change and status == Campaign.Status.DRAFT,
        "may_cancel": may_change
        and status not in (Campaign.Status.COMPLETED, Campaign.Status.CANCELLED),
        "may_pause": may_launch and status in (Campaign.Status.SCHEDULED, Campaign.Status.RUNNING),
        "may_resume": may_launch and status == Campaign.Status.PAUSED,
        "next_code": _next_code(variants),
        "report_url": _report_url(campaign),
        "action_form": ActionForm(),
    }
    return render(request, "marketing/campaign_detail.html", context)


def _problem_lines(campaign: Campaign) -> list[str]:
    lines: list[str] = []
    for items in services_campaigns.campaign_send_problems(campaign).values():
        lines.extend(str(item) for item in (items if isinstance(items, list) else [items]))
    return lines


def _next_code(variants: list[CampaignVariant]) -> str:
    taken = {variant.code for variant in variants}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in taken:
            return letter
    return ""


# --- Create and edit -------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def campaign_create(request: HttpRequest) -> HttpResponse:
    """Draft a new campaign."""
    _require(request, ADD_CAMPAIGN)
    form = CampaignForm(request.POST or None, actor=request.user, initial={"channels": ["email"]})
    if request.method == "POST" and form.is_valid():
        try:
            campaign = services_campaigns.campaign_create(
                actor=request.user, **form.service_values()
            )
        except ValidationError as exc:
            errors_to(form, exc)
        else:
            messages.success(request, _("The campaign was drafted; add its content."))
            return HttpResponseRedirect(reverse("marketing:campaign_detail", args=[campaign.pk]))
    return render(
        request,
        "marketing/campaign_form.html",
        {"form": form, "campaign": None},
        status=_status(form),
    )


def _status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


@login_required
@require_http_methods(["GET", "POST"])
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a draft campaign."""
    _require(request, CHANGE_CAMPAIGN)
    campaign = _campaign_or_404(request, pk)
    if not selectors_campaigns.campaign_may_change(actor=request.user, campaign=campaign):
        raise Http404(_("Nothing was found at this address."))
    initial = CampaignForm.initial_for(campaign)
    initial["starts_at"] = _as_local_input(campaign.starts_at)
    initial["ends_at"] = _as_local_input(campaign.ends_at)
    form = CampaignForm(request.POST or None, actor=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services_campaigns.campaign_update(
                actor=request.user, campaign=campaign, **form.service_values()
            )
        except ValidationError as exc:
            errors_to(form, exc)
        except ObjectDoesNotExist as exc:
            raise Http404(_("Nothing was found at this address.")) from exc
        else:
            messages.success(request, _("The campaign was saved."))
            return HttpResponseRedirect(reverse("marketing:campaign_detail", args=[campaign.pk]))
    return render(
        request,
        "marketing/campaign_form.html",
        {"form": form, "campaign": campaign},
        status=_status(form),
    )


def _preview(campaign: Campaign, form: VariantForm) -> list[dict[str, str]]:
    """The e-mail as a sample customer of each language would see it."""
    data = form.cleaned_data if form.is_bound and form.is_valid() else form.initial
    offer = campaign.offer
    previews = []
    for language, suffix, title in (("en", "en", "English"), ("zh-hans", "zh", "中文")):
        context = {
            "name": SAMPLE_NAMES[language],
            "offer_name": offer.name_for(language) if offer else "",
            "offer_terms": offer.terms_for(language) if offer else "",
            "offer_valid_until": str(offer.valid_until or "") if offer else "",
            "click_url": campaign.landing_url or "#",
            "unsubscribe_url": "#",
            "preference_url": "#",
            "bank_name": "",
        }
        try:
            subject = render_content(data.get(f"subject_{suffix}") or "", context, html=False)
            html = render_content(data.get(f"html_{suffix}") or "", context, html=True)
        except Exception as exc:  # the content cannot be rendered: say why instead
            subject, html = "", ""
            previews.append({"language": title, "subject": "", "html": "", "error": str(exc)})
            continue
        previews.append({"language": title, "subject": subject, "html": html, "error": ""})
    return previews


@login_required
@require_http_methods(["GET", "POST"])
def campaign_variant(request: HttpRequest, pk: int, code: str) -> HttpResponse:
    """One variant's content; POST saves it (or deletes it with ``delete``)."""
    _require(request, VIEW_CAMPAIGN)
    campaign = _campaign_or_404(request, pk)
    code = code.upper()
    variant = campaign.variants.filter(code=code).first()
    may_change = (
        _may(request, CHANGE_CAMPAIGN)
        and campaign.status == Campaign.Status.DRAFT
        and selectors_campaigns.campaign_may_change(actor=request.user, campaign=campaign)
    )
    if variant is None and not may_change:
        raise Http404(_("Nothing was found at this address."))
    form = VariantForm(request.POST or None, initial=VariantForm.initial_for(variant))
    if request.method == "POST":
        if not may_change:
            raise PermissionDenied(_("Only a draft campaign's content can be changed."))
        try:
            if "delete" in request.POST:
                services_campaigns.campaign_variant_delete(
                    actor=request.user, campaign=campaign, code=code
                )
                messages.success(request, _("The variant was removed."))
                return HttpResponseRedirect(
                    reverse("marketing:campaign_detail", args=[campaign.pk])
                )
            if form.is_valid():
                services_campaigns.campaign_variant_save(
                    actor=request.user, campaign=campaign, code=code, **form.cleaned_data
                )
                messages.success(request, _("The variant was saved."))
                return HttpResponseRedirect(
                    reverse("marketing:campaign_variant", args=[campaign.pk, code])
                )
        except ValidationError as exc:
            errors_to(form, exc)
        except ObjectDoesNotExist as exc:
            raise Http404(_("Nothing was found at this address.")) from exc
    return render(
        request,
        "marketing/campaign_variant.html",
        {
            "campaign": campaign,
            "variant": variant,
            "code": code,
            "form": form,
            "may_change": may_change,
            "previews": _preview(campaign, form),
        },
        status=_status(form),
    )


# --- Actions ---------------------------------------------------------------------------------


def _campaign_action(
    name: str, permission: str, comment_as: str, done: Promise, doc: str
) -> Callable[[HttpRequest, int], HttpResponse]:
    """A POST view that runs the service ``services_campaigns.<name>`` on a campaign, passing
    the form's comment as ``comment_as``, and goes back to the campaign's page."""

    def view(request: HttpRequest, pk: int) -> HttpResponse:
        _require(request, permission)
        campaign = _campaign_or_404(request, pk)
        form = ActionForm(request.POST)
        comment = form.cleaned_data["comment"] if form.is_valid() else ""
        service = getattr(services_campaigns, name)
        try:
            service(actor=request.user, campaign=campaign, **{comment_as: comment})
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        except ObjectDoesNotExist as exc:
            raise Http404(_("Nothing was found at this address.")) from exc
        else:
            messages.success(request, str(done))
        return HttpResponseRedirect(reverse("marketing:campaign_detail", args=[campaign.pk]))

    view.__name__ = view.__qualname__ = name
    view.__doc__ = doc
    return login_required(require_POST(view))


campaign_submit = _campaign_action(
    "campaign_submit",
    CHANGE_CAMPAIGN,
    "comment",
    gettext_lazy("The campaign awaits approval by a second person."),
    "Ask a second person to approve the launch.",
)
campaign_cancel = _campaign_action(
    "campaign_cancel",
    CHANGE_CAMPAIGN,
    "reason",
    gettext_lazy("The campaign was cancelled."),
    "Cancel the campaign for good.",
)
campaign_pause = _campaign_action(
    "campaign_pause",
    LAUNCH_CAMPAIGN,
    "reason",
    gettext_lazy("The campaign was paused."),
    "Hold the campaign.",
)
campaign_resume = _campaign_action(
    "campaign_resume",
    LAUNCH_CAMPAIGN,
    "reason",
    gettext_lazy("The campaign was resumed."),
    "Resume the paused campaign.",
)
