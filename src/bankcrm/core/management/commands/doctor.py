"""``bankcrm doctor``: check an installation and say what is wrong and how to fix it.

One line per check, ``OK``, ``WARN`` (works, but look at it) or ``FAIL`` (broken), each
failure followed by its fix. The command exits non-zero when any check fails, so it can
gate a deployment or run from monitoring.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.core.management.base import BaseCommand
from django.db import connection

from bankcrm.config.checks import production_problems, unapplied_migrations
from bankcrm.core.crypto.keyring import keyring_source_kind, load_keyring

OK, WARN, FAIL = "OK", "WARN", "FAIL"
BROKER_TIMEOUT_SECONDS = 3.0
DISK_FAIL_BYTES = 256 * 1024 * 1024
DISK_WARN_BYTES = 1024 * 1024 * 1024
BOOTSTRAP_CSS = "bootstrap/css/bootstrap.min.css"

# Which configuration line each production problem belongs to.
_PROBLEM_LINE = {
    "bankcrm.E001": "secret key",
    "bankcrm.E002": "secret key",
    "bankcrm.E003": "debug",
    "bankcrm.E004": "allowed hosts",
    "bankcrm.E005": "allowed hosts",
}


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: its status, what was found, and how to fix a failure."""

    name: str
    status: str
    detail: str
    fix: str = ""


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"


def check_configuration() -> Iterable[Finding]:
    mode = settings.ENVIRONMENT
    jobs = "jobs in a Celery worker" if settings.BROKER_URL else "jobs in process"
    yield Finding("mode", OK, f"{mode} ({connection.vendor} database, {jobs})")

    by_line: dict[str, list[Any]] = {}
    for problem in production_problems():
        by_line.setdefault(_PROBLEM_LINE.get(problem.check_id, "configuration"), []).append(problem)
    for line in ("secret key", "debug", "allowed hosts"):
        for problem in by_line.pop(line, []):
            yield Finding(line, FAIL, problem.problem, problem.fix)
    for line, problems in by_line.items():
        for problem in problems:
            yield Finding(line, FAIL, problem.problem, problem.fix)

    if not settings.IS_PRODUCTION:
        yield from _embedded_configuration()
        return
    if not settings.SECRET_KEY_IS_DEFAULT:
        yield Finding("secret key", OK, "BANKCRM_SECRET_KEY is set")
    if not settings.DEBUG:
        yield Finding("debug", OK, "off")
    if settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        yield Finding("allowed hosts", OK, ", ".join(settings.ALLOWED_HOSTS))


def _embedded_configuration() -> Iterable[Finding]:
    key_file = settings.VAR_DIR / "secret_key"
    if settings.SECRET_KEY_IS_DEFAULT and key_file.exists():
        mode = stat.S_IMODE(key_file.stat().st_mode)
        if mode & 0o077:
            yield Finding(
                "secret key",
                FAIL,
                f"{key_file} has mode {mode:04o}: other users of this machine can read it",
                f"chmod 600 {key_file}",
            )
        else:
            yield Finding("secret key", OK, f"embedded key file {key_file} (mode {mode:04o})")
    else:
        yield Finding("secret key", OK, "BANKCRM_SECRET_KEY is set")
    if settings.DEBUG:
        yield Finding(
            "debug", WARN, "on: error pages show internals", "unset BANKCRM_DEBUG unless developing"
        )
    else:
        yield Finding("debug", OK, "off")
    yield Finding("allowed hosts", OK, ", ".join(settings.ALLOWED_HOSTS) or "(none)")


