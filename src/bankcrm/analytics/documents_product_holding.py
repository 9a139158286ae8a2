"""The product holding and channel usage report's filters and exports: the document of the
report (one table per figure) and of the customers behind one of its figures, built from
the request's filters with the viewer's scope.

The page, the streamed export and the background job read the same selectors
(:mod:`bankcrm.analytics.selectors_product_holding`). A builder raises ValidationError
naming each bad filter, and PermissionDenied for a customer list whose part the viewer may
not read.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.customers.models import Party

from .exports import Column, Document, Table
from .selectors_product_holding import (
    CATEGORIES,
    CHANNELS,
    DIGITAL_CHANNELS,
    HOLDING_KINDS,
    KIND_TITLES,
    KINDS,
    MAX_CHANNELS,
    MAX_PERIOD_DAYS,
    MAX_PRODUCTS,
    ChannelUsage,
    Holdings,
    ProductHoldingReport,
    category_label,
    channel_label,
    channels_label,
    product_holding_customer_list,
    product_holding_report,
    product_holding_unit,
    product_holding_units,
    product_holding_window,
    products_label,
)

_SMALL = {"class": "form-control form-control-sm"}
_SELECT = {"class": "form-select form-select-sm"}
# The report's own filters (the lists add the figure's).
FILTER_NAMES = ("as_of", "period_from", "period_to", "unit", "segment")
FIGURE_NAMES = ("kind", "category", "other", "currency", "channel", "number")


class ProductHoldingFilterForm(forms.Form):
    """The report's filters: the as-of day of the holdings, the channel-usage period, a unit
    and a segment; the customer lists add which figure (``kind``) and its keys."""

    as_of = forms.DateField(
        label=gettext_lazy("As of"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
    )
    period_from = forms.DateField(
        label=gettext_lazy("Channel usage from"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
    )
    period_to = forms.DateField(
        label=gettext_lazy("Channel usage to"),
        required=False,
        widget=forms.DateInput(attrs={**_SMALL, "type": "date"}),
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
    category = forms.CharField(
        label=gettext_lazy("Product category"), required=False, max_length=20
    )
    other = forms.ChoiceField(
        label=gettext_lazy("Other product category"),
        required=False,
        choices=[("", "—"), *[(code, code) for code in CATEGORIES]],
    )
    currency = forms.RegexField(
        label=gettext_lazy("Currency"),
        required=False,
        regex=r"^[A-Z]{3}$",
        error_messages={"invalid": gettext_lazy("Enter a three-letter currency code.")},
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"),
        required=False,
        choices=[("", "—"), *[(code, code) for code in CHANNELS]],
    )
    number = forms.IntegerField(
        label=gettext_lazy("Number"), required=False, min_value=0, max_value=MAX_PRODUCTS
    )

    def __init__(self, data: Any, *, actor: Any) -> None:
        super().__init__(data)
        self.actor = actor
        self.units = product_holding_units(actor=actor)
        unit_field = self.fields["unit"]
        assert isinstance(unit_field, forms.TypedChoiceField)  # nosec B101
        unit_field.choices = [("", "—"), *[(unit.pk, unit.name) for unit in self.units]]

    @property
    def filter_fields(self) -> list[Any]:
        """The report's own filters, as the page shows them."""
        return [self[name] for name in FILTER_NAMES]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("unit") is not None:
            try:
                cleaned["unit_object"] = product_holding_unit(actor=self.actor, pk=cleaned["unit"])
            except ValidationError as error:
                self.add_error("unit", error.message_dict["unit"])
        return cleaned

    def selection(self) -> dict[str, Any]:
        """The report selector's arguments from a valid form."""
        data = self.cleaned_data
        return {
            "as_of": data.get("as_of"),
            "period_from": data.get("period_from"),
            "period_to": data.get("period_to"),
            "unit": data.get("unit_object"),
            "segment": data.get("segment") or None,
        }

    def figure(self) -> dict[str, Any]:
        """The list selector's arguments for the figure (``kind`` and its keys)."""
        data = self.cleaned_data
        return {
            "kind": data.get("kind") or "products",
            "category": data.get("category") or None,
            "other": data.get("other") or None,
            "currency": data.get("currency") or None,
            "channel": data.get("channel") or None,
            "number": data.get("number"),
        }

    def parameters(self) -> dict[str, str]:
        """The filters in force, as plain text (links, the audit record, background jobs)."""
        data = self.cleaned_data
        values: dict[str, str] = {}
        for name in (*FILTER_NAMES, *FIGURE_NAMES):
            value = data.get(name)
            if value is None or value == "":
                continue
            values[name] = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return values


