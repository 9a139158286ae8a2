"""Actions of ``bankcrm marketing`` (see the command module bankcrm...commands.marketing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def add_arguments(actions: Any) -> None:
    """Declare this module's actions on the command's subparsers."""


def handle(command: Any, options: Mapping[str, Any]) -> bool:
    """Run the action if it is one of this module's; true when handled."""
    return False
