"""Customers: parties (people and organisations), their identity documents, contact points,
relationships, households, interactions with the bank and staff tasks about them.

Personal data (identity numbers, phones, e-mails, addresses, dates of birth, interaction
notes) is encrypted at rest under the party's own data key, so erasing a customer is
destroying that key. Names stay clear text: staff search customers by name and pinyin.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import (
    BlindIndexField,
    DataKeyField,
    EncryptedDateField,
    EncryptedJSONField,
    EncryptedTextField,
)
from bankcrm.core.crypto.fields import normalize_email, normalize_phone, register_normalizer
from bankcrm.core.models import TimeStampedModel, UUIDModel
from bankcrm.customization.models import CustomFieldsMixin

from .validators import validate_country_code, validate_uscc_field


def normalize_contact_value(value: object) -> str:
    """Blind-index normaliser of a contact value: e-mails lower-cased, phones to digits."""
    text = str(value)
    return normalize_email(text) if "@" in text else normalize_phone(text)


# Registered when the models load, before any field (or migration state) names it.
register_normalizer("contact_value", normalize_contact_value)


def party_data_key_scope(party_pk: object) -> str:
    """The data key scope of a party's own key (``DataKeyField`` creates it on save)."""
    return f"customers.party:{party_pk}"


class PartyOwnedMixin(models.Model):
    """Rows belonging to one party: sealed under the party's key, scoped like the party."""

    scope_unit_field = "party__owning_unit"
    scope_portfolio_field = "party__portfolio"

    class Meta:
        abstract = True

    def get_data_key_scope(self) -> str:
        # The party's key, not the table's: erasing the party makes these rows unreadable.
        return party_data_key_scope(self.party_id)  # type: ignore[attr-defined]


