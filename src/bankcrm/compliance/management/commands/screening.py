"""``bankcrm screening <action>``: watch lists and sanctions screening from the command line.

``bankcrm screening load-list --source ofac|un|canada|csv PATH [--code C --name N --kind K]
[--no-rescreen]``  load a list file as a new version (one JSON line: the version's figures)
``bankcrm screening check "NAME" [--dob YYYY-MM-DD] [--country CC] [--schema S]``
    the hits as JSON (a list) on stdout
``bankcrm screening batch IN.csv OUT.csv [--floor 0.5]``  one row per hit at or above the
    floor (id, entry_id, score, explanation); the figures as one JSON line
``bankcrm screening rescreen [--workers N] [--resume RUN_ID] [--chunk-size N]``
``bankcrm screening lists``  the lists and their versions as JSON

The acting person is ``--user`` (an active user); without it the system job
``system:screening-cli`` acts. Bad options stop the command with a message naming them.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections
from django.utils.translation import gettext as _

from bankcrm.core.actor import SystemActor
from bankcrm.core.context import request_context

CLI_ACTOR = SystemActor("screening-cli")


def _worker(run_pk: int) -> int:
    import django

    django.setup()
    from bankcrm.compliance.services_screening import rescreen_work

    with request_context(channel="command"):
        return rescreen_work(run_pk=run_pk)


class Command(BaseCommand):
    help = "Sanctions screening: load-list, check, batch, rescreen, lists (ACTION --help)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        load = actions.add_parser("load-list", help="Load a watch list file as a new version.")
        load.add_argument("--source", required=True, choices=["ofac", "un", "canada", "csv"])
        load.add_argument("path", metavar="PATH")
        load.add_argument("--code")
        load.add_argument("--name")
        load.add_argument("--kind", choices=["sanctions", "pep", "internal"])
        load.add_argument("--no-rescreen", action="store_true", help="Do not rescreen.")
        check = actions.add_parser("check", help="Screen one name; hits as JSON.")
        check.add_argument("name", metavar="NAME")
        check.add_argument("--dob", default="")
        check.add_argument("--country", default="")
        check.add_argument("--schema", default="", choices=["", "person", "organisation"])
        check.add_argument("--floor", type=float, default=None)
        batch = actions.add_parser("batch", help="Screen a CSV of names.")
        batch.add_argument("in_path", metavar="IN.csv")
        batch.add_argument("out_path", metavar="OUT.csv")
        batch.add_argument("--floor", type=float, default=None)
        rescreen = actions.add_parser("rescreen", help="Rescreen every customer.")
        rescreen.add_argument("--workers", type=int, default=1)
        rescreen.add_argument("--resume", type=int, metavar="RUN_ID")
        rescreen.add_argument("--chunk-size", type=int, default=1000)
        actions.add_parser("lists", help="The lists and their versions as JSON.")
        for sub in (load, check, batch, rescreen):
            sub.add_argument("--user", metavar="USERNAME")

    def actor(self, options: dict[str, Any]) -> Any:
        username = options.get("user")
        if not username:
            return CLI_ACTOR
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(
                _("--user: there is no active user “%(name)s”.") % {"name": username}
            )
        return user

    def emit(self, data: Any) -> None:
        self.stdout.write(json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False))

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"].replace("-", "_")
        try:
            with request_context(channel="command"):
                getattr(self, f"do_{action}")(options)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                raise CommandError(
                    "\n".join(
                        f"--{field.replace('_', '-')}: {message}"
                        for field, messages in exc.message_dict.items()
                        for message in messages
                    )
                ) from exc
            raise CommandError("\n".join(exc.messages)) from exc
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc

    def do_load_list(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.services_screening import watch_list_load

        snapshot = watch_list_load(
            actor=self.actor(options),
            source=options["source"],
            path=options["path"],
            code=options.get("code"),
            name=options.get("name"),
            kind=options.get("kind"),
            rescreen=not options.get("no_rescreen"),
        )
        self.emit(
            {
                "list": snapshot.watch_list.code,
                "version": snapshot.version,
                "entries": snapshot.entries,
                "names": snapshot.names,
                "added": snapshot.added,
                "changed": snapshot.changed,
                "removed": snapshot.removed,
                "hits_closed": snapshot.diff.get("hits_closed", 0),
            }
        )

    def do_check(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.screening.matcher import REPORT_FLOOR
        from bankcrm.compliance.services_screening import match_json, screening_check

        floor = options.get("floor")
        matches = screening_check(
            actor=self.actor(options),
            name=options["name"],
            birth_date=options.get("dob") or "",
            country=options.get("country") or "",
            schema=options.get("schema") or "",
            floor=REPORT_FLOOR if floor is None else floor,
        )
        self.emit([match_json(m) for m in matches])

    def do_batch(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.screening.matcher import REPORT_FLOOR
        from bankcrm.compliance.services_screening import screening_batch

        floor = options.get("floor")
        self.emit(
            screening_batch(
                actor=self.actor(options),
                in_path=options["in_path"],
                out_path=options["out_path"],
                floor=REPORT_FLOOR if floor is None else floor,
            )
        )

    def do_rescreen(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.models import RescreenRun
        from bankcrm.compliance.services_screening import (
            rescreen_resume,
            rescreen_start,
            rescreen_work,
        )

        actor = self.actor(options)
        workers = max(1, int(options.get("workers") or 1))
        started = time.perf_counter()
        if options.get("resume"):
            run = RescreenRun.objects.filter(pk=options["resume"]).first()
            if run is None:
                raise CommandError(
                    _("--resume: there is no rescreen run %(pk)s.") % {"pk": options["resume"]}
                )
            rescreen_resume(actor=actor, run=run, dispatch=False)
        else:
            run = rescreen_start(
                actor=actor, chunk_size=options.get("chunk_size") or 1000, dispatch=False
            )
        if workers == 1:
            rescreen_work(run_pk=run.pk)
        else:
            connections.close_all()
            context = multiprocessing.get_context("fork")
            with context.Pool(workers) as pool:
                pool.map(_worker, [run.pk] * workers)
        run.refresh_from_db()
        seconds = time.perf_counter() - started
        self.emit(
            {
                "run": run.pk,
                "status": run.status,
                "customers": run.customers,
                "screened": run.screened,
                "hits": run.hits,
                "workers": workers,
                "seconds": round(seconds, 2),
                "customers_per_second": round(run.screened / seconds, 1) if seconds else None,
            }
        )

    def do_lists(self, options: dict[str, Any]) -> None:
        from bankcrm.compliance.selectors_screening import snapshot_list, watch_list_list

        actor = CLI_ACTOR
        out = []
        for watch_list in watch_list_list(actor=actor):
            out.append(
                {
                    "code": watch_list.code,
                    "name": watch_list.name,
                    "source": watch_list.source,
                    "kind": watch_list.kind,
                    "is_active": watch_list.is_active,
                    "live_entries": watch_list.live_entries,
                    "versions": [
                        {
                            "version": s.version,
                            "loaded_at": s.created_at,
                            "file": s.source_name,
                            "entries": s.entries,
                            "added": s.added,
                            "changed": s.changed,
                            "removed": s.removed,
                        }
                        for s in snapshot_list(actor=actor, watch_list=watch_list)[:20]
                    ],
                }
            )
        self.emit(out)