def product_holding_form(actor: Any, parameters: Any) -> ProductHoldingFilterForm:
    """The bound, valid filter form; ValidationError naming each bad filter."""
    form = ProductHoldingFilterForm(parameters, actor=actor)
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """Show a selector's ValidationError on the form, each message on its field."""
    for name, messages in error.message_dict.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)


# --------------------------------------------------------------------------- titles


def list_title(figure: dict[str, Any]) -> str:
    """The title of the customers behind a figure."""
    kind = figure["kind"]
    category = figure.get("category") or ""
    number = figure.get("number")
    if kind == "holding":
        return _("Customers holding %(category)s in %(currency)s") % {
            "category": category_label(category),
            "currency": figure.get("currency") or "",
        }
    if kind == "products":
        if number is None:
            return _("Customers in scope")
        return _("Product categories held: %(number)s") % {
            "number": products_label(min(number, MAX_PRODUCTS))
        }
    if kind == "cross":
        other = figure.get("other") or category
        if other == category:
            return _("Customers holding %(category)s") % {"category": category_label(category)}
        return _("Customers holding both %(category)s and %(other)s") % {
            "category": category_label(category),
            "other": category_label(other),
        }
    if kind == "channel":
        channel = channel_label(figure.get("channel") or "")
        if figure.get("currency"):
            return _("Customers who used %(channel)s in %(currency)s") % {
                "channel": channel,
                "currency": figure["currency"],
            }
        return _("Customers who used %(channel)s") % {"channel": channel}
    if kind == "channels":
        if number is None:
            return _("Customers in scope")
        return _("Channels used: %(number)s") % {
            "number": channels_label(min(number, MAX_CHANNELS))
        }
    return str(KIND_TITLES[kind])


def digital_definition() -> str:
    """What the report counts as a digital channel, as a sentence."""
    return _("Digital channels: %(channels)s.") % {
        "channels": ", ".join(channel_label(code) for code in DIGITAL_CHANNELS)
    }


# --------------------------------------------------------------------------- documents


HOLDING_COLUMNS = (
    Column("category_code", gettext_lazy("Category code"), lambda line: line.category),
    Column("category", gettext_lazy("Product category"), lambda line: line.category_label),
    Column("currency", gettext_lazy("Currency"), lambda line: line.currency),
    Column("accounts", gettext_lazy("Open accounts"), lambda line: line.accounts),
    Column("holders", gettext_lazy("Customers holding"), lambda line: line.holders),
    Column("balance", gettext_lazy("Total balance"), lambda line: line.balance),
    Column(
        "average_balance",
        gettext_lazy("Average balance per holder"),
        lambda line: line.average_balance,
    ),
)
PRODUCTS_COLUMNS = (
    Column("categories", gettext_lazy("Product categories held"), lambda bucket: bucket.label),
    Column("customers", gettext_lazy("Customers"), lambda bucket: bucket.customers),
    Column("share", gettext_lazy("Share of customers"), lambda bucket: bucket.share),
)
CHANNEL_BUCKET_COLUMNS = (
    Column("channels", gettext_lazy("Channels used"), lambda bucket: bucket.label),
    Column("customers", gettext_lazy("Customers"), lambda bucket: bucket.customers),
    Column("share", gettext_lazy("Share of customers"), lambda bucket: bucket.share),
)
CHANNEL_COLUMNS = (
    Column("channel_code", gettext_lazy("Channel code"), lambda row: row["channel"].channel),
    Column("channel", gettext_lazy("Channel"), lambda row: row["channel"].label),
    Column(
        "customers", gettext_lazy("Customers who used it"), lambda row: row["channel"].customers
    ),
    Column("currency", gettext_lazy("Currency"), lambda row: row["currency"]),
    Column(
        "currency_customers",
        gettext_lazy("Customers who used it in the currency"),
        lambda row: row["currency_customers"],
    ),
    Column("bookings", gettext_lazy("Bookings"), lambda row: row["bookings"]),
    Column("money_in", gettext_lazy("Money in"), lambda row: row["money_in"]),
    Column("money_out", gettext_lazy("Money out"), lambda row: row["money_out"]),
)
ONLY_COLUMNS = (
    Column("figure", gettext_lazy("Figure"), lambda row: row[0]),
    Column("customers", gettext_lazy("Customers"), lambda row: row[1]),
    Column("share", gettext_lazy("Share of customers"), lambda row: row[2]),
)


