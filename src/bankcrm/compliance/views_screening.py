"""The screening pages: the hit list, a hit's page with the customer and the list entry side
by side (names, date of birth, nationality, identifiers, gender) and the matcher's
explanation (which name parts matched how, which attributes matched or conflicted), the
decision (false positive or true match, four eyes on a true match), the watch lists with
their versions and what each load changed, and the ad-hoc screening check.

Hits are for compliance roles and auditors only: anyone else gets 403 on the list and 404
on a hit. Decisions go through ``services_screening.hit_decide`` (audited).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bankcrm.core.masking import mask

from . import selectors_screening, services_screening
from .forms import HitDecisionForm, HitFilterForm, ScreeningCheckForm, errors_to
from .models import ListEntry, ListSnapshot, ScreeningHit
from .views_common import (
    DECIDE_HIT,
    LIST_LIMIT,
    SCREEN_PARTY,
    VIEW_HIT,
    VIEW_LIST,
    is_partial,
    may,
    or_404,
    require,
    status_of,
)

# How a name part matched, in words (the matcher's ``how`` codes).
HOW_LABELS = {
    "exact": gettext_lazy("same"),
    "transliteration": gettext_lazy("same after transliteration"),
    "pinyin": gettext_lazy("same in pinyin"),
    "phonetic": gettext_lazy("sounds the same"),
    "fuzzy": gettext_lazy("similar spelling"),
    "initial": gettext_lazy("initial"),
    "order": gettext_lazy("same, in another order"),
}
FIELD_LABELS = {
    "birth_date": gettext_lazy("Date of birth"),
    "country": gettext_lazy("Country"),
    "identifier": gettext_lazy("Identifier"),
    "gender": gettext_lazy("Gender"),
    "schema": gettext_lazy("Type"),
}
RESULT_LABELS = {
    "match": gettext_lazy("matches"),
    "partial": gettext_lazy("partly matches"),
    "mismatch": gettext_lazy("conflicts"),
    "unknown": gettext_lazy("not known on one side"),
}
# The customer's facts an explanation quotes that stay masked on the hit's page.
MASKED_FIELDS = {"birth_date": "date", "identifier": "id"}
SUMMARY_LABELS = {
    "name_strong": gettext_lazy("Strong name match"),
    "name_weak": gettext_lazy("Weak name match"),
    "name_partial": gettext_lazy("Part of the name matches"),
    "dob_match": gettext_lazy("Date of birth matches"),
    "dob_mismatch": gettext_lazy("Date of birth conflicts"),
    "dob_partial": gettext_lazy("Year of birth matches"),
    "country_match": gettext_lazy("Country matches"),
    "country_mismatch": gettext_lazy("Country conflicts"),
    "identifier_match": gettext_lazy("Identifier matches"),
    "identifier_mismatch": gettext_lazy("Identifier conflicts"),
    "gender_match": gettext_lazy("Gender matches"),
    "gender_mismatch": gettext_lazy("Gender conflicts"),
    "schema_mismatch": gettext_lazy("Person against organisation"),
}


# --- Explanations ----------------------------------------------------------------------------


def explanation_view(
    explanation: dict[str, Any] | None, *, mask_customer: bool = False
) -> dict[str, Any]:
    """The matcher's explanation arranged for a page: name parts with how they matched, the
    attributes that matched or conflicted, the summary in words. ``mask_customer`` masks the
    customer's date of birth and document numbers as the rest of the page does."""
    data = explanation or {}
    parts = []
    for part in data.get("parts") or []:
        if not isinstance(part, dict):
            continue
        how = str(part.get("how") or "")
        parts.append(
            {
                "query": part.get("query", ""),
                "entry": part.get("entry", ""),
                "how": how,
                "how_label": HOW_LABELS.get(how, how),
                "score": part.get("score"),
            }
        )
    attributes = []
    for item in data.get("attributes") or []:
        if not isinstance(item, dict):
            continue
        field, result = str(item.get("field") or ""), str(item.get("result") or "")
        query = item.get("query", "")
        if mask_customer and query and field in MASKED_FIELDS:
            query = mask(query, MASKED_FIELDS[field])
        attributes.append(
            {
                "field": field,
                "field_label": FIELD_LABELS.get(field, field),
                "result": result,
                "result_label": RESULT_LABELS.get(result, result),
                "query": query,
                "entry": item.get("entry", ""),
                "effect": item.get("effect"),
            }
        )
    return {
        "matched_name": data.get("matched_name", ""),
        "query_name": data.get("query_name", ""),
        "name_score": data.get("name_score"),
        "parts": parts,
        "unmatched_query": data.get("unmatched_query") or [],
        "unmatched_entry": data.get("unmatched_entry") or [],
        "attributes": attributes,
        "summary": [
            {"code": code, "label": SUMMARY_LABELS.get(code, code)}
            for code in data.get("summary_codes") or []
        ],
    }


