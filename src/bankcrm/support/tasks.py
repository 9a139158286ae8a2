"""The customer service module's Celery tasks, kept by subject in tasks_*.py; Celery's
autodiscovery imports this module, which registers them all."""

from .tasks_cases import close_resolved
from .tasks_complaints import complaints_overdue
from .tasks_mail import imap_poll, message_send
from .tasks_sla import sla_sweep

__all__ = ["close_resolved", "complaints_overdue", "imap_poll", "message_send", "sla_sweep"]
