"""Custom fields: defining them (audited) and validating the values records carry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from bankcrm.audit.services import audit_record
from bankcrm.core import error_codes

from .error_codes import DUPLICATE_KEY, UNKNOWN_RECORD_TYPE
from .fields import CHOICE_VALUE, bound, clean_value, is_empty
from .models import (
    CustomFieldDefinition,
    CustomFieldsMixin,
    CustomFieldType,
    custom_field_key_validator,
)

CHANGE_PERMISSION = "customization.change_customfielddefinition"

# What an administrator may change after creation. The record type, key and type stay:
# values already stored under the key were validated against them.
_UPDATABLE = (
    "label",
    "label_zh",
    "help_text",
    "help_text_zh",
    "is_required",
    "choices",
    "min_value",
    "max_value",
    "max_length",
    "regex",
    "default",
    "order",
    "is_active",
    "is_filterable",
)
_SNAPSHOT = ("model_label", "key", "field_type", *_UPDATABLE)


def _require_perm(actor: Any, permission: str) -> None:
    from bankcrm.access.permissions import actor_has_perm

    if not actor_has_perm(actor, permission):
        raise PermissionDenied(_("You may not change custom fields."))


def _snapshot(definition: CustomFieldDefinition) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in _SNAPSHOT}


def custom_field_model_labels() -> list[str]:
    """Labels ("customers.party") of every installed model that carries custom fields."""
    return sorted(
        model._meta.label_lower
        for model in apps.get_models()
        if issubclass(model, CustomFieldsMixin)
    )


def _bound_text(
    field_type: str, value: Any, name: str, errors: dict[str, list[ValidationError]]
) -> str:
    if is_empty(value):
        return ""
    if field_type not in (CustomFieldType.NUMBER, CustomFieldType.DECIMAL, CustomFieldType.DATE):
        errors.setdefault(name, []).append(
            ValidationError(
                _("Only number, decimal and date fields have a minimum or maximum."),
                code=error_codes.FIELD_INVALID,
            )
        )
        return ""
    probe = CustomFieldDefinition(field_type=field_type, label=name)
    try:
        cleaned = clean_value(probe, value)
    except ValidationError:
        errors.setdefault(name, []).append(
            ValidationError(
                _("%(value)s is not a valid bound for a %(type)s field.")
                % {"value": str(value)[:50], "type": field_type},
                code=error_codes.FIELD_INVALID_TYPE,
            )
        )
        return ""
    return str(cleaned)


def _check_definition(definition: CustomFieldDefinition, *, creating: bool) -> None:
    """Raise ValidationError naming every inconsistent attribute of the definition."""
    errors: dict[str, list[ValidationError]] = {}

    def add(name: str, message: str, code: str = error_codes.FIELD_INVALID) -> None:
        errors.setdefault(name, []).append(ValidationError(message, code=code))

    if creating:
        if definition.model_label not in custom_field_model_labels():
            add(
                "model_label",
                _("%(label)s is not a record type that has custom fields.")
                % {"label": definition.model_label},
                UNKNOWN_RECORD_TYPE,
            )
        try:
            custom_field_key_validator(definition.key)
        except ValidationError as exc:
            add("key", exc.messages[0], error_codes.FIELD_INVALID_FORMAT)
        else:
            taken = CustomFieldDefinition.objects.filter(
                model_label=definition.model_label, key=definition.key
            ).exists()
            if taken:
                add(
                    "key",
                    _("This record type already has a field with key %(key)s.")
                    % {"key": definition.key},
                    DUPLICATE_KEY,
                )
        if definition.field_type not in CustomFieldType.values:
            add(
                "field_type",
                _("Choose one of: %(types)s.") % {"types": ", ".join(CustomFieldType.values)},
                error_codes.FIELD_INVALID_CHOICE,
            )
            raise ValidationError(errors)
    if not (definition.label or "").strip():
        add("label", _("A label is required."))

    kind = definition.field_type
    choices = definition.choices
    if kind in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE):
        if not isinstance(choices, list) or not choices:
            add("choices", _("A choice field needs at least one choice."))
        else:
            seen: set[str] = set()
            for index, choice in enumerate(choices):
                value = choice.get("value") if isinstance(choice, dict) else None
                label = choice.get("label") if isinstance(choice, dict) else None
                if not isinstance(value, str) or not CHOICE_VALUE.match(value):
                    add(
                        "choices",
                        _("Choice %(n)d needs a value of letters, digits, _ . or -.")
                        % {"n": index + 1},
                    )
                elif value in seen:
                    add("choices", _("Choice value %(value)s appears twice.") % {"value": value})
                else:
                    seen.add(value)
                if not isinstance(label, str) or not label.strip():
                    add("choices", _("Choice %(n)d needs a label.") % {"n": index + 1})
                extra = (
                    set(choice) - {"value", "label", "label_zh"}
                    if isinstance(choice, dict)
                    else set()
                )
                if extra:
                    add(
                        "choices",
                        _("Choice %(n)d has unknown keys: %(keys)s.")
                        % {"n": index + 1, "keys": ", ".join(sorted(extra))},
                    )
    elif choices:
        add("choices", _("Only choice fields have choices."))

    definition.min_value = _bound_text(kind, definition.min_value, "min_value", errors)
    definition.max_value = _bound_text(kind, definition.max_value, "max_value", errors)
    low, high = bound(kind, definition.min_value), bound(kind, definition.max_value)
    if low is not None and high is not None and low > high:  # type: ignore[operator]
        add(
            "max_value",
            _("The maximum must not be below the minimum."),
            error_codes.FIELD_OUT_OF_RANGE,
        )

    if definition.max_length is not None:
        if kind != CustomFieldType.TEXT:
            add("max_length", _("Only text fields have a maximum length."))
        elif definition.max_length < 1:
            add("max_length", _("The maximum length must be at least 1."))
    if definition.regex:
        if kind != CustomFieldType.TEXT:
            add("regex", _("Only text fields have a pattern."))
        else:
            try:
                re.compile(definition.regex)
            except re.error as exc:
                add(
                    "regex",
                    _("The pattern is not a valid regular expression: %(error)s")
                    % {"error": str(exc)},
                )

    if definition.default is not None and not errors:
        try:
            definition.default = clean_value(definition, definition.default)
        except ValidationError as exc:
            add("default", exc.messages[0], exc.code or error_codes.FIELD_INVALID)
    if errors:
        raise ValidationError(errors)


def custom_field_definition_create(
    *,
    actor: Any,
    model_label: str,
    key: str,
    label: str,
    field_type: str,
    label_zh: str = "",
    help_text: str = "",
    help_text_zh: str = "",
    is_required: bool = False,
    choices: list[dict[str, str]] | None = None,
    min_value: Any = "",
    max_value: Any = "",
    max_length: int | None = None,
    regex: str = "",
    default: Any = None,
    order: int = 0,
    is_filterable: bool = False,
) -> CustomFieldDefinition:
    """Add a custom field to a record type (audited)."""
    _require_perm(actor, CHANGE_PERMISSION)
    definition = CustomFieldDefinition(
        model_label=(model_label or "").lower(),
        key=key,
        label=label,
        label_zh=label_zh,
        help_text=help_text,
        help_text_zh=help_text_zh,
        field_type=field_type,
        is_required=is_required,
        choices=choices or [],
        min_value=min_value,
        max_value=max_value,
        max_length=max_length,
        regex=regex,
        default=default,
        order=order,
        is_active=True,
        is_filterable=is_filterable,
    )
    with transaction.atomic():
        _check_definition(definition, creating=True)
        definition.save()
        audit_record(
            actor=actor,
            action="custom_field.create",
            target=definition,
            after=_snapshot(definition),
        )
    return definition


def custom_field_definition_update(
    *, actor: Any, definition: CustomFieldDefinition, changes: Mapping[str, Any], reason: str = ""
) -> CustomFieldDefinition:
    """Change a custom field's label, rules or status (audited).

    ``changes`` holds only the attributes to change; the record type, key and type are
    fixed once values exist under them.
    """
    _require_perm(actor, CHANGE_PERMISSION)
    fixed = {"model_label", "key", "field_type"} & set(changes)
    unknown = set(changes) - set(_UPDATABLE) - fixed
    errors = {
        name: [_("This cannot be changed after the field is created.")]
        for name in sorted(fixed)
        if changes[name] != getattr(definition, name)
    }
    errors.update({name: [_("Unknown attribute.")] for name in sorted(unknown)})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = CustomFieldDefinition.objects.select_for_update().get(pk=definition.pk)
        before = _snapshot(locked)
        for name in _UPDATABLE:
            if name in changes:
                value = changes[name]
                if name in ("choices",) and value is None:
                    value = []
                setattr(locked, name, value)
        _check_definition(locked, creating=False)
        after = _snapshot(locked)
        if after == before:
            return locked
        locked.save()
        audit_record(
            actor=actor,
            action="custom_field.update",
            target=locked,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
            reason=reason,
        )
    return locked


def custom_field_definition_deactivate(
    *, actor: Any, definition: CustomFieldDefinition, reason: str = ""
) -> CustomFieldDefinition:
    """Stop using a custom field: hidden from forms, refused in new values, data kept."""
    return custom_field_definition_update(
        actor=actor, definition=definition, changes={"is_active": False}, reason=reason
    )


def _definitions(model_label: str) -> dict[str, CustomFieldDefinition]:
    return {d.key: d for d in CustomFieldDefinition.objects.filter(model_label=model_label.lower())}


def custom_fields_validate(
    *,
    model_label: str,
    values: Any,
    partial: bool = False,
    field_prefix: str = "",
) -> dict[str, Any]:
    """Clean custom field values for a record of ``model_label``; changes nothing.

    Returns JSON-safe canonical values (decimals as text, dates ISO); an empty value is
    returned as None. Without ``partial`` every active field is considered: defaults are
    filled in and missing required fields are errors. With ``partial`` only the given keys
    are checked (an update). Raises ValidationError with one entry per bad key, named
    ``<field_prefix>.<key>`` when a prefix is given (``"custom_fields"``).
    """

    def name(key: str) -> str:
        return f"{field_prefix}.{key}" if field_prefix else key

    if not isinstance(values, Mapping):
        raise ValidationError(
            {
                field_prefix or "custom_fields": [
                    ValidationError(
                        _("Custom fields must be an object of key and value."),
                        code=error_codes.FIELD_INVALID_TYPE,
                    )
                ]
            }
        )
    definitions = _definitions(model_label)
    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            errors[name(str(key))] = [
                ValidationError(
                    _("%(key)s is not a custom field of this record.") % {"key": str(key)[:100]},
                    code=error_codes.FIELD_UNKNOWN,
                )
            ]
            continue
        if not definition.is_active:
            errors[name(key)] = [
                ValidationError(
                    _("%(label)s is no longer in use.") % {"label": definition.label},
                    code=error_codes.FIELD_INACTIVE,
                )
            ]
            continue
        try:
            cleaned[key] = clean_value(definition, value)
        except ValidationError as exc:
            errors[name(key)] = [exc]
            continue
        if cleaned[key] is None and definition.is_required:
            errors[name(key)] = [
                ValidationError(
                    _("%(label)s is required.") % {"label": definition.label},
                    code=error_codes.FIELD_REQUIRED,
                )
            ]
    if not partial:
        for key, definition in definitions.items():
            if key in values or not definition.is_active:
                continue
            if definition.default is not None:
                cleaned[key] = definition.default
            elif definition.is_required:
                errors[name(key)] = [
                    ValidationError(
                        _("%(label)s is required.") % {"label": definition.label},
                        code=error_codes.FIELD_REQUIRED,
                    )
                ]
    if errors:
        raise ValidationError(errors)
    order = {key: (d.order, key) for key, d in definitions.items()}
    return dict(sorted(cleaned.items(), key=lambda item: order[item[0]]))
