"""Fixtures of the integrations tests: the Berka files from the shared data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import in_ci


@pytest.fixture
def berka_dir() -> Path:
    """The Berka PKDD'99 folder; skips when absent (fails in CI, where it must be present)."""
    directory = Path(settings.DATA_DIR) / "berka-pkdd99"
    if not (directory / "client.asc").exists():
        message = f"the Berka data set is not in {directory} (set BANKCRM_DATA_DIR)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return directory
