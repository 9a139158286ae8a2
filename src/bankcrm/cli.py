"""The ``bankcrm`` command: every management command of the project under one name.

``bankcrm serve`` starts the web process, ``bankcrm worker`` the background-job process,
and ``bankcrm migrate``, ``bankcrm doctor``, ``bankcrm audit verify`` … are the usual
Django management commands with the project's settings already selected.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

SETTINGS_MODULE = "bankcrm.config.settings"

# Shown by a bare ``bankcrm`` (Django's own listing of every command follows ``bankcrm help``).
USAGE = """\
usage: bankcrm <command> [options]

Common commands:
  serve            start the web server (gunicorn) on 127.0.0.1:$BANKCRM_PORT
  worker           start a Celery worker for background jobs (needs BANKCRM_BROKER_URL)
  migrate          create or upgrade the database tables
  demo             create the demo bank: organisation, one user per role
  doctor           check configuration, keyring, database, broker, cache and disk
  createuser       create a staff user
  audit verify     check that the audit trail's hash chain is intact
  keys rotate      rotate the encryption keys (re-wraps data keys; resumable)
  check --deploy   Django's production readiness checks

`bankcrm help` lists every command; `bankcrm help <command>` explains one.
"""


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``bankcrm`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        sys.stdout.write(USAGE)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    from django.core.management import execute_from_command_line

    execute_from_command_line(["bankcrm", *args])


if __name__ == "__main__":
    main()
