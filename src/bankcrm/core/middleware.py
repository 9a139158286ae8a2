"""Middleware that puts request id, client address and the user's time zone in context."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from .context import request_context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def client_ip(request: HttpRequest) -> str | None:
    # Behind the bank's load balancer the first X-Forwarded-For hop is the client; only
    # trusted when the operator says a proxy sets it.
    if getattr(settings, "IS_PRODUCTION", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()[:45]
    return request.META.get("REMOTE_ADDR")


class RequestContextMiddleware:
    """Give each request an id (or keep the caller's X-Request-ID) for the audit trail."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else None
        channel = "api" if request.path.startswith("/api/") else "web"
        with request_context(request_id=request_id, ip=client_ip(request), channel=channel) as ctx:
            request.request_id = ctx.request_id  # type: ignore[attr-defined]
            response = self.get_response(request)
        response["X-Request-ID"] = ctx.request_id
        return response


def user_timezone_name(user: object, language: str | None = None) -> str:
    chosen = getattr(user, "timezone", "") or ""
    if chosen:
        return chosen
    language = (language or translation.get_language() or "en").lower()
    return settings.DEFAULT_USER_TIMEZONES.get(language, settings.TIME_ZONE)


class UserTimezoneMiddleware:
    """Show times in the user's zone (Asia/Shanghai by default for zh-Hans users)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = user_timezone_name(request.user)
        try:
            timezone.activate(zoneinfo.ZoneInfo(name))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
