"""Template context shared by every page of the shell."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, object]:
    return {"HELP_URL": settings.HELP_URL, "BANKCRM_ENVIRONMENT": settings.ENVIRONMENT}
