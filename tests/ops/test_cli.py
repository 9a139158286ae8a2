"""The ``bankcrm`` console command dispatches to the management commands."""

from __future__ import annotations

import pytest

from bankcrm import cli


def test_bare_command_prints_usage(capsys):
    cli.main([])
    out = capsys.readouterr().out
    assert out.startswith("usage: bankcrm <command> [options]\n")
    for command in ("serve", "worker", "migrate", "demo", "doctor", "audit verify", "keys rotate"):
        assert f"\n  {command} " in out


def test_help_flag_prints_usage(capsys):
    cli.main(["--help"])
    assert capsys.readouterr().out == cli.USAGE


def test_dispatches_to_management_command(capsys):
    # "check" is a Django command: the CLI reaches Django's management with our settings.
    cli.main(["check"])
    assert "System check identified no issues" in capsys.readouterr().out


def test_unknown_command_exits_non_zero(capsys):
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["no-such-command"])
    assert excinfo.value.code == 1
    assert "Unknown command: 'no-such-command'" in capsys.readouterr().err


def test_console_script_sets_settings_module(child_env, run_bankcrm):
    env = dict(child_env)
    env.pop("DJANGO_SETTINGS_MODULE")
    result = run_bankcrm("help", env=env)
    assert result.returncode == 0, result.stderr
    for command in ("serve", "worker", "doctor", "demo", "migrate"):
        assert f"    {command}\n" in result.stdout
    diff = run_bankcrm("diffsettings", "--all", env=env)
    assert diff.returncode == 0, diff.stderr
    assert "ROOT_URLCONF = 'bankcrm.config.urls'" in diff.stdout
