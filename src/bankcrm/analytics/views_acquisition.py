"""The customer acquisition and attrition report: its page, the customers behind each figure,
and the documents its exports hold (CSV, XLSX, PDF through the export engine).

The page, the customer lists and the exports read the same selectors
(:mod:`bankcrm.analytics.selectors_acquisition`) with the viewer's scope and the same
filters: the as-of day, the window in months, a unit within the viewer's reach and a
segment. Pages need ``analytics.view_report``; exports ``analytics.export_report``.
"""

from __future__ import annotations

import datetime as dt
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

from bankcrm.core.timefmt import bank_today
from bankcrm.customers.models import Party

from .charts import ChartRow, bar_chart, line_chart
from .exports import Column, Document, Table
from .selectors_acquisition import (
    CLOSED_FROM_ACCOUNTS,
    CLOSED_FROM_AUDIT,
    DEFAULT_MONTHS,
    KIND_TITLES,
    KINDS,
    LIST_LIMIT,
    MAX_MONTHS,
    AcquisitionReport,
    acquisition_customer_list,
    acquisition_report,
    acquisition_unit,
    acquisition_units,
)
from .views_reports import VIEW_PERMISSION, is_partial, report_export_links, require_permission

REPORT_KEY = "acquisition"
CUSTOMERS_KEY = "acquisition_customers"
# The unit-by-month table is shown on the page up to this many rows (all in the exports).
UNIT_MONTH_ROWS_SHOWN = 600

_SMALL = {"class": "form-control form-control-sm"}
_SELECT = {"class": "form-select form-select-sm"}


class AcquisitionFilterForm(forms.Form):
    """The report's filters: the as-of day, the window in months, a unit and a segment;
    the customer lists add which figure (``kind``) and which month."""

    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
    )
    months = forms.IntegerField(
        label=gettext_lazy("Months"),
        min_value=1,
        max_value=MAX_MONTHS,
        required=False,
        widget=forms.NumberInput(attrs=_SMALL),
    )
    unit = forms.TypedChoiceField(
        label=gettext_lazy("Unit"),
        required=False,
        coerce=int,
        empty_value=None,
        widget=forms.Select(attrs=_SELECT),
    )
    segment = forms.ChoiceField(
        label=gettext_lazy("Segment"),
        required=False,
        choices=[("", "—"), *Party.Segment.choices],
        widget=forms.Select(attrs=_SELECT),
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Figure"),
        required=False,
        choices=[("", "—"), *[(kind, KIND_TITLES[kind]) for kind in KINDS]],
        widget=forms.Select(attrs=_SELECT),
    )
    month = forms.DateField(
        label=gettext_lazy("Month"),
        required=False,
        input_formats=["%Y-%m"],
        widget=forms.DateInput(attrs={**_SMALL, "type": "month"}, format="%Y-%m"),
    )

    def __init__(self, data: Any, *, actor: Any) -> None:
        super().__init__(data)
        self.actor = actor
        self.units = acquisition_units(actor=actor)
        unit_field = self.fields["unit"]
        assert isinstance(unit_field, forms.TypedChoiceField)  # nosec B101
        unit_field.choices = [("", "—"), *[(unit.pk, unit.name) for unit in self.units]]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("unit") is not None:
            try:
                cleaned["unit_object"] = acquisition_unit(actor=self.actor, pk=cleaned["unit"])
            except ValidationError as error:
                self.add_error("unit", error.message_dict["unit"])
        return cleaned

    def selection(self) -> dict[str, Any]:
        """The selectors' arguments from a valid form."""
        data = self.cleaned_data
        return {
            "as_of": data.get("as_of"),
            "months": data.get("months") or DEFAULT_MONTHS,
            "unit": data.get("unit_object"),
            "segment": data.get("segment") or None,
        }

    def parameters(self) -> dict[str, str]:
        """The filters in force, as plain text (links, the audit record, background jobs)."""
        data = self.cleaned_data
        values = {
            "as_of": data["as_of"].isoformat() if data.get("as_of") else "",
            "months": str(data["months"]) if data.get("months") else "",
            "unit": str(data["unit"]) if data.get("unit") is not None else "",
            "segment": data.get("segment") or "",
            "kind": data.get("kind") or "",
            "month": data["month"].strftime("%Y-%m") if data.get("month") else "",
        }
        return {key: value for key, value in values.items() if value}


