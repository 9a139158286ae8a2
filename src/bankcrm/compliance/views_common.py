"""What every compliance page shares: permission checks, 404 for what the viewer may not see,
HTMX partial detection, service refusals on forms, and small SVG bar charts (each chart is
also given as a table by the page that shows it).

Alerts, screening hits and cases are shown to compliance roles and auditors only: anyone
else gets 403 on a list and 404 on one record (its existence is not confirmed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib import messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from bankcrm.access.permissions import actor_has_perm

T = TypeVar("T")

VIEW_ALERT = "compliance.view_alert"
CHANGE_ALERT = "compliance.change_alert"
VIEW_CASE = "compliance.view_case"
ADD_CASE = "compliance.add_case"
CHANGE_CASE = "compliance.change_case"
DECIDE_CASE = "compliance.decide_case"
EXPORT_REPORT = "compliance.export_regulatoryreport"
VIEW_HIT = "compliance.view_screeninghit"
DECIDE_HIT = "compliance.decide_screeninghit"
SCREEN_PARTY = "compliance.screen_party"
VIEW_LIST = "compliance.view_sanctionslist"
VIEW_PROFILE = "compliance.view_kycprofile"
RATE_PARTY = "compliance.rate_party"
VIEW_REVIEW = "compliance.view_kycreview"
CHANGE_REVIEW = "compliance.change_kycreview"
VIEW_EDD = "compliance.view_eddrecord"
ADD_EDD = "compliance.add_eddrecord"
VIEW_SCENARIO = "compliance.view_scenario"
CHANGE_SCENARIO = "compliance.change_scenario"

LIST_LIMIT = 200


def require(request: HttpRequest, permission: str) -> None:
    if not actor_has_perm(request.user, permission):
        raise PermissionDenied(_("You do not have permission to do this."))


def may(request: HttpRequest, permission: str) -> bool:
    return actor_has_perm(request.user, permission)


def or_404(read: Callable[..., T], **kwargs: Any) -> T:
    """A selector's record, or 404 when it does not exist or the viewer may not see it."""
    try:
        return read(**kwargs)
    except (ObjectDoesNotExist, PermissionDenied, ValidationError, ValueError) as exc:
        raise Http404(_("Nothing was found at this address.")) from exc


def is_partial(request: HttpRequest, target: str) -> bool:
    htmx = getattr(request, "htmx", None)
    if not htmx:
        return False
    return not htmx.boosted and htmx.target == target


def status_of(exc: Exception) -> int:
    return 403 if isinstance(exc, PermissionDenied) else 400


def user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


# --- Charts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    url: str
    y: int
    width: int
    tone: str = ""


@dataclass(frozen=True)
class BarChart:
    """A horizontal bar chart: one bar per row, each a link to its list."""

    title: str
    bars: list[Bar]
    width: int
    height: int
    label_width: int
    total: int

    @property
    def is_empty(self) -> bool:
        return self.total == 0


BAR_HEIGHT = 22
BAR_GAP = 8
CHART_WIDTH = 460
LABEL_WIDTH = 170


def bar_chart(title: Any, rows: Iterable[tuple[Any, int, str, str]]) -> BarChart:
    """``rows`` of (label, value, url, tone); bars scaled to the largest value."""
    items = [(str(label), int(value or 0), url, tone) for label, value, url, tone in rows]
    largest = max((value for _label, value, _url, _tone in items), default=0)
    span = CHART_WIDTH - LABEL_WIDTH - 50
    bars = []
    for index, (label, value, url, tone) in enumerate(items):
        width = round(span * value / largest) if largest else 0
        bars.append(
            Bar(
                label=label,
                value=value,
                url=url,
                y=index * (BAR_HEIGHT + BAR_GAP),
                width=max(width, 2 if value else 0),
                tone=tone,
            )
        )
    height = max(len(bars) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP, BAR_HEIGHT)
    return BarChart(
        title=title,
        bars=bars,
        width=CHART_WIDTH,
        height=height,
        label_width=LABEL_WIDTH,
        total=sum(bar.value for bar in bars),
    )


def object_step(
    request: HttpRequest,
    obj: Any,
    form: Any,
    action: Callable[[Any, dict[str, Any]], Any],
    done: str,
    *,
    detail_url: str,
    template: str,
    context: Callable[[], dict[str, Any]],
) -> HttpResponse:
    """A POSTed step on a record's page (a case's or a review's): on success the service's
    message and back to the page; otherwise the page again with the form's errors and the
    status the refusal calls for (400, 403)."""
    from .forms import errors_to

    status = 400
    if form.is_valid():
        try:
            action(obj, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            errors_to(form, exc)
            status = status_of(exc)
        else:
            messages.success(request, done)
            return HttpResponseRedirect(reverse(detail_url, args=[obj.pk]))
    obj.refresh_from_db()
    return render(request, template, context(), status=status)
