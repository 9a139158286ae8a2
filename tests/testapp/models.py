"""Concrete models used only by the test suite to exercise the kernel's mechanisms."""

from __future__ import annotations

from django.db import models

from bankcrm.core.crypto import (
    BlindIndexField,
    DataKeyField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedTextField,
)
from bankcrm.core.models import TimeStampedModel, UUIDModel, WorkflowSubjectMixin
from bankcrm.customization.models import CustomFieldsMixin


class SecretNote(UUIDModel):
    """A test record with encrypted personal data under its table's data key."""

    title = models.CharField(max_length=100, blank=True)
    body = EncryptedTextField(null=True, blank=True)
    national_id = EncryptedTextField(null=True, blank=True)
    national_id_index = BlindIndexField(source="national_id", normalizer="identifier")
    phone = EncryptedTextField(null=True, blank=True)
    phone_index = BlindIndexField(source="phone", normalizer="phone")
    email = EncryptedTextField(null=True, blank=True)
    email_index = BlindIndexField(source="email", normalizer="email")
    name = EncryptedTextField(null=True, blank=True)
    name_index = BlindIndexField(source="name", normalizer="text")
    born_on = EncryptedDateField(null=True, blank=True)
    details = EncryptedJSONField(null=True, blank=True)

    def __str__(self) -> str:
        return self.title or str(self.pk)


class PersonalRecord(UUIDModel):
    """A test record with its own data key, as a customer has (crypto-shredding)."""

    label = models.CharField(max_length=100, blank=True)
    data_key = DataKeyField()
    national_id = EncryptedTextField(null=True, blank=True)
    national_id_index = BlindIndexField(source="national_id", normalizer="identifier")
    born_on = EncryptedDateField(null=True, blank=True)
    address = EncryptedJSONField(null=True, blank=True)

    def __str__(self) -> str:
        return self.label or str(self.pk)


# --- Custom fields (customization) ----------------------------------------------------------


class CustomisedRecord(CustomFieldsMixin, models.Model):
    """A test record carrying administrator-defined custom fields."""

    name = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name


# --- Workflows (core.workflow) --------------------------------------------------------------


class Ticket(WorkflowSubjectMixin, TimeStampedModel):
    """A test item moving through a workflow, as a service case or a loan application does."""

    title = models.CharField(max_length=100)
    has_documents = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.title
