"""Kernel models: base classes, data keys, workflows, approvals."""

from .base import TimeStampedModel, UUIDModel
from .keys import DataKey

__all__ = ["DataKey", "TimeStampedModel", "UUIDModel"]
