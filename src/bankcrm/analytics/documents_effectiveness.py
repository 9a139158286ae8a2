"""The filters and the exported documents of the campaign effectiveness and SLA performance
reports.

The page, the streamed export, the background job and a schedule all read the same form and
selector (:mod:`.selectors_campaign_effectiveness`, :mod:`.selectors_service_levels`) with the
viewer's scope, so an export holds what the page shows. A builder raises ValidationError
naming each bad filter and PermissionDenied when the viewer may not read the records (an
export then answers 403 and records nothing).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bankcrm.marketing.models import Campaign
from bankcrm.marketing.models.campaigns import Channel as CampaignChannel

from .exports import Document, Table, item
from .selectors_campaign_effectiveness import (
    LAUNCHED_STATUSES,
    CampaignEffectivenessReport,
    campaign_effectiveness,
)
from .selectors_service_levels import ServiceLevelReport, service_level_report

_SMALL_SELECT = {"class": "form-select form-select-sm"}
_SMALL_DATE = {"class": "form-control form-control-sm", "type": "date"}


def _date_field(label: Any) -> forms.DateField:
    return forms.DateField(label=label, required=False, widget=forms.DateInput(attrs=_SMALL_DATE))


def _choice_field(label: Any, choices: list[tuple[Any, Any]] | None = None) -> forms.ChoiceField:
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=[("", "—"), *(choices or [])],
        widget=forms.Select(attrs=_SMALL_SELECT),
    )


def valid_form(form: forms.Form) -> forms.Form:
    """``form`` once valid; ValidationError naming each bad filter otherwise."""
    if not form.is_valid():
        raise ValidationError(
            {name: [str(message) for message in messages] for name, messages in form.errors.items()}
        )
    return form


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, dt.date) else None


# --- Campaign effectiveness --------------------------------------------------------------------


class CampaignEffectivenessForm(forms.Form):
    """Which campaigns the report lists: launched between two days, of an objective, offering
    a product, using a channel, in a status."""

    date_from = _date_field(gettext_lazy("Launched from"))
    date_to = _date_field(gettext_lazy("Launched until"))
    objective = _choice_field(gettext_lazy("Objective"), list(Campaign.Objective.choices))
    product = _choice_field(gettext_lazy("Product offered"))
    channel = _choice_field(gettext_lazy("Channel"), list(CampaignChannel.choices))
    status = _choice_field(
        gettext_lazy("Status"),
        [
            (status, label)
            for status, label in Campaign.Status.choices
            if status in LAUNCHED_STATUSES
        ],
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bankcrm.marketing.selectors_offers import offer_list

        products: dict[str, str] = {}
        for offer in offer_list(actor=actor):
            products.setdefault(offer.product.code, offer.product.name)
        field = self.fields["product"]
        field.choices = [("", "—"), *sorted(products.items(), key=lambda pair: pair[1])]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The period ends before it starts."))
        return data

    def selection(self) -> dict[str, Any]:
        """The selector's keyword arguments."""
        data = self.cleaned_data
        return {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "objective": data.get("objective") or None,
            "product": data.get("product") or None,
            "channel": data.get("channel") or None,
            "status": data.get("status") or None,
        }

    def parameters(self) -> dict[str, Any]:
        """The filters in force, as plain values (audit, background jobs, schedules)."""
        values = self.selection()
        values["date_from"], values["date_to"] = _iso(values["date_from"]), _iso(values["date_to"])
        return {key: value for key, value in values.items() if value}


def campaign_effectiveness_read(
    actor: Any, parameters: Any
) -> tuple[Any, CampaignEffectivenessReport]:
    """The valid filter form and the report it selects (ValidationError, PermissionDenied)."""
    form = valid_form(CampaignEffectivenessForm(parameters, actor=actor))
    return form, campaign_effectiveness(actor=actor, **form.selection())  # type: ignore[attr-defined]


def _percent_points(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 4)


