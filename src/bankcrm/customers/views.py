"""The customer pages: search, the customer 360, its edit page, quick interaction add,
unmasking one personal-data value, and "my portfolio".

Every read goes through the selectors (scoped to the signed-in person: a customer out of
reach is a 404, like one that does not exist); every write through a service. One view
answers both the full page and its HTMX partial (``request.htmx``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from bankcrm.access.permissions import actor_has_perm
from bankcrm.banking import selectors as banking_selectors
from bankcrm.banking.forms import TransactionFilterForm
from bankcrm.banking.models import Account
from bankcrm.core.masking import actor_may_unmask, pii_reveal_key
from bankcrm.core.services import pii_unmask

from . import selectors, services
from .forms import (
    InteractionQuickForm,
    PartyEditForm,
    PortfolioFilterForm,
    UnmaskForm,
    add_service_errors,
)
from .models import ContactPoint, Identifier, Party, PersonProfile
from .search import customer_search
from .tables import MonthlyFlow, cash_flow_chart, last_twelve_months

TRANSACTIONS_PER_PAGE = 20
INTERACTIONS_PER_PAGE = 10


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _is_partial(request: HttpRequest, target: str | None = None) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.boosted:
        return False
    return target is None or htmx.target == target


def _party_or_404(request: HttpRequest, pk: Any) -> Party:
    try:
        return selectors.party_get(actor=request.user, pk=pk)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc


# --- Search ----------------------------------------------------------------------------------


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """One box for names, pinyin, phones, e-mails, document and account numbers."""
    _require(request, "customers.view_party")
    query = request.GET.get("q", "")[:200]
    result = customer_search(actor=request.user, query=query)
    context = {
        "q": query,
        "result": result,
        "may_view_portfolio": actor_has_perm(request.user, "customers.view_party"),
    }
    if _is_partial(request):
        return render(request, "customers/partials/search_results.html", context)
    return render(request, "customers/search.html", context)


# --- Customer 360 ----------------------------------------------------------------------------


def _cash_flow(monthly: list[dict[str, Any]], currency: str) -> tuple[list[MonthlyFlow], Any]:
    """The last twelve months, months without any booking shown as zero."""
    by_month = {row["month"]: row for row in monthly}
    flows = [
        MonthlyFlow(
            month=month,
            inflow=by_month.get(month, {}).get("inflow") or Decimal(0),
            outflow=by_month.get(month, {}).get("outflow") or Decimal(0),
        )
        for month in last_twelve_months(timezone.localdate())
    ]
    return flows, cash_flow_chart(flows, currency)


def _personal_data(request: HttpRequest, party: Party) -> dict[str, Any]:
    """Identity documents and contact points, masked (their keys unwrapped at once)."""
    actor = request.user
    identifiers = (
        selectors.identifier_list(actor=actor, party=party)
        if actor_has_perm(actor, "customers.view_identifier")
        else []
    )
    contacts = (
        selectors.contact_point_list(actor=actor, party=party)
        if actor_has_perm(actor, "customers.view_contactpoint")
        else []
    )
    return {"identifiers": identifiers, "contact_points": contacts}


def _transaction_context(request: HttpRequest, party: Party) -> dict[str, Any]:
    form = TransactionFilterForm(request.GET)
    page = None
    if form.is_valid():
        try:
            page = banking_selectors.transaction_page(
                actor=request.user,
                party=party,
                filters=form.filters(),
                cursor=request.GET.get("cursor") or None,
                limit=TRANSACTIONS_PER_PAGE,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            _attach_accounts(page.items)
    return {"party": party, "transaction_form": form, "transaction_page": page}


def _attach_accounts(transactions: list[Any]) -> None:
    # The page's transactions name their account (masked): one query for all of them.
    accounts = Account.objects.in_bulk({t.account_id for t in transactions})
    for transaction in transactions:
        transaction.account = accounts[transaction.account_id]


def _lending_context(actor: Any, party: Party) -> dict[str, Any]:
    """The customer's loans and applications, for those who may see lending (the lending
    module's selector, scoped to the actor)."""
    if not (
        actor_has_perm(actor, "lending.view_loanapplication")
        or actor_has_perm(actor, "lending.view_loan")
    ):
        return {"lending": None}
    from bankcrm.lending.selectors_pipeline import party_lending_summary

    return {
        "lending": party_lending_summary(actor=actor, party=party),
        "may_add_application": actor_has_perm(actor, "lending.add_loanapplication"),
    }


