"""The Celery application behind ``bankcrm worker``.

Without ``BANKCRM_BROKER_URL`` every task runs eagerly in the calling process, so the
embedded default needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")

app = Celery("bankcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
