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
    # Customer service SLAs (bankcrm.support.tasks_sla): warnings and breaches of the case
    # clocks raised once each, breaches escalated to the queue's supervisor. The interval is
    # BANKCRM_SUPPORT_SLA_SWEEP_SECONDS (settings.SUPPORT_SLA_SWEEP_SECONDS), read from the
    # environment here like the events sweep, before Django's settings are loaded.
    "support-sla-sweep": {
        "task": "support.sla_sweep",
        "schedule": float(os.environ.get("BANKCRM_SUPPORT_SLA_SWEEP_SECONDS") or 60),
    },
    # AML monitoring at 03:00, after the day's bookings are loaded: every active scenario in
    # batch over the look-back window, alerts raised or updated (bankcrm.compliance.tasks_aml).
    "compliance-aml-nightly": {
        "task": "compliance.aml_nightly",
        "schedule": crontab(hour=3, minute=0),
    },
    # Complaints at 06:00: each complaint left unanswered after its statutory deadline is
    # escalated once to its branch managers and compliance (bankcrm.support.tasks_complaints).
    "support-complaints-overdue": {
        "task": "support.complaints_overdue",
        "schedule": crontab(hour=6, minute=0),
    },
    # Resolved service cases past their type's reopen window are closed at 05:30
    # (bankcrm.support.tasks_cases).
    "support-close-resolved": {
        "task": "support.close_resolved",
        "schedule": crontab(hour=5, minute=30),
    },
    # Campaign sending (bankcrm.marketing.tasks_sending): every 5 minutes, restarts the sender
    # of a running campaign left with queued messages and no batch for 10 minutes (its chain
    # of tasks lost to a killed worker or a restarted broker).
    "marketing-send-pending": {
        "task": "marketing.campaigns_send_pending",
        "schedule": 300.0,
    },
    # Approved campaigns whose start time has come are launched (audience drawn, messages
    # queued, sending started) within a minute (bankcrm.marketing.tasks_campaigns).
    "marketing-campaigns-start-due": {
        "task": "marketing.campaigns_start_due",
        "schedule": 60.0,
    },
    # Dynamic segments are re-evaluated when their own refresh_hours have passed; the hourly
    # sweep picks the due ones (bankcrm.marketing.tasks_segments).
    "marketing-segments-refresh": {
        "task": "marketing.segments_refresh",
        "schedule": crontab(minute=15),
    },
    # Campaign conversions at 04:30, after the night's account load and the AML run: accounts
    # opened by targets within their windows; campaigns past their window are completed
    # (bankcrm.marketing.tasks_conversions).
    "marketing-conversions": {
        "task": "marketing.conversions_detect",
        "schedule": crontab(hour=4, minute=30),
    },
    # Export files past their retention period (ANALYTICS_EXPORT_RETENTION_DAYS) are deleted
    # at 05:00 (bankcrm.analytics.tasks_exports).
    "analytics-export-jobs-purge": {
        "task": "analytics.export_jobs_purge",
        "schedule": crontab(hour=5, minute=0),
    },
    # Report schedules that are due are e-mailed every 5 minutes
    # (bankcrm.analytics.tasks_schedules).
    "analytics-report-schedules": {
        "task": "analytics.report_schedules_send",
        "schedule": crontab(minute="*/5"),
    },
    # The dashboards' daily aggregates at 04:45, after the night's bookings and balances are
    # loaded: the days since the last snapshot, up to today (bankcrm.analytics.tasks_dashboards).
    "analytics-dashboards-refresh": {
        "task": "analytics.dashboards_refresh",
        "schedule": crontab(hour=4, minute=45),
    },
    # The early-warning report's account-based signals at 04:50, after the same loads
    # (bankcrm.analytics.tasks_early_warning).
    "analytics-early-warnings-refresh": {
        "task": "analytics.early_warnings_refresh",
        "schedule": crontab(hour=4, minute=50),
    },
    # The transaction reports' summary of the bookings up to yesterday at 04:55, after the
    # same loads (bankcrm.analytics.tasks_dashboards).
    "analytics-transaction-summary-refresh": {
        "task": "analytics.transaction_summary_refresh",
        "schedule": crontab(hour=4, minute=55),
    },
    # The RFM report's scores of every customer at 05:00 (bankcrm.analytics.tasks_dashboards).
    "analytics-rfm-refresh": {
        "task": "analytics.rfm_refresh",
        "schedule": crontab(hour=5, minute=0),
    },
}

# The service desk's mailbox (bankcrm.support.tasks_mail): unseen mail read into cases every
# BANKCRM_SUPPORT_IMAP_POLL_SECONDS, only when BANKCRM_SUPPORT_IMAP_URL names a mailbox (the
# same variables config/settings.py reads as SUPPORT_IMAP_URL / SUPPORT_IMAP_POLL_SECONDS).
if os.environ.get("BANKCRM_SUPPORT_IMAP_URL"):
    app.conf.beat_schedule["support-imap-poll"] = {
        "task": "support.imap_poll",
        "schedule": float(os.environ.get("BANKCRM_SUPPORT_IMAP_POLL_SECONDS") or 60),
    }
