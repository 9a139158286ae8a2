"""REST API of custom fields: manage definitions, and check values against them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status

from bankcrm.core import error_codes
from bankcrm.core.errors import ProblemError, field_error, field_errors_from_django

from . import selectors, services
from .error_codes import UNKNOWN_RECORD_TYPE
from .schemas import (
    CustomFieldDefinitionIn,
    CustomFieldDefinitionOut,
    CustomFieldDefinitionPatch,
    CustomFieldValidateIn,
    CustomFieldValidateOut,
)

router = Router(tags=["customization"])


def _actor(request: HttpRequest) -> Any:
    # Set by the API's authentication (session user or API token user).
    return request.auth  # type: ignore[attr-defined]


# Service attribute names that the API spells differently.
_API_NAMES = {"model_label": "model"}


def _invalid(exc: ValidationError, prefix: str = "body") -> ProblemError:
    errors = field_errors_from_django(exc, prefix=prefix)
    for item in errors:
        head, __, tail = item["field"].partition(".")
        name, __, rest = tail.partition(".")
        if name in _API_NAMES:
            item["field"] = ".".join(p for p in (head, _API_NAMES[name], rest) if p)
    return ProblemError.of(
        error_codes.VALIDATION_ERROR,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        errors=errors,
    )


@router.get("/custom-fields", response=list[CustomFieldDefinitionOut])
def custom_field_list(
    request: HttpRequest, model: str | None = None, include_inactive: bool = True
) -> Any:
    """Custom field definitions, optionally of one record type (``model=customers.party``)."""
    return list(
        selectors.custom_field_definition_list(
            actor=_actor(request), model_label=model, include_inactive=include_inactive
        )
    )


@router.post("/custom-fields", response={201: CustomFieldDefinitionOut})
def custom_field_create(request: HttpRequest, payload: CustomFieldDefinitionIn) -> Any:
    """Add a custom field to a record type."""
    data = payload.model_dump()
    data["model_label"] = data.pop("model")
    try:
        definition = services.custom_field_definition_create(actor=_actor(request), **data)
    except ValidationError as exc:
        raise _invalid(exc) from None
    return Status(201, definition)


@router.get("/custom-fields/{int:pk}", response=CustomFieldDefinitionOut)
def custom_field_get(request: HttpRequest, pk: int) -> Any:
    return selectors.custom_field_definition_get(actor=_actor(request), pk=pk)


@router.patch("/custom-fields/{int:pk}", response=CustomFieldDefinitionOut)
def custom_field_update(request: HttpRequest, pk: int, payload: CustomFieldDefinitionPatch) -> Any:
    """Change a custom field's labels, rules or status; only the fields sent change."""
    definition = selectors.custom_field_definition_get(actor=_actor(request), pk=pk)
    try:
        return services.custom_field_definition_update(
            actor=_actor(request),
            definition=definition,
            changes=payload.model_dump(exclude_unset=True),
        )
    except ValidationError as exc:
        raise _invalid(exc) from None


@router.delete("/custom-fields/{int:pk}", response=CustomFieldDefinitionOut)
def custom_field_deactivate(request: HttpRequest, pk: int) -> Any:
    """Deactivate a custom field: stored values are kept, new values are refused."""
    definition = selectors.custom_field_definition_get(actor=_actor(request), pk=pk)
    return services.custom_field_definition_deactivate(actor=_actor(request), definition=definition)


@router.post("/custom-fields/validate", response=CustomFieldValidateOut)
def custom_field_values_validate(request: HttpRequest, payload: CustomFieldValidateIn) -> Any:
    """Check custom field values for a record type; returns them cleaned, stores nothing."""
    model = payload.model.lower()
    if model not in services.custom_field_model_labels():
        raise ProblemError.of(
            error_codes.VALIDATION_ERROR,
            errors=[
                field_error(
                    "body.model",
                    _("%(model)s is not a record type that has custom fields.")
                    % {"model": payload.model[:100]},
                    UNKNOWN_RECORD_TYPE,
                )
            ],
        )
    try:
        values = services.custom_fields_validate(
            model_label=model,
            values=payload.values,
            partial=payload.partial,
            field_prefix="body.values",
        )
    except ValidationError as exc:
        raise _invalid(exc, prefix="") from None
    return {"model": model, "values": values}
