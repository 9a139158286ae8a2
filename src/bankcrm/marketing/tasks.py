"""The marketing module's Celery tasks, kept by subject in tasks_*.py; Celery's autodiscovery
imports this module, which registers them all."""
