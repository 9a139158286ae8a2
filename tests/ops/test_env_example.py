""".env.example documents every BANKCRM_* variable the code reads, and no other."""

from __future__ import annotations

import re

from .conftest import REPO_ROOT

SETTINGS_HELPER = re.compile(r"\benv(?:_[a-z]+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
ENVIRON_READ = re.compile(
    r"(?:environ(?:\.get|\.setdefault|\.pop)?\s*[\(\[]|getenv\s*\()\s*[\"'](BANKCRM_[A-Z0-9_]+)[\"']"
)
SHELL_READ = re.compile(r"\$\{?(BANKCRM_[A-Z0-9_]+)")
DOCUMENTED = re.compile(r"^#?\s*(BANKCRM_[A-Z0-9_]+)=", re.MULTILINE)


def variables_read_by_code() -> set[str]:
    found: set[str] = set()
    for path in (REPO_ROOT / "src").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        found |= {f"BANKCRM_{name}" for name in SETTINGS_HELPER.findall(text)}
        found |= set(ENVIRON_READ.findall(text))
    return found


def variables_read_by_tooling() -> set[str]:
    found: set[str] = set()
    for path in (REPO_ROOT / "Makefile", REPO_ROOT / ".ci" / "run"):
        found |= set(SHELL_READ.findall(path.read_text(encoding="utf-8")))
    return found


def documented() -> set[str]:
    return set(DOCUMENTED.findall((REPO_ROOT / ".env.example").read_text(encoding="utf-8")))


def test_every_variable_read_is_documented():
    missing = (variables_read_by_code() | variables_read_by_tooling()) - documented()
    assert missing == set(), f"add these to .env.example: {sorted(missing)}"


def test_every_documented_variable_is_read():
    stale = documented() - variables_read_by_code() - variables_read_by_tooling()
    assert stale == set(), f"nothing reads these any more: {sorted(stale)}"


def test_the_scan_finds_the_known_readers():
    # Guards the patterns themselves: a settings helper, os.environ, and the Makefile.
    assert {"BANKCRM_SECRET_KEY", "BANKCRM_PORT", "BANKCRM_WEB_WORKERS"} <= variables_read_by_code()
    assert "BANKCRM_DEMO_PASSWORD" in variables_read_by_code()
    assert "BANKCRM_TEST_DATABASE_URL" in variables_read_by_tooling()