# --- Hits ------------------------------------------------------------------------------------


@login_required
@require_GET
def hit_list(request: HttpRequest) -> HttpResponse:
    """Screening hits, newest first; those awaiting a decision by default."""
    require(request, VIEW_HIT)
    form = HitFilterForm(request.GET or None)
    hits: list[ScreeningHit] = []
    if not form.is_bound or form.is_valid():
        data = form.cleaned_data if form.is_bound else {}
        queryset = selectors_screening.hit_list(
            actor=request.user,
            status=data.get("status") or None,
            party=data.get("customer") or None,
        )
        if isinstance(queryset, QuerySet):
            queryset = queryset.select_related("party", "entry", "entry__watch_list")
        hits = list(queryset[:LIST_LIMIT])
    context = {"form": form, "hits": hits, "limit": LIST_LIMIT}
    if is_partial(request, "hit-table"):
        return render(request, "compliance/partials/hit_table.html", context)
    return render(request, "compliance/hit_list.html", context)


def _hit(request: HttpRequest, pk: int) -> ScreeningHit:
    require(request, VIEW_HIT)
    return or_404(selectors_screening.hit_get, actor=request.user, pk=pk)


def _party_side(hit: ScreeningHit) -> dict[str, Any]:
    """The customer's side of the comparison (masked identifiers: last four characters)."""
    party = hit.party
    if party is None:
        return {"name": hit.subject_name, "names": [], "is_counterparty": True}
    person = getattr(party, "person", None) if party.is_person else None
    organisation = getattr(party, "organisation", None) if not party.is_person else None
    names = [party.display_name]
    birth_date = ""
    nationality = ""
    gender = ""
    if person is not None:
        for value in (person.native_name, getattr(person, "native_name_pinyin", "")):
            if value and value not in names:
                names.append(value)
        latin = " ".join(p for p in (person.given_name, person.family_name) if p)
        if latin and latin not in names:
            names.append(latin)
        # Personal data stays masked here (the year is what screening compares first); the
        # customer's page unmasks it, with a reason, when an investigation needs it.
        birth_date = mask(person.date_of_birth, "date") if person.date_of_birth else ""
        if not birth_date and person.birth_year:
            birth_date = str(person.birth_year)
        nationality = person.nationality or ""
        gender = person.get_gender_display() if person.gender else ""
    elif organisation is not None:
        nationality = getattr(organisation, "country", "") or ""
    identifiers = []
    for identifier in party.identifiers.all()[:10] if hasattr(party, "identifiers") else []:
        identifiers.append(
            {
                "type": identifier.get_type_display(),
                "number": mask(identifier.number, "id"),
                "country": identifier.issuing_country,
            }
        )
    kyc = getattr(party, "kyc", None)
    return {
        "party": party,
        "name": party.display_name,
        "names": names,
        "birth_date": birth_date,
        "nationality": nationality,
        "residence": getattr(kyc, "residence_country", "") if kyc else "",
        "identifiers": identifiers,
        "gender": gender,
        "kind": party.get_kind_display(),
        "is_counterparty": False,
    }


def _entry_side(entry: ListEntry) -> dict[str, Any]:
    names = []
    for item in entry.names or []:
        if isinstance(item, dict):
            names.append({"name": item.get("name", ""), "kind": item.get("kind", "")})
        else:
            names.append({"name": str(item), "kind": ""})
    return {
        "entry": entry,
        "name": entry.name,
        "names": names,
        "birth_dates": entry.birth_dates or [],
        "countries": entry.countries or [],
        "identifiers": [i for i in entry.identifiers or [] if isinstance(i, dict)],
        "gender": entry.gender,
        "kind": entry.get_schema_display(),
        "programs": entry.programs or [],
    }


def _hit_context(request: HttpRequest, hit: ScreeningHit, form: Any = None) -> dict[str, Any]:
    is_open = hit.status == ScreeningHit.Status.OPEN
    return {
        "hit": hit,
        "score_pct": float(hit.score) * 100,
        "customer": _party_side(hit),
        "listed": _entry_side(hit.entry),
        "explanation": explanation_view(hit.explanation, mask_customer=hit.party_id is not None),
        "is_open": is_open,
        "is_pending": hit.status == ScreeningHit.Status.TRUE_MATCH_PENDING,
        "may_decide": may(request, DECIDE_HIT) and is_open,
        "decision_form": form or HitDecisionForm(auto_id="decision_%s"),
        "alerts": list(hit.alerts.all()[:5]) if may(request, "compliance.view_alert") else [],
    }


