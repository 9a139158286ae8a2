from __future__ import annotations

import pytest

from bankcrm.events import registry


@pytest.fixture
def subscribers(monkeypatch):
    """An empty subscriber registry for one test: only the test's own handlers run."""
    monkeypatch.setattr(registry, "_SUBSCRIBERS", {})
    return registry