def acquisition_form(actor: Any, parameters: Any) -> AcquisitionFilterForm:
    """The bound, valid filter form; ValidationError naming each bad filter."""
    form = AcquisitionFilterForm(parameters, actor=actor)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


def _apply_errors(form: AcquisitionFilterForm, error: ValidationError) -> None:
    for name, messages in error.message_dict.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)


# --------------------------------------------------------------------------- links


def customers_url(report: AcquisitionReport, kind: str, **extra: Any) -> str:
    """The list of the customers behind a figure, with the report's filters."""
    query = {**report.parameters(), "kind": kind, **extra}
    query = {key: value for key, value in query.items() if value not in (None, "")}
    return f"{reverse('analytics:report_acquisition_customers')}?{urlencode(query)}"


def _month_rows(report: AcquisitionReport) -> list[dict[str, Any]]:
    rows = []
    for month in report.by_month:
        label = month.label
        rows.append(
            {
                "line": month,
                "label": label,
                "urls": {
                    kind: customers_url(report, kind, month=label)
                    for kind in ("start", "new", "lost", "end")
                },
            }
        )
    return rows


def _group_rows(report: AcquisitionReport, lines: list[Any], key: str) -> list[dict[str, Any]]:
    rows = []
    for line in lines:
        extra = {key: line.key}
        rows.append(
            {
                "line": line,
                "filter_url": (
                    f"{reverse('analytics:report_acquisition')}?"
                    f"{urlencode({**report.parameters(), **extra})}"
                ),
                "urls": {
                    kind: customers_url(report, kind, **extra)
                    for kind in ("start", "new", "lost", "end")
                },
            }
        )
    return rows


def _charts(report: AcquisitionReport) -> dict[str, Any]:
    months = report.by_month
    return {
        "customers_chart": line_chart(
            title=_("Customers at the end of each month"),
            category_label=_("Month"),
            value_label=_("Customers"),
            rows=[
                ChartRow(m.label, m.end, customers_url(report, "end", month=m.label))
                for m in months
            ],
        ),
        "new_chart": bar_chart(
            title=_("New customers per month"),
            category_label=_("Month"),
            value_label=_("New customers"),
            rows=[
                ChartRow(m.label, m.new, customers_url(report, "new", month=m.label), tone="low")
                for m in months
            ],
        ),
        "lost_chart": bar_chart(
            title=_("Lost customers per month"),
            category_label=_("Month"),
            value_label=_("Lost customers"),
            rows=[
                ChartRow(m.label, m.lost, customers_url(report, "lost", month=m.label), tone="high")
                for m in months
            ],
        ),
    }


# --------------------------------------------------------------------------- pages


@login_required
@require_GET
def page(request: HttpRequest) -> HttpResponse:
    """Customers gained and lost per month, unit and segment, with the churn view."""
    require_permission(request, VIEW_PERMISSION)
    form = AcquisitionFilterForm(request.GET, actor=request.user)
    report = None
    if form.is_valid():
        try:
            report = acquisition_report(actor=request.user, **form.selection())
        except ValidationError as error:
            _apply_errors(form, error)
    context: dict[str, Any] = {
        "form": form,
        "report": report,
        "export_links": report_export_links(request, REPORT_KEY),
    }
    if report is not None:
        context.update(
            {
                "month_rows": _month_rows(report),
                "unit_rows": _group_rows(report, report.by_unit, "unit"),
                "segment_rows": _group_rows(report, report.by_segment, "segment"),
                "window_urls": {
                    kind: customers_url(report, kind) for kind in ("start", "new", "lost", "end")
                },
                "churn_url": customers_url(report, "churn"),
                "show_unit_months": len(report.by_unit_month) <= UNIT_MONTH_ROWS_SHOWN,
                **_charts(report),
            }
        )
    template = (
        "analytics/reports/acquisition_body.html"
        if is_partial(request)
        else "analytics/reports/acquisition.html"
    )
    return render(request, template, context)


