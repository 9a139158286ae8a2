"""Sign-in policy applied to every page request.

A signed-in person whose roles require two-factor authentication enrols before anything
else; then a person who must change their password (set by an administrator, or older than
``PASSWORD_MAX_AGE_DAYS``) changes it. Until then only the step's own page, sign-out and the
language switch answer. API paths (token-authenticated) and static files are left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import Resolver404, resolve, reverse

EXEMPT_PATH_PREFIXES = ("/api/", "/static/", "/health/")
ALWAYS_ALLOWED_VIEWS = frozenset({"access:logout", "web:set_language"})
MFA_SETUP_VIEW = "access:mfa_setup"
PASSWORD_CHANGE_VIEW = "access:password_change"


def required_step(user: object) -> str | None:
    """The view the signed-in ``user`` must complete first, or None when they are free."""
    from .permissions import actor_requires_mfa
    from .services import user_password_expired

    if actor_requires_mfa(user) and not getattr(user, "mfa_enabled", False):
        return MFA_SETUP_VIEW
    if getattr(user, "must_change_password", False) or user_password_expired(user):  # type: ignore[arg-type]
        return PASSWORD_CHANGE_VIEW
    return None


class AccessPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(EXEMPT_PATH_PREFIXES):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            step = required_step(user)
            if step is not None and _view_name(request) not in ALWAYS_ALLOWED_VIEWS | {step}:
                return _redirect(request, step)
        return self.get_response(request)


def _view_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


def _redirect(request: HttpRequest, view_name: str) -> HttpResponse:
    url = reverse(view_name)
    if view_name == MFA_SETUP_VIEW:
        url += "?required=1"
    if request.headers.get("HX-Request") == "true":
        # An HTMX swap would paste the page into a fragment: ask for a full navigation.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)
