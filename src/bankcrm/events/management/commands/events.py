"""``bankcrm events dispatch|status|requeue``: operate the outbox by hand."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


class Command(BaseCommand):
    help = "Deliver pending outbox events now, show the outbox status, or requeue a dead event."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        dispatch = sub.add_parser("dispatch", help="Deliver every due event now.")
        dispatch.add_argument(
            "--include-waiting",
            action="store_true",
            help="Also retry failed events still waiting out their back-off.",
        )
        dispatch.add_argument("--batch-size", type=int, default=None)
        sub.add_parser("status", help="Count events per status; show the oldest due one.")
        requeue = sub.add_parser("requeue", help="Give a dead event a fresh set of attempts.")
        requeue.add_argument("event_id")
        requeue.add_argument("--reason", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        actor = SystemActor("command:events")
        with request_context(channel="command"):
            if options["action"] == "dispatch":
                self._dispatch(options)
            elif options["action"] == "status":
                self._status(actor)
            else:
                self._requeue(actor, options)

    def _dispatch(self, options: dict[str, Any]) -> None:
        from bankcrm.events.services import event_dispatch_pending

        attempted = event_dispatch_pending(
            batch_size=options["batch_size"], include_waiting=options["include_waiting"]
        )
        self.stdout.write(f"Attempted delivery of {attempted} event(s).")
        self._status(SystemActor("command:events"))

    def _status(self, actor: SystemActor) -> None:
        from bankcrm.events.selectors import outbox_status

        status = outbox_status(actor=actor)
        for name, total in status.counts.items():
            self.stdout.write(f"{name:<10} {total}")
        lag = status.lag
        self.stdout.write(
            "oldest due: none" if lag is None else f"oldest due: {int(lag.total_seconds())} s ago"
        )

    def _requeue(self, actor: SystemActor, options: dict[str, Any]) -> None:
        from bankcrm.events.models import OutboxEvent
        from bankcrm.events.services import event_requeue

        try:
            event = event_requeue(
                actor=actor, event_id=options["event_id"], reason=options["reason"]
            )
        except (OutboxEvent.DoesNotExist, ValueError, ValidationError) as exc:
            raise CommandError(str(exc) or "No such event.") from exc
        self.stdout.write(f"Event {event.pk} is {event.status}.")
