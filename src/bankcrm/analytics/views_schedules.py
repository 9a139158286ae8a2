"""Report schedules' pages (namespace "analytics"):

* ``analytics:schedule_list`` — one's schedules: report, frequency, recipients, next run and
  the last run's outcome per recipient;
* ``analytics:schedule_create`` — a schedule for the report named in the query string
  (``source`` and ``parameters`` as JSON, set by the report's "Schedule" button);
* ``analytics:schedule_delete`` (pk, POST).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import exports
from .models_report_definitions import ReportSchedule
from .services_report_schedules import report_schedule_create, report_schedule_delete

WEEKDAYS = [
    (0, gettext_lazy("Monday")),
    (1, gettext_lazy("Tuesday")),
    (2, gettext_lazy("Wednesday")),
    (3, gettext_lazy("Thursday")),
    (4, gettext_lazy("Friday")),
    (5, gettext_lazy("Saturday")),
    (6, gettext_lazy("Sunday")),
]
ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Europe/London", "Europe/Berlin",
         "America/New_York", "UTC")  # fmt: skip


class ScheduleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=120)
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=ReportSchedule.Format.choices)
    frequency = forms.ChoiceField(
        label=gettext_lazy("How often"), choices=ReportSchedule.Frequency.choices
    )
    time_of_day = forms.TimeField(
        label=gettext_lazy("At"), widget=forms.TimeInput(attrs={"type": "time"})
    )
    weekday = forms.TypedChoiceField(
        label=gettext_lazy("On (weekly)"), choices=WEEKDAYS, coerce=int, required=False
    )
    day_of_month = forms.IntegerField(
        label=gettext_lazy("On day (monthly)"), min_value=1, max_value=31, required=False
    )
    time_zone = forms.ChoiceField(
        label=gettext_lazy("Time zone"), choices=[(z, z) for z in ZONES], initial=ZONES[0]
    )
    recipients = forms.CharField(
        label=gettext_lazy("Recipients (user names, separated by commas)"), max_length=2000
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            css = "form-select" if isinstance(field.widget, forms.Select) else "form-control"
            field.widget.attrs.setdefault("class", f"{css} form-control-sm")

    def clean_recipients(self) -> list[Any]:
        names = sorted({n.strip() for n in self.cleaned_data["recipients"].split(",") if n.strip()})
        users = list(get_user_model().objects.filter(username__in=names, is_active=True))
        unknown = sorted(set(names) - {u.username for u in users})
        if unknown:
            raise ValidationError(
                _("No active member of staff is called: %(names)s.") % {"names": ", ".join(unknown)}
            )
        return users


def _source(request: HttpRequest) -> tuple[str, dict[str, Any]]:
    source = request.GET.get("source") or request.POST.get("source") or ""
    if source not in exports.SOURCES:
        raise Http404(_("Nothing was found at this address."))
    raw = request.GET.get("parameters") or request.POST.get("parameters") or "{}"
    try:
        parameters = json.loads(raw)
    except ValueError:
        parameters = None
    if not isinstance(parameters, dict):
        raise Http404(_("Nothing was found at this address."))
    return source, parameters


@login_required
@require_GET
def schedule_list(request: HttpRequest) -> HttpResponse:
    schedules = (
        ReportSchedule.objects.filter(owner=request.user)
        .prefetch_related("recipients")
        .order_by("next_run_at")
    )
    return render(request, "analytics/schedules/list.html", {"schedules": list(schedules)})


@login_required
@require_http_methods(["GET", "POST"])
def schedule_create(request: HttpRequest) -> HttpResponse:
    source, parameters = _source(request)
    if request.method != "POST":
        form = ScheduleForm(
            initial={
                "name": request.GET.get("name", ""),
                "format": "xlsx",
                "frequency": "daily",
                "time_of_day": dt.time(8, 0),
                "recipients": request.user.get_username(),
            }
        )
        status = 200
    else:
        form = ScheduleForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                report_schedule_create(
                    actor=request.user,
                    name=data["name"],
                    source=source,
                    parameters=parameters,
                    fmt=data["format"],
                    frequency=data["frequency"],
                    time_of_day=data["time_of_day"],
                    weekday=data.get("weekday"),
                    day_of_month=data.get("day_of_month"),
                    time_zone=data["time_zone"],
                    recipients=data["recipients"],
                )
            except ValidationError as exc:
                for name, texts in exc.message_dict.items():
                    for text in texts:
                        form.add_error(name if name in form.fields else None, text)
            else:
                messages.success(request, _("The schedule was saved."))
                return HttpResponseRedirect(reverse("analytics:schedule_list"))
        status = 422
    return render(
        request,
        "analytics/schedules/form.html",
        {"form": form, "source": source, "parameters": json.dumps(parameters)},
        status=status,
    )


@login_required
@require_POST
def schedule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = ReportSchedule.objects.filter(pk=pk, owner=request.user).first()
    if schedule is None:
        raise Http404(_("Nothing was found at this address."))
    try:
        report_schedule_delete(actor=request.user, schedule=schedule)
    except PermissionDenied:
        raise
    messages.success(request, _("The schedule was deleted."))
    return HttpResponseRedirect(reverse("analytics:schedule_list"))
