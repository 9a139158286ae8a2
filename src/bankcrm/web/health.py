"""Probes for the load balancer and the orchestrator: is the process up, can it serve?

Both answer without a session, a sign-in or HTTPS (the probes come from inside the bank's
network). They never name hosts, users or passwords in their answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

# Seconds a probe may wait for the broker: a load balancer gives up after a few seconds.
BROKER_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    """Run a real query on every configured database."""
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
        if row is None or row[0] != 1:
            raise RuntimeError(f"database {alias!r} answered {row!r}")


def check_broker() -> None:
    """Open (and close) a connection to the Celery broker, with a short timeout."""
    from kombu import Connection

    with Connection(
        settings.BROKER_URL,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
        transport_options={
            "socket_connect_timeout": BROKER_TIMEOUT_SECONDS,
            "socket_timeout": BROKER_TIMEOUT_SECONDS,
            "max_retries": 0,
        },
    ) as connection:
        connection.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
        )


def readiness_checks() -> dict[str, Callable[[], None]]:
    """The checks /health/ready runs: the database always, the broker when one is set."""
    checks: dict[str, Callable[[], None]] = {"database": check_database}
    if getattr(settings, "BROKER_URL", ""):
        checks["broker"] = check_broker
    return checks


@never_cache
@require_safe
def live(request: HttpRequest) -> JsonResponse:
    """The process serves requests (it may still be unable to do useful work)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request: HttpRequest) -> JsonResponse:
    """Every dependency answers: 200 with each check, or 503 naming the ones that failed."""
    results: dict[str, dict[str, object]] = {}
    failed: list[str] = []
    for name, check in readiness_checks().items():
        started = time.monotonic()
        try:
            check()
        except Exception as exc:  # any failure of a dependency means "not ready"
            failed.append(name)
            # The exception's class only: messages can carry hosts or credentials.
            results[name] = {"status": "fail", "error": type(exc).__name__}
        else:
            results[name] = {"status": "ok"}
        results[name]["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    body: dict[str, object] = {"status": "fail" if failed else "ok", "checks": results}
    if failed:
        body["failed"] = failed
    return JsonResponse(body, status=503 if failed else 200)
