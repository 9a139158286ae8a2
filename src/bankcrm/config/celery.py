"""The Celery application behind ``bankcrm worker``.

Without ``BANKCRM_BROKER_URL`` every task runs eagerly in the calling process, so the
embedded default needs no broker.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bankcrm.config.settings")

app = Celery("bankcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The outbox sweep (bankcrm.events.tasks): delivers retries that fell due and any event whose
# dispatch right after its commit was lost (broker down, worker killed).
app.conf.beat_schedule = {
    "events-dispatch-pending": {
        "task": "events.dispatch_pending",
        "schedule": float(os.environ.get("BANKCRM_EVENTS_SWEEP_SECONDS") or 60),
    },
    # The night's loan servicing, at 01:30 in the bank's zone (CELERY_TIMEZONE): repayments
    # matched first, then days past due and early warnings (bankcrm.lending.tasks).
    "lending-nightly": {"task": "lending.nightly", "schedule": crontab(hour=1, minute=30)},
    # Credit risk at 02:00, after lending's servicing: outcomes of scored loans, then every
    # customer's behaviour score with the production behaviour model (bankcrm.risk.tasks).
    "risk-nightly": {"task": "risk.nightly", "schedule": crontab(hour=2, minute=0)},
    # KYC at 02:30: every customer re-rated, overdue reviews escalated, expiring identity
    # documents reminded, periodic reviews opened (bankcrm.compliance.tasks_kyc).
    "compliance-nightly-kyc": {
        "task": "compliance.nightly_kyc",
        "schedule": crontab(hour=2, minute=30),
    },
    # AML monitoring at 03:00, after the day's bookings are loaded: every active scenario in
    # batch over the look-back window, alerts raised or updated (bankcrm.compliance.tasks_aml).
    "compliance-aml-nightly": {
        "task": "compliance.aml_nightly",
        "schedule": crontab(hour=3, minute=0),
    },
}
