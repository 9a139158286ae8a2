"""How service work is organised: case types, queues and their agents, SLA policies.

All of it is data an administrator edits: a case type names its workflow, required fields
and default queue; an SLA policy gives first-response and resolution targets in business
minutes for a type × priority × segment (blank matches any); a queue belongs to an org unit,
has a supervisor, a business calendar and an assignment rule.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.models import TimeStampedModel

CODE_VALIDATOR = RegexValidator(r"^[a-z0-9_]+$")


class Priority(models.IntegerChoices):
    """How urgent a case is; higher is more urgent."""

    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Channel(models.TextChoices):
    """Where a case came from; recorded on the case and reported."""

    PHONE = "phone", _("Phone")
    EMAIL = "email", _("E-mail")
    BRANCH = "branch", _("Branch")
    WEB_FORM = "web_form", _("Web form")
    CHAT = "chat", _("Chat")
    MOBILE_APP = "mobile_app", _("Mobile app")
    SOCIAL = "social", _("Social media")


class CaseType(TimeStampedModel):
    """A kind of service case (inquiry, service request, complaint …): its workflow,
    required fields, default priority, queue and reopen window."""

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    # The key of the WorkflowDefinition cases of this type move through.
    workflow_key = models.CharField(_("workflow"), max_length=64)
    # Names of case fields that must be filled when a case of this type is opened
    # ("party", "account", "description", "contact_email", …; see services_cases).
    required_fields = models.JSONField(_("required fields"), default=list, blank=True)
    default_priority = models.PositiveSmallIntegerField(
        _("default priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    default_queue = models.ForeignKey(
        "support.Queue",
        verbose_name=_("default queue"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # A resolved or closed case may be reopened for this many calendar days.
    reopen_days = models.PositiveSmallIntegerField(_("reopen within (days)"), default=7)
    # Workflow states in which the SLA clock stands still (waiting on the customer).
    sla_pause_states = models.JSONField(_("SLA paused in states"), default=list, blank=True)
    is_complaint = models.BooleanField(_("regulated complaint"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        verbose_name = _("case type")
        verbose_name_plural = _("case types")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class Queue(TimeStampedModel):
    """A team's work queue in an org unit: its agents, supervisor, calendar and how new
    cases are assigned."""

    class Assignment(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("Round robin among available agents")
        SKILL = "skill", _("By skill and language, then round robin")
        MANUAL = "manual", _("Agents pick cases themselves")

    code = models.CharField(_("code"), max_length=32, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(_("name"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200, blank=True)
    org_unit = models.ForeignKey(
        "access.OrgUnit", verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="+"
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("supervisor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="supervised_queues",
    )
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    assignment = models.CharField(
        _("assignment"), max_length=16, choices=Assignment.choices, default=Assignment.ROUND_ROBIN
    )
    # Segments whose cases go to the customer's own relationship manager when the RM is a
    # member of this queue (for instance ["private", "affluent"]).
    rm_segments = models.JSONField(_("segments served by their RM"), default=list, blank=True)
    # Inbound e-mail to this address lands in this queue (blank: not an e-mail queue).
    email_address = models.EmailField(_("e-mail address"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    scope_unit_field = "org_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("queue")
        verbose_name_plural = _("queues")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class QueueMember(TimeStampedModel):
    """An agent working a queue: skills, languages, availability and the last assignment
    (round robin takes the available agent assigned longest ago)."""

    queue = models.ForeignKey(
        Queue, verbose_name=_("queue"), on_delete=models.CASCADE, related_name="members"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("agent"),
        on_delete=models.CASCADE,
        related_name="queue_memberships",
    )
    # Case type codes (or other skill tags) the agent handles; empty: every case.
    skills = models.JSONField(_("skills"), default=list, blank=True)
    # Language codes the agent answers in ("en", "zh-hans"); empty: any.
    languages = models.JSONField(_("languages"), default=list, blank=True)
    is_available = models.BooleanField(_("available"), default=True)
    # Most open cases the agent should hold from this queue before being skipped (0: no cap).
    max_open_cases = models.PositiveIntegerField(_("most open cases"), default=0)
    last_assigned_at = models.DateTimeField(_("last assigned"), null=True, blank=True)

    scope_unit_field = "queue__org_unit"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("queue member")
        verbose_name_plural = _("queue members")
        ordering = ["queue", "user"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "user"], name="support_queue_member_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.queue}"


class SlaPolicy(TimeStampedModel):
    """Service-level targets for cases of a type × priority × segment, in business minutes
    of a calendar; the most specific active policy applies to a new case."""

    name = models.CharField(_("name"), max_length=200)
    case_type = models.ForeignKey(
        CaseType,
        verbose_name=_("case type"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, null=True, blank=True
    )
    # A Party.Segment value; blank matches every segment and cases without a customer.
    segment = models.CharField(_("segment"), max_length=20, blank=True)
    first_response_minutes = models.PositiveIntegerField(
        _("first response within (business minutes)"), validators=[MinValueValidator(1)]
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution within (business minutes)"), validators=[MinValueValidator(1)]
    )
    # A warning is raised once this share of a target has elapsed.
    warning_percent = models.PositiveSmallIntegerField(
        _("warn at (percentage of target)"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )
    # Blank: the case's queue's calendar (or the bank's default calendar).
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["case_type", "priority", "segment"]
        constraints = [
            models.UniqueConstraint(
                fields=["case_type", "priority", "segment"],
                condition=Q(is_active=True),
                name="support_sla_policy_one_active",
            ),
            models.CheckConstraint(
                condition=Q(resolution_minutes__gte=models.F("first_response_minutes")),
                name="support_sla_resolution_after_response",
            ),
        ]

    def __str__(self) -> str:
        return self.name
