"""``bankcrm marketing <action>``: the marketing jobs from the command line.

Each action lives in a ``bankcrm.marketing.commands_*`` module that declares its arguments
(``add_arguments(actions)``) and runs it (``handle(command, options) -> bool``, true when it
handled the action). Every action prints one JSON line on stdout at the end.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bankcrm.core.context import request_context

ACTION_MODULES = (
    "bankcrm.marketing.commands_segments",
    "bankcrm.marketing.commands_campaigns",
    "bankcrm.marketing.commands_propensity",
    "bankcrm.marketing.commands_conversions",
    "bankcrm.marketing.commands_scoring",
    "bankcrm.marketing.commands_sending",
)


def _modules() -> list[Any]:
    return [import_module(name) for name in ACTION_MODULES]


class Command(BaseCommand):
    help = "Marketing jobs: segments, campaign sending and conversions, propensity models."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for module in _modules():
            module.add_arguments(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        with request_context(channel="command"):
            for module in _modules():
                if module.handle(self, options):
                    return
        raise CommandError(f"Unknown action {options['action']!r}.")
