"""Custom fields: definitions (validated, audited) and values (one table per type)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError

from bankcrm.audit.models import AuditEvent
from bankcrm.customization.forms import custom_fields_from_form, custom_form_fields
from bankcrm.customization.models import CustomFieldDefinition
from bankcrm.customization.selectors import custom_field_filter
from bankcrm.customization.services import (
    custom_field_definition_create,
    custom_field_definition_deactivate,
    custom_field_definition_update,
    custom_field_model_labels,
    custom_fields_validate,
)
from tests.testapp.models import CustomisedRecord

from .conftest import MODEL, SETUP

pytestmark = pytest.mark.django_db

CHOICES = [
    {"value": "low", "label": "Low", "label_zh": "低"},
    {"value": "mid", "label": "Medium"},
    {"value": "high", "label": "High", "label_zh": "高"},
]


def define(key: str, field_type: str, **options) -> CustomFieldDefinition:
    return custom_field_definition_create(
        actor=SETUP, model_label=MODEL, key=key, label=key.title(), field_type=field_type, **options
    )


def error_codes_of(excinfo) -> dict[str, list[str]]:
    return {key: [e.code for e in errors] for key, errors in excinfo.value.error_dict.items()}


# --- values, one table per type ---------------------------------------------------------------


@dataclass(frozen=True)
class Err:
    code: str


VALUE_CASES = [
    # (type, options, input, cleaned or error code)
    ("text", {}, "  Li Wei  ", "Li Wei"),
    ("text", {"max_length": 5}, "abcdef", Err("too_long")),
    ("text", {"regex": r"[A-Z]{2}\d{4}"}, "AB1234", "AB1234"),
    ("text", {"regex": r"[A-Z]{2}\d{4}"}, "AB12345", Err("invalid_format")),
    ("text", {}, 12, Err("invalid_type")),
    ("number", {}, 42, 42),
    ("number", {}, "１,２００", 1200),
    ("number", {}, Decimal("7"), 7),
    ("number", {}, Decimal("7.5"), Err("invalid_type")),
    ("number", {}, 7.0, Err("invalid_type")),
    ("number", {}, True, Err("invalid_type")),
    ("number", {}, "seven", Err("invalid_type")),
    ("number", {"min_value": 1, "max_value": 10}, 11, Err("out_of_range")),
    ("number", {"min_value": 1, "max_value": 10}, 0, Err("out_of_range")),
    ("number", {"min_value": 1, "max_value": 10}, 10, 10),
    ("number", {}, 2**60, Err("out_of_range")),
    ("decimal", {}, Decimal("1234.50"), "1234.5"),
    ("decimal", {}, "1,234.50", "1234.5"),
    ("decimal", {}, 100, "100"),
    ("decimal", {}, "0.00", "0"),
    ("decimal", {}, 0.1, Err("invalid_type")),
    ("decimal", {}, "NaN", Err("invalid_type")),
    ("decimal", {"min_value": "0.01", "max_value": "99.99"}, "100", Err("out_of_range")),
    ("decimal", {"min_value": "0.01", "max_value": "99.99"}, Decimal("0.01"), "0.01"),
    ("date", {}, dt.date(2024, 2, 29), "2024-02-29"),
    ("date", {}, "2024-02-29", "2024-02-29"),
    ("date", {}, "2023-02-29", Err("invalid_type")),
    ("date", {}, "20240101", Err("invalid_type")),
    ("date", {}, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), Err("invalid_type")),
    ("date", {"min_value": "2024-01-01"}, "2023-12-31", Err("out_of_range")),
    ("boolean", {}, True, True),
    ("boolean", {}, "false", False),
    ("boolean", {}, "yes", Err("invalid_type")),
    ("boolean", {}, 1, Err("invalid_type")),
    ("choice", {"choices": CHOICES}, "mid", "mid"),
    ("choice", {"choices": CHOICES}, "MID", Err("invalid_choice")),
    ("choice", {"choices": CHOICES}, ["mid"], Err("invalid_type")),
    ("multi_choice", {"choices": CHOICES}, ["high", "low", "high"], ["low", "high"]),
    ("multi_choice", {"choices": CHOICES}, ["low", "none"], Err("invalid_choice")),
    ("multi_choice", {"choices": CHOICES}, "low", Err("invalid_type")),
]


@pytest.mark.parametrize(("field_type", "options", "value", "expected"), VALUE_CASES)
def test_value_cleaning_per_type(field_type, options, value, expected):
    define("field", field_type, **options)
    if isinstance(expected, Err):
        with pytest.raises(ValidationError) as excinfo:
            custom_fields_validate(model_label=MODEL, values={"field": value})
        assert error_codes_of(excinfo) == {"field": [expected.code]}
        assert excinfo.value.error_dict["field"][0].messages[0]  # a sentence for people
    else:
        assert custom_fields_validate(model_label=MODEL, values={"field": value}) == {
            "field": expected
        }


def test_required_default_unknown_inactive_and_partial():
    define("segment", "choice", choices=CHOICES, is_required=True)
    define("score", "number", default=5)
    define("note", "text")
    old = define("old", "text")
    custom_field_definition_deactivate(actor=SETUP, definition=old)
    with pytest.raises(ValidationError) as excinfo:
        custom_fields_validate(
            model_label=MODEL,
            values={"note": "", "bogus": 1, "old": "x"},
            field_prefix="custom_fields",
        )
    assert error_codes_of(excinfo) == {
        "custom_fields.bogus": ["unknown_field"],
        "custom_fields.old": ["inactive_field"],
        "custom_fields.segment": ["required"],
    }
    assert custom_fields_validate(model_label=MODEL, values={"segment": "low"}) == {
        "segment": "low",
        "score": 5,
    }
    # An update checks only what it changes; an empty value clears an optional field.
    assert custom_fields_validate(model_label=MODEL, values={"note": ""}, partial=True) == {
        "note": None
    }
    with pytest.raises(ValidationError) as excinfo:
        custom_fields_validate(model_label=MODEL, values={"segment": None}, partial=True)
    assert error_codes_of(excinfo) == {"segment": ["required"]}
    with pytest.raises(ValidationError) as excinfo:
        custom_fields_validate(model_label=MODEL, values=["segment"])
    assert error_codes_of(excinfo) == {"custom_fields": ["invalid_type"]}


# --- definitions ------------------------------------------------------------------------------


def test_create_is_audited():
    before = AuditEvent.objects.count()
    definition = define("risk", "decimal", min_value=Decimal("0.50"), max_value="10")
    assert (definition.min_value, definition.max_value) == ("0.5", "10")
    event = AuditEvent.objects.get(pk=before + 1)
    assert (event.action, event.object_type, event.object_pk) == (
        "custom_field.create",
        "customization.customfielddefinition",
        str(definition.pk),
    )
    assert event.after["key"] == "risk"
    assert event.actor == "system:test-setup"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"model_label": "access.user"}, {"model_label": ["unknown_record_type"]}),
        ({"key": "Risk Level"}, {"key": ["invalid_format"]}),
        ({"field_type": "colour"}, {"field_type": ["invalid_choice"]}),
        ({"field_type": "choice"}, {"choices": ["invalid"]}),
        (
            {"field_type": "choice", "choices": [{"value": "a"}, {"value": "a", "label": "A"}]},
            {"choices": ["invalid", "invalid"]},
        ),
        ({"field_type": "text", "choices": CHOICES}, {"choices": ["invalid"]}),
        ({"field_type": "text", "regex": "("}, {"regex": ["invalid"]}),
        ({"field_type": "number", "regex": "a"}, {"regex": ["invalid"]}),
        ({"field_type": "number", "min_value": 5, "max_value": 1}, {"max_value": ["out_of_range"]}),
        ({"field_type": "date", "min_value": "soon"}, {"min_value": ["invalid_type"]}),
        ({"field_type": "text", "min_value": 1}, {"min_value": ["invalid"]}),
        ({"field_type": "decimal", "max_length": 3}, {"max_length": ["invalid"]}),
        ({"field_type": "number", "default": "many"}, {"default": ["invalid_type"]}),
        ({"label": "  "}, {"label": ["invalid"]}),
    ],
)
def test_definition_is_checked_before_saving(options, expected):
    before = (CustomFieldDefinition.objects.count(), AuditEvent.objects.count())
    arguments = {"model_label": MODEL, "key": "risk", "label": "Risk", "field_type": "text"}
    arguments.update(options)
    with pytest.raises(ValidationError) as excinfo:
        custom_field_definition_create(actor=SETUP, **arguments)
    assert error_codes_of(excinfo) == expected
    assert (CustomFieldDefinition.objects.count(), AuditEvent.objects.count()) == before


def test_key_is_unique_per_record_type():
    define("risk", "text")
    with pytest.raises(ValidationError) as excinfo:
        define("risk", "number")
    assert error_codes_of(excinfo) == {"key": ["duplicate_key"]}
    assert MODEL in custom_field_model_labels()


def test_update_changes_only_allowed_attributes_and_is_audited():
    definition = define("risk", "number", min_value=0)
    before = AuditEvent.objects.count()
    updated = custom_field_definition_update(
        actor=SETUP,
        definition=definition,
        changes={"label": "Risk score", "max_value": 100},
        reason="policy 2024-07",
    )
    assert (updated.label, updated.max_value) == ("Risk score", "100")
    event = AuditEvent.objects.get(pk=before + 1)
    assert event.action == "custom_field.update"
    assert event.before == {"label": "Risk", "max_value": ""}
    assert event.after == {"label": "Risk score", "max_value": "100"}
    assert event.reason == "policy 2024-07"
    with pytest.raises(ValidationError) as excinfo:
        custom_field_definition_update(
            actor=SETUP, definition=definition, changes={"field_type": "text", "colour": 1}
        )
    assert set(excinfo.value.error_dict) == {"field_type", "colour"}
    # No change, no audit event.
    custom_field_definition_update(
        actor=SETUP, definition=definition, changes={"label": "Risk score"}
    )
    assert AuditEvent.objects.count() == before + 1


def test_deactivate_keeps_the_definition(admin_user):
    definition = define("risk", "text")
    custom_field_definition_deactivate(actor=admin_user, definition=definition, reason="unused")
    definition.refresh_from_db()
    assert definition.is_active is False
    assert AuditEvent.objects.order_by("-pk").first().after == {"is_active": False}


def test_writes_need_the_permission(clerk_user):
    definition = define("risk", "text")
    before = (CustomFieldDefinition.objects.count(), AuditEvent.objects.count())
    with pytest.raises(PermissionDenied):
        define_as = custom_field_definition_create
        define_as(actor=clerk_user, model_label=MODEL, key="x", label="X", field_type="text")
    with pytest.raises(PermissionDenied):
        custom_field_definition_update(
            actor=clerk_user, definition=definition, changes={"label": "Y"}
        )
    with pytest.raises(PermissionDenied):
        custom_field_definition_deactivate(actor=clerk_user, definition=definition)
    assert (CustomFieldDefinition.objects.count(), AuditEvent.objects.count()) == before
    definition.refresh_from_db()
    assert (definition.label, definition.is_active) == ("Risk", True)


# --- filtering (JSON key look-ups on SQLite and PostgreSQL) -----------------------------------


@pytest.fixture
def records():
    define("segment", "choice", choices=CHOICES, is_filterable=True)
    define("employees", "number", is_filterable=True)
    define("turnover", "decimal", is_filterable=True)
    define("opened", "date", is_filterable=True)
    define("vip", "boolean", is_filterable=True)
    define("tags", "multi_choice", choices=CHOICES, is_filterable=True)
    define("secret", "text")  # not filterable
    rows = {
        "a": {
            "segment": "low",
            "employees": 5,
            "turnover": "10.5",
            "opened": "2024-01-10",
            "vip": True,
            "tags": ["low", "mid"],
        },
        "b": {
            "segment": "high",
            "employees": 50,
            "turnover": "1000",
            "opened": "2024-03-01",
            "vip": False,
            "tags": ["high"],
        },
        "c": {"segment": "low", "employees": 12},
    }
    for name, values in rows.items():
        cleaned = custom_fields_validate(model_label=MODEL, values=values, partial=True)
        CustomisedRecord.objects.create(name=name, custom_fields=cleaned)
    return CustomisedRecord.objects.all()


def names(queryset) -> list[str]:
    return sorted(queryset.values_list("name", flat=True))


@pytest.mark.parametrize(
    ("key", "value", "lookup", "expected"),
    [
        ("segment", "low", "exact", ["a", "c"]),
        ("employees", "１２", "exact", ["c"]),
        ("employees", 12, "gte", ["b", "c"]),
        ("employees", 12, "lt", ["a"]),
        ("turnover", "10.50", "exact", ["a"]),
        ("turnover", Decimal("1000.00"), "exact", ["b"]),
        ("opened", "2024-02-01", "gte", ["b"]),
        ("opened", dt.date(2024, 1, 10), "exact", ["a"]),
        ("vip", True, "exact", ["a"]),
        ("vip", "false", "exact", ["b"]),
        ("tags", "mid", "contains", ["a"]),
        ("tags", "high", "contains", ["b"]),
        ("turnover", None, "exact", ["c"]),
    ],
)
def test_filter_by_custom_field(records, key, value, lookup, expected):
    assert names(custom_field_filter(records, MODEL, key, value, lookup)) == expected


def test_filter_refuses_unfilterable_fields_bad_values_and_lookups(records):
    with pytest.raises(ValidationError) as excinfo:
        custom_field_filter(records, MODEL, "secret", "x")
    assert error_codes_of(excinfo) == {"secret": ["unknown_field"]}
    with pytest.raises(ValidationError) as excinfo:
        custom_field_filter(records, MODEL, "employees", "many")
    assert error_codes_of(excinfo) == {"employees": ["invalid_type"]}
    with pytest.raises(ValidationError):
        custom_field_filter(records, MODEL, "segment", "low", "gte")


# --- forms ------------------------------------------------------------------------------------


def test_form_fields_from_definitions():
    define("segment", "choice", choices=CHOICES, is_required=True, label_zh="客群", order=1)
    define("employees", "number", min_value=1, max_value=500, order=2)
    define("opened", "date", order=3)
    define("vip", "boolean", order=4)
    define("tags", "multi_choice", choices=CHOICES, order=5)
    define("nickname", "text", max_length=8, order=6)
    gone = define("gone", "text")
    custom_field_definition_deactivate(actor=SETUP, definition=gone)

    fields = custom_form_fields(MODEL, language="zh-hans")
    assert list(fields) == [
        "cf_segment",
        "cf_employees",
        "cf_opened",
        "cf_vip",
        "cf_tags",
        "cf_nickname",
    ]
    assert fields["cf_segment"].label == "客群"
    assert fields["cf_segment"].required is True
    assert list(fields["cf_segment"].choices) == [
        ("", "---------"),
        ("low", "低"),
        ("mid", "Medium"),
        ("high", "高"),
    ]
    assert isinstance(fields["cf_employees"], forms.IntegerField)
    assert (fields["cf_employees"].min_value, fields["cf_employees"].max_value) == (1, 500)
    assert isinstance(fields["cf_tags"], forms.MultipleChoiceField)
    assert fields["cf_nickname"].max_length == 8

    form_class = type("RecordForm", (forms.Form,), {**custom_form_fields(MODEL, language="en")})
    form = form_class(
        data={
            "cf_segment": "mid",
            "cf_employees": "20",
            "cf_opened": "2024-05-01",
            "cf_vip": "on",
            "cf_tags": ["high", "low"],
            "cf_nickname": "Ace",
        }
    )
    assert form.is_valid(), form.errors
    values = custom_fields_from_form(form.cleaned_data)
    assert custom_fields_validate(model_label=MODEL, values=values) == {
        "segment": "mid",
        "employees": 20,
        "opened": "2024-05-01",
        "vip": True,
        "tags": ["low", "high"],
        "nickname": "Ace",
    }
    bad = form_class(data={"cf_employees": "0"})
    assert not bad.is_valid()
    assert set(bad.errors) == {"cf_segment", "cf_employees"}
