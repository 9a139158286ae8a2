"""The compliance module's Celery tasks, kept by subject in tasks_*.py; Celery's
autodiscovery imports this module, which registers them all."""

from .tasks_aml import aml_nightly
from .tasks_kyc import nightly_kyc, party_rate_task
from .tasks_screening import counterparties_screen_task, party_screen_task, rescreen_chunk

__all__ = [
    "aml_nightly",
    "counterparties_screen_task",
    "nightly_kyc",
    "party_rate_task",
    "party_screen_task",
    "rescreen_chunk",
]
