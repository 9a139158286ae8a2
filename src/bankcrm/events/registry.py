"""Subscribers: the code that reacts to domain events once their transaction has committed.

A module registers a handler for an event type (``"customer.created"``), for every type under a
prefix (``"loan.*"``) or for everything (``"*"``)::

    from bankcrm.events.registry import subscriber

    @subscriber("customer.created")
    def customer_welcome_task_create(event):
        ...

Handlers take the :class:`~bankcrm.events.models.OutboxEvent`. They may run more than once for
the same event (a worker crash between the handler and the delivery record), so they use
``event.pk`` as their idempotency key. Modules keep their handlers in ``<app>/subscribers.py``,
which the events app imports at start-up in every process role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import OutboxEvent

Handler = Callable[["OutboxEvent"], Any]


@dataclass(frozen=True)
class Subscriber:
    """A registered handler and the event types it listens to."""

    pattern: str
    name: str
    handler: Handler

    def matches(self, event_type: str) -> bool:
        if self.pattern == "*":
            return True
        if self.pattern.endswith(".*"):
            return event_type.startswith(self.pattern[:-1])
        return event_type == self.pattern


_SUBSCRIBERS: dict[str, Subscriber] = {}


def _validate_pattern(pattern: str) -> None:
    body = pattern[:-2] if pattern.endswith(".*") else pattern
    if pattern != "*" and (not body or "*" in body):
        raise ValueError(f"Event pattern {pattern!r} must be an event type, 'prefix.*' or '*'.")


def subscriber(pattern: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated function as a handler for events matching ``pattern``.

    ``name`` identifies the subscriber in delivery records (default: the function's dotted
    path); keep it stable, since renaming it makes pending retries deliver again.
    """
    _validate_pattern(pattern)

    def decorate(handler: Handler) -> Handler:
        key = name or f"{handler.__module__}.{handler.__qualname__}"
        _SUBSCRIBERS[key] = Subscriber(pattern=pattern, name=key, handler=handler)
        return handler

    return decorate


def unregister(name: str) -> None:
    """Remove a subscriber by name (a module switched off)."""
    _SUBSCRIBERS.pop(name, None)


def subscribers_for(event_type: str) -> list[Subscriber]:
    """The subscribers of one event type, in a stable order."""
    return sorted(
        (item for item in _SUBSCRIBERS.values() if item.matches(event_type)),
        key=lambda item: item.name,
    )


def all_subscribers() -> list[Subscriber]:
    return sorted(_SUBSCRIBERS.values(), key=lambda item: item.name)