CAMPAIGN_COLUMNS = (
    item("campaign", gettext_lazy("Campaign number")),
    item("name", gettext_lazy("Campaign")),
    item("status", gettext_lazy("Status")),
    item("objective", gettext_lazy("Objective")),
    item("product", gettext_lazy("Product code")),
    item("channels", gettext_lazy("Channels")),
    item("launched_at", gettext_lazy("Launched on")),
    item("currency", gettext_lazy("Currency")),
    item("audience", gettext_lazy("Audience")),
    item("treatment", gettext_lazy("Treatment customers")),
    item("control", gettext_lazy("Control customers")),
    item("suppressed", gettext_lazy("Suppressed customers")),
    item("sent", gettext_lazy("Messages sent")),
    item("delivered", gettext_lazy("Delivered")),
    item("opened", gettext_lazy("Messages opened")),
    item("clicked", gettext_lazy("Clicked")),
    item("conversions_treatment", gettext_lazy("Treatment conversions")),
    item("conversions_control", gettext_lazy("Control conversions")),
    item("rate_treatment", gettext_lazy("Treatment rate")),
    item("rate_control", gettext_lazy("Control rate")),
    item("uplift", gettext_lazy("Uplift")),
    item("ci_low", gettext_lazy("Interval low (95 per cent)")),
    item("ci_high", gettext_lazy("Interval high (95 per cent)")),
    item("p_value", gettext_lazy("p value")),
    item("cost", gettext_lazy("Cost")),
    item("cpa", gettext_lazy("Cost per acquisition")),
    item("incremental", gettext_lazy("Incremental conversions")),
    item("cost_per_incremental", gettext_lazy("Cost per incremental acquisition")),
    item("value", gettext_lazy("Value")),
    item("roi", gettext_lazy("Return on investment")),
)

TOTAL_COLUMNS = (
    item("key", gettext_lazy("Key")),
    item("label", gettext_lazy("Group")),
    item("currency", gettext_lazy("Currency")),
    item("campaigns", gettext_lazy("Campaigns")),
    item("audience", gettext_lazy("Audience")),
    item("treatment", gettext_lazy("Treatment customers")),
    item("control", gettext_lazy("Control customers")),
    item("sent", gettext_lazy("Messages sent")),
    item("conversions_treatment", gettext_lazy("Treatment conversions")),
    item("conversions_control", gettext_lazy("Control conversions")),
    item("uplift", gettext_lazy("Uplift")),
    item("ci_low", gettext_lazy("Interval low (95 per cent)")),
    item("ci_high", gettext_lazy("Interval high (95 per cent)")),
    item("incremental", gettext_lazy("Incremental conversions")),
    item("cost", gettext_lazy("Cost")),
    item("cpa", gettext_lazy("Cost per acquisition")),
    item("cost_per_incremental", gettext_lazy("Cost per incremental acquisition")),
    item("value", gettext_lazy("Value")),
    item("roi", gettext_lazy("Return on investment")),
)

CHANNEL_COLUMNS = (
    item("channel", gettext_lazy("Channel code")),
    item("label", gettext_lazy("Channel")),
    item("currency", gettext_lazy("Currency")),
    item("campaigns", gettext_lazy("Campaigns")),
    item("messages", gettext_lazy("Messages")),
    item("sent", gettext_lazy("Messages sent")),
    item("delivered", gettext_lazy("Delivered")),
    item("opened", gettext_lazy("Messages opened")),
    item("clicked", gettext_lazy("Clicked")),
    item("delivered_rate", gettext_lazy("Delivered rate")),
    item("opened_rate", gettext_lazy("Opened rate")),
    item("clicked_rate", gettext_lazy("Clicked rate")),
    item("cost", gettext_lazy("Cost of messages")),
)


def _campaign_notes(report: CampaignEffectivenessReport) -> list[tuple[Any, Any]]:
    notes: list[tuple[Any, Any]] = [
        (_("Period"), f"{report.date_from.isoformat()} – {report.date_to.isoformat()}"),
        (_("Confidence"), f"{report.confidence:.0%}"),
    ]
    labels = {
        "objective": _("Objective"),
        "product": _("Product offered"),
        "channel": _("Channel"),
        "status": _("Status"),
    }
    notes += [(labels[name], value) for name, value in report.filters.items()]
    return notes


