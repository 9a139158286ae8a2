"""The account and transaction lists, with filters, and their CSV/XLSX exports.

The page and the export read the same selector with the same filter form, so an export
holds exactly the rows the filtered list shows (every page of it). Exports are recorded in
the audit trail before they are sent.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from bankcrm.access.permissions import actor_has_perm
from bankcrm.customers.exports import (
    ACCOUNT_COLUMNS,
    FORMATS,
    TRANSACTION_COLUMNS,
    XLSX_CONTENT_TYPE,
    XLSX_MAX_ROWS,
    csv_lines,
    export_rows,
    iterate,
    xlsx_bytes,
)
from bankcrm.customers.models import Party
from bankcrm.customers.selectors import party_get
from bankcrm.customers.services import list_export_record

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


def _customer(request: HttpRequest, form: Any) -> Party | None:
    """The customer the list is narrowed to (``?customer=``), within reach, or 404."""
    pk = form.cleaned_data.get("customer") if form.is_valid() else None
    if not pk:
        return None
    try:
        return party_get(actor=request.user, pk=pk)
    except Party.DoesNotExist as exc:
        raise Http404(_("No such customer.")) from exc


def _accounts(request: HttpRequest, form: AccountFilterForm) -> QuerySet[Account]:
    customer = _customer(request, form)
    try:
        accounts = selectors.account_list(actor=request.user, party=customer)
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


def _transactions(request: HttpRequest, form: TransactionFilterForm) -> QuerySet[Transaction]:
    data = form.cleaned_data
    customer = _customer(request, form)
    try:
        return selectors.transaction_queryset(
            actor=request.user,
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


def _export_response(
    *, fmt: str, name: str, queryset: QuerySet[Any], columns: Any, title: str
) -> HttpResponse | StreamingHttpResponse:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    filename = f"{name}-{stamp}.{fmt}"
    if fmt == "csv":
        response: HttpResponse | StreamingHttpResponse = StreamingHttpResponse(
            csv_lines(export_rows(iterate(queryset), columns), columns),
            content_type="text/csv; charset=utf-8",
        )
    else:
        response = HttpResponse(
            xlsx_bytes(export_rows(iterate(queryset), columns), columns, title),
            content_type=XLSX_CONTENT_TYPE,
        )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise Http404(_("Exports are CSV or XLSX."))


def _too_big(rows: int, fmt: str) -> HttpResponse | None:
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        return HttpResponse(
            _("%(rows)s rows do not fit in a spreadsheet: narrow the filters or export CSV.")
            % {"rows": rows},
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return None


@login_required
@require_GET
def account_export(request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """The filtered account list as CSV or XLSX (recorded as ``account.export``)."""
    _check_format(fmt)
    _require(request, "banking.view_account")
    form = AccountFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filters(form)
    queryset = _accounts(request, form).select_related("product", "branch", "owner")
    rows = queryset.count()
    refused = _too_big(rows, fmt)
    if refused is not None:
        return refused
    list_export_record(
        actor=request.user,
        action="account.export",
        object_type="banking.account",
        filters=form.active_filters(),
        fmt=fmt,
        rows=rows,
    )
    return _export_response(
        fmt=fmt, name="accounts", queryset=queryset, columns=ACCOUNT_COLUMNS, title=_("Accounts")
    )


@login_required
@require_GET
def transaction_export(request: HttpRequest, fmt: str) -> HttpResponse | StreamingHttpResponse:
    """The filtered transaction list as CSV or XLSX (recorded as ``transaction.export``)."""
    _check_format(fmt)
    _require(request, "banking.view_transaction")
    form = TransactionFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filters(form)
    queryset = _transactions(request, form)
    rows = queryset.count()
    refused = _too_big(rows, fmt)
    if refused is not None:
        return refused
    list_export_record(
        actor=request.user,
        action="transaction.export",
        object_type="banking.transaction",
        filters=form.active_filters(),
        fmt=fmt,
        rows=rows,
    )
    return _export_response(
        fmt=fmt,
        name="transactions",
        queryset=queryset,
        columns=TRANSACTION_COLUMNS,
        title=_("Transactions"),
    )
