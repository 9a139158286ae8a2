"""The actor: who is doing something. A user (web or API token) or the system itself.

Every service and selector takes ``actor``. Jobs and commands act as a ``SystemActor``
naming the job, so the audit trail says which job did what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from bankcrm.access.models import User


@dataclass(frozen=True)
class SystemActor:
    """A background job, scheduled task or command acting on the bank's behalf."""

    name: str

    is_authenticated = True
    is_active = True
    is_system = True
    pk = None

    def __str__(self) -> str:
        return f"system:{self.name}"


Actor = Union["User", SystemActor]

SYSTEM = SystemActor("system")


def is_system(actor: object) -> bool:
    return isinstance(actor, SystemActor)


def actor_label(actor: object) -> str:
    """A stable, human-readable name for the audit trail."""
    if isinstance(actor, SystemActor):
        return str(actor)
    username = getattr(actor, "username", None)
    return str(username) if username else "anonymous"
