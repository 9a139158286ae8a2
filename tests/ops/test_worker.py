"""``bankcrm worker``: refuses without a broker, builds the Celery command line with one."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from bankcrm.core.management.commands.worker import EXIT_REFUSED
from tests.conftest import in_ci

from .conftest import bankcrm_argv


@override_settings(BROKER_URL="")
def test_refuses_without_broker(capsys):
    with pytest.raises(CommandError) as excinfo:
        call_command("worker")
    assert excinfo.value.returncode == EXIT_REFUSED
    message = str(excinfo.value)
    assert "BANKCRM_BROKER_URL is not set" in message
    assert "fix: to run jobs in workers, set BANKCRM_BROKER_URL" in message


@override_settings(BROKER_URL="redis://127.0.0.1:6379/0")
def test_builds_celery_command(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("worker", "--check", "--beat", "--concurrency", "3", "--queues", "events")
    out = capsys.readouterr().out
    expected = (
        "Configuration OK: celery -A bankcrm worker --loglevel INFO --concurrency 3 "
        f"--queues events --beat --schedule {tmp_path / 'celerybeat-schedule'}"
    )
    assert out.strip() == expected


@override_settings(
    BROKER_URL="redis://127.0.0.1:6379/0", IS_PRODUCTION=True, SECRET_KEY_IS_DEFAULT=True
)
def test_production_worker_refuses_default_secret_key():
    with pytest.raises(CommandError) as excinfo:
        call_command("worker", "--check")
    assert excinfo.value.returncode == EXIT_REFUSED
    assert "BANKCRM_SECRET_KEY is not set" in str(excinfo.value)


def test_process_refuses_without_broker(child_env, run_bankcrm):
    result = run_bankcrm("worker", env=child_env)
    assert result.returncode == 2
    assert "bankcrm worker needs a message broker" in result.stderr


def _redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), 1).close()
    except OSError:
        return False
    return True


@pytest.mark.broker
def test_worker_connects_to_redis_and_stops(child_env, tmp_path):
    if not _redis_answers():
        if in_ci():
            pytest.fail("CI must provide Redis on 127.0.0.1:6379 (.ci/run starts it)")
        pytest.skip("no Redis on 127.0.0.1:6379")
    env = {**child_env, "BANKCRM_BROKER_URL": "redis://127.0.0.1:6379/14"}
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [*bankcrm_argv(), "worker", "--concurrency", "1"],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and process.poll() is None:
                if " ready." in log_path.read_text():
                    break
                time.sleep(0.3)
            output = log_path.read_text()
            assert " ready." in output, output
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            finally:
                if process.poll() is None:
                    process.kill()
    output = log_path.read_text()
    assert "Starting: celery -A bankcrm worker --loglevel INFO --concurrency 1" in output
    assert "Connected to redis://:**@127.0.0.1:6379/14" in output
    assert "events.dispatch_pending" in output  # the project's tasks are registered
    assert process.returncode == 0
