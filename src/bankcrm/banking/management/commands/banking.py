"""``bankcrm banking rebuild-activity [--customer PK ...]``: recompute the customers' daily
activity (what segment rules read) from the stored transactions.

The bulk load keeps it up to date; run this after loading transactions or account roles
around the services (a database restore of some tables, a hand-made ``COPY``). Prints one
line with the number of customers and the time taken.
"""

from __future__ import annotations

import time
import uuid
from argparse import ArgumentParser, ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from bankcrm.banking.services import party_activity_rebuild_run
from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context


def _customer(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        message = _("%(value)r is not a customer id (a UUID)") % {"value": value}
        raise ArgumentTypeError(message) from exc


class Command(BaseCommand):
    help = "Banking data tools: `banking rebuild-activity` recomputes customers' daily activity."

    def add_arguments(self, parser: ArgumentParser) -> None:
        subcommands = parser.add_subparsers(dest="subcommand", required=True)
        rebuild = subcommands.add_parser(
            "rebuild-activity",
            help="Recompute the daily activity per customer from the stored transactions.",
        )
        rebuild.add_argument(
            "--customer",
            action="append",
            type=_customer,
            default=None,
            help="Only this customer (repeatable); all customers when omitted.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        with request_context(channel="command"):
            count = party_activity_rebuild_run(
                actor=SystemActor("banking rebuild-activity"), party_ids=options["customer"]
            )
        self.stdout.write(
            _("daily activity recomputed for %(count)s customers in %(seconds).1f s")
            % {"count": count, "seconds": time.perf_counter() - started}
        )
