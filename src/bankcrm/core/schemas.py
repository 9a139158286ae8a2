"""Base API schemas every module's ninja router uses."""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class InSchema(Schema):
    """Base of every request body: a field the API does not know is an error, not ignored.

    Silently dropping an unknown field would let a typo ("ammount") pass as a valid
    request that changes something other than what the caller meant.
    """

    model_config = ConfigDict(extra="forbid")


class FieldErrorOut(Schema):
    """One invalid field of a problem: where, what is wrong, and a stable code."""

    field: str
    message: str
    code: str


class ProblemOut(Schema):
    """An RFC 9457 problem: the body of every API error (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
    errors: list[FieldErrorOut]
    request_id: str
