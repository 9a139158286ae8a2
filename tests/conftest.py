"""Shared pytest configuration."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from hypothesis import settings as hypothesis_settings

# Examples are timed on shared, busy machines: a slow example is not a failure. Each test's
# own max_examples still bounds the run.
hypothesis_settings.register_profile("bankcrm", deadline=None)
hypothesis_settings.load_profile("bankcrm")


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite runs (make test runs both databases)."""
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL; covered by the PostgreSQL pass")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _flush_past_audit_append_only_guard():
    """Let the flush after each transactional test empty the audit table too.

    The audit table rejects DELETE (SQLite flush) and TRUNCATE (PostgreSQL flush) by
    database triggers; a test database is wiped as a whole, so the flush lifts them for
    its own transaction only.
    """
    from django.db.backends.base.operations import BaseDatabaseOperations

    from bankcrm.audit.guard import append_only_suspended

    original = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        with append_only_suspended(self.connection):
            original(self, sql_list)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request or a test that switched to
    Chinese leaves it active in the thread otherwise, and messages would follow it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_data_key_caches():
    """Forget the data keys a previous test cached: a flushed database (live-server and
    transactional tests) no longer holds them, and a table's cached key would otherwise seal
    new values under a key that is gone once the cache entry expires."""
    from bankcrm.core.crypto import envelope

    envelope.clear_caches()
    yield