def _compliance_context(actor: Any, party: Party) -> dict[str, Any]:
    """The customer's KYC panel (rating and its factors, reviews, PEP, screening, open alerts,
    ownership), for those who may see KYC profiles (the compliance module decides which
    parts each role sees)."""
    from bankcrm.compliance.views_customer import customer_panel_context

    return customer_panel_context(actor, party)


def _support_context(actor: Any, party: Party) -> dict[str, Any]:
    """The customer's recent service cases with their SLA state and a "New case" button, for
    those who may see service cases (the customer service module decides what each sees)."""
    from bankcrm.support.views_customer import customer_panel_context

    return customer_panel_context(actor, party)


def _consent_context(actor: Any, party: Party) -> dict[str, Any]:
    """The customer's consents per contact point and purpose, do-not-contact and the
    preference link, for those who may see consents (bankcrm.customers.views_consent)."""
    from .views_consent import consent_panel_context

    return consent_panel_context(actor, party)


def _marketing_context(actor: Any, party: Party) -> dict[str, Any]:
    """The in-branch campaign banners and the next best offers for this customer, for those
    who may see them (the marketing module decides what each sees)."""
    from bankcrm.marketing.views_customer import customer_panel_context

    return customer_panel_context(actor, party)


def _detail_context(request: HttpRequest, pk: Any) -> dict[str, Any]:
    try:
        data = selectors.customer_360(
            actor=request.user,
            pk=pk,
            transactions_limit=TRANSACTIONS_PER_PAGE,
            interactions_limit=INTERACTIONS_PER_PAGE,
            today=timezone.localdate(),
        )
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc
    _attach_accounts(data.recent_transactions)
    flows, chart = _cash_flow(data.monthly_flows, data.base_currency)
    actor = request.user
    return {
        "data": data,
        "party": data.party,
        "profile": getattr(data.party, "person", None)
        if data.party.is_person
        else getattr(data.party, "organisation", None),
        "flows": flows,
        "chart": chart,
        "net_worth": data.total_assets_base - data.total_liabilities_base,
        "transaction_form": TransactionFilterForm(),
        "transaction_page": banking_selectors.TransactionPage(
            items=data.recent_transactions, next_cursor=data.transactions_next_cursor
        ),
        "interaction_form": InteractionQuickForm(),
        "interactions": data.recent_interactions,
        "interactions_more": len(data.recent_interactions) >= INTERACTIONS_PER_PAGE,
        "may_edit": actor_has_perm(actor, "customers.change_party"),
        "may_log_interaction": actor_has_perm(actor, "customers.add_interaction"),
        "may_see_transactions": actor_has_perm(actor, "banking.view_transaction"),
        "may_see_accounts": actor_has_perm(actor, "banking.view_account"),
        "may_unmask": actor_may_unmask(actor),
        **_personal_data(request, data.party),
        **_lending_context(actor, data.party),
        **_compliance_context(actor, data.party),
        **_support_context(actor, data.party),
        **_consent_context(actor, data.party),
        **_marketing_context(actor, data.party),
    }


@login_required
@require_GET
def detail(request: HttpRequest, pk: Any) -> HttpResponse:
    """The customer 360. An HTMX request aimed at the transaction list gets that list only
    (filters applied, or the next page after ``cursor``)."""
    _require(request, "customers.view_party")
    if _is_partial(request, "customer-transactions") or _is_partial(
        request, "customer-transactions-more"
    ):
        party = _party_or_404(request, pk)
        _require(request, "banking.view_transaction")
        context = _transaction_context(request, party)
        if request.htmx.target == "customer-transactions-more":  # type: ignore[attr-defined]
            return render(request, "customers/partials/transaction_rows.html", context)
        return render(request, "customers/partials/transactions.html", context)
    return render(request, "customers/detail.html", _detail_context(request, pk))


