"""``bankcrm serve``: refuses bad production configurations, starts good ones."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from bankcrm.core.management.commands.serve import EXIT_REFUSED, bind_address

from .conftest import bankcrm_argv, free_port

STRONG_KEY = "k" + secrets.token_urlsafe(60)
GOOD_PRODUCTION = {
    "BANKCRM_ENV": "production",
    "BANKCRM_SECRET_KEY": STRONG_KEY,
    "BANKCRM_ALLOWED_HOSTS": "crm.bank.example,127.0.0.1",
}


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"SECRET_KEY_IS_DEFAULT": True}, "BANKCRM_SECRET_KEY is not set"),
        ({"SECRET_KEY": "short-key", "SECRET_KEY_IS_DEFAULT": False}, "BANKCRM_SECRET_KEY is weak"),
        ({"DEBUG": True}, "BANKCRM_DEBUG is on"),
        ({"ALLOWED_HOSTS": ["crm.bank.example", "*"]}, "BANKCRM_ALLOWED_HOSTS contains '*'"),
        ({"ALLOWED_HOSTS": []}, "BANKCRM_ALLOWED_HOSTS is empty"),
    ],
)
def test_production_refuses_each_bad_setting(overrides, named, capsys):
    base = {
        "IS_PRODUCTION": True,
        "ENVIRONMENT": "production",
        "SECRET_KEY": STRONG_KEY,
        "SECRET_KEY_IS_DEFAULT": False,
        "DEBUG": False,
        "ALLOWED_HOSTS": ["crm.bank.example"],
    }
    with override_settings(**{**base, **overrides}), pytest.raises(CommandError) as excinfo:
        call_command("serve", "--check")
    message = str(excinfo.value)
    assert excinfo.value.returncode == EXIT_REFUSED
    assert "refuses to start in production mode (1 problem(s))" in message
    assert named in message
    assert "fix: " in message
    assert "Configuration OK" not in capsys.readouterr().out


def test_production_lists_every_problem_at_once():
    with (
        override_settings(
            IS_PRODUCTION=True,
            SECRET_KEY_IS_DEFAULT=True,
            DEBUG=True,
            ALLOWED_HOSTS=["*"],
        ),
        pytest.raises(CommandError) as excinfo,
    ):
        call_command("serve", "--check")
    message = str(excinfo.value)
    assert "(3 problem(s))" in message
    assert message.count("fix: ") == 3


@pytest.mark.django_db
def test_embedded_mode_ignores_production_rules(capsys):
    # A laptop may run with DEBUG and its embedded key: the rules bind production only.
    with override_settings(IS_PRODUCTION=False, DEBUG=True, SECRET_KEY_IS_DEFAULT=True):
        call_command("serve", "--check", "--port", "8123")
    assert "Configuration OK (embedded mode); would serve on http://127.0.0.1:8123/" in (
        capsys.readouterr().out
    )


def test_bind_address_brackets_ipv6():
    assert bind_address("127.0.0.1", 8000) == "127.0.0.1:8000"
    assert bind_address("::1", 8000) == "[::1]:8000"
    assert bind_address("[::1]", 8000) == "[::1]:8000"


def test_process_exits_2_without_secret_key(child_env, run_bankcrm):
    env = {**child_env, "BANKCRM_ENV": "production", "BANKCRM_ALLOWED_HOSTS": "crm.bank.example"}
    result = run_bankcrm("serve", env=env)
    assert result.returncode == 2, result.stderr
    assert "BANKCRM_SECRET_KEY is not set" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr
    assert "serving on" not in result.stdout


def test_process_exits_2_with_debug_and_wildcard_host(child_env, run_bankcrm):
    env = {**child_env, **GOOD_PRODUCTION, "BANKCRM_DEBUG": "true", "BANKCRM_ALLOWED_HOSTS": "*"}
    result = run_bankcrm("serve", env=env)
    assert result.returncode == 2, result.stderr
    assert "BANKCRM_DEBUG is on" in result.stderr
    assert "BANKCRM_ALLOWED_HOSTS contains '*'" in result.stderr
    assert "BANKCRM_SECRET_KEY" not in result.stderr


def test_process_exits_2_on_bad_worker_count(child_env, run_bankcrm):
    result = run_bankcrm("serve", "--check", env={**child_env, "BANKCRM_WEB_WORKERS": "many"})
    assert result.returncode == 2
    assert "BANKCRM_WEB_WORKERS must be a whole number, not 'many'" in result.stderr


def test_production_refuses_unapplied_migrations(child_env, run_bankcrm):
    result = run_bankcrm("serve", "--check", env={**child_env, **GOOD_PRODUCTION})
    assert result.returncode == 2, result.stderr
    assert "database migration(s) are not applied" in result.stderr
    assert "run `bankcrm migrate`" in result.stderr


def test_good_production_configuration_passes(child_env, run_bankcrm, tmp_path: Path):
    env = {**child_env, **GOOD_PRODUCTION}
    migrated = run_bankcrm("migrate", "--noinput", "-v", "0", env=env)
    assert migrated.returncode == 0, migrated.stderr
    result = run_bankcrm("serve", "--check", "--port", "8124", env=env)
    assert result.returncode == 0, result.stderr
    assert "Configuration OK (production mode); would serve on http://127.0.0.1:8124/" in (
        result.stdout
    )
    # Production serves collected static files.
    assert (tmp_path / "var" / "static" / "bootstrap" / "css" / "bootstrap.min.css").is_file()


def test_embedded_check_applies_migrations(child_env, run_bankcrm):
    result = run_bankcrm("serve", "--check", env=child_env)
    assert result.returncode == 0, result.stderr
    assert "Applying " in result.stdout
    assert "Configuration OK (embedded mode)" in result.stdout
    again = run_bankcrm("serve", "--check", env=child_env)
    assert again.returncode == 0, again.stderr
    assert "Applying " not in again.stdout


def _get(url: str, host: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers={"Host": host})
    with urllib.request.urlopen(request, timeout=2) as response:
        return response.status, json.loads(response.read())


def test_production_server_answers_health_then_stops(child_env, run_bankcrm, tmp_path: Path):
    env = {**child_env, **GOOD_PRODUCTION, "BANKCRM_WEB_WORKERS": "1"}
    assert run_bankcrm("migrate", "--noinput", "-v", "0", env=env).returncode == 0
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [*bankcrm_argv(), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        answer = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = _get(f"http://127.0.0.1:{port}/health/live", "crm.bank.example")
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        assert answer == (200, {"status": "ok"}), (tmp_path / "serve.log").read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
            log.close()
    output = (tmp_path / "serve.log").read_text()
    assert f"bankcrm (production mode) serving on http://127.0.0.1:{port}/ with 1 worker(s)" in (
        output
    )
    assert process.returncode == 0
