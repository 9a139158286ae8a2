"""The account and transaction lists, with filters, and their CSV/XLSX exports.

The page and the export read the same selector with the same filter form, so an export
holds exactly the rows the filtered list shows (every page of it). The files are written by
the export engine (:mod:`bankcrm.analytics.exports`); exports are recorded in the audit
trail before they are sent, and one larger than the engine's job threshold is written in
the background (the person is taken to their export jobs).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from bankcrm.access.permissions import actor_has_perm
from bankcrm.analytics.exports import Document, Table, export_or_queue
from bankcrm.customers.exports import ACCOUNT_COLUMNS, TRANSACTION_COLUMNS, iterate
from bankcrm.customers.models import Party
from bankcrm.customers.selectors import party_get

from . import selectors
from .forms import AccountFilterForm, TransactionFilterForm
from .models import Account, Transaction

ACCOUNTS_PER_PAGE = 50
TRANSACTIONS_PER_PAGE = 50


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _is_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted


# The list exports: CSV and XLSX (the engine's PDF is for reports).
FORMATS = ("csv", "xlsx")


def _customer(request: HttpRequest | Any, form: Any) -> Party | None:
    """The customer the list is narrowed to (``?customer=``), within reach, or 404.
    ``request`` is a request or, for a background export, the actor."""
    pk = form.cleaned_data.get("customer") if form.is_valid() else None
    if not pk:
        return None
    try:
        return party_get(actor=_actor(request), pk=pk)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc


def _actor(request: HttpRequest | Any) -> Any:
    return request.user if isinstance(request, HttpRequest) else request


def _accounts(request: HttpRequest | Any, form: AccountFilterForm) -> QuerySet[Account]:
    customer = _customer(request, form)
    try:
        accounts = selectors.account_list(actor=_actor(request), party=customer)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc
    return form.apply(accounts).select_related("owner")


def _bad_filters(form: Any) -> HttpResponse:
    errors = "; ".join(
        f"{form.fields[name].label if name in form.fields else name}: "
        + " ".join(str(m) for m in messages)
        for name, messages in form.errors.items()
    )
    return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def account_list(request: HttpRequest) -> HttpResponse:
    """Accounts within reach, filtered, 50 to a page."""
    _require(request, "banking.view_account")
    form = AccountFilterForm(request.GET)
    page = None
    customer = None
    if form.is_valid():
        customer = _customer(request, form)
        paginator = Paginator(_accounts(request, form), ACCOUNTS_PER_PAGE)
        try:
            page = paginator.page(request.GET.get("page") or 1)
        except (EmptyPage, ValueError):
            page = paginator.page(paginator.num_pages)
    context = {
        "form": form,
        "page": page,
        "customer": customer,
        "may_export": actor_has_perm(request.user, "banking.view_account"),
    }
    if _is_partial(request):
        return render(request, "banking/partials/account_table.html", context)
    return render(request, "banking/account_list.html", context)


def _transactions(request: HttpRequest | Any, form: TransactionFilterForm) -> QuerySet[Transaction]:
    data = form.cleaned_data
    customer = _customer(request, form)
    try:
        return selectors.transaction_queryset(
            actor=_actor(request),
            party=customer,
            account=data.get("account"),
            filters=form.filters(),
        ).select_related("account")
    except (Party.DoesNotExist, Account.DoesNotExist) as exc:
        raise Http404(_("No such account or customer.")) from exc


@login_required
@require_GET
def transaction_list(request: HttpRequest) -> HttpResponse:
    """Transactions within reach, newest first, a keyset page at a time ("more")."""
    _require(request, "banking.view_transaction")
    form = TransactionFilterForm(request.GET)
    items: list[Transaction] = []
    next_cursor = None
    customer = None
    if form.is_valid():
        customer = _customer(request, form)
        queryset = _transactions(request, form)
        cursor = request.GET.get("cursor")
        if cursor:
            try:
                day, pk = selectors.decode_cursor(cursor)
            except ValidationError:
                return HttpResponse(
                    _("This page cursor is not valid."),
                    status=400,
                    content_type="text/plain; charset=utf-8",
                )
            from django.db.models import Q

            queryset = queryset.filter(Q(booking_date__lt=day) | Q(booking_date=day, id__lt=pk))
        items = list(queryset[: TRANSACTIONS_PER_PAGE + 1])
        if len(items) > TRANSACTIONS_PER_PAGE:
            items = items[:TRANSACTIONS_PER_PAGE]
            next_cursor = selectors.encode_cursor(items[-1].booking_date, items[-1].pk)
    context = {
        "form": form,
        "items": items,
        "next_cursor": next_cursor,
        "customer": customer,
        "is_more": bool(request.GET.get("cursor")),
    }
    if _is_partial(request) and request.GET.get("cursor"):
        return render(request, "banking/partials/transaction_rows.html", context)
    if _is_partial(request):
        return render(request, "banking/partials/transaction_table.html", context)
    return render(request, "banking/transaction_list.html", context)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Http404(_("Exports are CSV or XLSX."))


def _parameters(request: HttpRequest) -> dict[str, Any]:
    return {key: request.GET.get(key) for key in request.GET if request.GET.get(key)}


def _valid(form: Any) -> Any:
    if not form.is_valid():
        raise ValidationError(
            {name: [str(m) for m in messages] for name, messages in form.errors.items()}
        )
    return form


def account_export_document(actor: Any, parameters: dict[str, Any]) -> Document:
    """The filtered account list as an export document (``parameters``: the list's
    filters); ValidationError naming a bad filter, Http404 for a customer out of reach."""
    form = _valid(AccountFilterForm(parameters))
    queryset = _accounts(actor, form).select_related("product", "branch", "owner")
    title = _("Accounts")
    return Document(
        title=title,
        name="accounts",
        tables=[Table(title, ACCOUNT_COLUMNS, iterate(queryset))],
        rows=queryset.count(),
        filters=form.active_filters(),
    )


def transaction_export_document(actor: Any, parameters: dict[str, Any]) -> Document:
    """The filtered transaction list as an export document (``parameters``: the list's
    filters); ValidationError naming a bad filter, Http404 for one out of reach."""
    form = _valid(TransactionFilterForm(parameters))
    queryset = _transactions(actor, form)
    title = _("Transactions")
    return Document(
        title=title,
        name="transactions",
        tables=[Table(title, TRANSACTION_COLUMNS, iterate(queryset))],
        rows=queryset.count(),
        filters=form.active_filters(),
    )


@login_required
@require_GET
def account_export(request: HttpRequest, fmt: str) -> Any:
    """The filtered account list as CSV or XLSX (recorded as ``account.export``)."""
    _check_format(fmt)
    _require(request, "banking.view_account")
    form = AccountFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filters(form)
    parameters = _parameters(request)
    document = account_export_document(request.user, parameters)
    return export_or_queue(
        actor=request.user,
        source="banking.accounts",
        document=document,
        parameters=parameters,
        fmt=fmt,
    )


@login_required
@require_GET
def transaction_export(request: HttpRequest, fmt: str) -> Any:
    """The filtered transaction list as CSV or XLSX (recorded as ``transaction.export``)."""
    _check_format(fmt)
    _require(request, "banking.view_transaction")
    form = TransactionFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filters(form)
    parameters = _parameters(request)
    document = transaction_export_document(request.user, parameters)
    return export_or_queue(
        actor=request.user,
        source="banking.transactions",
        document=document,
        parameters=parameters,
        fmt=fmt,
    )
