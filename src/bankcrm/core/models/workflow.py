"""Workflows as data: the states and steps of a loan application, a case or a review."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .base import TimeStampedModel


class WorkflowDefinition(TimeStampedModel):
    """A process the bank follows (loan application, KYC review), in one numbered version.

    Items started on a version keep it; new items start on the active version.
    """

    key = models.SlugField(_("key"), max_length=64)
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    initial_state = models.CharField(_("initial state"), max_length=64)
    # When set, the states' SLA hours are business hours of this calendar; else wall-clock.
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        verbose_name=_("business calendar"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="workflow_definitions",
        help_text=_("SLA hours count working hours of this calendar; without one, all hours."),
    )

    class Meta:
        verbose_name = _("workflow definition")
        verbose_name_plural = _("workflow definitions")
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="core_workflow_key_version"),
            models.UniqueConstraint(
                fields=["key"], condition=Q(is_active=True), name="core_workflow_one_active"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class WorkflowState(models.Model):
    """A stage an item can be in (draft, under review, approved), with its time limit."""

    definition = models.ForeignKey(
        WorkflowDefinition,
        verbose_name=_("workflow"),
        on_delete=models.CASCADE,
        related_name="states",
    )
    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    is_terminal = models.BooleanField(_("final"), default=False)
    # Service level: hours an item may stay in this state before it is overdue.
    sla_hours = models.PositiveIntegerField(_("SLA (hours)"), null=True, blank=True)

    class Meta:
        verbose_name = _("workflow state")
        verbose_name_plural = _("workflow states")
        ordering = ["definition", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["definition", "code"], name="core_wfstate_code"),
        ]

    def __str__(self) -> str:
        return str(self.name)


class WorkflowTransition(models.Model):
    """A step from one state to another, who may take it and what must hold first."""

    definition = models.ForeignKey(
        WorkflowDefinition,
        verbose_name=_("workflow"),
        on_delete=models.CASCADE,
        related_name="transitions",
    )
    # The same code may leave several states ("cancel" from draft and from review).
    code = models.SlugField(_("code"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    source = models.ForeignKey(
        WorkflowState,
        verbose_name=_("from"),
        on_delete=models.CASCADE,
        related_name="outgoing",
    )
    target = models.ForeignKey(
        WorkflowState,
        verbose_name=_("to"),
        on_delete=models.CASCADE,
        related_name="incoming",
    )
    # Role codes (Role.Code) that may take the step; empty: anyone who may change the item.
    allowed_roles = models.JSONField(_("allowed roles"), default=list, blank=True)
    # Names of registered guards (bankcrm.core.workflow.register_workflow_guard).
    guards = models.JSONField(_("conditions"), default=list, blank=True)
    requires_reason = models.BooleanField(_("reason required"), default=False)

    class Meta:
        verbose_name = _("workflow transition")
        verbose_name_plural = _("workflow transitions")
        ordering = ["definition", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "source", "code"], name="core_wftransition_code"
            ),
        ]

    def __str__(self) -> str:
        return str(self.name)


class WorkflowTransitionLog(models.Model):
    """The history of one item's steps through its workflow: who, when, from where, why."""

    definition = models.ForeignKey(
        WorkflowDefinition,
        verbose_name=_("workflow"),
        on_delete=models.PROTECT,
        related_name="log",
    )
    subject_type = models.CharField(_("item type"), max_length=100)
    subject_pk = models.CharField(_("item key"), max_length=64)
    from_state = models.CharField(_("from"), max_length=64, blank=True)
    to_state = models.CharField(_("to"), max_length=64)
    transition = models.CharField(_("step"), max_length=64)
    actor = models.CharField(_("by"), max_length=150)
    reason = models.TextField(_("reason"), blank=True)
    at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        verbose_name = _("workflow step taken")
        verbose_name_plural = _("workflow steps taken")
        ordering = ["at", "pk"]
        indexes = [
            models.Index(
                fields=["subject_type", "subject_pk", "at"], name="core_wflog_subject_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_pk} {self.from_state} → {self.to_state}"


class WorkflowSubjectMixin(models.Model):
    """Fields of an item that moves through a workflow (loan application, case, review)."""

    workflow = models.ForeignKey(
        WorkflowDefinition,
        verbose_name=_("workflow"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    state = models.CharField(_("state"), max_length=64, blank=True, db_index=True)
    state_entered_at = models.DateTimeField(_("in this state since"), null=True, blank=True)
    state_due_at = models.DateTimeField(_("due"), null=True, blank=True, db_index=True)

    workflow_id: int | None

    class Meta:
        abstract = True
