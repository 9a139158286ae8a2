"""Kernel models: base classes, data keys, workflows, approvals."""

from .approvals import PendingApproval
from .base import TimeStampedModel, UUIDModel
from .calendar import BusinessCalendar, BusinessCalendarDay
from .keys import DataKey, KeyRotation
from .workflow import (
    WorkflowDefinition,
    WorkflowState,
    WorkflowSubjectMixin,
    WorkflowTransition,
    WorkflowTransitionLog,
)

__all__ = [
    "BusinessCalendar",
    "BusinessCalendarDay",
    "DataKey",
    "KeyRotation",
    "PendingApproval",
    "TimeStampedModel",
    "UUIDModel",
    "WorkflowDefinition",
    "WorkflowState",
    "WorkflowSubjectMixin",
    "WorkflowTransition",
    "WorkflowTransitionLog",
]
