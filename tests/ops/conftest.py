"""Helpers for tests that run the ``bankcrm`` command in a child process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def bankcrm_argv() -> list[str]:
    """The installed console script, or the same entry point through the interpreter."""
    script = Path(sys.executable).with_name("bankcrm")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "bankcrm.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def child_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no BANKCRM_* or DJANGO_* from the caller (other tests set some,
    e.g. DJANGO_ALLOW_ASYNC_UNSAFE): state in a fresh folder, SQLite."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANKCRM_", "DJANGO_"))}
    env["DJANGO_SETTINGS_MODULE"] = "bankcrm.config.settings"
    env["BANKCRM_VAR_DIR"] = str(tmp_path / "var")
    env["BANKCRM_DATABASE_URL"] = f"sqlite:///{tmp_path / 'var' / 'bankcrm.sqlite3'}"
    return env


@pytest.fixture
def run_bankcrm(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    def run(
        *args: str, env: dict[str, str], timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*bankcrm_argv(), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
