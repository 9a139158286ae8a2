"""Administrator-defined custom fields on customers, accounts, loans and cases."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.core.models import TimeStampedModel

# Keys become JSON object keys and form field names: lower-case ASCII, digits, underscore.
custom_field_key_validator = RegexValidator(
    r"^[a-z][a-z0-9_]{0,62}$",
    _("Use lower-case letters, digits and underscores, starting with a letter."),
    code="invalid_key",
)


class CustomFieldsMixin(models.Model):
    """Gives a model a JSON column of administrator-defined field values.

    Values are validated by ``bankcrm.customization.services.custom_fields_validate`` in the
    owning module's services before they are stored; they are JSON-safe (decimals as
    strings, dates in ISO format).
    """

    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)

    class Meta:
        abstract = True


class CustomFieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Whole number")
    DECIMAL = "decimal", _("Decimal number")
    DATE = "date", _("Date")
    BOOLEAN = "boolean", _("Yes / no")
    CHOICE = "choice", _("One choice from a list")
    MULTI_CHOICE = "multi_choice", _("Several choices from a list")


class CustomFieldDefinition(TimeStampedModel):
    """A field the bank added to a record type (e.g. "risk appetite" on customers)."""

    FieldType = CustomFieldType

    # "app_label.model_name" of a model using CustomFieldsMixin, e.g. "customers.party".
    model_label = models.CharField(_("record type"), max_length=100, db_index=True)
    key = models.CharField(_("key"), max_length=63, validators=[custom_field_key_validator])
    label = models.CharField(_("label"), max_length=200)
    label_zh = models.CharField(_("label (Chinese)"), max_length=200, blank=True)
    help_text = models.CharField(_("help text"), max_length=500, blank=True)
    help_text_zh = models.CharField(_("help text (Chinese)"), max_length=500, blank=True)
    field_type = models.CharField(_("type"), max_length=20, choices=CustomFieldType.choices)
    is_required = models.BooleanField(_("required"), default=False)
    # [{"value": "low", "label": "Low", "label_zh": "低"}, ...] for choice types.
    choices = models.JSONField(_("choices"), default=list, blank=True)
    # Bounds kept as canonical text (integer, decimal or ISO date, by field type) so one
    # column serves every type exactly, without float.
    min_value = models.CharField(_("minimum"), max_length=40, blank=True)
    max_value = models.CharField(_("maximum"), max_length=40, blank=True)
    max_length = models.PositiveIntegerField(_("maximum length"), null=True, blank=True)
    regex = models.CharField(_("pattern"), max_length=500, blank=True)
    default = models.JSONField(_("default value"), null=True, blank=True)
    order = models.PositiveIntegerField(_("order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    is_filterable = models.BooleanField(_("filterable"), default=False)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["model_label", "order", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_label", "key"], name="customfield_key_unique_per_model"
            ),
            models.CheckConstraint(
                condition=Q(field_type__in=CustomFieldType.values),
                name="customfield_type_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_label}.{self.key}"

    @property
    def has_choices(self) -> bool:
        return self.field_type in (self.FieldType.CHOICE, self.FieldType.MULTI_CHOICE)

    def label_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.label_zh:
            return self.label_zh
        return self.label

    def help_text_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh") and self.help_text_zh:
            return self.help_text_zh
        return self.help_text
