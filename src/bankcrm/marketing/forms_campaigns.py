"""Forms of the campaign pages: they parse what staff type; the services check and write."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Campaign, CampaignVariant, ProductOffer, Segment
from .models.campaigns import Channel

TEXT = {"class": "form-control"}
SELECT = {"class": "form-select"}
AREA = {"class": "form-control", "rows": 4}


class CampaignForm(forms.Form):
    """A campaign's fields as the create and edit pages show them."""

    name = forms.CharField(label=_("Name"), max_length=200, widget=forms.TextInput(TEXT))
    objective = forms.ChoiceField(
        label=_("Objective"), choices=Campaign.Objective.choices, widget=forms.Select(SELECT)
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea({**AREA, "rows": 2})
    )
    offer = forms.ModelChoiceField(
        label=_("Offer"),
        queryset=ProductOffer.objects.none(),
        required=False,
        widget=forms.Select(SELECT),
    )
    segment = forms.ModelChoiceField(
        label=_("Target segment"), queryset=Segment.objects.none(), widget=forms.Select(SELECT)
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=Channel.choices,
        widget=forms.CheckboxSelectMultiple({"class": "form-check-input"}),
    )
    starts_at = forms.DateTimeField(
        label=_("Starts"), widget=forms.DateTimeInput({**TEXT, "type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label=_("Ends"),
        required=False,
        widget=forms.DateTimeInput({**TEXT, "type": "datetime-local"}),
    )
    holdout_percent = forms.DecimalField(
        label=_("Control group (per cent)"),
        min_value=0,
        max_value=50,
        decimal_places=2,
        initial=10,
        widget=forms.NumberInput({**TEXT, "step": "0.01"}),
    )
    throttle_per_minute = forms.IntegerField(
        label=_("Messages per minute (0: no limit)"),
        min_value=0,
        initial=600,
        widget=forms.NumberInput(TEXT),
    )
    success_event = forms.ChoiceField(
        label=_("Success event"),
        choices=Campaign.SuccessEvent.choices,
        widget=forms.Select(SELECT),
    )
    conversion_days = forms.IntegerField(
        label=_("Conversion window (days)"), min_value=0, initial=30, widget=forms.NumberInput(TEXT)
    )
    currency = forms.CharField(
        label=_("Currency"), max_length=3, initial="CNY", widget=forms.TextInput(TEXT)
    )
    cost_fixed = forms.DecimalField(
        label=_("Fixed cost"), min_value=0, initial=0, widget=forms.NumberInput(TEXT)
    )
    cost_email = forms.DecimalField(
        label=_("Cost per e-mail"), min_value=0, required=False, widget=forms.NumberInput(TEXT)
    )
    cost_sms = forms.DecimalField(
        label=_("Cost per SMS"), min_value=0, required=False, widget=forms.NumberInput(TEXT)
    )
    cost_call = forms.DecimalField(
        label=_("Cost per call"), min_value=0, required=False, widget=forms.NumberInput(TEXT)
    )
    cost_banner = forms.DecimalField(
        label=_("Cost per banner"), min_value=0, required=False, widget=forms.NumberInput(TEXT)
    )
    value_per_conversion = forms.DecimalField(
        label=_("Value of one conversion"),
        min_value=0,
        required=False,
        widget=forms.NumberInput(TEXT),
    )
    landing_url = forms.URLField(
        label=_("Landing page"), required=False, widget=forms.URLInput(TEXT), assume_scheme="https"
    )

    def __init__(self, *args: Any, actor: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.visible_to(actor).filter(
            is_archived=False
        )
        self.fields["offer"].queryset = ProductOffer.objects.filter(is_active=True)

    def service_values(self) -> dict[str, Any]:
        """The cleaned values as the services take them."""
        data = dict(self.cleaned_data)
        costs = {}
        for channel in Channel.values:
            value = data.pop(f"cost_{channel}", None)
            if value is not None:
                costs[channel] = str(value)
        data["cost_per_message"] = costs
        return data

    @staticmethod
    def initial_for(campaign: Campaign) -> dict[str, Any]:
        initial: dict[str, Any] = {
            name: getattr(campaign, name)
            for name in (
                "name",
                "objective",
                "description",
                "offer",
                "segment",
                "channels",
                "starts_at",
                "ends_at",
                "holdout_percent",
                "throttle_per_minute",
                "success_event",
                "conversion_days",
                "currency",
                "cost_fixed",
                "value_per_conversion",
                "landing_url",
            )
        }
        for channel, cost in (campaign.cost_per_message or {}).items():
            initial[f"cost_{channel}"] = cost
        return initial


class VariantForm(forms.Form):
    """One variant's content (A/B test) in both languages."""

    weight = forms.IntegerField(
        label=_("Weight"), min_value=1, max_value=1000, initial=1, widget=forms.NumberInput(TEXT)
    )
    subject_en = forms.CharField(
        label=_("Subject (English)"), max_length=200, required=False, widget=forms.TextInput(TEXT)
    )
    subject_zh = forms.CharField(
        label=_("Subject (Chinese)"), max_length=200, required=False, widget=forms.TextInput(TEXT)
    )
    html_en = forms.CharField(
        label=_("HTML body (English)"), required=False, widget=forms.Textarea(AREA)
    )
    html_zh = forms.CharField(
        label=_("HTML body (Chinese)"), required=False, widget=forms.Textarea(AREA)
    )
    text_en = forms.CharField(
        label=_("Text body (English)"), required=False, widget=forms.Textarea(AREA)
    )
    text_zh = forms.CharField(
        label=_("Text body (Chinese)"), required=False, widget=forms.Textarea(AREA)
    )
    sms_en = forms.CharField(
        label=_("SMS (English)"), max_length=480, required=False, widget=forms.Textarea(AREA)
    )
    sms_zh = forms.CharField(
        label=_("SMS (Chinese)"), max_length=480, required=False, widget=forms.Textarea(AREA)
    )
    call_script = forms.CharField(
        label=_("Call script"), required=False, widget=forms.Textarea(AREA)
    )
    banner_en = forms.CharField(
        label=_("Banner (English)"), max_length=300, required=False, widget=forms.TextInput(TEXT)
    )
    banner_zh = forms.CharField(
        label=_("Banner (Chinese)"), max_length=300, required=False, widget=forms.TextInput(TEXT)
    )

    @staticmethod
    def initial_for(variant: CampaignVariant | None) -> dict[str, Any]:
        if variant is None:
            return {"weight": 1}
        return {name: getattr(variant, name) for name in VariantForm.base_fields}


class ActionForm(forms.Form):
    """The reason or comment given with submit, cancel, pause or resume."""

    comment = forms.CharField(
        label=_("Comment"), max_length=2000, required=False, widget=forms.Textarea(AREA)
    )


def errors_to(form: forms.Form, exc: ValidationError) -> None:
    """Put a service's refusal on the form: on the field it names, else on the form."""
    mapping = getattr(exc, "error_dict", None)
    if mapping is None:
        form.add_error(None, exc)
        return
    for field, errors in mapping.items():
        name = field if field in form.fields else None
        if field == "cost_per_message":
            name = None
        for error in errors:
            form.add_error(name, error.messages)
