"""KYC/CDD: the customer risk rating as data, periodic reviews and enhanced due diligence."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import EncryptedTextField
from bankcrm.core.models import TimeStampedModel, UUIDModel, WorkflowSubjectMixin
from bankcrm.customers.models import Party, PartyOwnedMixin

SCORE_DIGITS = {"max_digits": 7, "decimal_places": 2}


class RiskBand(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class CountryList(TimeStampedModel):
    """A named list of countries the rating policy refers to (e.g. FATF high-risk)."""

    code = models.SlugField(_("code"), max_length=48, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    # ISO 3166-1 alpha-2 codes, upper case.
    countries = models.JSONField(_("countries"), default=list)

    class Meta:
        verbose_name = _("country list")
        verbose_name_plural = _("country lists")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class RatingPolicy(TimeStampedModel):
    """A version of the customer risk rating: factors, weights, bands and review periods.

    ``spec`` is validated by :mod:`bankcrm.compliance.rating`; exactly one version is active.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    name = models.CharField(_("name"), max_length=200)
    spec = models.JSONField(_("specification"))
    is_active = models.BooleanField(_("active"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("risk rating policy")
        verbose_name_plural = _("risk rating policies")
        permissions = [
            ("rate_party", _("Can recalculate customer risk ratings")),
        ]
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="one_active_rating_policy"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class KycProfile(PartyOwnedMixin, TimeStampedModel):
    """A customer's due-diligence state: current risk rating, review dates, PEP and EDD."""

    class PepStatus(models.TextChoices):
        NONE = "none", _("Not a PEP")
        CURRENT = "current", _("Politically exposed person")
        FORMER = "former", _("Former PEP")
        RELATIVE = "relative", _("Family member or close associate of a PEP")

    class DueDiligence(models.TextChoices):
        SIMPLIFIED = "simplified", _("Simplified")
        STANDARD = "standard", _("Standard")
        ENHANCED = "enhanced", _("Enhanced")

    class ScreeningStatus(models.TextChoices):
        NOT_SCREENED = "not_screened", _("Not screened")
        CLEAR = "clear", _("Clear")
        POTENTIAL = "potential", _("Potential match awaiting decision")
        CONFIRMED = "confirmed", _("Confirmed match")

    party = models.OneToOneField(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="kyc"
    )
    risk_score = models.DecimalField(_("risk score"), null=True, blank=True, **SCORE_DIGITS)
    risk_band = models.CharField(
        _("risk band"), max_length=10, choices=RiskBand.choices, blank=True
    )
    # [{"code","label","value","points","weight","contribution"}], as the policy computed them.
    risk_factors = models.JSONField(_("risk factors"), default=list, blank=True)
    policy = models.ForeignKey(
        RatingPolicy, verbose_name=_("policy"), null=True, blank=True, on_delete=models.PROTECT
    )
    rated_at = models.DateTimeField(_("rated at"), null=True, blank=True)
    due_diligence = models.CharField(
        _("due diligence"),
        max_length=12,
        choices=DueDiligence.choices,
        default=DueDiligence.STANDARD,
    )
    last_review_on = models.DateField(_("last reviewed on"), null=True, blank=True)
    next_review_on = models.DateField(_("next review due"), null=True, blank=True, db_index=True)
    pep_status = models.CharField(
        _("PEP status"), max_length=10, choices=PepStatus.choices, default=PepStatus.NONE
    )
    pep_position = models.CharField(_("PEP position"), max_length=200, blank=True)
    pep_left_office_on = models.DateField(_("left office on"), null=True, blank=True)
    # Enhanced due diligence applies until this day (a former PEP stays enhanced a while).
    edd_until = models.DateField(_("enhanced due diligence until"), null=True, blank=True)
    adverse_media = models.BooleanField(_("adverse media"), default=False)
    onboarding_channel = models.CharField(_("onboarding channel"), max_length=20, blank=True)
    residence_country = models.CharField(_("country of residence"), max_length=2, blank=True)
    # What the customer said to expect: {"monthly_turnover": "50000", "currency": "CNY", ...}.
    expected_activity = models.JSONField(_("expected activity"), default=dict, blank=True)
    screening_status = models.CharField(
        _("screening status"),
        max_length=14,
        choices=ScreeningStatus.choices,
        default=ScreeningStatus.NOT_SCREENED,
    )
    screened_at = models.DateTimeField(_("screened at"), null=True, blank=True)
    # A fingerprint of the screened name and identifiers: a change means screen again.
    screened_fingerprint = models.CharField(max_length=64, blank=True, editable=False)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("KYC profile")
        verbose_name_plural = _("KYC profiles")
        indexes = [models.Index(fields=["risk_band"], name="kyc_band_idx")]

    def __str__(self) -> str:
        return f"KYC {self.party_id}"


class RiskRatingHistory(PartyOwnedMixin, models.Model):
    """Each rating computed for a customer, with what triggered it."""

    id = models.BigAutoField(primary_key=True)
    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    rated_at = models.DateTimeField(_("rated at"), db_index=True)
    score = models.DecimalField(_("risk score"), **SCORE_DIGITS)
    band = models.CharField(_("risk band"), max_length=10, choices=RiskBand.choices)
    factors = models.JSONField(_("risk factors"), default=list)
    policy = models.ForeignKey(RatingPolicy, on_delete=models.PROTECT, related_name="+")
    # What caused it: an event type ("customer.updated"), "nightly" or "manual".
    trigger = models.CharField(_("trigger"), max_length=64)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("risk rating")
        verbose_name_plural = _("risk ratings")
        ordering = ["-rated_at", "-id"]
        indexes = [models.Index(fields=["party", "-rated_at"], name="kyc_rating_party_idx")]

    def __str__(self) -> str:
        return f"{self.band} {self.score} at {self.rated_at:%Y-%m-%d}"


class KycReview(PartyOwnedMixin, WorkflowSubjectMixin, UUIDModel):
    """A due-diligence review of one customer, moving through the ``kyc_review`` workflow."""

    class Kind(models.TextChoices):
        ONBOARDING = "onboarding", _("Onboarding")
        PERIODIC = "periodic", _("Periodic")
        TRIGGER = "trigger", _("Event-driven")
        EDD = "edd", _("Enhanced due diligence")

    class Outcome(models.TextChoices):
        NONE = "", _("Not decided")
        CONFIRMED = "confirmed", _("Rating confirmed")
        CHANGED = "changed", _("Rating changed")
        EXIT = "exit", _("Relationship to be ended")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="kyc_reviews"
    )
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    due_on = models.DateField(_("due on"), db_index=True)
    risk_band_at_start = models.CharField(
        _("risk band at start"), max_length=10, choices=RiskBand.choices, blank=True
    )
    # [{"code","label","required","done","note","by","at"}], from the workflow's checklist.
    checklist = models.JSONField(_("evidence checklist"), default=list)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, blank=True, default=""
    )
    conclusion = EncryptedTextField(_("conclusion"), blank=True, default="")
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("KYC review")
        verbose_name_plural = _("KYC reviews")
        ordering = ["due_on", "id"]
        constraints = [
            # At most one review in progress per customer.
            models.UniqueConstraint(
                fields=["party"],
                condition=Q(completed_at__isnull=True),
                name="kyc_one_open_review",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} review {self.pk}"


class EddRecord(PartyOwnedMixin, UUIDModel):
    """Enhanced due diligence: source of wealth and funds, approved by senior management."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    party = models.ForeignKey(
        Party, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="edd_records"
    )
    source_of_wealth = EncryptedTextField(_("source of wealth"))
    source_of_funds = EncryptedTextField(_("source of funds"))
    notes = EncryptedTextField(_("notes"), blank=True, default="")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    approval = models.ForeignKey(
        "core.PendingApproval", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("enhanced due diligence")
        verbose_name_plural = _("enhanced due diligence records")
        permissions = [
            ("approve_eddrecord", _("Can approve enhanced due diligence")),
        ]
        ordering = ["-created_at"]