@login_required
@require_GET
def hit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A hit: the customer and the list entry side by side, why they were matched, and the
    decision."""
    hit = _hit(request, pk)
    return render(request, "compliance/hit_detail.html", _hit_context(request, hit))


@login_required
@require_POST
def hit_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Decide a hit: false positive (whitelisted while neither side changes) or true match
    (confirmed by a second compliance officer)."""
    hit = _hit(request, pk)
    form = HitDecisionForm(request.POST, auto_id="decision_%s")
    status = 400
    if form.is_valid():
        try:
            services_screening.hit_decide(
                actor=request.user,
                hit=hit,
                decision=form.cleaned_data["decision"],
                reason=form.cleaned_data["reason"],
            )
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            hit.refresh_from_db()
            if hit.status == ScreeningHit.Status.TRUE_MATCH_PENDING:
                messages.success(
                    request, _("The true match waits for a second compliance officer's approval.")
                )
            else:
                messages.success(
                    request,
                    _("The hit is closed: %(status)s.") % {"status": hit.get_status_display()},
                )
            return HttpResponseRedirect(reverse("compliance:hit_detail", args=[hit.pk]))
    hit.refresh_from_db()
    return render(
        request, "compliance/hit_detail.html", _hit_context(request, hit, form), status=status
    )


# --- Watch lists -----------------------------------------------------------------------------


@login_required
@require_GET
def watch_lists(request: HttpRequest) -> HttpResponse:
    """The watch lists screened against, each with its versions and what each load changed."""
    require(request, VIEW_LIST)
    selectors = selectors_screening
    lists = list(selectors.watch_list_list(actor=request.user))
    snapshots = list(selectors.snapshot_list(actor=request.user))
    by_list: dict[Any, list[ListSnapshot]] = {}
    for snapshot in snapshots:
        by_list.setdefault(snapshot.watch_list_id, []).append(snapshot)
    rows = [{"list": item, "snapshots": by_list.get(item.pk, [])[:10]} for item in lists]
    return render(request, "compliance/watch_lists.html", {"rows": rows})


@login_required
@require_GET
def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One load of a list: the entries it added, removed and changed."""
    require(request, VIEW_LIST)
    snapshots = selectors_screening.snapshot_list(actor=request.user)
    snapshot = or_404(snapshots.select_related("watch_list").get, pk=pk)
    diff = snapshot.diff or {}
    sections = []
    for key, title in (
        ("added", _("Added")),
        ("removed", _("Removed")),
        ("changed", _("Changed")),
    ):
        ids = [str(i) for i in diff.get(key) or []]
        entries = {
            e.entry_id: e
            for e in ListEntry.objects.filter(
                watch_list=snapshot.watch_list, entry_id__in=ids[:500]
            )
        }
        sections.append(
            {
                "key": key,
                "title": title,
                "count": getattr(snapshot, key),
                "rows": [{"entry_id": i, "entry": entries.get(i)} for i in ids[:500]],
                "is_capped": getattr(snapshot, key) > len(ids),
            }
        )
    return render(
        request, "compliance/snapshot_detail.html", {"snapshot": snapshot, "sections": sections}
    )


# --- Ad-hoc check ----------------------------------------------------------------------------


def match_view(match: Any) -> dict[str, Any]:
    candidate = match.candidate
    return {
        "score_pct": float(match.score) * 100,
        "score": match.score,
        "name": candidate.names[0] if candidate.names else "",
        "aliases": list(candidate.names[1:6]),
        "list_code": candidate.list_code,
        "entry_id": candidate.entry_id,
        "schema": candidate.schema,
        "birth_dates": list(candidate.birth_dates),
        "countries": list(candidate.countries),
        "explanation": explanation_view(match.explanation),
    }


@login_required
@require_http_methods(["GET"])
def screening_check(request: HttpRequest) -> HttpResponse:
    """Screen a name (with date of birth and country) against the loaded lists: the hits
    with their scores and explanations. Nothing is stored; the check is audited."""
    require(request, SCREEN_PARTY)
    form = ScreeningCheckForm(request.GET or None, auto_id="check_%s")
    results: list[dict[str, Any]] | None = None
    status = 200
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            try:
                matches = services_screening.screening_check(
                    actor=request.user,
                    name=data["name"],
                    birth_date=data.get("birth_date") or "",
                    country=data.get("country") or "",
                    schema=data.get("schema") or "",
                )
            except (ValidationError, PermissionDenied) as exc:
                errors_to(form, exc)
                status = status_of(exc)
            else:
                results = [match_view(match) for match in matches]
        else:
            status = 400
    context = {"form": form, "results": results}
    if is_partial(request, "check-results"):
        return render(request, "compliance/partials/check_results.html", context, status=status)
    return render(request, "compliance/screening_check.html", context, status=status)
