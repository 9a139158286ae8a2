"""Staff pages of segments (namespace "marketing", under /marketing/).

* ``marketing:segment_list`` — the segments within the viewer's reach (archived ones on
  request);
* ``marketing:segment_detail`` (pk) — the rules as sentences, the member count, the time of
  the last evaluation, a preview of the first members, "Evaluate now" and "Archive";
* ``marketing:segment_create`` / ``segment_edit`` (pk) — the form with the rule builder;
* ``marketing:segment_count`` (POST) — the live count partial of the rules posted as
  ``definition`` (JSON), counted within the viewer's reach, or the messages naming each bad
  rule;
* ``marketing:segment_evaluate`` / ``segment_archive`` (pk, POST);
* ``marketing:segment_rule_row`` (GET) — a builder partial: one condition row
  (``field``), a new nested group (``group=1``) or the whole builder made from the rules in
  ``definition``.

A segment out of the viewer's reach is 404; a missing permission is 403.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.access.permissions import actor_has_perm

from . import selectors_segments, services_segments
from .forms_segments import (
    Choices,
    SegmentForm,
    SegmentListForm,
    TooDeep,
    builder_fields,
    builder_tree,
    condition_row,
    definition_text,
    errors_to,
    messages_of,
    new_group,
    parse_definition,
    rule_sentences,
)
from .models import Segment

VIEW_SEGMENT = "marketing.view_segment"
ADD_SEGMENT = "marketing.add_segment"
CHANGE_SEGMENT = "marketing.change_segment"
PREVIEW_LIMIT = 50


def _require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def _may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def _language() -> str:
    return translation.get_language() or "en"


def _segment_or_404(request: HttpRequest, pk: int) -> Segment:
    try:
        return selectors_segments.segment_get(actor=request.user, pk=pk)
    except (ObjectDoesNotExist, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


# --- List and detail -------------------------------------------------------------------------


@login_required
@require_GET
def segment_list(request: HttpRequest) -> HttpResponse:
    """The segments within reach, with their kind, members, last evaluation and unit."""
    _require(request, VIEW_SEGMENT)
    form = SegmentListForm(request.GET or None)
    archived = bool(form.is_bound and form.is_valid() and form.cleaned_data["archived"])
    segments = selectors_segments.segment_list(actor=request.user, include_archived=archived)
    if hasattr(segments, "select_related"):
        segments = segments.select_related("owning_unit")
    return render(
        request,
        "marketing/segment_list.html",
        {
            "form": form,
            "segments": list(segments),
            "archived": archived,
            "may_add": _may(request, ADD_SEGMENT),
        },
    )


@login_required
@require_GET
def segment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A segment: its rules told as sentences, its members and their preview."""
    _require(request, VIEW_SEGMENT)
    segment = _segment_or_404(request, pk)
    language = _language()
    fields = builder_fields(language)
    choices = Choices(request.user, language)
    preview = selectors_segments.segment_preview(
        actor=request.user, segment=segment, limit=PREVIEW_LIMIT
    )
    return render(
        request,
        "marketing/segment_detail.html",
        {
            "segment": segment,
            "rules": rule_sentences(segment.definition, fields=fields, choices=choices),
            "definition_json": definition_text(segment.definition),
            "preview": list(preview),
            "preview_limit": PREVIEW_LIMIT,
            "may_change": _may(request, CHANGE_SEGMENT),
        },
    )


# --- Create and edit -------------------------------------------------------------------------


def _builder_context(request: HttpRequest, definition: Any) -> dict[str, Any]:
    language = _language()
    fields = builder_fields(language)
    choices = Choices(request.user, language)
    tree = None
    if isinstance(definition, dict):
        with contextlib.suppress(TooDeep):
            tree = builder_tree(definition, fields=fields, choices=choices)
    return {"tree": tree, "fields": fields}


def _posted_definition(form: SegmentForm) -> Any:
    try:
        return json.loads(form.data.get("definition") or "{}")
    except ValueError:
        return None


def _segment_form_page(
    request: HttpRequest, form: SegmentForm, segment: Segment | None, status: int
) -> HttpResponse:
    if form.is_bound:
        definition = _posted_definition(form)
    else:
        definition = segment.definition if segment else {"all": []}
    return render(
        request,
        "marketing/segment_form.html",
        {"form": form, "segment": segment, **_builder_context(request, definition)},
        status=status,
    )


def _changes(data: dict[str, Any]) -> dict[str, Any]:
    changes = {
        "name": data["name"].strip(),
        "description": data["description"].strip(),
        "kind": data["kind"],
        "definition": data["definition"],
        "refresh_hours": data["refresh_hours"],
    }
    if data.get("owning_unit") is not None:
        changes["owning_unit"] = data["owning_unit"]
    return changes


