"""What each report exports: the document (:class:`bankcrm.analytics.exports.Document`) of
the RFM report, of an RFM segment's customer list and of the churn report, built from the
request's filters with the viewer's scope.

The page, the streamed export and the background job read the same builder, so an export
holds what the page shows (a customer list in full, where the page shows its first rows).
A builder raises ValidationError naming the bad filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.core.timefmt import bank_today

from .exports import Column, Document, Table, item
from .rfm import DEFAULT_MONTHS, MAX_MONTHS, RFM_SEGMENTS
from .selectors_churn_report import churn_report
from .selectors_rfm import rfm_customer_list, rfm_report


class RfmFilterForm(forms.Form):
    """The RFM report's filters: the window in months, the as-of day and a segment."""

    months = forms.IntegerField(
        label=gettext_lazy("Months"),
        min_value=1,
        max_value=MAX_MONTHS,
        required=False,
        widget=forms.NumberInput(attrs={"class": "form-control form-control-sm"}),
    )
    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        required=False,
        widget=forms.DateInput(attrs={"class": "form-control form-control-sm", "type": "date"}),
    )
    segment = forms.ChoiceField(
        label=gettext_lazy("Segment"),
        required=False,
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
        choices=[("", "—"), *[(segment.code, segment.name) for segment in RFM_SEGMENTS]],
    )

    def window(self) -> tuple[dt.date | None, int]:
        data = self.cleaned_data
        return data.get("as_of"), data.get("months") or DEFAULT_MONTHS

    def parameters(self) -> dict[str, Any]:
        """The filters in force, as plain values (audit, background jobs)."""
        data = self.cleaned_data
        values = {
            "months": data.get("months"),
            "as_of": data["as_of"].isoformat() if data.get("as_of") else None,
            "segment": data.get("segment") or None,
        }
        return {key: value for key, value in values.items() if value}


def rfm_form(parameters: Any) -> RfmFilterForm:
    """The bound, valid RFM filter form; ValidationError naming each bad filter."""
    form = RfmFilterForm(parameters)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


def _score_range(bounds: Any) -> str:
    low, high = bounds
    return str(low) if low == high else f"{low}–{high}"


def _rfm_notes(as_of: dt.date, window_from: dt.date, months: int, currency: str) -> list:
    return [
        (_("As of"), as_of.isoformat()),
        (_("Window"), f"{window_from.isoformat()} – {as_of.isoformat()} ({months})"),
        (_("Currency"), currency),
    ]


SEGMENT_COLUMNS = (
    item("code", gettext_lazy("Segment code")),
    item("name", gettext_lazy("Segment")),
    item("customers", gettext_lazy("Customers")),
    item("share", gettext_lazy("Share")),
    item("avg_recency_days", gettext_lazy("Average days since last booking")),
    item("avg_frequency", gettext_lazy("Average bookings")),
    item("avg_monetary", gettext_lazy("Average spending")),
    item("total_monetary", gettext_lazy("Total spending")),
    item("avg_recency_score", gettext_lazy("Average R score")),
    item("avg_frequency_score", gettext_lazy("Average F score")),
    item("avg_monetary_score", gettext_lazy("Average M score")),
)

DEFINITION_COLUMNS = (
    item("code", gettext_lazy("Segment code")),
    item("name", gettext_lazy("Segment")),
    Column("recency", gettext_lazy("R score"), lambda row: _score_range(row["recency"])),
    Column("frequency", gettext_lazy("F score"), lambda row: _score_range(row["frequency"])),
    Column("monetary", gettext_lazy("M score"), lambda row: _score_range(row["monetary"])),
    item("description", gettext_lazy("Definition")),
)

