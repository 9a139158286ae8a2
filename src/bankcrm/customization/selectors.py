"""Reading custom field definitions, and filtering records by custom field values."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from bankcrm.core import error_codes

from .fields import clean_value
from .models import CustomFieldDefinition, CustomFieldType

VIEW_PERMISSION = "customization.view_customfielddefinition"

M = TypeVar("M", bound=Model)


def _require_view(actor: Any) -> None:
    from bankcrm.access.permissions import actor_has_perm

    if not (
        actor_has_perm(actor, VIEW_PERMISSION)
        or actor_has_perm(actor, "customization.change_customfielddefinition")
    ):
        raise PermissionDenied(_("You may not view custom field definitions."))


def custom_field_definition_list(
    *, actor: Any, model_label: str | None = None, include_inactive: bool = True
) -> QuerySet[CustomFieldDefinition]:
    """Definitions an administrator manages, optionally for one record type."""
    _require_view(actor)
    queryset = CustomFieldDefinition.objects.all()
    if model_label:
        queryset = queryset.filter(model_label=model_label.lower())
    if not include_inactive:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("model_label", "order", "key")


def custom_field_definition_get(*, actor: Any, pk: int) -> CustomFieldDefinition:
    _require_view(actor)
    return CustomFieldDefinition.objects.get(pk=pk)


def active_custom_fields(model_label: str) -> list[CustomFieldDefinition]:
    """The fields a record of this type shows and accepts now, in display order.

    Definitions are the bank's configuration, not customer data: every signed-in user who
    may see a record may see which fields it has.
    """
    return list(
        CustomFieldDefinition.objects.filter(
            model_label=model_label.lower(), is_active=True
        ).order_by("order", "key")
    )


_RANGE_LOOKUPS = ("gt", "gte", "lt", "lte")


def _key_text(key: str) -> Cast:
    # The value's text as a plain text column, so text lookups apply (not JSON ones).
    return Cast(KeyTextTransform(key, "custom_fields"), output_field=TextField())


def custom_field_filter(
    queryset: QuerySet[M], model_label: str, key: str, value: Any, lookup: str = "exact"
) -> QuerySet[M]:
    """Records whose custom field ``key`` matches ``value``; portable to SQLite and PostgreSQL.

    ``lookup`` is ``exact`` for every type, ``gt/gte/lt/lte`` for whole numbers and dates,
    and ``contains`` (one chosen value) for multi-choice fields. The value is cleaned like
    an input first, so "１,２００" finds 1200. Only active, filterable fields may be used.
    """
    definition = CustomFieldDefinition.objects.filter(
        model_label=model_label.lower(), key=key, is_active=True, is_filterable=True
    ).first()
    if definition is None:
        raise ValidationError(
            {
                key: [
                    ValidationError(
                        _("%(key)s is not a filterable custom field.") % {"key": key},
                        code=error_codes.FIELD_UNKNOWN,
                    )
                ]
            }
        )
    kind = definition.field_type
    allowed = {"exact"}
    if kind in (CustomFieldType.NUMBER, CustomFieldType.DATE):
        allowed |= set(_RANGE_LOOKUPS)
    if kind == CustomFieldType.MULTI_CHOICE:
        allowed = {"contains"}
    if lookup not in allowed:
        raise ValidationError(
            {
                key: [
                    ValidationError(
                        _("%(lookup)s cannot filter this field.") % {"lookup": lookup},
                        code=error_codes.FIELD_INVALID,
                    )
                ]
            }
        )
    try:
        if kind == CustomFieldType.MULTI_CHOICE:
            probe = CustomFieldDefinition(
                field_type=CustomFieldType.CHOICE,
                label=definition.label,
                choices=definition.choices,
            )
            cleaned = clean_value(probe, value)
        else:
            cleaned = clean_value(definition, value)
    except ValidationError as exc:
        raise ValidationError({key: [exc]}) from None
    if kind == CustomFieldType.MULTI_CHOICE:
        # The list's JSON text contains the quoted value; choice values cannot hold quotes.
        alias = f"_cf_{key}_text"
        return queryset.alias(**{alias: _key_text(key)}).filter(
            **{f"{alias}__contains": f'"{cleaned}"'}
        )
    if cleaned is None:
        return queryset.filter(
            Q(**{f"custom_fields__{key}__isnull": True}) | Q(**{f"custom_fields__{key}": None})
        )
    if kind == CustomFieldType.DATE and lookup != "exact":
        # ISO dates sort as text; compare the extracted text on both databases.
        alias = f"_cf_{key}_text"
        return queryset.alias(**{alias: _key_text(key)}).filter(**{f"{alias}__{lookup}": cleaned})
    return queryset.filter(**{f"custom_fields__{key}__{lookup}": cleaned})
