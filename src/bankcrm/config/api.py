"""The REST API root: one ninja router per module, OpenAPI 3 at /api/v1/docs.

Authentication: a signed-in browser session (with the CSRF token on unsafe methods), or
``Authorization: Bearer <token>`` with an API token. Every error is RFC 9457 problem+json
(see ``bankcrm.core.errors``). Modules register their router here::

    api.add_router("/<app>/", "bankcrm.<app>.api.router")
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import NinjaAPI, Swagger
from ninja.errors import ValidationError, ValidationErrorContext
from ninja.openapi.schema import OpenAPISchema
from ninja.parser import Parser
from ninja.security import APIKeyCookie, HttpBearer
from ninja.types import DictStrAny
from ninja.utils import check_csrf

from bankcrm.core import error_codes
from bankcrm.core.errors import PROBLEM_CONTENT_TYPE, ProblemError, install_problem_handlers
from bankcrm.core.schemas import ProblemOut

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class JsonBodyParser(Parser):
    """Reads request bodies as strict JSON: declared media type, numbers as Decimal.

    Decimals keep amounts exact (0.1 stays 0.1, never a binary float), and NaN/Infinity,
    which JSON does not allow, are refused instead of silently accepted.
    """

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        content_type = (request.content_type or "").lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise ProblemError.of(
                error_codes.UNSUPPORTED_MEDIA_TYPE,
                detail=f"Content-Type {content_type or '(none)'} is not application/json.",
            )
        result: DictStrAny = json.loads(
            request.body, parse_float=Decimal, parse_constant=_reject_constant
        )
        return result


class BearerTokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``: an API token issued to a user or service account."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        from bankcrm.access.services import api_token_authenticate

        user = api_token_authenticate(token.strip())
        if user is None:
            # A wrong token is an error in itself: never fall back to a session silently.
            raise ProblemError.of(error_codes.INVALID_TOKEN)
        request.user = user
        return user


class SessionCsrfAuth(APIKeyCookie):
    """The browser's signed-in session; unsafe methods must carry the CSRF token."""

    param_name: str = settings.SESSION_COOKIE_NAME

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def __call__(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if request.method not in _SAFE_METHODS and check_csrf(request) is not None:
            raise ProblemError.of(error_codes.CSRF_FAILED)
        # The page middleware leaves /api/ alone: a session that still owes its two-factor
        # set-up or password change must not reach data through the API either.
        from bankcrm.access.middleware import required_step

        if required_step(user) is not None:
            raise ProblemError.of(error_codes.SIGN_IN_INCOMPLETE)
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        return None  # unused: __call__ reads the session user directly


# Which problems each operation may answer, declared in the OpenAPI document.
_ALWAYS = (403, 404, 429, 500)
_WITH_INPUT = (400, 422)
_WITH_BODY = (413, 415)


class BankcrmAPI(NinjaAPI):
    def validation_error_from_error_contexts(
        self, error_contexts: list[ValidationErrorContext]
    ) -> ValidationError:
        # ninja names a JSON body after the view's parameter ("body.payload.amount"); the
        # caller only knows the document it sent, so the field is "body.amount".
        error = super().validation_error_from_error_contexts(error_contexts)
        body_names = {
            getattr(context.model, "__read_from_single_attr__", None)
            for context in error_contexts
            if context.model.__ninja_param_source__ == "body"
        } - {None}
        for item in error.errors:
            loc = tuple(item.get("loc", ()))
            if len(loc) >= 2 and loc[0] == "body" and loc[1] in body_names:
                item["loc"] = ("body", *loc[2:])
        return error

    def get_openapi_schema(
        self, *, path_prefix: str | None = None, path_params: DictStrAny | None = None
    ) -> OpenAPISchema:
        schema = super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)
        _declare_problem_responses(schema)
        return schema


def _declare_problem_responses(schema: OpenAPISchema) -> None:
    problem = ProblemOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    by_status = {
        p.status: p for p in (*error_codes.GENERIC_BY_STATUS.values(), error_codes.MALFORMED_JSON)
    }
    by_status[400] = error_codes.BAD_REQUEST
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            statuses = list(_ALWAYS)
            if operation.get("security"):
                statuses.append(401)
            if operation.get("parameters") or operation.get("requestBody"):
                statuses += _WITH_INPUT
            if operation.get("requestBody"):
                statuses += _WITH_BODY
            responses = operation["responses"]
            for status in sorted(statuses):
                responses.setdefault(
                    status,
                    {
                        "description": str(by_status[status].title),
                        "content": {
                            PROBLEM_CONTENT_TYPE: {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        },
                    },
                )


api = BankcrmAPI(
    title="bankcrm API",
    version="1",
    description=(
        "bankcrm's REST API. Sign in (browser session with CSRF token) or send "
        "`Authorization: Bearer <token>`. Errors are RFC 9457 `application/problem+json` "
        "with a stable `code` and every invalid field named in `errors`."
    ),
    urls_namespace="api",
    auth=[BearerTokenAuth(), SessionCsrfAuth()],
    parser=JsonBodyParser(),
    # Served from ninja's bundled static files (ninja is in INSTALLED_APPS); the online
    # spec validator badge is switched off so the page makes no outside request.
    docs=Swagger(settings={"validatorUrl": None}),
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_problem_handlers(api)

api.add_router("/customization/", "bankcrm.customization.api.router")
api.add_router("/audit/", "bankcrm.audit.api.router")
api.add_router("/customers/", "bankcrm.customers.api.router")
api.add_router("/banking/", "bankcrm.banking.api.router")
api.add_router("/lending/", "bankcrm.lending.api.router")
api.add_router("/loans/", "bankcrm.lending.api_loans.router")
api.add_router("/risk/", "bankcrm.risk.api.router")
api.add_router("/compliance/", "bankcrm.compliance.api.router")
api.add_router("/support/", "bankcrm.support.api.router")
api.add_router("/marketing/", "bankcrm.marketing.api.router")
