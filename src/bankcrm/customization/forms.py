"""Django form fields built from custom field definitions, for any record's form."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from .fields import MAX_SAFE_INTEGER, TEXT_HARD_LIMIT, bound
from .models import CustomFieldDefinition, CustomFieldType
from .selectors import active_custom_fields

FORM_PREFIX = "cf_"


def custom_form_field(
    definition: CustomFieldDefinition, language: str | None = None
) -> forms.Field:
    """One form field for a definition, labelled in the user's language.

    The form only shapes the input; ``custom_fields_validate`` in the service remains the
    rule that decides, so the page and the API refuse the same values.
    """
    language = language or translation.get_language()
    common: dict[str, Any] = {
        "label": definition.label_for(language),
        "help_text": definition.help_text_for(language),
        "required": definition.is_required,
    }
    if definition.default is not None:
        common["initial"] = definition.default
    kind = definition.field_type
    low = bound(kind, definition.min_value)
    high = bound(kind, definition.max_value)
    if kind == CustomFieldType.TEXT:
        return forms.CharField(max_length=definition.max_length or TEXT_HARD_LIMIT, **common)
    if kind == CustomFieldType.NUMBER:
        return forms.IntegerField(
            min_value=low if isinstance(low, int) else -MAX_SAFE_INTEGER,
            max_value=high if isinstance(high, int) else MAX_SAFE_INTEGER,
            **common,
        )
    if kind == CustomFieldType.DECIMAL:
        return forms.DecimalField(
            min_value=low if isinstance(low, Decimal) else None,
            max_value=high if isinstance(high, Decimal) else None,
            **common,
        )
    if kind == CustomFieldType.DATE:
        return forms.DateField(
            widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), **common
        )
    if kind == CustomFieldType.BOOLEAN:
        if definition.is_required:
            # "Required" for yes/no means "answered": offer an explicit yes and no.
            return forms.TypedChoiceField(
                choices=[("", "---------"), ("true", _("Yes")), ("false", _("No"))],
                coerce=lambda v: v == "true",
                **common,
            )
        return forms.BooleanField(**common)
    choices = [
        (
            c["value"],
            c.get("label_zh")
            if language and language.startswith("zh") and c.get("label_zh")
            else c["label"],
        )
        for c in definition.choices
    ]
    if kind == CustomFieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "---------"), *choices], **common)
    return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)


def custom_form_fields(
    model_label: str, *, prefix: str = FORM_PREFIX, language: str | None = None
) -> dict[str, forms.Field]:
    """Form fields for every active custom field of a record type, named ``cf_<key>``."""
    return {
        f"{prefix}{definition.key}": custom_form_field(definition, language)
        for definition in active_custom_fields(model_label)
    }


def custom_fields_from_form(
    cleaned_data: dict[str, Any], *, prefix: str = FORM_PREFIX
) -> dict[str, Any]:
    """The custom field values of a bound form's ``cleaned_data``, keyed by field key."""
    return {
        name.removeprefix(prefix): value
        for name, value in cleaned_data.items()
        if name.startswith(prefix)
    }


def custom_fields_initial(values: dict[str, Any], *, prefix: str = FORM_PREFIX) -> dict[str, Any]:
    """Initial form data from a record's stored ``custom_fields``."""
    return {f"{prefix}{key}": value for key, value in (values or {}).items()}
