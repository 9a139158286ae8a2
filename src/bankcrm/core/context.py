"""Per-request (or per-job) context: request id and client address for the audit trail."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    """Where the current action came from: a web request, an API call, a job or a command."""

    request_id: str
    ip: str | None = None
    channel: str = "web"  # web, api, job, command


_current: ContextVar[RequestContext | None] = ContextVar("bankcrm_request_context", default=None)


def current_context() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        return RequestContext(request_id=uuid.uuid4().hex, channel="command")
    return ctx


@contextlib.contextmanager
def request_context(
    *, request_id: str | None = None, ip: str | None = None, channel: str = "web"
) -> Iterator[RequestContext]:
    ctx = RequestContext(request_id=request_id or uuid.uuid4().hex, ip=ip, channel=channel)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