def campaign_effectiveness_document(actor: Any, parameters: Any) -> Document:
    """The campaign effectiveness report: the campaigns, and the totals by channel,
    objective and product, and of all campaigns (per currency)."""
    form, report = campaign_effectiveness_read(actor, parameters)
    campaigns = [row.as_dict() for row in report.campaigns]
    channels = [total.as_dict() for total in report.by_channel]
    objectives = [total.as_dict() for total in report.by_objective]
    products = [total.as_dict() for total in report.by_product]
    totals = [total.as_dict() for total in report.totals]
    return Document(
        title=_("Campaign effectiveness"),
        name="campaign-effectiveness",
        notes=_campaign_notes(report),
        tables=[
            Table(_("Campaigns"), CAMPAIGN_COLUMNS, campaigns),
            Table(_("Totals by channel"), CHANNEL_COLUMNS, channels),
            Table(_("Totals by objective"), TOTAL_COLUMNS, objectives),
            Table(_("Totals by product"), TOTAL_COLUMNS, products),
            Table(_("All campaigns"), TOTAL_COLUMNS, totals),
        ],
        rows=len(campaigns) + len(channels) + len(objectives) + len(products) + len(totals),
        filters=form.parameters(),  # type: ignore[attr-defined]
    )


# --- SLA performance ---------------------------------------------------------------------------

PERIOD_CHOICES = [("month", gettext_lazy("Monthly")), ("week", gettext_lazy("Weekly"))]
GROUP_CHOICES = [
    ("queue", gettext_lazy("Queue")),
    ("priority", gettext_lazy("Priority")),
    ("channel", gettext_lazy("Channel")),
    ("case_type", gettext_lazy("Case type")),
]


class ServiceLevelForm(forms.Form):
    """The SLA report's range, how it is cut (months or weeks; by queue, priority, channel or
    case type) and which cases it counts."""

    date_from = _date_field(gettext_lazy("From"))
    date_to = _date_field(gettext_lazy("Until"))
    period = forms.ChoiceField(
        label=gettext_lazy("Periods"),
        required=False,
        choices=PERIOD_CHOICES,
        widget=forms.Select(attrs=_SMALL_SELECT),
    )
    group = forms.ChoiceField(
        label=gettext_lazy("Broken down by"),
        required=False,
        choices=GROUP_CHOICES,
        widget=forms.Select(attrs=_SMALL_SELECT),
    )
    queue = _choice_field(gettext_lazy("Queue"))
    priority = _choice_field(gettext_lazy("Priority"))
    channel = _choice_field(gettext_lazy("Channel"))
    case_type = _choice_field(gettext_lazy("Case type"))

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from bankcrm.support.models.setup import Channel, Priority
        from bankcrm.support.selectors_cases import queue_list
        from bankcrm.support.selectors_setup import case_type_list

        chinese = _is_chinese()

        def name(obj: Any) -> str:
            return str((obj.name_zh if chinese else "") or obj.name)

        choices: dict[str, list[tuple[str, Any]]] = {
            "queue": [(str(queue.pk), name(queue)) for queue in queue_list(actor=actor)],
            "priority": [(str(value), label) for value, label in Priority.choices],
            "channel": list(Channel.choices),
            "case_type": [
                (kind.code, name(kind))
                for kind in case_type_list(actor=actor, include_inactive=True).select_related(None)
            ],
        }
        for field_name, values in choices.items():
            self.fields[field_name].choices = [("", "—"), *values]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The period ends before it starts."))
        return data

    def selection(self) -> dict[str, Any]:
        """The selector's keyword arguments."""
        data = self.cleaned_data
        return {
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "period": data.get("period") or "month",
            "group": data.get("group") or "queue",
            "queue": int(data["queue"]) if data.get("queue") else None,
            "priority": int(data["priority"]) if data.get("priority") else None,
            "channel": data.get("channel") or None,
            "case_type": data.get("case_type") or None,
        }

    def parameters(self) -> dict[str, Any]:
        values = self.selection()
        values["date_from"], values["date_to"] = _iso(values["date_from"]), _iso(values["date_to"])
        return {key: str(value) for key, value in values.items() if value}


def _is_chinese() -> bool:
    from django.utils import translation

    return (translation.get_language() or "").lower().startswith("zh")


def service_levels_read(actor: Any, parameters: Any) -> tuple[Any, ServiceLevelReport]:
    """The valid filter form and the report it selects (ValidationError, PermissionDenied)."""
    form = valid_form(ServiceLevelForm(parameters, actor=actor))
    return form, service_level_report(actor=actor, **form.selection())  # type: ignore[attr-defined]


