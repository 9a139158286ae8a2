"""The sender's Celery tasks.

``marketing.campaign_send`` (:func:`campaign_send`) sends one batch of a running campaign,
then, while messages are left queued, enqueues itself again with the countdown the throttle
asks for (:func:`bankcrm.marketing.services_sending.send_countdown`). Without a broker
(``CELERY_TASK_ALWAYS_EAGER``, the embedded default) a task cannot wait for a later worker,
so it loops over the batches in the calling process, sleeping the same countdown between
them, and stops when a batch could hand nothing over (the mail server down: the messages
stay queued for the next run).

``marketing.campaigns_send_pending`` (:func:`campaigns_send_pending`, every few minutes)
restarts the sender of each running campaign whose chain of batches was lost (a worker
killed, the broker restarted): the state lives in the database, so it carries on where the
chain stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from celery import shared_task

from bankcrm.core.context import request_context

logger = logging.getLogger("bankcrm.marketing")

# A campaign whose sender has not run a batch for this long is restarted by the sweep; well
# above the longest wait between two batches of a live chain (RETRY_WAIT_SECONDS).
STALE_AFTER = dt.timedelta(minutes=10)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _next_countdown(figures: dict[str, Any]) -> float:
    from bankcrm.marketing.services_sending import RETRY_WAIT_SECONDS, send_countdown

    countdown = send_countdown(
        int(figures.get("throttle_per_minute") or 0),
        int(figures.get("handed") or 0),
        float(figures.get("seconds") or 0.0),
    )
    if figures.get("sent", 0) == 0 and figures.get("retry", 0) > 0:
        countdown = max(countdown, float(RETRY_WAIT_SECONDS))
    return countdown


def _finished_some(figures: dict[str, Any]) -> bool:
    return int(figures["sent"]) + int(figures["suppressed"]) + int(figures["failed"]) > 0


def _keeps_going(figures: dict[str, Any]) -> bool:
    return figures.get("status") == "running" and int(figures.get("remaining") or 0) > 0


@shared_task(name="marketing.campaign_send", bind=True, ignore_result=True)
def campaign_send(self: Any, campaign_id: int) -> dict[str, Any]:
    """Send a running campaign's queued messages, one throttled batch at a time."""
    from bankcrm.marketing.services_sending import campaign_send_batch

    with request_context(channel="job"):
        figures = campaign_send_batch(campaign_id=campaign_id)
        if not self.request.is_eager:
            if _keeps_going(figures):
                countdown = _next_countdown(figures)
                if figures["claimed"] == 0:
                    # Every candidate was taken by another worker: look again shortly.
                    countdown = max(countdown, 30.0)
                campaign_send.apply_async((campaign_id,), countdown=countdown)
            logger.info("campaign %s send batch: %s", campaign_id, figures)
            return figures
        total = dict(figures)
        # Stop after a batch that finished nothing (all taken by another worker) or left
        # messages to retry (the mail server down): looping on would burn their attempts
        # within seconds. The next run (the sweep, or a re-run) carries on.
        while _keeps_going(figures) and _finished_some(figures) and figures["retry"] == 0:
            countdown = _next_countdown(figures)
            if countdown > 0:
                _sleep(countdown)
            figures = campaign_send_batch(campaign_id=campaign_id)
            for key in ("claimed", "sent", "suppressed", "failed", "retry", "skipped", "handed"):
                total[key] = total.get(key, 0) + figures.get(key, 0)
            total.update(status=figures["status"], remaining=figures["remaining"])
        logger.info("campaign %s sent in process: %s", campaign_id, total)
        return total


@shared_task(name="marketing.campaigns_send_pending", ignore_result=True)
def campaigns_send_pending() -> list[int]:
    """Restart the sender of running campaigns left with queued messages and no batch for
    STALE_AFTER; the campaigns restarted."""
    from bankcrm.marketing.services_sending import campaigns_with_queued_messages

    with request_context(channel="job"):
        due = campaigns_with_queued_messages(stale_after=STALE_AFTER)
    for campaign_id in due:
        campaign_send.delay(campaign_id)
    return due