# --- Interactions ----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def interactions(request: HttpRequest, pk: Any) -> HttpResponse:
    """The interactions timeline (GET, ``before`` pages back) and its quick add (POST)."""
    _require(request, "customers.view_party")
    party = _party_or_404(request, pk)
    form = InteractionQuickForm()
    logged = None
    if request.method == "POST":
        form = InteractionQuickForm(request.POST)
        if form.is_valid():
            try:
                logged = services.interaction_log(
                    actor=request.user, party=party, **form.service_arguments()
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            except Party.DoesNotExist as exc:
                raise Http404(_("No such customer.")) from exc
        if logged is not None and not _is_partial(request):
            messages.success(request, _("The interaction was logged."))
            return HttpResponseRedirect(
                reverse("customers:detail", args=[party.pk]) + "#interactions"
            )
        if logged is not None:
            form = InteractionQuickForm()
        elif not _is_partial(request):
            # A browser without script: the whole page again, the errors on the form.
            context = _detail_context(request, pk)
            context["interaction_form"] = form
            return render(request, "customers/detail.html", context)
    before = _parse_before(request.GET.get("before"))
    items = selectors.interaction_list(
        actor=request.user, party=party, before=before, limit=INTERACTIONS_PER_PAGE
    )
    context = {
        "party": party,
        "interactions": items,
        "interactions_more": len(items) >= INTERACTIONS_PER_PAGE,
        "interaction_form": form,
        "logged": logged,
        "may_log_interaction": actor_has_perm(request.user, "customers.add_interaction"),
    }
    if request.method == "GET" and before is not None and _is_partial(request):
        return render(request, "customers/partials/interaction_items.html", context)
    if _is_partial(request):
        return render(request, "customers/partials/interactions.html", context)
    return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]) + "#interactions")


def _parse_before(raw: str | None) -> dt.datetime | None:
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


# --- Unmask ----------------------------------------------------------------------------------

# What may be unmasked on the customer page: kind of record → its personal-data fields.
UNMASKABLE: dict[str, frozenset[str]] = {
    "identifier": frozenset({"number"}),
    "contactpoint": frozenset({"value", "address"}),
    "person": frozenset({"date_of_birth"}),
    "account": frozenset({"number"}),
}


def mask_kind_of(record: Any, field: str) -> str:
    """How a value is masked on the page (``bankcrm.core.masking`` kinds, and addresses)."""
    if isinstance(record, Identifier):
        return "id"
    if isinstance(record, ContactPoint):
        if field == "address":
            return "address"
        return "phone" if record.kind == ContactPoint.Kind.PHONE else "email"
    if isinstance(record, PersonProfile):
        return "date"
    return "account"


def _unmask_target(request: HttpRequest, party: Party, target: str) -> tuple[str, Any, str]:
    """The kind of record, the record and the field named by ``target``
    ("identifier:<pk>:number"), read through the selectors and belonging to ``party``;
    404 otherwise."""
    try:
        kind, pk, field = target.split(":")
        if field not in UNMASKABLE[kind]:
            raise KeyError(field)
    except (ValueError, KeyError) as exc:
        raise Http404(_("Nothing to unmask here.")) from exc
    actor = request.user
    record: Any
    try:
        if kind == "identifier":
            record = selectors.identifier_get(actor=actor, pk=pk)
            belongs = record.party_id == party.pk
        elif kind == "contactpoint":
            record = selectors.contact_point_get(actor=actor, pk=pk)
            belongs = record.party_id == party.pk
        elif kind == "person":
            record = PersonProfile.objects.visible_to(actor).get(pk=pk)
            belongs = record.party_id == party.pk
        else:
            record = banking_selectors.account_get(actor=actor, pk=pk)
            belongs = record.pk in banking_selectors.party_account_ids(
                actor=actor, party_pk=party.pk
            )
    except (
        Identifier.DoesNotExist,
        ContactPoint.DoesNotExist,
        PersonProfile.DoesNotExist,
        Account.DoesNotExist,
        Party.DoesNotExist,
        ValidationError,
        ValueError,
    ) as exc:
        raise Http404(_("Nothing to unmask here.")) from exc
    if not belongs:
        raise Http404(_("Nothing to unmask here."))
    return kind, record, field


