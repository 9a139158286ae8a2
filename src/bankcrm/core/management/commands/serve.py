"""``bankcrm serve``: the web process (gunicorn running bankcrm's WSGI application)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from bankcrm.config.checks import production_problems, unapplied_migrations

# Exit code of a refusal to start: a configuration problem, not a crash.
EXIT_REFUSED = 2
DEFAULT_WORKERS = 2


def bind_address(host: str, port: int) -> str:
    # gunicorn wants IPv6 literals in brackets.
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def web_workers() -> int:
    raw = os.environ.get("BANKCRM_WEB_WORKERS", "")
    if not raw:
        return DEFAULT_WORKERS
    try:
        value = int(raw)
    except ValueError as exc:
        raise CommandError(
            f"BANKCRM_WEB_WORKERS must be a whole number, not {raw!r}", returncode=EXIT_REFUSED
        ) from exc
    if value < 1:
        raise CommandError("BANKCRM_WEB_WORKERS must be at least 1", returncode=EXIT_REFUSED)
    return value


class Command(BaseCommand):
    help = (
        "Start the bankcrm web server (gunicorn) on 127.0.0.1:$BANKCRM_PORT. In production "
        "mode it refuses to start with a default secret key, DEBUG on or ALLOWED_HOSTS '*'."
    )
    # Checks run explicitly below, so a refusal names the problem and its fix.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument(
            "--port", type=int, default=None, help="port (default: $BANKCRM_PORT or 8000)"
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="gunicorn worker processes (default: $BANKCRM_WEB_WORKERS or 2)",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="check the configuration and prepare (migrations, static files), then exit",
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="production: static files were collected to BANKCRM_STATIC_ROOT beforehand",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"] or settings.PORT
        workers: int = options["workers"] or web_workers()
        if workers < 1:
            raise CommandError("--workers must be at least 1", returncode=EXIT_REFUSED)

        self._refuse_bad_production_configuration()
        self._run_system_checks()
        self._prepare_database()
        if settings.IS_PRODUCTION and not options["no_collectstatic"]:
            # Production serves the collected, compressed copies (whitenoise, no finders).
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"Static files collected to {settings.STATIC_ROOT}")

        if options["check"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Configuration OK ({settings.ENVIRONMENT} mode); "
                    f"would serve on http://{bind_address(host, port)}/"
                )
            )
            return

        self.stdout.write(
            f"bankcrm ({settings.ENVIRONMENT} mode) serving on "
            f"http://{bind_address(host, port)}/ with {workers} worker(s). Ctrl+C stops it."
        )
        self.stdout.flush()
        # whitenoise also looks in STATIC_ROOT (empty in the embedded mode) and warns in
        # every worker when the folder is missing.
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        connections.close_all()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "bankcrm.config.wsgi:application",
            "--bind",
            bind_address(host, port),
            "--workers",
            str(workers),
            "--timeout",
            "60",
            "--graceful-timeout",
            "20",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
            # The control socket defaults to one path in $HOME shared by every gunicorn of
            # the user; bankcrm is driven by signals from the service manager instead.
            "--no-control-socket",
        ]
        # Replace this process, so signals from the service manager reach gunicorn directly.
        os.execv(sys.executable, argv)  # noqa: S606 # nosec B606 # fixed argv, no shell

    def _refuse_bad_production_configuration(self) -> None:
        problems = production_problems()
        if not problems:
            return
        lines = [f"bankcrm serve refuses to start in production mode ({len(problems)} problem(s)):"]
        for item in problems:
            lines.append(f"  - {item.problem}")
            lines.append(f"    fix: {item.fix}")
        raise CommandError("\n".join(lines), returncode=EXIT_REFUSED)

    def _run_system_checks(self) -> None:
        # Django's own checks (models, URLs, templates) plus the deployment checks in
        # production; errors stop the start, warnings are shown.
        self.check(include_deployment_checks=settings.IS_PRODUCTION, display_num_errors=False)

    def _prepare_database(self) -> None:
        pending = unapplied_migrations()
        if not pending:
            return
        if settings.IS_PRODUCTION:
            shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
            raise CommandError(
                f"bankcrm serve refuses to start: {len(pending)} database migration(s) are not "
                f"applied ({shown}).\n    fix: run `bankcrm migrate` once (with the same "
                "settings) before starting the web processes.",
                returncode=EXIT_REFUSED,
            )
        # Embedded mode owns its SQLite file: bring it up to date on start.
        self.stdout.write(f"Applying {len(pending)} database migration(s) …")
        call_command("migrate", interactive=False, verbosity=0)