def _cross_columns() -> tuple[Column, ...]:
    def cell(code: str) -> Any:
        return lambda row: row.customers(code)

    return (
        Column("category", gettext_lazy("Product category"), lambda row: row.label),
        *(Column(code, category_label(code), cell(code)) for code in CATEGORIES),
    )


def channel_rows(channels: ChannelUsage) -> list[dict[str, Any]]:
    """The channel table's rows: one per channel and currency booked (one per channel not
    booked at all)."""
    rows: list[dict[str, Any]] = []
    for line in channels.lines:
        if not line.currencies:
            rows.append(
                {
                    "channel": line,
                    "currency": "",
                    "currency_customers": 0,
                    "bookings": 0,
                    "money_in": None,
                    "money_out": None,
                }
            )
        for item in line.currencies:
            rows.append(
                {
                    "channel": line,
                    "currency": item.currency,
                    "currency_customers": item.customers,
                    "bookings": item.bookings,
                    "money_in": item.money_in,
                    "money_out": item.money_out,
                }
            )
    return rows


def _holding_tables(holdings: Holdings) -> list[Table]:
    return [
        Table(_("Holdings by product category and currency"), HOLDING_COLUMNS, holdings.lines),
        Table(_("Products per customer"), PRODUCTS_COLUMNS, holdings.buckets),
        Table(_("Cross-holding"), _cross_columns(), holdings.matrix),
    ]


def _channel_tables(channels: ChannelUsage) -> list[Table]:
    only = [
        (_("Digital only"), channels.digital_only, channels.digital_only_share),
        (_("Branch only"), channels.branch_only, channels.branch_only_share),
    ]
    return [
        Table(_("Channel usage"), CHANNEL_COLUMNS, channel_rows(channels)),
        Table(_("Customers by number of channels used"), CHANNEL_BUCKET_COLUMNS, channels.buckets),
        Table(_("Digital only and branch only"), ONLY_COLUMNS, only),
    ]


def report_notes(report: ProductHoldingReport) -> list[tuple[Any, Any]]:
    """The filters in force, the customers in scope and what is out of the viewer's reach."""
    notes: list[tuple[Any, Any]] = [
        (_("As of"), report.as_of.isoformat()),
        (
            _("Channel usage period"),
            f"{report.period_from.isoformat()} – {report.period_to.isoformat()}",
        ),
    ]
    if report.unit is not None:
        notes.append((_("Unit"), report.unit.name))
    if report.segment:
        notes.append((_("Segment"), str(dict(Party.Segment.choices)[report.segment])))
    if report.customers is None:
        notes.append((_("Customers in scope"), _("Not in your reach")))
    else:
        notes.append((_("Customers in scope"), str(report.customers)))
    if report.holdings is None:
        notes.append((_("Product holdings"), _("Not in your reach")))
    elif report.holdings.average_products is not None:
        notes.append(
            (_("Average product categories per customer"), str(report.holdings.average_products))
        )
    if report.channels is None:
        notes.append((_("Channel usage"), _("Not in your reach")))
    else:
        notes.append((_("Digital channels"), digital_definition()))
    return notes


