"""Shared pytest configuration."""

from __future__ import annotations

import os

import pytest
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Skip PostgreSQL-only tests on SQLite runs (make test runs both databases)."""
    from django.conf import settings

    vendor = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    if vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL; covered by the PostgreSQL pass")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def db_vendor() -> str:
    return connection.vendor


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}
