"""The files that make bankcrm installable and runnable say what they promise."""

from __future__ import annotations

import os
import subprocess

from .conftest import REPO_ROOT


def test_readme_opens_with_the_two_commands():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# bankcrm"
    first_block = lines[lines.index("```sh") + 1 : lines.index("```")]
    assert first_block == ["make demo", "make test"]


def test_ci_script_is_strict_bash():
    script = REPO_ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert "make lint" in text and "make test" in text
    # The tests run last, so the run ends with pytest's summary line.
    assert text.rstrip().splitlines()[-2:] == ["make test", 'exit "$lint_status"']
    subprocess.run(["bash", "-n", str(script)], check=True)


def test_makefile_targets():
    text = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    for target in (
        "install:",
        "demo: install",
        "test: install",
        "lint: install",
        "bench:",
        "clean:",
    ):
        assert f"\n{target}" in text
    # Bootstrap's sdist needs setuptools<81 and no build isolation (docs/adr/0004).
    assert '"setuptools<81"' in text
    assert "--no-build-isolation $(XSTATIC_BOOTSTRAP)" in text
    assert "XSTATIC_BOOTSTRAP := XStatic-Bootstrap==5.3.8.0" in text


def test_licence_is_apache_2():
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
