"""Production readiness: the configuration mistakes bankcrm refuses to run with.

``bankcrm serve`` refuses to start in production while any of these problems remains, and
``bankcrm check --deploy`` reports them as errors (``bankcrm.E001`` …).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, register

# The prefix Django gives the throw-away keys of ``startproject``.
_DJANGO_INSECURE_PREFIX = "django-insecure"
_MIN_SECRET_KEY_LENGTH = 50
_MIN_SECRET_KEY_UNIQUE = 5


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, and the change that fixes it."""

    check_id: str
    problem: str
    fix: str


def _secret_key_is_weak(key: str) -> bool:
    return (
        len(key) < _MIN_SECRET_KEY_LENGTH
        or len(set(key)) < _MIN_SECRET_KEY_UNIQUE
        or key.startswith(_DJANGO_INSECURE_PREFIX)
    )


def production_problems() -> list[ConfigProblem]:
    """What stops this configuration from serving a bank; empty outside production mode."""
    if not getattr(settings, "IS_PRODUCTION", False):
        return []
    problems: list[ConfigProblem] = []
    if getattr(settings, "SECRET_KEY_IS_DEFAULT", False):
        problems.append(
            ConfigProblem(
                "bankcrm.E001",
                "BANKCRM_SECRET_KEY is not set: production would sign sessions and tokens "
                "with the embedded key file that any copy of var/ carries.",
                "set BANKCRM_SECRET_KEY to a random value of at least 50 characters, e.g. "
                "the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(50))'",
            )
        )
    elif _secret_key_is_weak(settings.SECRET_KEY):
        problems.append(
            ConfigProblem(
                "bankcrm.E002",
                "BANKCRM_SECRET_KEY is weak (shorter than 50 characters, too few distinct "
                "characters, or a Django 'django-insecure' key).",
                "set BANKCRM_SECRET_KEY to the output of: "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'",
            )
        )
    if settings.DEBUG:
        problems.append(
            ConfigProblem(
                "bankcrm.E003",
                "BANKCRM_DEBUG is on: error pages would show settings, SQL and customer data.",
                "unset BANKCRM_DEBUG (or set BANKCRM_DEBUG=false)",
            )
        )
    if "*" in settings.ALLOWED_HOSTS:
        problems.append(
            ConfigProblem(
                "bankcrm.E004",
                "BANKCRM_ALLOWED_HOSTS contains '*': any Host header is accepted, which "
                "lets an attacker poison password-reset links and caches.",
                "set BANKCRM_ALLOWED_HOSTS to the host names users type, e.g. "
                "crm.bank.example,crm-internal.bank.example",
            )
        )
    elif not settings.ALLOWED_HOSTS:
        problems.append(
            ConfigProblem(
                "bankcrm.E005",
                "BANKCRM_ALLOWED_HOSTS is empty: every request would be refused.",
                "set BANKCRM_ALLOWED_HOSTS to the host names users type, e.g. crm.bank.example",
            )
        )
    return problems


@register(Tags.security, deploy=True)
def check_production_configuration(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """``check --deploy``: report every production problem as an error."""
    return [
        Error(item.problem, hint=f"Fix: {item.fix}", id=item.check_id)
        for item in production_problems()
    ]


def unapplied_migrations(database: str = "default") -> list[str]:
    """The migrations not yet applied to ``database``, as ``app_label.name``, in plan order."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[database])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