@login_required
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    """A new segment from the builder's rules."""
    _require(request, VIEW_SEGMENT)
    _require(request, ADD_SEGMENT)
    if request.method != "POST":
        form = SegmentForm(
            actor=request.user,
            initial={"kind": Segment.Kind.DYNAMIC, "refresh_hours": 24, "definition": ""},
        )
        return _segment_form_page(request, form, None, 200)
    form = SegmentForm(request.POST, actor=request.user)
    if form.is_valid():
        try:
            segment = services_segments.segment_create(
                actor=request.user, **_changes(form.cleaned_data)
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
        else:
            messages.success(
                request,
                _("The segment %(name)s was saved. Evaluate it to fill its members.")
                % {"name": segment.name},
            )
            return HttpResponseRedirect(reverse("marketing:segment_detail", args=[segment.pk]))
    return _segment_form_page(request, form, None, 400)


@login_required
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a segment's name, kind, schedule or rules."""
    _require(request, VIEW_SEGMENT)
    _require(request, CHANGE_SEGMENT)
    segment = _segment_or_404(request, pk)
    if request.method != "POST":
        form = SegmentForm(
            actor=request.user,
            current_unit=segment.owning_unit,
            initial=SegmentForm.initial_of(segment),
        )
        return _segment_form_page(request, form, segment, 200)
    form = SegmentForm(request.POST, actor=request.user, current_unit=segment.owning_unit)
    if form.is_valid():
        changes = _changes(form.cleaned_data)
        current = {
            "name": segment.name,
            "description": segment.description,
            "kind": segment.kind,
            "definition": segment.definition,
            "refresh_hours": segment.refresh_hours,
            "owning_unit": segment.owning_unit,
        }
        changes = {key: value for key, value in changes.items() if current.get(key) != value}
        if not changes:
            messages.info(request, _("Nothing was changed."))
            return HttpResponseRedirect(reverse("marketing:segment_detail", args=[segment.pk]))
        try:
            segment = services_segments.segment_update(
                actor=request.user, segment=segment, **changes
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
        else:
            messages.success(request, _("The segment was saved."))
            return HttpResponseRedirect(reverse("marketing:segment_detail", args=[segment.pk]))
    return _segment_form_page(request, form, segment, 400)


# --- Actions ---------------------------------------------------------------------------------


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(messages_of(exc))
    return str(exc) or _("You do not have permission to do this.")


@login_required
@require_POST
def segment_evaluate(request: HttpRequest, pk: int) -> HttpResponse:
    """Evaluate the segment now (a static one keeps its snapshot once taken, unless
    ``resnapshot`` is posted)."""
    _require(request, VIEW_SEGMENT)
    _require(request, CHANGE_SEGMENT)
    segment = _segment_or_404(request, pk)
    try:
        count = services_segments.segment_evaluate(
            actor=request.user, segment=segment, resnapshot=bool(request.POST.get("resnapshot"))
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(
            request,
            _("The segment was evaluated: %(count)s customers.") % {"count": f"{count:,}"},
        )
    return HttpResponseRedirect(reverse("marketing:segment_detail", args=[segment.pk]))


@login_required
@require_POST
def segment_archive(request: HttpRequest, pk: int) -> HttpResponse:
    """Archive the segment: it is no longer re-evaluated nor offered to campaigns."""
    _require(request, VIEW_SEGMENT)
    _require(request, CHANGE_SEGMENT)
    segment = _segment_or_404(request, pk)
    try:
        services_segments.segment_archive(actor=request.user, segment=segment)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _refusal(exc))
    else:
        messages.success(request, _("The segment %(name)s is archived.") % {"name": segment.name})
    return HttpResponseRedirect(reverse("marketing:segment_detail", args=[segment.pk]))


# --- Builder partials ------------------------------------------------------------------------


@login_required
@require_POST
def segment_count(request: HttpRequest) -> HttpResponse:
    """The live member count of the posted rules within the viewer's reach, or the messages
    naming each bad rule (status 200 either way: the builder swaps it in place)."""
    _require(request, VIEW_SEGMENT)
    count: int | None = None
    errors: list[str] = []
    try:
        definition = parse_definition(request.POST.get("definition", ""))
        count = services_segments.segment_count(actor=request.user, definition=definition)
    except ValidationError as exc:
        errors = messages_of(exc)
    return render(
        request, "marketing/partials/segment_count.html", {"count": count, "errors": errors}
    )


@login_required
@require_GET
def segment_rule_row(request: HttpRequest) -> HttpResponse:
    """A piece of the builder: a condition row (a new one, one for ``field``, or the
    condition ``rule`` (JSON) redrawn under its ``row`` id when its field or operator
    changed), a new nested group (``group=1``), or the whole builder drawn from the rules in
    ``definition``."""
    _require(request, VIEW_SEGMENT)
    language = _language()
    fields = builder_fields(language)
    choices = Choices(request.user, language)
    if "definition" in request.GET:
        try:
            definition = parse_definition(request.GET["definition"])
            tree = builder_tree(definition, fields=fields, choices=choices)
        except (ValidationError, TooDeep):
            tree = None
        return render(
            request, "marketing/partials/segment_builder.html", {"tree": tree, "fields": fields}
        )
    if request.GET.get("group"):
        return render(
            request,
            "marketing/partials/segment_rule_group.html",
            {"group": new_group(fields=fields, choices=choices)},
        )
    rule: dict[str, Any] = {"field": request.GET.get("field", "")}
    try:
        posted = json.loads(request.GET.get("rule") or "{}")
    except ValueError:
        posted = {}
    if isinstance(posted, dict) and posted.get("field"):
        rule = posted
    row_id = request.GET.get("row", "")
    if not (row_id.startswith("r") and row_id[1:].isalnum() and len(row_id) <= 12):
        row_id = ""
    row = condition_row(rule, fields=fields, choices=choices, row_id=row_id or None)
    return render(request, "marketing/partials/segment_rule_row.html", {"row": row})