def check_keyring() -> Iterable[Finding]:
    source = str(settings.KEYRING)
    kind = keyring_source_kind(source)
    if kind == "file":
        path = Path(source)
        if path.exists():
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                yield Finding(
                    "keyring file",
                    FAIL,
                    f"{path} has mode {mode:04o}: other users of this machine can read the keys",
                    f"chmod 600 {path} (and find out who may have copied it)",
                )
                return
            if not os.access(path, os.R_OK):
                yield Finding(
                    "keyring file",
                    FAIL,
                    f"{path} is not readable by this user",
                    f"run bankcrm as the file's owner, or chown it to this user: {path}",
                )
                return
            yield Finding("keyring file", OK, f"{path} (mode {mode:04o})")
        elif settings.IS_PRODUCTION:
            # Never create one here: a fresh keyring cannot open data written under the old.
            yield Finding(
                "keyring file",
                FAIL,
                f"{path} does not exist",
                "restore the keyring from its backup, or point BANKCRM_KEYRING at it "
                "(a file path, env:VARIABLE or a KMS adapter class); without it encrypted "
                "data cannot be read",
            )
            return
        else:
            yield Finding(
                "keyring file",
                WARN,
                f"{path} did not exist: a new keyring is created now (mode 0600)",
                "if this installation already held encrypted data, stop and restore the "
                "keyring from its backup instead",
            )
    elif kind == "env":
        variable = source[4:]
        if not os.environ.get(variable):
            yield Finding(
                "keyring source",
                FAIL,
                f"BANKCRM_KEYRING=env:{variable} but {variable} is not set",
                f"export {variable} with the keyring JSON from the bank's secret store",
            )
            return
        yield Finding("keyring source", OK, f"environment variable {variable}")
    else:
        yield Finding("keyring source", OK, f"adapter {source}")

    try:
        # A fresh load, not the process cache: doctor reports what is there now.
        keyring = load_keyring(source)
        versions = sorted(keyring.versions())
        current = keyring.current_version()
    except Exception as exc:  # KeyringError, or whatever a KMS adapter raises
        yield Finding(
            "keyring",
            FAIL,
            f"cannot be loaded: {exc}",
            "check BANKCRM_KEYRING and the keyring's content; restore it from backup if damaged",
        )
        return
    listed = ", ".join(str(version) for version in versions)
    yield Finding("keyring", OK, f"key versions {listed}; current {current}")


def check_database() -> Iterable[Finding]:
    try:
        connection.ensure_connection()
    except Exception as exc:  # the driver's own message says what failed
        yield Finding(
            "database",
            FAIL,
            f"cannot connect ({connection.vendor}): {exc}".strip(),
            "check BANKCRM_DATABASE_URL and that the database server is running",
        )
        return
    # The vendor's own version string; both backends expose it on the wrapper.
    info = getattr(connection, "Database", None)
    if connection.vendor == "sqlite" and info is not None:
        version = str(info.sqlite_version)
    elif connection.vendor == "postgresql":
        number = int(getattr(connection, "pg_version", 0))  # e.g. 150008 for 15.8
        version = f"{number // 10000}.{number % 10000}"
    else:
        version = ""
    yield Finding("database", OK, f"connected ({connection.vendor} {version})".strip())
    pending = unapplied_migrations()
    if pending:
        shown = ", ".join(pending[:8]) + (
            f" and {len(pending) - 8} more" if len(pending) > 8 else ""
        )
        yield Finding(
            "migrations", FAIL, f"{len(pending)} not applied: {shown}", "run: bankcrm migrate"
        )
    else:
        yield Finding("migrations", OK, "all applied")


def check_broker() -> Iterable[Finding]:
    if not settings.BROKER_URL:
        status = WARN if settings.IS_PRODUCTION else OK
        fix = (
            "set BANKCRM_BROKER_URL and run `bankcrm worker`, so web requests do not run jobs"
            if settings.IS_PRODUCTION
            else ""
        )
        yield Finding("broker", status, "not configured: background jobs run in process", fix)
        return
    from kombu import Connection

    with Connection(settings.BROKER_URL, connect_timeout=BROKER_TIMEOUT_SECONDS) as conn:
        shown = conn.as_uri()  # the password is masked
        try:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        except Exception as exc:  # kombu raises the transport's own errors
            yield Finding(
                "broker",
                FAIL,
                f"cannot connect to {shown}: {exc}",
                "start the broker (Redis or RabbitMQ) or correct BANKCRM_BROKER_URL",
            )
            return
    yield Finding("broker", OK, f"connected to {shown}")


