"""The auditor's pages: the trail with filters, one event, the CSV export, the chain check."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from .exports import csv_lines
from .forms import AuditEventFilterForm
from .models import AuditEvent
from .permissions import EXPORT_PERMISSION, actor_may
from .selectors import (
    AuditEventFilters,
    AuditEventPage,
    audit_event_get,
    audit_event_iter,
    audit_event_list,
    audit_event_page,
)
from .services import audit_chain_verify, audit_export_record


def _before_cursor(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    """The trail, newest first; a filter change swaps only the table (HTMX)."""
    form = AuditEventFilterForm(request.GET)
    if form.is_valid():
        page = audit_event_page(
            actor=request.user, filters=form.filters(), before=_before_cursor(request)
        )
    else:
        # Nothing is listed for bad filters, but the permission is checked all the same.
        audit_event_list(actor=request.user)
        page = AuditEventPage(events=[], next_before=None)
    context = {
        "form": form,
        "page": page,
        "may_export": actor_may(request.user, EXPORT_PERMISSION),
        "is_first_page": "before" not in request.GET,
    }
    if request.htmx and not request.htmx.boosted:  # type: ignore[attr-defined]
        return render(request, "audit/partials/event_table.html", context)
    return render(request, "audit/event_list.html", context)


def _display(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _change_rows(event: AuditEvent) -> list[dict[str, Any]]:
    before = event.before if isinstance(event.before, dict) else {}
    after = event.after if isinstance(event.after, dict) else {}
    rows = []
    for key in sorted(before.keys() | after.keys()):
        rows.append(
            {
                "field": key,
                "before": _display(before[key]) if key in before else None,
                "after": _display(after[key]) if key in after else None,
            }
        )
    return rows


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One event: before and after side by side, secrets named without values, its hashes."""
    try:
        event = audit_event_get(actor=request.user, pk=pk)
    except AuditEvent.DoesNotExist as exc:
        raise Http404(_("No audit event #%(id)s.") % {"id": pk}) from exc
    return render(
        request,
        "audit/event_detail.html",
        {"event": event, "changes": _change_rows(event)},
    )


@login_required
@require_GET
def event_export(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The filtered trail as CSV, streamed; the export itself is recorded first."""
    form = AuditEventFilterForm(request.GET)
    if not form.is_valid():
        audit_event_list(actor=request.user)  # a 403 before a 400 for other roles
        errors = "; ".join(
            f"{name}: {' '.join(str(m) for m in messages)}"
            for name, messages in form.errors.items()
        )
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    filters: AuditEventFilters = form.filters()
    # Permission checks for reading happen before anything is written.
    audit_event_list(actor=request.user, filters=filters)
    export_event = audit_export_record(actor=request.user, filters=filters.as_dict())
    # The export's own event is not part of what it exports.
    events = audit_event_iter(actor=request.user, filters=filters, until_id=export_event.pk - 1)
    response = StreamingHttpResponse(csv_lines(events), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{export_event.pk}.csv"'
    return response


@login_required
@require_POST
def chain_verify(request: HttpRequest) -> HttpResponse:
    """Recompute the whole hash chain now and show the outcome (recorded as audit.verify)."""
    report, event = audit_chain_verify(actor=request.user)
    context = {"report": report, "event": event}
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "audit/partials/verify_result.html", context)
    return render(request, "audit/verify.html", context)