CUSTOMER_COLUMNS = (
    Column("name", gettext_lazy("Customer"), lambda row: row.display_name),
    Column("last_booking", gettext_lazy("Last booking"), lambda row: row.last_booking),
    Column("recency_days", gettext_lazy("Days since last booking"), lambda r: r.recency_days),
    Column("frequency", gettext_lazy("Bookings"), lambda row: row.frequency),
    Column("monetary", gettext_lazy("Spending"), lambda row: row.monetary),
    Column("recency_score", gettext_lazy("R score"), lambda row: row.recency_score),
    Column("frequency_score", gettext_lazy("F score"), lambda row: row.frequency_score),
    Column("monetary_score", gettext_lazy("M score"), lambda row: row.monetary_score),
    Column("segment", gettext_lazy("Segment code"), lambda row: row.segment),
)


def rfm_document(actor: Any, parameters: Any) -> Document:
    """The RFM report: per segment the customers and averages, and the definitions."""
    form = rfm_form(parameters)
    as_of, months = form.window()
    report = rfm_report(actor=actor, as_of=as_of, months=months)
    segments = [
        {
            **summary.as_dict(),
            "avg_monetary": summary.avg_monetary,
            "total_monetary": summary.total_monetary,
        }
        for summary in report.segments
    ]
    definitions = [{**row, "name": str(row["name"])} for row in report.definitions]
    return Document(
        title=_("RFM segmentation"),
        name="rfm-report",
        notes=_rfm_notes(report.as_of, report.window_from, report.months, report.currency),
        tables=[
            Table(_("Segments"), SEGMENT_COLUMNS, segments),
            Table(_("Segment definitions"), DEFINITION_COLUMNS, definitions),
        ],
        rows=len(segments) + len(definitions),
        filters=form.parameters(),
    )


def rfm_customers_document(actor: Any, parameters: Any) -> Document:
    """The customers behind the RFM report (of one segment when given), all of them."""
    form = rfm_form(parameters)
    as_of, months = form.window()
    segment = form.cleaned_data.get("segment") or None
    rows = rfm_customer_list(actor=actor, as_of=as_of, months=months, segment=segment, limit=None)
    names = {item.code: str(item.name) for item in RFM_SEGMENTS}
    title = (
        _("RFM segment: %(segment)s") % {"segment": names[segment]}
        if segment
        else _("RFM customers")
    )
    notes = [(_("As of"), (as_of or bank_today()).isoformat()), (_("Months"), str(months))]
    if segment:
        notes.append((_("Segment"), names[segment]))
    return Document(
        title=title,
        name=f"rfm-{segment or 'customers'}",
        notes=notes,
        tables=[Table(title, CUSTOMER_COLUMNS, rows)],
        rows=len(rows),
        filters=form.parameters(),
    )


BAND_COLUMNS = (
    Column("low", gettext_lazy("Probability from"), lambda band: band.low),
    Column("high", gettext_lazy("Probability to"), lambda band: band.high),
    Column("customers", gettext_lazy("Customers"), lambda band: band.customers),
    Column("share", gettext_lazy("Share"), lambda band: band.share),
)

MODEL_COLUMNS = (
    item("model", gettext_lazy("Model")),
    item("status", gettext_lazy("Status")),
    item("auc", gettext_lazy("Cross-validated AUC")),
    item("auc_std", gettext_lazy("AUC standard deviation")),
    item("rows", gettext_lazy("Learning rows")),
    item("customers", gettext_lazy("Customers scored")),
    item("mean_probability", gettext_lazy("Mean probability of leaving")),
)


def churn_document(actor: Any, parameters: Any) -> Document:
    """The churn report: the model and its AUC, and the scores' distribution by band."""
    report = churn_report(actor=actor)
    model_rows = []
    if report.model is not None:
        model_rows.append(
            {
                "model": report.model.label,
                "status": report.model.get_status_display(),
                "auc": report.auc,
                "auc_std": report.auc_std,
                "rows": report.learning_rows,
                "customers": report.customers,
                "mean_probability": report.mean_probability,
            }
        )
    return Document(
        title=_("Churn report"),
        name="churn-report",
        notes=[(_("Customers scored"), str(report.customers))],
        tables=[
            Table(_("Churn model"), MODEL_COLUMNS, model_rows),
            Table(_("Churn scores by probability of leaving"), BAND_COLUMNS, report.bands),
        ],
        rows=len(model_rows) + len(report.bands),
    )