def check_cache() -> Iterable[Finding]:
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    key = f"bankcrm:doctor:{uuid.uuid4().hex}"
    try:
        cache.set(key, "ok", 10)
        value = cache.get(key)
        cache.delete(key)
    except Exception as exc:  # the cache client's own message says what failed
        yield Finding(
            "cache",
            FAIL,
            f"{backend}: {exc}",
            "check BANKCRM_CACHE_URL and that the cache server is running",
        )
        return
    if value != "ok":
        yield Finding("cache", FAIL, f"{backend} did not return what was stored", "")
        return
    yield Finding("cache", OK, backend)


def check_disk() -> Iterable[Finding]:
    var_dir = settings.VAR_DIR
    try:
        var_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        yield Finding(
            "state folder", FAIL, f"{var_dir}: {exc}", "create it, or set BANKCRM_VAR_DIR"
        )
        return
    if not os.access(var_dir, os.W_OK):
        yield Finding(
            "state folder",
            FAIL,
            f"{var_dir} is not writable by this user",
            "chown the folder to the bankcrm user, or set BANKCRM_VAR_DIR",
        )
    free = shutil.disk_usage(var_dir).free
    if free < DISK_FAIL_BYTES:
        yield Finding("disk", FAIL, f"{_mib(free)} free under {var_dir}", "free disk space")
    elif free < DISK_WARN_BYTES:
        yield Finding("disk", WARN, f"{_mib(free)} free under {var_dir}", "free disk space soon")
    else:
        yield Finding("disk", OK, f"{_mib(free)} free under {var_dir}")


def check_static() -> Iterable[Finding]:
    if settings.IS_PRODUCTION:
        collected = Path(settings.STATIC_ROOT) / BOOTSTRAP_CSS
        if collected.exists():
            yield Finding("static files", OK, f"collected in {settings.STATIC_ROOT}")
        else:
            yield Finding(
                "static files",
                WARN,
                f"not collected yet in {settings.STATIC_ROOT}",
                "bankcrm serve collects them on start; with --no-collectstatic run "
                "`bankcrm collectstatic --noinput` first",
            )
        return
    found = finders.find(BOOTSTRAP_CSS)
    if found:
        yield Finding("static files", OK, f"Bootstrap from {Path(str(found)).parent.parent}")
    else:
        yield Finding(
            "static files",
            FAIL,
            f"{BOOTSTRAP_CSS} cannot be found",
            "run `make install` (it installs XStatic-Bootstrap)",
        )


CHECKS: list[Callable[[], Iterable[Finding]]] = [
    check_configuration,
    check_keyring,
    check_database,
    check_broker,
    check_cache,
    check_disk,
    check_static,
]


def run_checks() -> list[Finding]:
    findings: list[Finding] = []
    for check in CHECKS:
        try:
            findings.extend(check())
        except Exception as exc:  # one broken check must not hide the others
            findings.append(
                Finding(check.__name__.removeprefix("check_"), FAIL, f"{type(exc).__name__}: {exc}")
            )
    return findings


class Command(BaseCommand):
    help = "Check configuration, keyring, database, broker, cache, disk and static files."
    # Doctor must run (and explain) even where Django's own checks would stop a command.
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        findings = run_checks()
        styles = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}
        for finding in findings:
            self.stdout.write(
                f"{styles[finding.status](f'{finding.status:<4}')} "
                f"{finding.name:<14} {finding.detail}"
            )
            if finding.fix and finding.status != OK:
                self.stdout.write(f"{'':<4} {'':<14} fix: {finding.fix}")
        counts = {status: sum(f.status == status for f in findings) for status in (OK, WARN, FAIL)}
        summary = f"doctor: {counts[OK]} OK, {counts[WARN]} WARN, {counts[FAIL]} FAIL"
        self.stdout.write(summary)
        if counts[FAIL]:
            sys.exit(1)
