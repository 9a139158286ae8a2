"""``bankcrm worker``: the background-job process (a Celery worker on the configured broker)."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from bankcrm.config.checks import production_problems

EXIT_REFUSED = 2


class Command(BaseCommand):
    help = (
        "Start a Celery worker for bankcrm's background jobs on BANKCRM_BROKER_URL "
        "(--beat also runs the scheduler; run exactly one worker with --beat)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--beat",
            action="store_true",
            help="also run the periodic-task scheduler in this worker (one per installation)",
        )
        parser.add_argument(
            "--concurrency", type=int, default=None, help="worker processes (default: cores)"
        )
        parser.add_argument(
            "--queues", default="", help="comma-separated queues to consume (default: all)"
        )
        parser.add_argument("--loglevel", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
        parser.add_argument(
            "--check", action="store_true", help="check the configuration, then exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.BROKER_URL:
            raise CommandError(
                "bankcrm worker needs a message broker, and BANKCRM_BROKER_URL is not set.\n"
                "    In the embedded mode background jobs run inside the calling process, so "
                "no worker is needed.\n"
                "    fix: to run jobs in workers, set BANKCRM_BROKER_URL (e.g. "
                "redis://127.0.0.1:6379/0) for both `bankcrm serve` and `bankcrm worker`.",
                returncode=EXIT_REFUSED,
            )
        problems = production_problems()
        if problems:
            lines = ["bankcrm worker refuses to start in production mode:"]
            for item in problems:
                lines += [f"  - {item.problem}", f"    fix: {item.fix}"]
            raise CommandError("\n".join(lines), returncode=EXIT_REFUSED)

        argv = [sys.executable, "-m", "celery", "-A", "bankcrm", "worker"]
        argv += ["--loglevel", options["loglevel"]]
        if options["concurrency"]:
            argv += ["--concurrency", str(options["concurrency"])]
        if options["queues"]:
            argv += ["--queues", options["queues"]]
        if options["beat"]:
            settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
            argv += ["--beat", "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")]

        if options["check"]:
            self.stdout.write(self.style.SUCCESS("Configuration OK: " + " ".join(argv[2:])))
            return
        self.stdout.write("Starting: " + " ".join(argv[2:]))
        self.stdout.flush()
        connections.close_all()
        # Replace this process, so signals from the service manager reach Celery directly.
        os.execv(sys.executable, argv)  # noqa: S606 # nosec B606 # fixed argv, no shell
