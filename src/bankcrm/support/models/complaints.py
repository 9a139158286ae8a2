"""Regulated complaints: the regulator's categories, products and root causes as data, the
statutory deadline rule, and each complaint's facts, deadline and redress."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel

from .cases import ServiceCase
from .setup import CODE_VALIDATOR


class ComplaintCode(TimeStampedModel):
    """An entry of the complaint classification a regulator asks for: a category, a product
    or a root cause, with its code in the regulator's returns."""

    class Kind(models.TextChoices):
        CATEGORY = "category", _("Regulatory category")
        PRODUCT = "product", _("Product or service")
        ROOT_CAUSE = "root_cause", _("Root cause")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    code = models.CharField(_("code"), max_length=32, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        verbose_name = _("complaint code")
        verbose_name_plural = _("complaint codes")
        ordering = ["kind", "sort_order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "code"], name="support_complaint_code_once")
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class ComplaintDeadlineRule(TimeStampedModel):
    """How the statutory answer deadline is computed from the date a complaint is received:
    N calendar (or business) days, extendable once to M days with a recorded reason."""

    class DayKind(models.TextChoices):
        CALENDAR = "calendar", _("Calendar days")
        BUSINESS = "business", _("Working days of the calendar")

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    days = models.PositiveSmallIntegerField(_("days to answer"), validators=[MinValueValidator(1)])
    day_kind = models.CharField(
        _("counted in"), max_length=10, choices=DayKind.choices, default=DayKind.CALENDAR
    )
    # Total days from receipt once extended (0: no extension allowed).
    extended_days = models.PositiveSmallIntegerField(_("days when extended"), default=0)
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_default = models.BooleanField(_("default rule"), default=False)

    class Meta:
        verbose_name = _("complaint deadline rule")
        verbose_name_plural = _("complaint deadline rules")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="support_one_default_rule"
            ),
            models.CheckConstraint(
                condition=Q(extended_days=0) | Q(extended_days__gt=models.F("days")),
                name="support_rule_extension_longer",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Complaint(TimeStampedModel):
    """The regulated part of a complaint case: classification, statutory deadline, outcome
    and redress (approved by a second person above the threshold)."""

    class Outcome(models.TextChoices):
        NONE = "", _("Not decided")
        UPHELD = "upheld", _("Upheld")
        PARTLY_UPHELD = "partly_upheld", _("Partly upheld")
        NOT_UPHELD = "not_upheld", _("Not upheld")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class RedressStatus(models.TextChoices):
        NONE = "none", _("No redress")
        PROPOSED = "proposed", _("Proposed")
        PENDING_APPROVAL = "pending_approval", _("Awaiting approval")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        PAID = "paid", _("Paid")

    case = models.OneToOneField(
        ServiceCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="complaint"
    )
    category = models.ForeignKey(
        ComplaintCode,
        verbose_name=_("regulatory category"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "category"},
    )
    product = models.ForeignKey(
        ComplaintCode,
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "product"},
    )
    root_cause = models.ForeignKey(
        ComplaintCode,
        verbose_name=_("root cause"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        limit_choices_to={"kind": "root_cause"},
    )
    received_on = models.DateField(_("received on"))
    deadline_rule = models.ForeignKey(
        ComplaintDeadlineRule,
        verbose_name=_("deadline rule"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    deadline = models.DateField(_("statutory deadline"), db_index=True)
    extended_at = models.DateTimeField(_("extended"), null=True, blank=True)
    extended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    extension_reason = models.TextField(_("reason for the extension"), blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=14, choices=Outcome.choices, blank=True, default=""
    )
    answered_on = models.DateField(_("answered on"), null=True, blank=True)
    redress_amount = models.DecimalField(
        _("redress"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    redress_currency = models.CharField(_("currency"), max_length=3, blank=True)
    redress_status = models.CharField(
        _("redress status"),
        max_length=16,
        choices=RedressStatus.choices,
        default=RedressStatus.NONE,
    )
    redress_approval = models.ForeignKey(
        "core.PendingApproval", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    redress_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Set once when the deadline passes unanswered and the complaint is escalated.
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)

    scope_unit_field = "case__org_unit"
    scope_portfolio_field = "case__party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("complaint")
        verbose_name_plural = _("complaints")
        ordering = ["-received_on"]
        constraints = [
            models.CheckConstraint(
                condition=Q(redress_amount__isnull=True) | Q(redress_amount__gte=0),
                name="support_redress_not_negative",
            )
        ]

    def __str__(self) -> str:
        return str(self.case)
