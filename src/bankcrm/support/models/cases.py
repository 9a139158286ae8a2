"""Service cases, their conversation, links to accounts, loans and transactions, and the
satisfaction survey sent after resolution."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from bankcrm.access.querysets import RestrictedManager
from bankcrm.core.crypto import BlindIndexField, EncryptedTextField
from bankcrm.core.models import (
    TimeStampedModel,
    UUIDModel,
    WorkflowDefinition,
    WorkflowSubjectMixin,
)
from bankcrm.customers.models import party_data_key_scope

from .setup import CaseType, Channel, Priority, Queue, SlaPolicy


class CaseKeyMixin(models.Model):
    """Rows sealed under the customer's key once the case has a customer (so erasing the
    customer shreds them), under the table's key before that."""

    class Meta:
        abstract = True

    def _key_party_id(self) -> object:
        raise NotImplementedError

    def get_data_key_scope(self) -> str:
        party_id = self._key_party_id()
        if party_id:
            return party_data_key_scope(party_id)
        return f"table:{self._meta.db_table}"


class CaseSequence(models.Model):
    """The last case number given in a year: references are SC-<year>-<number>, gap-free."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("case number sequence")
        verbose_name_plural = _("case number sequences")

    def __str__(self) -> str:
        return f"{self.year}: {self.last_number}"


class ServiceCase(CaseKeyMixin, WorkflowSubjectMixin, UUIDModel):
    """A customer's request, question, complaint, incident or fraud report, from any
    channel, worked in a queue under an SLA."""

    # Foreign keys that lead a composite index below (party, org unit, queue, assignee) or are
    # rarely searched (opened by, SLA policy and calendar, merged into) have no index of their
    # own: every index is rewritten when the SLA dues move, and recomputing a hundred thousand
    # open cases' dues must stay within seconds. For the same reason the type and the
    # workflow, and the base classes' created_at and state_due_at, have none: no page or
    # job looks cases up by them (deleting a type or workflow is a rare administrator's
    # act that may read the table once).
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    workflow = models.ForeignKey(
        WorkflowDefinition,
        verbose_name=_("workflow"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    state_due_at = models.DateTimeField(_("due"), null=True, blank=True)
    reference = models.CharField(_("reference"), max_length=24, unique=True)
    case_type = models.ForeignKey(
        CaseType,
        verbose_name=_("type"),
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    # Plain text so agents can search it; the conversation itself is encrypted.
    subject = models.CharField(_("subject"), max_length=300)
    description = EncryptedTextField(_("description"), blank=True, default="")
    party = models.ForeignKey(
        "customers.Party",
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="service_cases",
        db_index=False,
    )
    # Segment of the customer when the case was opened (SLA policy and reports).
    segment = models.CharField(_("segment"), max_length=20, blank=True)
    # Who wrote in when no customer is known yet (web form, e-mail from a new address).
    contact_name = EncryptedTextField(_("contact name"), blank=True, default="")
    contact_email = EncryptedTextField(_("contact e-mail"), blank=True, default="")
    contact_email_index = BlindIndexField(source="contact_email", normalizer="email")
    contact_phone = EncryptedTextField(_("contact phone"), blank=True, default="")
    # The customer's language for replies, templates and the survey ("en", "zh-hans").
    language = models.CharField(_("language"), max_length=8, default="zh-hans")
    # The customer's org unit when known, else the queue's: the case's data scope.
    org_unit = models.ForeignKey(
        "access.OrgUnit",
        verbose_name=_("org unit"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    queue = models.ForeignKey(
        Queue,
        verbose_name=_("queue"),
        on_delete=models.PROTECT,
        related_name="cases",
        db_index=False,
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_service_cases",
        db_index=False,
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("opened by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    received_at = models.DateTimeField(_("received"), db_index=True)

    # --- SLA: targets copied from the policy when the case opens (later policy edits do
    # not move running cases); dues recomputed when the clock pauses and resumes.
    sla_policy = models.ForeignKey(
        SlaPolicy,
        verbose_name=_("SLA policy"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    sla_calendar = models.ForeignKey(
        "core.BusinessCalendar",
        verbose_name=_("SLA calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    first_response_target_minutes = models.PositiveIntegerField(null=True, blank=True)
    resolution_target_minutes = models.PositiveIntegerField(null=True, blank=True)
    sla_warning_percent = models.PositiveSmallIntegerField(default=80)
    first_response_due_at = models.DateTimeField(_("first response due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    first_responded_at = models.DateTimeField(_("first responded"), null=True, blank=True)
    # While waiting on the customer the clock stands still: since when, and the business
    # minutes already spent paused (added to the targets to get the dues).
    sla_paused_since = models.DateTimeField(_("SLA paused since"), null=True, blank=True)
    sla_paused_minutes = models.PositiveIntegerField(_("SLA minutes paused"), default=0)
    first_response_warned_at = models.DateTimeField(null=True, blank=True)
    first_response_breached_at = models.DateTimeField(null=True, blank=True)
    resolution_warned_at = models.DateTimeField(null=True, blank=True)
    resolution_breached_at = models.DateTimeField(null=True, blank=True)

    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    reopened_count = models.PositiveSmallIntegerField(_("times reopened"), default=0)
    resolution_note = EncryptedTextField(_("resolution"), blank=True, default="")
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_cases",
        db_index=False,
    )
    # True from opening until resolved/closed/merged: the queue pages' and SLA jobs' filter.
    is_open = models.BooleanField(_("open"), default=True)

    scope_unit_field = "org_unit"
    scope_portfolio_field = "party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("service case")
        verbose_name_plural = _("service cases")
        ordering = ["-received_at"]
        permissions = [
            ("approve_redress", _("Can approve complaint redress above the threshold")),
            ("supervise_queue", _("Can see queue backlogs and agent load")),
            ("export_complaints", _("Can export the complaints register")),
        ]
        indexes = [
            models.Index(
                fields=["queue", "is_open", "resolution_due_at"], name="support_case_queue_idx"
            ),
            models.Index(
                fields=["assigned_to", "is_open", "resolution_due_at"],
                name="support_case_agent_idx",
            ),
            models.Index(fields=["party", "received_at"], name="support_case_party_idx"),
            models.Index(fields=["org_unit", "is_open"], name="support_case_unit_idx"),
            models.Index(
                fields=["is_open", "first_response_due_at"], name="support_case_frdue_idx"
            ),
            # The agent's workspace: a queue's unassigned open cases, and an agent's open
            # cases, in resolution due order; its filters are checked in the index.
            models.Index(
                fields=["queue", "resolution_due_at", "id", "priority", "state", "channel"],
                condition=models.Q(is_open=True, assigned_to__isnull=True),
                name="support_case_unassigned_idx",
            ),
            models.Index(
                fields=["assigned_to", "resolution_due_at", "id", "priority", "state", "channel"],
                condition=models.Q(is_open=True),
                name="support_case_mine_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def _key_party_id(self) -> object:
        return self.party_id  # type: ignore[attr-defined]


class CaseMessage(CaseKeyMixin, UUIDModel):
    """One message of a case's conversation: from the customer, to the customer, or an
    internal note; e-mails keep their Message-ID for threading."""

    class Direction(models.TextChoices):
        INBOUND = "inbound", _("From the customer")
        OUTBOUND = "outbound", _("To the customer")
        NOTE = "note", _("Internal note")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued for sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Sending failed")
        RECORDED = "recorded", _("Recorded")

    case = models.ForeignKey(
        ServiceCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    from_address = EncryptedTextField(_("from"), blank=True, default="")
    to_address = EncryptedTextField(_("to"), blank=True, default="")
    subject = EncryptedTextField(_("subject"), blank=True, default="")
    body = EncryptedTextField(_("message"), blank=True, default="")
    # [{"name": "statement.pdf", "size": 12345, "content_type": "application/pdf"}]
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    # RFC 5322 threading: our own Message-ID for outbound mail, the sender's for inbound.
    # Unique, so that reading the same mailbox twice stores each e-mail once.
    message_id = models.CharField(
        _("Message-ID"), max_length=255, null=True, blank=True, unique=True
    )
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=255, blank=True)
    references = models.TextField(_("References"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RECORDED
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    send_error = models.TextField(_("sending error"), blank=True)
    send_attempts = models.PositiveSmallIntegerField(_("sending attempts"), default=0)
    # Knowledge articles and the response template this reply used.
    template_code = models.CharField(_("template"), max_length=64, blank=True)

    scope_unit_field = "case__org_unit"
    scope_portfolio_field = "case__party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("case message")
        verbose_name_plural = _("case messages")
        ordering = ["created_at"]
        indexes = [models.Index(fields=["case", "created_at"], name="support_message_case_idx")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.direction} {self.created_at:%Y-%m-%d %H:%M}"

    def _key_party_id(self) -> object:
        return self.case.party_id  # type: ignore[attr-defined]


class CaseLink(TimeStampedModel):
    """A case's link to an account, a loan, a loan application or a transaction."""

    class Kind(models.TextChoices):
        ACCOUNT = "account", _("Account")
        LOAN = "loan", _("Loan")
        LOAN_APPLICATION = "loan_application", _("Loan application")
        TRANSACTION = "transaction", _("Transaction")

    case = models.ForeignKey(
        ServiceCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="links"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    # The linked record's primary key, as text (accounts and loans use different key types).
    object_pk = models.CharField(_("record"), max_length=64)
    # A masked, human label kept at link time ("Current account ****1234").
    label = models.CharField(_("label"), max_length=200)
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )

    class Meta:
        verbose_name = _("case link")
        verbose_name_plural = _("case links")
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "kind", "object_pk"], name="support_case_link_once"
            )
        ]