def _list_title(kind: str, month: dt.date | None) -> str:
    title = str(KIND_TITLES[kind])
    if kind == "churn":
        return title
    if month is None:
        return {
            "start": _("Customers at the start of the window"),
            "new": _("New customers in the window"),
            "lost": _("Lost customers in the window"),
            "end": _("Customers at the end of the window"),
        }[kind]
    return _("%(figure)s: %(month)s") % {"figure": title, "month": month.strftime("%Y-%m")}


@login_required
@require_GET
def customers_page(request: HttpRequest) -> HttpResponse:
    """The customers behind one figure of the report (the first ones on the page, all of
    them in the exports)."""
    require_permission(request, VIEW_PERMISSION)
    form = AcquisitionFilterForm(request.GET, actor=request.user)
    customers: list[Any] = []
    title = _("Customers")
    if form.is_valid():
        kind = form.cleaned_data.get("kind") or "new"
        month = form.cleaned_data.get("month")
        title = _list_title(kind, month)
        try:
            customers = acquisition_customer_list(
                actor=request.user, kind=kind, month=month, limit=LIST_LIMIT + 1, **form.selection()
            )
        except ValidationError as error:
            _apply_errors(form, error)
    back = {
        k: v
        for k, v in (form.parameters() if form.is_valid() else {}).items()
        if k not in ("kind", "month")
    }
    context = {
        "form": form,
        "title": title,
        "customers": customers[:LIST_LIMIT],
        "is_cut": len(customers) > LIST_LIMIT,
        "limit": LIST_LIMIT,
        "back_url": f"{reverse('analytics:report_acquisition')}?{urlencode(back)}",
        "closed_from_labels": _closed_from_labels(),
        "export_links": report_export_links(request, CUSTOMERS_KEY),
    }
    return render(request, "analytics/reports/acquisition_customers.html", context)


def _closed_from_labels() -> dict[str, str]:
    return {
        CLOSED_FROM_AUDIT: _("audit trail"),
        CLOSED_FROM_ACCOUNTS: _("last account closed"),
        "": "",
    }


# --------------------------------------------------------------------------- documents


MOVEMENT_COLUMNS = (
    Column("start", gettext_lazy("Customers at the start"), lambda line: line.start),
    Column("new", gettext_lazy("New customers"), lambda line: line.new),
    Column("lost", gettext_lazy("Lost customers"), lambda line: line.lost),
    Column("net", gettext_lazy("Net growth"), lambda line: line.net),
    Column("end", gettext_lazy("Customers at the end"), lambda line: line.end),
    Column("attrition", gettext_lazy("Attrition rate"), lambda line: line.attrition),
)

MONTH_COLUMNS = (
    Column("month", gettext_lazy("Month"), lambda line: line.label),
    *MOVEMENT_COLUMNS,
)
UNIT_COLUMNS = (
    Column("unit", gettext_lazy("Unit"), lambda line: line.label),
    *MOVEMENT_COLUMNS,
)
SEGMENT_COLUMNS = (
    Column("segment_code", gettext_lazy("Segment code"), lambda line: line.key),
    Column("segment", gettext_lazy("Segment"), lambda line: line.label),
    *MOVEMENT_COLUMNS,
)
UNIT_MONTH_COLUMNS = (
    Column("unit", gettext_lazy("Unit"), lambda line: line.unit),
    Column("month", gettext_lazy("Month"), lambda line: line.label),
    *MOVEMENT_COLUMNS,
)
CHURN_COLUMNS = (
    Column("low", gettext_lazy("Probability from"), lambda band: band.low),
    Column("high", gettext_lazy("Probability to"), lambda band: band.high),
    Column("customers", gettext_lazy("Current customers"), lambda band: band.customers),
)