def product_holding_document(actor: Any, parameters: Any) -> Document:
    """The report: the holdings per category and currency, products per customer, the
    cross-holding matrix, and the channel usage (the parts the viewer may read)."""
    form = product_holding_form(actor, parameters)
    report = product_holding_report(actor=actor, **form.selection())
    tables: list[Table] = []
    if report.holdings is not None:
        tables += _holding_tables(report.holdings)
    if report.channels is not None:
        tables += _channel_tables(report.channels)
    # Every table's rows are built lists; counted for the audit record and job threshold.
    rows = sum(len(table.rows) for table in tables)  # type: ignore[arg-type]
    filters = {k: v for k, v in form.parameters().items() if k in FILTER_NAMES}
    return Document(
        title=_("Product holding and channel usage"),
        name="product-holding-report",
        notes=report_notes(report),
        tables=tables,
        rows=rows,
        filters=filters,
    )


def customer_columns(kind: str) -> tuple[Column, ...]:
    """The columns of a customer list: the customer, then the categories held (holding
    figures) or the channels used in the period (channel figures)."""
    columns = (
        Column("party_pk", gettext_lazy("Customer key"), lambda row: row.party_pk),
        Column("name", gettext_lazy("Customer"), lambda row: row.display_name),
        Column("unit", gettext_lazy("Unit"), lambda row: row.unit),
        Column("segment", gettext_lazy("Segment"), lambda row: row.segment),
        Column("status", gettext_lazy("Status"), lambda row: row.status),
    )
    if kind in HOLDING_KINDS:
        return (
            *columns,
            Column(
                "categories",
                gettext_lazy("Product categories held"),
                lambda row: row.categories_text,
            ),
        )
    return (
        *columns,
        Column("channels", gettext_lazy("Channels used"), lambda row: row.channels_text),
    )


def product_holding_customers_document(actor: Any, parameters: Any) -> Document:
    """The customers behind one figure of the report, all of them."""
    form = product_holding_form(actor, parameters)
    figure = form.figure()
    rows = product_holding_customer_list(actor=actor, limit=None, **form.selection(), **figure)
    report_filters = product_holding_report_filters(form)
    title = list_title(figure)
    return Document(
        title=title,
        name=f"product-holding-{figure['kind'].replace('_', '-')}",
        notes=report_filters,
        tables=[Table(title, customer_columns(figure["kind"]), rows)],
        rows=len(rows),
        filters=form.parameters(),
    )


def product_holding_report_filters(form: ProductHoldingFilterForm) -> list[tuple[Any, Any]]:
    """The report filters in force for a customer list (defaults filled in), as the notes of
    its export."""
    selection = form.selection()
    window = product_holding_window(
        as_of=selection["as_of"],
        period_from=selection["period_from"],
        period_to=selection["period_to"],
    )
    notes: list[tuple[Any, Any]] = [
        (_("As of"), window.as_of.isoformat()),
        (
            _("Channel usage period"),
            f"{window.period_from.isoformat()} – {window.period_to.isoformat()}",
        ),
    ]
    if selection["unit"] is not None:
        notes.append((_("Unit"), selection["unit"].name))
    if selection["segment"]:
        notes.append((_("Segment"), str(dict(Party.Segment.choices)[selection["segment"]])))
    return notes


__all__ = [
    "FIGURE_NAMES",
    "FILTER_NAMES",
    "MAX_PERIOD_DAYS",
    "ProductHoldingFilterForm",
    "apply_errors",
    "channel_rows",
    "customer_columns",
    "digital_definition",
    "list_title",
    "product_holding_customers_document",
    "product_holding_document",
    "product_holding_form",
    "report_notes",
]
