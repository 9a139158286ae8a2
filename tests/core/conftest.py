"""Fixtures of the kernel's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from bankcrm.core.crypto import reset_keyring_cache

# --- Encryption (core.crypto) ---------------------------------------------------------------


@pytest.fixture
def tmp_keyring(settings, tmp_path) -> Path:
    """A fresh keyring file of this test only."""
    settings.KEYRING = str(tmp_path / "keys" / "keyring.json")
    reset_keyring_cache()
    yield Path(settings.KEYRING)
    reset_keyring_cache()