class Household(TimeStampedModel):
    """A family or other group of customers sharing a household, looked at together."""

    name = models.CharField(_("name"), max_length=200)
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="households",
    )
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="household_source_unique",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Party(UUIDModel, CustomFieldsMixin):
    """A customer or prospect of the bank: a person or an organisation."""

    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        ORGANISATION = "organisation", _("Organisation")

    class Status(models.TextChoices):
        PROSPECT = "prospect", _("Prospect")
        ACTIVE = "active", _("Active")
        DORMANT = "dormant", _("Dormant")
        CLOSED = "closed", _("Closed")

    class Segment(models.TextChoices):
        MASS = "mass", _("Mass retail")
        AFFLUENT = "affluent", _("Affluent")
        PRIVATE = "private", _("Private banking")
        SME = "sme", _("Small and medium enterprise")
        CORPORATE = "corporate", _("Corporate")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    display_name = models.CharField(_("name"), max_length=300)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.PROSPECT
    )
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices)
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="parties",
    )
    # The relationship manager is the portfolio's manager: one source of truth.
    portfolio = models.ForeignKey(
        "access.Portfolio",
        verbose_name=_("portfolio"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="parties",
    )
    household = models.ForeignKey(
        Household,
        verbose_name=_("household"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )
    customer_since = models.DateField(_("customer since"), null=True, blank=True)
    # The latest interaction's time, kept by interaction_log: "not contacted in N days"
    # lists sort and filter on it without scanning interactions.
    last_contacted_at = models.DateTimeField(
        _("last contacted"), null=True, blank=True, editable=False
    )
    # Where the record came from (core banking, an import) and its key there: imports are
    # idempotent by this pair.
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001
    # Search columns, kept by the services: the name case-folded and NFKC-normalised, and
    # its toneless pinyin (syllables spaced, then run together) for prefix search.
    search_name = models.CharField(max_length=300, db_index=True, editable=False, default="")
    search_pinyin = models.CharField(max_length=600, db_index=True, editable=False, default="")
    # The customer asked not to be contacted for marketing at all, whatever their consents.
    # A database default too: bulk loaders that COPY customers need not know of it.
    do_not_contact = models.BooleanField(_("do not contact"), default=False, db_default=False)
    # Set when the bank learns of a person's death: no marketing, no offers.
    deceased_on = models.DateField(_("deceased on"), null=True, blank=True)
    data_key = DataKeyField()

    scope_unit_field = "owning_unit"
    scope_portfolio_field = "portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["display_name", "id"]
        indexes = [
            models.Index(fields=["owning_unit", "status"], name="party_unit_status_idx"),
            models.Index(fields=["portfolio", "display_name"], name="party_portfolio_name_idx"),
            models.Index(
                fields=["portfolio", "last_contacted_at"], name="party_portfolio_contact_idx"
            ),
            # Segments join customers in key order from their rule results and test status,
            # kind and unit: read from this index, not the wide row.
            models.Index(
                fields=["id"],
                include=["status", "kind", "owning_unit"],
                name="party_segment_cover_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="party_source_unique",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["person", "organisation"]), name="party_kind_known"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["prospect", "active", "dormant", "closed"]),
                name="party_status_known",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_person(self) -> bool:
        return self.kind == self.Kind.PERSON

    @property
    def relationship_manager(self) -> Any:
        """The portfolio's manager, or None outside any portfolio."""
        return self.portfolio.manager if self.portfolio_id else None


class PersonProfile(PartyOwnedMixin, UUIDModel):
    """What the bank knows about a customer who is a person."""

    class Gender(models.TextChoices):
        FEMALE = "female", _("Female")
        MALE = "male", _("Male")
        OTHER = "other", _("Other")
        UNKNOWN = "unknown", _("Not stated")

    class IncomeBand(models.TextChoices):
        UNDER_50K = "under_50k", _("Under 50,000 a year")
        FROM_50K = "50k_150k", _("50,000 to 150,000 a year")
        FROM_150K = "150k_500k", _("150,000 to 500,000 a year")
        FROM_500K = "500k_2m", _("500,000 to 2 million a year")
        OVER_2M = "over_2m", _("Over 2 million a year")

    party = models.OneToOneField(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="person"
    )
    family_name = models.CharField(_("family name"), max_length=100, blank=True)
    given_name = models.CharField(_("given name"), max_length=100, blank=True)
    native_name = models.CharField(_("name in native script"), max_length=100, blank=True)
    native_name_pinyin = models.CharField(_("pinyin"), max_length=200, blank=True)
    date_of_birth = EncryptedDateField(_("date of birth"), null=True, blank=True)
    # Clear for age bands and segmentation; the full date stays encrypted.
    birth_year = models.PositiveSmallIntegerField(_("year of birth"), null=True, blank=True)
    gender = models.CharField(
        _("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN
    )
    nationality = models.CharField(
        _("nationality"), max_length=2, blank=True, validators=[validate_country_code]
    )
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    employer = models.CharField(_("employer"), max_length=200, blank=True)
    income_band = models.CharField(
        _("income band"), max_length=20, choices=IncomeBand.choices, blank=True
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        indexes = [
            # Segment rules on people (age, gender, income band) read these columns of
            # every person in customer order: from the index alone, not the table.
            models.Index(
                fields=["party"],
                include=["birth_year", "gender", "income_band"],
                name="person_segment_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.native_name or " ".join(p for p in (self.given_name, self.family_name) if p)


class OrganisationProfile(PartyOwnedMixin, TimeStampedModel):
    """What the bank knows about a customer that is a company or other organisation."""

    class LegalForm(models.TextChoices):
        LIMITED_COMPANY = "limited_company", _("Limited liability company")
        JOINT_STOCK = "joint_stock", _("Joint-stock company")
        PARTNERSHIP = "partnership", _("Partnership")
        SOLE_PROPRIETOR = "sole_proprietor", _("Individual business")
        STATE_OWNED = "state_owned", _("State-owned enterprise")
        NON_PROFIT = "non_profit", _("Non-profit organisation")
        GOVERNMENT = "government", _("Government body")
        OTHER = "other", _("Other")

    party = models.OneToOneField(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="organisation"
    )
    legal_name = models.CharField(_("legal name"), max_length=300)
    registration_number = models.CharField(_("registration number"), max_length=64, blank=True)
    uscc = models.CharField(
        _("Unified Social Credit Code"),
        max_length=18,
        blank=True,
        db_index=True,
        validators=[validate_uscc_field],
    )
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    legal_form = models.CharField(
        _("legal form"), max_length=20, choices=LegalForm.choices, blank=True
    )
    incorporated_on = models.DateField(_("incorporated on"), null=True, blank=True)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")

    def __str__(self) -> str:
        return self.legal_name


class Identifier(PartyOwnedMixin, UUIDModel):
    """An identity document number of a customer: resident ID, passport, tax id, licence."""

    class Type(models.TextChoices):
        CN_RESIDENT_ID = "cn_resident_id", _("Chinese resident ID card")
        PASSPORT = "passport", _("Passport")
        TAX_ID = "tax_id", _("Tax identification number")
        BUSINESS_LICENCE = "business_licence", _("Business licence")
        OTHER = "other", _("Other document")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="identifiers"
    )
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    number = EncryptedTextField(_("number"))
    number_index = BlindIndexField(source="number", normalizer="identifier")
    # Keyed hashes of personal data: kept out of audit snapshots like the values themselves.
    audit_secret_fields = ("number_index",)
    issuing_country = models.CharField(
        _("issuing country"), max_length=2, default="CN", validators=[validate_country_code]
    )
    issued_on = models.DateField(_("issued on"), null=True, blank=True)
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("identifier")
        verbose_name_plural = _("identifiers")
        ordering = ["party", "-is_primary", "type", "created_at"]
        constraints = [
            # One document number belongs to one customer of the bank.
            models.UniqueConstraint(
                fields=["type", "issuing_country", "number_index"],
                name="identifier_number_unique",
            ),
            models.CheckConstraint(
                condition=Q(expires_on__isnull=True)
                | Q(issued_on__isnull=True)
                | Q(expires_on__gte=models.F("issued_on")),
                name="identifier_expiry_after_issue",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} ({self.party_id})"


class ContactPoint(PartyOwnedMixin, UUIDModel):
    """A way to reach a customer: a phone number, an e-mail address or a postal address."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("E-mail")
        ADDRESS = "address", _("Address")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="contact_points"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # A phone in E.164 or a lower-cased e-mail; empty for an address.
    value = EncryptedTextField(_("value"), null=True, blank=True)
    value_index = BlindIndexField(source="value", normalizer="contact_value")
    audit_secret_fields = ("value_index",)
    # {"lines": [...], "city": ..., "province": ..., "postcode": ..., "country": "CN"}
    address = EncryptedJSONField(_("address"), null=True, blank=True)
    purpose = models.CharField(_("purpose"), max_length=50, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)
    is_verified = models.BooleanField(_("verified"), default=False)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("contact point")
        verbose_name_plural = _("contact points")
        ordering = ["party", "kind", "-is_primary", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "kind"],
                condition=Q(is_primary=True),
                name="contactpoint_one_primary_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.party_id})"

    def clean(self) -> None:
        if self.kind == self.Kind.ADDRESS:
            if not self.address:
                raise ValidationError({"address": _("Give the address.")}, code="required")
        elif not self.value:
            raise ValidationError({"value": _("Give the phone number or e-mail.")}, code="required")


class Relationship(TimeStampedModel):
    """How two parties are linked: "party_from is the <type> of party_to"."""

    class Type(models.TextChoices):
        SPOUSE = "spouse", _("Spouse")
        PARENT = "parent", _("Parent")
        CHILD = "child", _("Child")
        HOUSEHOLD_MEMBER = "household_member", _("Household member")
        EMPLOYER = "employer", _("Employer")
        EMPLOYEE = "employee", _("Employee")
        GUARANTOR = "guarantor", _("Guarantor")
        BENEFICIAL_OWNER = "beneficial_owner", _("Beneficial owner")
        AUTHORISED_SIGNATORY = "authorised_signatory", _("Authorised signatory")
        DIRECTOR = "director", _("Director")

    party_from = models.ForeignKey(
        Party, verbose_name=_("party"), on_delete=models.CASCADE, related_name="relationships_out"
    )
    party_to = models.ForeignKey(
        Party,
        verbose_name=_("related party"),
        on_delete=models.CASCADE,
        related_name="relationships_in",
    )
    type = models.CharField(_("type"), max_length=30, choices=Type.choices)
    ownership_pct = models.DecimalField(
        _("ownership (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    start_on = models.DateField(_("from"), null=True, blank=True)
    end_on = models.DateField(_("until"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    scope_unit_field = "party_from__owning_unit"
    scope_portfolio_field = "party_from__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("relationship")
        verbose_name_plural = _("relationships")
        ordering = ["party_from", "type", "pk"]
        indexes = [models.Index(fields=["party_to", "type"], name="relationship_to_type_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["party_from", "party_to", "type"], name="relationship_unique"
            ),
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="relationship_source_unique",
            ),
            models.CheckConstraint(
                condition=~Q(party_from=models.F("party_to")), name="relationship_not_self"
            ),
            models.CheckConstraint(
                condition=Q(ownership_pct__isnull=True)
                | (
                    Q(type="beneficial_owner") & Q(ownership_pct__gte=0) & Q(ownership_pct__lte=100)
                ),
                name="relationship_ownership_pct_range",
            ),
            models.CheckConstraint(
                condition=Q(end_on__isnull=True)
                | Q(start_on__isnull=True)
                | Q(end_on__gte=models.F("start_on")),
                name="relationship_end_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.party_from_id} {self.type} {self.party_to_id}"


class Interaction(PartyOwnedMixin, UUIDModel):
    """A contact between the bank and a customer: a call, meeting, e-mail, visit, chat, note."""

    class Kind(models.TextChoices):
        CALL = "call", _("Call")
        MEETING = "meeting", _("Meeting")
        EMAIL = "email", _("E-mail")
        BRANCH_VISIT = "branch_visit", _("Branch visit")
        CHAT = "chat", _("Chat")
        NOTE = "note", _("Note")

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("From the customer")
        OUTBOUND = "outbound", _("To the customer")
        INTERNAL = "internal", _("Internal note")

    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone")
        BRANCH = "branch", _("Branch")
        EMAIL = "email", _("E-mail")
        ONLINE_BANKING = "online_banking", _("Online banking")
        MOBILE_APP = "mobile_app", _("Mobile app")
        MESSAGING = "messaging", _("Messaging (WeChat, SMS)")
        VISIT = "visit", _("Visit to the customer")
        OTHER = "other", _("Other")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="interactions"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    direction = models.CharField(
        _("direction"), max_length=10, choices=Direction.choices, default=Direction.OUTBOUND
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices, blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer_interactions",
    )
    occurred_at = models.DateTimeField(_("when"))
    subject = models.CharField(_("subject"), max_length=200)
    body = EncryptedTextField(_("notes"), blank=True, default="")
    outcome = models.CharField(_("outcome"), max_length=200, blank=True)
    follow_up_on = models.DateField(_("follow up on"), null=True, blank=True)
    source_system = models.CharField(_("source system"), max_length=32, blank=True, default="")
    # NULL, not "", when absent: many records have none, and the pair is unique otherwise.
    source_id = models.CharField(_("source id"), max_length=64, null=True, blank=True)  # noqa: DJ001

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        ordering = ["-occurred_at", "-created_at"]
        indexes = [
            models.Index(fields=["party", "-occurred_at"], name="interaction_party_when_idx"),
            models.Index(fields=["staff", "-occurred_at"], name="interaction_staff_when_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_id"],
                condition=Q(source_id__isnull=False),
                name="interaction_source_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class Task(TimeStampedModel):
    """A piece of work for a member of staff, often about one customer, with a due date."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Priority(models.TextChoices):
        LOW = "low", _("Low")
        NORMAL = "normal", _("Normal")
        HIGH = "high", _("High")
        URGENT = "urgent", _("Urgent")

    party = models.ForeignKey(
        Party,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    due_on = models.DateField(_("due on"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="customer_tasks",
    )
    # The unit the task belongs to (the customer's, else the owner's): tasks are scoped by it.
    owning_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("owning unit"),
        on_delete=models.PROTECT,
        related_name="customer_tasks",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    scope_unit_field = "owning_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["status", "due_on", "pk"]
        indexes = [
            models.Index(fields=["owner", "status", "due_on"], name="task_owner_status_due_idx"),
            models.Index(fields=["party", "status"], name="task_party_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["open", "done", "cancelled"]), name="task_status_known"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ConsentPurpose(models.TextChoices):
    """What a customer may agree to: marketing through one channel, profiling, sharing."""

    EMAIL_MARKETING = "email_marketing", _("Marketing by e-mail")
    SMS_MARKETING = "sms_marketing", _("Marketing by SMS")
    PHONE_MARKETING = "phone_marketing", _("Marketing by phone call")
    PROFILING = "profiling", _("Profiling and personalised offers")
    THIRD_PARTY_SHARING = "third_party_sharing", _("Sharing with third parties")


# The kind of contact point each channel purpose is given for; the others are per customer.
CONSENT_PURPOSE_CONTACT_KIND = {
    ConsentPurpose.EMAIL_MARKETING: "email",
    ConsentPurpose.SMS_MARKETING: "phone",
    ConsentPurpose.PHONE_MARKETING: "phone",
}


class LawfulBasis(models.TextChoices):
    """The legal ground of a processing purpose (PIPL art. 13, GDPR art. 6)."""

    CONSENT = "consent", _("Consent")
    CONTRACT = "contract", _("Performance of a contract")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest")


class ConsentSource(models.TextChoices):
    """Where a consent was given or withdrawn."""

    BRANCH = "branch", _("In branch")
    ONLINE_BANKING = "online_banking", _("Online banking")
    MOBILE_APP = "mobile_app", _("Mobile app")
    CONTACT_CENTRE = "contact_centre", _("Contact centre")
    PREFERENCE_PAGE = "preference_page", _("Preference page")
    UNSUBSCRIBE_LINK = "unsubscribe_link", _("Unsubscribe link")
    PAPER_FORM = "paper_form", _("Paper form")
    IMPORT = "import", _("Import")


class ConsentText(TimeStampedModel):
    """One published version of the wording a customer agrees to for a purpose (both
    languages): a consent names the version it was given on."""

    purpose = models.CharField(_("purpose"), max_length=30, choices=ConsentPurpose.choices)
    version = models.PositiveIntegerField(_("version"))
    text_en = models.TextField(_("text (English)"))
    text_zh = models.TextField(_("text (Chinese)"))
    effective_from = models.DateTimeField(_("in force from"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ["purpose", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "version"], name="consenttext_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} v{self.version}"

    def text_for(self, language: str | None) -> str:
        if language and language.lower().startswith("zh"):
            return self.text_zh
        return self.text_en


class Consent(PartyOwnedMixin, TimeStampedModel):
    """A customer's current choice for one purpose, on one contact point for the channel
    purposes (e-mail, SMS, phone) or for the customer as a whole (profiling, sharing)."""

    class Status(models.TextChoices):
        GRANTED = "granted", _("Granted")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        REFUSED = "refused", _("Refused")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="consents"
    )
    purpose = models.CharField(_("purpose"), max_length=30, choices=ConsentPurpose.choices)
    contact_point = models.ForeignKey(
        ContactPoint,
        verbose_name=_("contact point"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="consents",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    lawful_basis = models.CharField(
        _("lawful basis"), max_length=20, choices=LawfulBasis.choices, default=LawfulBasis.CONSENT
    )
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    text = models.ForeignKey(
        ConsentText,
        verbose_name=_("text agreed to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consents",
    )
    granted_at = models.DateTimeField(_("granted at"), null=True, blank=True)
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["party", "purpose", "created_at"]
        indexes = [
            # Suppression asks "which contact points of this purpose are granted" in bulk.
            models.Index(fields=["purpose", "status", "contact_point"], name="consent_purpose_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["party", "purpose", "contact_point"],
                condition=Q(contact_point__isnull=False),
                name="consent_one_per_contact_point",
            ),
            models.UniqueConstraint(
                fields=["party", "purpose"],
                condition=Q(contact_point__isnull=True),
                name="consent_one_per_party_purpose",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["granted", "withdrawn", "refused"]),
                name="consent_status_known",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()}: {self.get_status_display()}"

    @property
    def is_granted(self) -> bool:
        return self.status == self.Status.GRANTED


class ConsentEvent(PartyOwnedMixin, models.Model):
    """One change of a consent as it happened (append-only): the proof of what the customer
    agreed to, when, where, and on which wording."""

    id = models.BigAutoField(primary_key=True)
    consent = models.ForeignKey(
        Consent, verbose_name=_("consent"), on_delete=models.CASCADE, related_name="events"
    )
    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="consent_events"
    )
    status = models.CharField(_("status"), max_length=10, choices=Consent.Status.choices)
    lawful_basis = models.CharField(_("lawful basis"), max_length=20, choices=LawfulBasis.choices)
    source = models.CharField(_("source"), max_length=20, choices=ConsentSource.choices)
    text = models.ForeignKey(
        ConsentText,
        verbose_name=_("text agreed to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    occurred_at = models.DateTimeField(_("when"))
    # Who recorded it: a member of staff's name, "customer" or a system job's label.
    recorded_by_label = models.CharField(_("recorded by"), max_length=150)
    note = models.CharField(_("note"), max_length=300, blank=True)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")
        ordering = ["consent", "occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.consent_id} {self.status} {self.occurred_at:%Y-%m-%d}"