@login_required
@require_http_methods(["GET", "POST"])
def unmask(request: HttpRequest, pk: Any) -> HttpResponse:
    """Show one personal-data value in clear for this response only, after a reason is
    given (``pii_unmask`` records who, why and which field — never the value)."""
    _require(request, "customers.view_party")
    party = _party_or_404(request, pk)
    target = (request.POST if request.method == "POST" else request.GET).get("target", "")
    record_kind, record, field = _unmask_target(request, party, target)
    if not actor_may_unmask(request.user):
        raise PermissionDenied(_("Your role may not see personal data unmasked."))
    form = UnmaskForm(initial={"target": target})
    context: dict[str, Any] = {
        "party": party,
        "record": record,
        "record_kind": record_kind,
        "field": field,
        "mask_kind": mask_kind_of(record, field),
        "target": target,
        "may_unmask": True,
    }
    if request.method == "POST" and request.POST.get("cancel"):
        if not _is_partial(request):
            return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]) + "#identity")
        return render(request, "customers/partials/pii_value.html", context)
    if request.method == "POST":
        form = UnmaskForm(request.POST)
        if form.is_valid():
            try:
                pii_unmask(
                    actor=request.user,
                    target=record,
                    field=field,
                    reason=form.cleaned_data["reason"],
                )
            except PermissionDenied as exc:
                form.add_error("reason", str(exc))
            else:
                context["pii_revealed"] = {pii_reveal_key(record, field)}
                context["revealed"] = True
                if _is_partial(request):
                    return render(request, "customers/partials/pii_value.html", context)
                return render(request, "customers/unmask.html", context)
    context["form"] = form
    if _is_partial(request):
        return render(request, "customers/partials/unmask_form.html", context)
    return render(request, "customers/unmask.html", context)


# --- Edit ------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, pk: Any) -> HttpResponse:
    """Change a customer's details; the service's validation errors show on the fields."""
    _require(request, "customers.view_party")
    party = _party_or_404(request, pk)
    _require(request, "customers.change_party")
    if request.method == "POST":
        form = PartyEditForm(request.POST, party=party)
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]))
            try:
                services.party_update(
                    actor=request.user,
                    party=party,
                    changes=changes,
                    reason=form.cleaned_data.get("reason", ""),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                # The service may have set values on the in-memory record before refusing.
                party.refresh_from_db()
            except Party.DoesNotExist as exc:
                raise Http404(_("No such customer.")) from exc
            else:
                messages.success(request, _("The customer's details were saved."))
                return HttpResponseRedirect(reverse("customers:detail", args=[party.pk]))
    else:
        form = PartyEditForm(party=party)
    profile = party.person if party.is_person else party.organisation
    return render(
        request, "customers/edit.html", {"party": party, "profile": profile, "form": form}
    )


# --- My portfolio ----------------------------------------------------------------------------


@login_required
@require_GET
def portfolio(request: HttpRequest) -> HttpResponse:
    """The relationship manager's own customers: balances, last contact, who to call."""
    _require(request, "customers.view_party")
    form = PortfolioFilterForm(request.GET)
    days, sort, stale_only, page_number = form.values()
    page = selectors.portfolio_customers(
        actor=request.user,
        sort=sort,
        not_contacted_days=days if stale_only else None,
        page=page_number,
    )
    if page.page > page.pages and page.total:
        page = selectors.portfolio_customers(
            actor=request.user,
            sort=sort,
            not_contacted_days=days if stale_only else None,
            page=page.pages,
        )
    for row in page.rows:
        row.is_stale = row.days_since_contact is None or row.days_since_contact >= days
    context = {
        "form": form,
        "page": page,
        "days": days,
        "sort": sort,
        "stale_only": stale_only,
        "sort_links": _sort_links(sort),
    }
    if _is_partial(request, "portfolio-table"):
        return render(request, "customers/partials/portfolio_table.html", context)
    return render(request, "customers/portfolio.html", context)


def _sort_links(current: str) -> dict[str, dict[str, str]]:
    """Per sortable column: the sort a click asks for, and the column's aria-sort."""
    links = {}
    for column in ("name", "balance", "last_contact"):
        if current == column:
            links[column] = {"next": f"-{column}", "aria": "ascending"}
        elif current == f"-{column}":
            links[column] = {"next": column, "aria": "descending"}
        else:
            links[column] = {"next": column, "aria": "none"}
    return links
