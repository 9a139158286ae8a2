"""E-mail jobs of the service desk: sending one queued message, and reading the IMAP mailbox.

Both are safe to run twice: a message is sent only while it is queued (under a row lock),
and a mailbox message is stored once by its Message-ID.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from bankcrm.core.context import request_context

logger = logging.getLogger(__name__)

# Attempts after the first before a message is marked failed; the waits double from one
# minute (1, 2, 4, 8, 16, 32 minutes: about an hour in all), capped at an hour each.
SEND_MAX_RETRIES = 6
SEND_FIRST_WAIT_SECONDS = 60
SEND_LONGEST_WAIT_SECONDS = 3600


def send_retry_countdown(retries: int) -> int:
    """Seconds to wait before retry number ``retries + 1`` of a failed send."""
    return int(min(SEND_FIRST_WAIT_SECONDS * 2 ** max(retries, 0), SEND_LONGEST_WAIT_SECONDS))


@shared_task(name="support.message_send", bind=True, max_retries=SEND_MAX_RETRIES)
def message_send(self: Any, message_pk: str) -> str:
    """Send one queued outbound e-mail (by key); retried with back-off while the SMTP server
    is unreachable or answers 4xx.

    Without a broker (embedded default: tasks run in the calling process) there is nobody to
    retry later, so the first failure is final: the message shows as failed on the case.
    """
    from .services_mail import message_deliver

    final = bool(self.request.is_eager) or self.request.retries >= self.max_retries
    with request_context(channel="job"):
        outcome = message_deliver(message_pk=message_pk, final=final)
    if outcome == "retry":
        raise self.retry(countdown=send_retry_countdown(self.request.retries))
    return outcome


@shared_task(name="support.imap_poll", ignore_result=True)
def imap_poll() -> dict[str, int]:
    """Read the unseen mail of ``SUPPORT_IMAP_URL`` into cases (nothing when it is blank)."""
    from .services_mail import mailbox_poll

    url = settings.SUPPORT_IMAP_URL
    if not url:
        return {}
    with request_context(channel="job"):
        figures = mailbox_poll(url=url)
    logger.info("support imap poll: %s", figures)
    return figures
