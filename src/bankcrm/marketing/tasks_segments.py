"""Celery task of segments: the scheduled re-evaluation of dynamic segments.

``marketing.segments_refresh`` is safe to run twice: a segment re-evaluated moments ago is
not due again until its ``refresh_hours`` have passed.
"""

from __future__ import annotations

from celery import shared_task

from bankcrm.core.context import request_context


@shared_task(name="marketing.segments_refresh", ignore_result=True)
def segments_refresh_due() -> int:
    """Re-evaluate every dynamic segment whose refresh interval has passed."""
    from .services_segments import segments_refresh_due as refresh

    with request_context(channel="job"):
        return refresh()
