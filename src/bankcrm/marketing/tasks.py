"""The marketing module's Celery tasks, kept by subject in tasks_*.py; Celery's autodiscovery
imports this module, which registers them all."""

from .tasks_campaigns import campaigns_start_due
from .tasks_conversions import conversions_detect
from .tasks_propensity import propensity_score
from .tasks_segments import segments_refresh_due
from .tasks_sending import campaign_send, campaigns_send_pending

__all__ = [
    "campaign_send",
    "campaigns_send_pending",
    "campaigns_start_due",
    "conversions_detect",
    "propensity_score",
    "segments_refresh_due",
]
