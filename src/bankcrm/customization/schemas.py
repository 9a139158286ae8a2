"""API schemas of custom fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import Field

from bankcrm.core.schemas import InSchema

from .models import CustomFieldType

# The type other modules use for a record's ``custom_fields`` in their In/Out schemas. The
# keys and types are data (defined by administrators), so the service validates them:
# ``custom_fields_validate(model_label=..., values=..., field_prefix="custom_fields")``.
CustomFieldValues = Annotated[
    dict[str, Any],
    Field(
        default_factory=dict,
        description=(
            "Values of the bank's custom fields, keyed by field key; the fields of each "
            "record type are listed at GET /api/v1/customization/custom-fields?model=..."
        ),
        examples=[{"risk_appetite": "low", "branch_visit_date": "2024-03-01"}],
    ),
]

Bound = Decimal | int | str | None


class ChoiceIn(InSchema):
    value: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", examples=["low"])
    label: str = Field(min_length=1, max_length=200, examples=["Low"])
    label_zh: str = Field("", max_length=200, examples=["低"])


class ChoiceOut(Schema):
    value: str
    label: str
    label_zh: str = ""


class CustomFieldDefinitionIn(InSchema):
    model: str = Field(max_length=100, examples=["customers.party"])
    key: str = Field(max_length=63, examples=["risk_appetite"])
    label: str = Field(min_length=1, max_length=200)
    label_zh: str = Field("", max_length=200)
    help_text: str = Field("", max_length=500)
    help_text_zh: str = Field("", max_length=500)
    field_type: CustomFieldType
    is_required: bool = False
    choices: list[ChoiceIn] = Field(default_factory=list, max_length=500)
    min_value: Bound = None
    max_value: Bound = None
    max_length: int | None = Field(None, ge=1, le=10_000)
    regex: str = Field("", max_length=500)
    default: Any = None
    order: int = Field(0, ge=0, le=1_000_000)
    is_filterable: bool = False


class CustomFieldDefinitionPatch(InSchema):
    label: str | None = Field(None, min_length=1, max_length=200)
    label_zh: str | None = Field(None, max_length=200)
    help_text: str | None = Field(None, max_length=500)
    help_text_zh: str | None = Field(None, max_length=500)
    is_required: bool | None = None
    choices: list[ChoiceIn] | None = Field(None, max_length=500)
    min_value: Bound = None
    max_value: Bound = None
    max_length: int | None = Field(None, ge=1, le=10_000)
    regex: str | None = Field(None, max_length=500)
    default: Any = None
    order: int | None = Field(None, ge=0, le=1_000_000)
    is_active: bool | None = None
    is_filterable: bool | None = None


class CustomFieldDefinitionOut(Schema):
    id: int
    model: str = Field(validation_alias="model_label")
    key: str
    label: str
    label_zh: str
    help_text: str
    help_text_zh: str
    field_type: CustomFieldType
    is_required: bool
    choices: list[ChoiceOut]
    min_value: str
    max_value: str
    max_length: int | None
    regex: str
    default: Any
    order: int
    is_active: bool
    is_filterable: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomFieldValidateIn(InSchema):
    model: str = Field(max_length=100, examples=["customers.party"])
    values: dict[str, Any]
    partial: bool = False


class CustomFieldValidateOut(Schema):
    model: str
    values: dict[str, Any]