class SatisfactionSurvey(CaseKeyMixin, UUIDModel):
    """The one-page survey a customer gets after resolution, reached by a signed, expiring
    link: CSAT 1–5 with a comment, and NPS 0–10 if they wish."""

    case = models.OneToOneField(
        ServiceCase, verbose_name=_("case"), on_delete=models.CASCADE, related_name="survey"
    )
    sent_at = models.DateTimeField(_("sent"))
    expires_at = models.DateTimeField(_("link expires"))
    responded_at = models.DateTimeField(_("answered"), null=True, blank=True)
    csat = models.PositiveSmallIntegerField(
        _("satisfaction (1–5)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
    )
    nps = models.PositiveSmallIntegerField(
        _("likelihood to recommend (0–10)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(10)],
    )
    comment = EncryptedTextField(_("comment"), blank=True, default="")

    scope_unit_field = "case__org_unit"
    scope_portfolio_field = "case__party__portfolio"

    objects = RestrictedManager()

    class Meta:
        verbose_name = _("satisfaction survey")
        verbose_name_plural = _("satisfaction surveys")
        ordering = ["-sent_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(csat__isnull=True) | Q(csat__gte=1, csat__lte=5),
                name="support_survey_csat_range",
            ),
            models.CheckConstraint(
                condition=Q(nps__isnull=True) | Q(nps__lte=10), name="support_survey_nps_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case_id} survey"

    def _key_party_id(self) -> object:
        return self.case.party_id  # type: ignore[attr-defined]