def _notes(report: AcquisitionReport) -> list[tuple[Any, Any]]:
    notes: list[tuple[Any, Any]] = [
        (_("As of"), report.as_of.isoformat()),
        (
            _("Window"),
            f"{report.window_from.isoformat()} – {report.as_of.isoformat()} ({report.months})",
        ),
    ]
    if report.unit is not None:
        notes.append((_("Unit"), report.unit.name))
    if report.segment:
        notes.append((_("Segment"), str(dict(Party.Segment.choices)[report.segment])))
    notes += [
        (
            _("Customers without a joining day (counted from before the window)"),
            str(report.joined_without_date),
        ),
        (_("Closed customers without a closing day (left out)"), str(report.closed_without_date)),
        (_("Lost customers dated by the audit trail"), str(report.lost_dated_by_audit)),
        (
            _("Lost customers dated by their last account closed"),
            str(report.lost_dated_by_accounts),
        ),
    ]
    churn = report.churn
    if churn.has_model:
        notes += [
            (_("Churn model"), churn.model_label),
            (_("Current customers with a churn score"), str(churn.scored)),
            (
                _("Current customers in the high churn bands (probability at least %(threshold)s)")
                % {"threshold": churn.threshold},
                str(churn.high),
            ),
        ]
    else:
        notes.append((_("Churn model"), _("none registered")))
    return notes


def acquisition_document(actor: Any, parameters: Any) -> Document:
    """The report: the window's totals and the movement per month, unit, segment and unit
    and month, with the churn view's bands."""
    form = acquisition_form(actor, parameters)
    report = acquisition_report(actor=actor, **form.selection())
    parts: list[tuple[Any, tuple[Column, ...], list[Any]]] = [
        (_("Window"), MOVEMENT_COLUMNS, [report.total]),
        (_("By month"), MONTH_COLUMNS, report.by_month),
        (_("By unit"), UNIT_COLUMNS, report.by_unit),
        (_("By segment"), SEGMENT_COLUMNS, report.by_segment),
        (_("By unit and month"), UNIT_MONTH_COLUMNS, report.by_unit_month),
        (_("High churn bands"), CHURN_COLUMNS, report.churn.bands),
    ]
    tables = [Table(title, columns, rows) for title, columns, rows in parts]
    filters = {k: v for k, v in form.parameters().items() if k not in ("kind", "month")}
    return Document(
        title=_("Customer acquisition and attrition"),
        name="acquisition-report",
        notes=_notes(report),
        tables=tables,
        rows=sum(len(rows) for _title, _columns, rows in parts),
        filters=filters,
    )


def _customer_columns() -> tuple[Column, ...]:
    labels = _closed_from_labels()
    return (
        Column("party_pk", gettext_lazy("Customer key"), lambda row: row.party_pk),
        Column("name", gettext_lazy("Customer"), lambda row: row.display_name),
        Column("unit", gettext_lazy("Unit"), lambda row: row.unit),
        Column("segment", gettext_lazy("Segment"), lambda row: row.segment),
        Column("status", gettext_lazy("Status"), lambda row: row.status),
        Column("joined_on", gettext_lazy("Joined on"), lambda row: row.joined_on),
        Column("closed_on", gettext_lazy("Closed on"), lambda row: row.closed_on),
        Column("closed_from", gettext_lazy("Closing day from"), lambda r: labels[r.closed_from]),
        Column(
            "churn_probability",
            gettext_lazy("Probability of leaving"),
            lambda row: row.churn_probability,
        ),
    )


def acquisition_customers_document(actor: Any, parameters: Any) -> Document:
    """The customers behind one figure of the report, all of them."""
    form = acquisition_form(actor, parameters)
    kind = form.cleaned_data.get("kind") or "new"
    month = form.cleaned_data.get("month")
    rows = acquisition_customer_list(
        actor=actor, kind=kind, month=month, limit=None, **form.selection()
    )
    title = _list_title(kind, month)
    columns = _customer_columns()
    selection = form.selection()
    notes: list[tuple[Any, Any]] = [
        (_("As of"), (selection["as_of"] or bank_today()).isoformat()),
        (_("Months"), str(selection["months"])),
    ]
    if selection["unit"] is not None:
        notes.append((_("Unit"), selection["unit"].name))
    if selection["segment"]:
        notes.append((_("Segment"), str(dict(Party.Segment.choices)[selection["segment"]])))
    return Document(
        title=title,
        name=f"acquisition-{kind}",
        notes=notes,
        tables=[Table(title, columns, rows)],
        rows=len(rows),
        filters=form.parameters(),
    )
