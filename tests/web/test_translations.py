"""Simplified Chinese is complete: every message translated, and the compiled catalogue current."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

LOCALE = Path(settings.LOCALE_PATHS[0]) / "zh_Hans" / "LC_MESSAGES"
PLACEHOLDER = re.compile(r"%\(\w+\)(?:\.\d+)?[sdf]")


@dataclass
class Entry:
    msgctxt: str | None = None
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)


def read_po(path: Path) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` entries left out)."""
    entries: list[Entry] = []
    current = Entry()
    target: tuple[str, int] | None = None

    def flush() -> None:
        nonlocal current
        if current.msgid or current.msgstr:
            entries.append(current)
        current = Entry()

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line:
            flush()
            target = None
            continue
        if line.startswith("#,"):
            current.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            value = ast.literal_eval(line)
        else:
            value = ast.literal_eval(rest)
            match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
            if keyword == "msgid" and (current.msgid or current.msgstr):
                flush()
            target = ("msgstr", int(match.group(1))) if match else (keyword, 0)
            if target[0] == "msgstr":
                current.msgstr[target[1]] = ""
        name, index = target
        if name == "msgstr":
            current.msgstr[index] += value
        elif name == "msgid":
            current.msgid += value
        elif name == "msgid_plural":
            current.msgid_plural = (current.msgid_plural or "") + value
        elif name == "msgctxt":
            current.msgctxt = (current.msgctxt or "") + value
    flush()
    return [entry for entry in entries if entry.msgid]


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return read_po(LOCALE / "django.po")


def test_the_catalogue_is_not_empty(entries):
    assert len(entries) > 400


def test_every_message_is_translated(entries):
    untranslated = [e.msgid for e in entries if not all(e.msgstr.values()) or not e.msgstr]
    assert untranslated == []


def test_no_translation_is_left_fuzzy(entries):
    assert [e.msgid for e in entries if "fuzzy" in e.flags] == []


def test_translations_keep_every_placeholder(entries):
    broken = [
        e.msgid
        for e in entries
        for text in e.msgstr.values()
        if sorted(PLACEHOLDER.findall(e.msgid)) != sorted(PLACEHOLDER.findall(text))
    ]
    assert broken == []


def test_the_compiled_catalogue_matches_the_source(entries):
    with (LOCALE / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    stale = []
    for entry in entries:
        if entry.msgid_plural:
            got = compiled.ngettext(entry.msgid, entry.msgid_plural, 1)
        elif entry.msgctxt:
            got = compiled.pgettext(entry.msgctxt, entry.msgid)
        else:
            got = compiled.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert stale == []


@pytest.mark.django_db
def test_the_chinese_shell_shows_chinese_navigation(rm_client, auditor):
    rm_client.post("/language/", {"language": "zh-hans", "next": "/"})
    html = rm_client.get("/").content.decode()
    assert '<html lang="zh-hans">' in html
    for label in ("我的工作", "帮助", "跳至主要内容", "退出登录", "个人资料与偏好设置"):
        assert label in html
    assert "My work" not in html
    with translation.override("zh-hans"):
        assert str(translation.gettext("Audit trail")) == "审计日志"
