"""The audit and personal-data access summaries for auditors (the *oversight* report): its
page and the document its exports hold (CSV, XLSX, PDF through the export engine).

The page and the exports read the same selector
(:func:`bankcrm.analytics.selectors_oversight.oversight_report`) with the same filters: the
period (days in the viewer's zone), how many members of staff to rank, and the drill-downs
of one member of staff (``staff``: the actor as the trail names them) and of one customer
(``customer``: the customer's key). Both need ``audit.view_auditevent``, the audit trail's
own permission (exports also ``analytics.export_report``, the export engine's).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from .charts import ChartRow, bar_chart
from .exports import Column, Document, Table
from .selectors_oversight import (
    ACCESS_LABELS,
    DEFAULT_TOP,
    KIND_LABELS,
    LIST_LIMIT,
    MAX_TOP,
    VIEW_PERMISSION,
    OversightReport,
    oversight_period,
    oversight_report,
    parse_customer,
)
from .views_reports import is_partial, report_export_links, require_permission

REPORT_KEY = "oversight"

_SMALL = {"class": "form-control form-control-sm"}


class OversightFilterForm(forms.Form):
    """The report's filters: the period, the number of staff ranked, and the drill-downs."""

    date_from = forms.DateField(
        label=gettext_lazy("From (date)"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
    )
    date_to = forms.DateField(
        label=gettext_lazy("To (date)"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
    )
    top = forms.IntegerField(
        label=gettext_lazy("Staff ranked"),
        min_value=1,
        max_value=MAX_TOP,
        required=False,
        widget=forms.NumberInput(attrs=_SMALL),
    )
    staff = forms.CharField(
        label=gettext_lazy("Member of staff"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs=_SMALL),
    )
    customer = forms.CharField(
        label=gettext_lazy("Customer key"),
        max_length=64,
        required=False,
        widget=forms.TextInput(attrs=_SMALL),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        try:
            cleaned["period"] = oversight_period(cleaned.get("date_from"), cleaned.get("date_to"))
        except ValidationError as error:
            self.add_error("date_from", error.message_dict["date_from"])
        if cleaned.get("customer"):
            try:
                cleaned["customer_key"] = parse_customer(cleaned["customer"])
            except ValidationError as error:
                self.add_error("customer", error.message_dict["customer"])
        return cleaned

    def selection(self) -> dict[str, Any]:
        """The selector's arguments from a valid form."""
        data = self.cleaned_data
        return {
            "period": data["period"],
            "top": data.get("top") or DEFAULT_TOP,
            "staff": (data.get("staff") or "").strip(),
            "customer": data.get("customer_key"),
        }

    def parameters(self) -> dict[str, str]:
        """The filters in force, as plain text (links, the audit record, background jobs)."""
        data = self.cleaned_data
        values = {
            "date_from": data["date_from"].isoformat() if data.get("date_from") else "",
            "date_to": data["date_to"].isoformat() if data.get("date_to") else "",
            "top": str(data["top"]) if data.get("top") else "",
            "staff": (data.get("staff") or "").strip(),
            "customer": str(data["customer_key"]) if data.get("customer_key") else "",
        }
        return {key: value for key, value in values.items() if value}


def oversight_form(parameters: Any) -> OversightFilterForm:
    """The bound, valid filter form; ValidationError naming each bad filter."""
    form = OversightFilterForm(parameters)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


# --------------------------------------------------------------------------- links


def _trail_url(report: OversightReport, **query: str) -> str:
    """The audit trail's list of the events behind a figure, over the report's period."""
    return f"{reverse('audit:event_list')}?{urlencode({**query, **report.period.as_filters()})}"


def _drill_url(report: OversightReport, form: OversightFilterForm, **query: str) -> str:
    base = {k: v for k, v in form.parameters().items() if k not in ("staff", "customer")}
    return f"{reverse('analytics:report_oversight')}?{urlencode({**base, **query})}"


def _links(report: OversightReport, form: OversightFilterForm) -> dict[str, Any]:
    return {
        "actions": [
            {
                "line": line,
                "url": _trail_url(report, action=line.key),
                "kind": KIND_LABELS[line.kind],
            }
            for line in report.by_action
        ],
        "object_types": [
            {"line": line, "url": _trail_url(report, object_type=line.key) if line.key else ""}
            for line in report.by_object_type
        ],
        "staff": [
            {
                "line": line,
                "trail_url": _trail_url(report, actor=line.actor),
                "drill_url": _drill_url(report, form, staff=line.actor),
            }
            for line in report.top_staff
        ],
        "access": [
            {
                "line": line,
                "trail_url": _trail_url(report, actor=line.actor),
                "drill_url": _drill_url(report, form, staff=line.actor),
            }
            for line in report.access_by_staff
        ],
    }


def _access_rows(report: OversightReport, form: OversightFilterForm, events: list[Any]) -> list:
    return [
        {
            "event": event,
            "access": ACCESS_LABELS.get(event.access, ""),
            "event_url": reverse("audit:event_detail", args=[event.pk]),
            "customer_url": _drill_url(report, form, customer=event.customer)
            if event.customer
            else "",
            "staff_url": _drill_url(report, form, staff=event.actor),
        }
        for event in events
    ]


def _charts(report: OversightReport, form: OversightFilterForm) -> dict[str, Any]:
    return {
        "kind_chart": bar_chart(
            title=_("Events by kind"),
            category_label=_("Kind"),
            value_label=_("Events"),
            rows=[ChartRow(str(KIND_LABELS[line.key]), line.events) for line in report.by_kind],
        ),
        "channel_chart": bar_chart(
            title=_("Events by channel"),
            category_label=_("Channel"),
            value_label=_("Events"),
            rows=[ChartRow(line.key, line.events) for line in report.by_channel],
        ),
        "access_chart": bar_chart(
            title=_("Personal data access by member of staff"),
            category_label=_("Member of staff"),
            value_label=_("Accesses"),
            rows=[
                ChartRow(line.actor, line.events, _drill_url(report, form, staff=line.actor))
                for line in report.access_by_staff[: report.top]
            ],
        ),
    }


# --------------------------------------------------------------------------- page


@login_required
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """Activity, personal-data access and exports over a period, with the drill-downs."""
    require_permission(request, VIEW_PERMISSION)
    form = OversightFilterForm(request.GET)
    report = None
    if form.is_valid():
        try:
            report = oversight_report(actor=request.user, **form.selection())
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                for message in messages:
                    form.add_error(name if name in form.fields else None, message)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "limit": LIST_LIMIT,
        "export_links": report_export_links(request, REPORT_KEY),
    }
    if report is not None:
        links = _links(report, form)
        context.update(
            {
                "links": links,
                "kinds": [
                    {"label": KIND_LABELS[line.key], "events": line.events}
                    for line in report.by_kind
                ],
                "staff_rows": _access_rows(report, form, report.staff_access),
                "customer_rows": _access_rows(report, form, report.customer_access),
                "customer_staff": [
                    {"line": line, "drill_url": _drill_url(report, form, staff=line.actor)}
                    for line in report.customer_by_staff
                ],
                "export_rows": [
                    {
                        "event": event,
                        "event_url": reverse("audit:event_detail", args=[event.pk]),
                        "staff_url": _drill_url(report, form, staff=event.actor),
                    }
                    for event in report.exports
                ],
                "trail_url": _trail_url(report),
                "clear_staff_url": _drill_url(report, form),
                **_charts(report, form),
            }
        )
    template = (
        "analytics/reports/oversight_body.html"
        if is_partial(request)
        else "analytics/reports/oversight.html"
    )
    return render(request, template, context)


# --------------------------------------------------------------------------- document


def _kind(line: Any) -> str:
    return str(KIND_LABELS.get(line.kind, "")) if line.kind else ""


COUNT_COLUMNS = (Column("events", gettext_lazy("Events"), lambda line: line.events),)
KIND_COLUMNS = (
    Column("kind", gettext_lazy("Kind"), lambda line: str(KIND_LABELS[line.key])),
    *COUNT_COLUMNS,
)
ACTION_COLUMNS = (
    Column("action", gettext_lazy("Action"), lambda line: line.key),
    Column("kind", gettext_lazy("Kind"), _kind),
    *COUNT_COLUMNS,
)
OBJECT_TYPE_COLUMNS = (
    Column("object_type", gettext_lazy("Object type"), lambda line: line.key),
    *COUNT_COLUMNS,
)
CHANNEL_COLUMNS = (
    Column("channel", gettext_lazy("Channel"), lambda line: line.key),
    *COUNT_COLUMNS,
)
STAFF_COLUMNS = (
    Column("actor", gettext_lazy("Member of staff"), lambda line: line.actor),
    Column("user_id", gettext_lazy("User id"), lambda line: line.user_id),
    Column("events", gettext_lazy("Events"), lambda line: line.events),
    Column("reads", gettext_lazy("Reads"), lambda line: line.reads),
    Column("writes", gettext_lazy("Writes"), lambda line: line.writes),
    Column("sign_ins", gettext_lazy("Sign-ins"), lambda line: line.sign_ins),
    Column("last_at", gettext_lazy("Latest"), lambda line: line.last_at),
)
ACCESS_COLUMNS = (
    Column("actor", gettext_lazy("Member of staff"), lambda line: line.actor),
    Column("user_id", gettext_lazy("User id"), lambda line: line.user_id),
    Column("reveals", gettext_lazy("Revealed (unmasked)"), lambda line: line.reveals),
    Column("searches", gettext_lazy("Searched by personal data"), lambda line: line.searches),
    Column("downloads", gettext_lazy("Downloaded a document"), lambda line: line.downloads),
    Column("exports", gettext_lazy("Exported"), lambda line: line.exports),
    Column("events", gettext_lazy("Accesses"), lambda line: line.events),
    Column("customers", gettext_lazy("Distinct customers"), lambda line: line.customers),
    Column("first_at", gettext_lazy("First"), lambda line: line.first_at),
    Column("last_at", gettext_lazy("Latest"), lambda line: line.last_at),
)
EXPORT_COLUMNS = (
    Column("occurred_at", gettext_lazy("Time"), lambda row: row.occurred_at),
    Column("actor", gettext_lazy("Member of staff"), lambda row: row.actor),
    Column("action", gettext_lazy("Action"), lambda row: row.action),
    Column("object_type", gettext_lazy("Object type"), lambda row: row.object_type),
    Column("report", gettext_lazy("Report"), lambda row: row.report),
    Column("format", gettext_lazy("Format"), lambda row: row.format),
    Column("rows", gettext_lazy("Rows"), lambda row: row.rows),
    Column("filters", gettext_lazy("Filters"), lambda row: row.filters),
    Column("event", gettext_lazy("Event"), lambda row: row.pk),
)
EXPORTS_BY_STAFF_COLUMNS = (
    Column("actor", gettext_lazy("Member of staff"), lambda line: line.actor),
    Column("exports", gettext_lazy("Exports"), lambda line: line.exports),
    Column("rows", gettext_lazy("Rows exported"), lambda line: line.rows),
)
EVENT_COLUMNS = (
    Column("occurred_at", gettext_lazy("Time"), lambda row: row.occurred_at),
    Column("actor", gettext_lazy("Member of staff"), lambda row: row.actor),
    Column("action", gettext_lazy("Action"), lambda row: row.action),
    Column("kind", gettext_lazy("Kind"), lambda row: str(KIND_LABELS[row.kind])),
    Column("access", gettext_lazy("Access"), lambda row: str(ACCESS_LABELS.get(row.access, ""))),
    Column("object_type", gettext_lazy("Object type"), lambda row: row.object_type),
    Column("object_pk", gettext_lazy("Object id"), lambda row: row.object_pk),
    Column("object_repr", gettext_lazy("Object"), lambda row: row.object_repr),
    Column("customer", gettext_lazy("Customer key"), lambda row: row.customer),
    Column("detail", gettext_lazy("Detail"), lambda row: row.detail),
    Column("reason", gettext_lazy("Reason"), lambda row: row.reason),
    Column("channel", gettext_lazy("Channel"), lambda row: row.channel),
    Column("event", gettext_lazy("Event"), lambda row: row.pk),
)
CUSTOMER_STAFF_COLUMNS = (
    Column("actor", gettext_lazy("Member of staff"), lambda line: line.actor),
    Column("user_id", gettext_lazy("User id"), lambda line: line.user_id),
    Column("events", gettext_lazy("Events"), lambda line: line.events),
    Column("reads", gettext_lazy("Reads"), lambda line: line.reads),
    Column("last_at", gettext_lazy("Latest"), lambda line: line.last_at),
)


def oversight_document(actor: Any, parameters: Any) -> Document:
    """The report with every row: the activity, personal-data access, the exports and the
    drill-downs asked for. PermissionDenied without ``audit.view_auditevent``."""
    form = oversight_form(parameters)
    report = oversight_report(actor=actor, limit=None, **form.selection())
    period = report.period
    parts: list[tuple[Any, tuple[Column, ...], list[Any]]] = [
        (_("Events by kind"), KIND_COLUMNS, report.by_kind),
        (_("Events by action"), ACTION_COLUMNS, report.by_action),
        (_("Events by object type"), OBJECT_TYPE_COLUMNS, report.by_object_type),
        (_("Events by channel"), CHANNEL_COLUMNS, report.by_channel),
        (_("Most active staff"), STAFF_COLUMNS, report.top_staff),
        (_("Personal data access by member of staff"), ACCESS_COLUMNS, report.access_by_staff),
        (_("Exports"), EXPORT_COLUMNS, report.exports),
        (_("Exports by member of staff"), EXPORTS_BY_STAFF_COLUMNS, report.exports_by_staff),
    ]
    if report.staff:
        parts.append(
            (
                _("Personal data access of %(staff)s") % {"staff": report.staff},
                EVENT_COLUMNS,
                report.staff_access,
            )
        )
    if report.customer:
        parts.append(
            (
                _("Events about customer %(customer)s") % {"customer": report.customer},
                EVENT_COLUMNS,
                report.customer_access,
            )
        )
        parts.append(
            (
                _("Staff who accessed customer %(customer)s") % {"customer": report.customer},
                CUSTOMER_STAFF_COLUMNS,
                report.customer_by_staff,
            )
        )
    notes: list[tuple[Any, Any]] = [
        (_("From"), period.date_from.isoformat()),
        (_("To"), period.date_to.isoformat()),
        (_("Events"), str(report.events)),
        (_("Members of staff with events"), str(report.staff_count)),
        (_("Personal data accesses"), str(report.access_events)),
        (_("Distinct customers whose data was accessed"), str(report.access_customers)),
        (_("Exports"), str(report.export_count)),
    ]
    if report.staff:
        notes.append((_("Member of staff"), report.staff))
    if report.customer:
        notes.append((_("Customer key"), report.customer))
    return Document(
        title=_("Audit and personal data access"),
        name="oversight-report",
        notes=notes,
        tables=[Table(title, columns, rows) for title, columns, rows in parts],
        rows=sum(len(rows) for _title, _columns, rows in parts),
        filters=form.parameters(),
    )
