"""``bankcrm workflow load FILE.json | show KEY | export KEY``: workflows as data, from the
command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


class Command(BaseCommand):
    help = "Load a workflow definition from a JSON file (as a new version), or show one."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser("load", help="Create a new active version from a JSON file.")
        load.add_argument("path")
        show = sub.add_parser("show", help="Print the states and steps of the active version.")
        show.add_argument("key")
        export = sub.add_parser(
            "export", help="Print the active version as JSON, to edit and load back."
        )
        export.add_argument("key")

    def handle(self, *args: Any, **options: Any) -> None:
        from bankcrm.core.workflow import (
            WorkflowError,
            workflow_definition_create_from_dict,
            workflow_definition_get,
            workflow_definition_to_dict,
        )

        actor = SystemActor("command:workflow")
        with request_context(channel="command"):
            if options["action"] == "load":
                try:
                    spec = json.loads(Path(options["path"]).read_text(encoding="utf-8"))
                except (OSError, ValueError) as exc:
                    raise CommandError(f"Cannot read {options['path']}: {exc}") from exc
                try:
                    definition = workflow_definition_create_from_dict(actor=actor, spec=spec)
                except ValidationError as exc:
                    raise CommandError("\n".join(exc.messages)) from exc
                self.stdout.write(f"Loaded {definition.key} version {definition.version}.")
                return
            try:
                definition = workflow_definition_get(actor=actor, key=options["key"])
            except WorkflowError as exc:
                raise CommandError(exc.messages[0]) from exc
            if options["action"] == "export":
                spec = workflow_definition_to_dict(definition)
                self.stdout.write(json.dumps(spec, ensure_ascii=False, indent=2))
                return
            self.stdout.write(f"{definition.name} ({definition.key} v{definition.version})")
            for state in definition.states.all():
                marks = " [initial]" if state.code == definition.initial_state else ""
                marks += " [final]" if state.is_terminal else ""
                sla = f" SLA {state.sla_hours} h" if state.sla_hours else ""
                self.stdout.write(f"  {state.code}{marks}{sla}")
                for step in state.outgoing.select_related("target").order_by("pk"):
                    roles = ", ".join(step.allowed_roles) or "anyone who may change the item"
                    self.stdout.write(f"    {step.code} -> {step.target.code} ({roles})")
            calendar = definition.calendar
            if calendar is None:
                self.stdout.write("  SLA hours: wall-clock hours (no business calendar)")
            else:
                self.stdout.write(
                    f"  SLA hours: business hours of calendar {calendar.code} "
                    f"({calendar.name}, {calendar.timezone})"
                )
