"""Template context shared by every page of the shell."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .navigation import NavSection, nav_for, nav_sections


def shell(request: HttpRequest) -> dict[str, object]:
    """Bank name, environment, help link and the navigation the signed-in person may open.

    The navigation is computed lazily: pages without the shell (JSON partials, the sign-in
    card) never pay for the permission checks.
    """

    def _sections() -> list[NavSection]:
        return nav_sections(nav_for(getattr(request, "user", None)))

    return {
        "HELP_URL": settings.HELP_URL,
        "BANKCRM_ENVIRONMENT": settings.ENVIRONMENT,
        "BANKCRM_IS_PRODUCTION": settings.IS_PRODUCTION,
        "BANK_NAME": getattr(settings, "BANK_NAME", "") or "bankcrm",
        "nav_sections": SimpleLazyObject(_sections),
    }