SERVICE_LEVEL_COLUMNS = (
    item("label", gettext_lazy("Period or group")),
    item("date_from", gettext_lazy("From")),
    item("date_to", gettext_lazy("Until")),
    item("opened", gettext_lazy("Cases opened")),
    item("closed", gettext_lazy("Cases closed")),
    item("first_responses", gettext_lazy("First responses")),
    item("first_response_median", gettext_lazy("First response, median (hours)")),
    item("first_response_p90", gettext_lazy("First response, 90th percentile (hours)")),
    item("first_response_with_target", gettext_lazy("First responses with an SLA")),
    item("first_response_met", gettext_lazy("First responses within SLA")),
    item("first_response_share", gettext_lazy("Share of first responses within SLA")),
    item("resolution_median", gettext_lazy("Resolution, median (hours)")),
    item("resolution_p90", gettext_lazy("Resolution, 90th percentile (hours)")),
    item("resolution_with_target", gettext_lazy("Closed cases with an SLA")),
    item("resolution_met", gettext_lazy("Resolved within SLA")),
    item("resolution_share", gettext_lazy("Share resolved within SLA")),
    item("breaches", gettext_lazy("SLA breaches")),
    item("open_past_sla", gettext_lazy("Open past SLA now")),
)

COMPLAINT_COLUMNS = (
    item("label", gettext_lazy("Period or category")),
    item("date_from", gettext_lazy("From")),
    item("date_to", gettext_lazy("Until")),
    item("received", gettext_lazy("Complaints received")),
    item("met", gettext_lazy("Answered within the deadline")),
    item("late", gettext_lazy("Answered late")),
    item("overdue", gettext_lazy("Unanswered past the deadline")),
    item("pending", gettext_lazy("Unanswered within the deadline")),
    item("share", gettext_lazy("Share of deadlines met")),
)


def group_label(group: str) -> str:
    return str(dict(GROUP_CHOICES).get(group, group))


def _service_level_notes(report: ServiceLevelReport) -> list[tuple[Any, Any]]:
    notes: list[tuple[Any, Any]] = [
        (_("Period"), f"{report.date_from.isoformat()} – {report.date_to.isoformat()}"),
        (_("Periods"), str(dict(PERIOD_CHOICES)[report.period])),
        (_("Broken down by"), group_label(report.group)),
        (_("Open cases past SLA now"), str(report.open_past_sla_now)),
    ]
    labels = dict(GROUP_CHOICES)
    notes += [(labels[name], value) for name, value in report.filters.items()]
    return notes


def service_levels_document(actor: Any, parameters: Any) -> Document:
    """The SLA performance report: per period, per value of the dimension, the total, and
    the complaints' deadlines per period and category (for those who may see complaints)."""
    form, report = service_levels_read(actor, parameters)
    periods = [row.as_dict() for row in report.periods]
    groups = [row.as_dict() for row in report.groups]
    total = [report.total.as_dict()]
    tables = [
        Table(_("Per period"), SERVICE_LEVEL_COLUMNS, periods),
        Table(
            _("Per %(group)s") % {"group": group_label(report.group).lower()},
            SERVICE_LEVEL_COLUMNS,
            groups,
        ),
        Table(_("Total"), SERVICE_LEVEL_COLUMNS, total),
    ]
    rows = len(periods) + len(groups) + len(total)
    if report.complaints_shown:
        complaint_periods = [row.as_dict() for row in report.complaint_periods]
        categories = [row.as_dict() for row in report.complaint_categories]
        complaint_total = [report.complaint_total.as_dict()] if report.complaint_total else []
        tables += [
            Table(_("Complaints per period"), COMPLAINT_COLUMNS, complaint_periods),
            Table(
                _("Complaints per category"),
                COMPLAINT_COLUMNS,
                categories + complaint_total,
            ),
        ]
        rows += len(complaint_periods) + len(categories) + len(complaint_total)
    return Document(
        title=_("SLA performance"),
        name="sla-performance",
        notes=_service_level_notes(report),
        tables=tables,
        rows=rows,
        filters=form.parameters(),  # type: ignore[attr-defined]
    )
