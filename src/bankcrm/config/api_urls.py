"""URLs under /api/v1/: the ninja API, and problem+json for anything it does not answer.

An unknown address or a wrong method under /api/ answers problem+json like every other API
error, not the HTML error page meant for people.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, path, re_path
from django.views.decorators.csrf import csrf_exempt

from bankcrm.core import error_codes
from bankcrm.core.errors import PROBLEM_CONTENT_TYPE, response_for_code

from .api import api


def _problem_on_wrong_method(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            PROBLEM_CONTENT_TYPE
        ):
            return response_for_code(
                request,
                error_codes.METHOD_NOT_ALLOWED,
                headers={"Allow": response.get("Allow", "")},
            )
        return response

    return wrapper


def _wrap(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    wrapped: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            wrapped.append(
                URLPattern(
                    pattern.pattern,
                    _problem_on_wrong_method(pattern.callback),
                    pattern.default_args,
                    pattern.name,
                )
            )
        else:
            wrapped.append(pattern)
    return wrapped


@csrf_exempt
def api_not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    return response_for_code(request, error_codes.NOT_FOUND)


_patterns, _app_name, _namespace = api.urls

urlpatterns = [
    path("", (_wrap(_patterns), _app_name, _namespace)),
    re_path(r"^(?P<rest>.*)$", api_not_found, name="api-not-found"),
]
