"""The shell's navigation: each module registers its pages; each person sees only theirs.

Modules call :func:`register_nav` from their ``AppConfig.ready()``; the shell asks
:func:`nav_for` which entries the signed-in person may open. An entry without a
permission is open to every signed-in person (the home page, help).

``icon`` names a symbol of the shell's own sprite (``web/static/web/icons.svg``):
one of :data:`ICONS`; an unknown name shows no icon.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise

ICONS = frozenset(
    {
        "home",
        "help",
        "shield",
        "people",
        "user",
        "approval",
        "list",
        "bank",
        "chart",
        "file",
        "settings",
        "bell",
        "globe",
        "briefcase",
        "flag",
        "megaphone",
        "chat",
        "link",
        "key",
        "menu",
    }
)

_REGISTRY: dict[str, NavEntry] = {}


@dataclass(frozen=True)
class NavEntry:
    """One link in the side navigation."""

    key: str
    label: str | Promise
    url_name: str
    permission: str | None = None
    order: int = 100
    icon: str = ""
    section: str | Promise | None = None

    @property
    def url(self) -> str:
        return reverse(self.url_name)


@dataclass(frozen=True)
class NavSection:
    """A group of entries under one heading (``label`` is ``None`` for the top group)."""

    label: str | Promise | None
    entries: tuple[NavEntry, ...]


def register_nav(
    key: str,
    label: str | Promise,
    url_name: str,
    permission: str | None = None,
    order: int = 100,
    icon: str = "",
    section: str | Promise | None = None,
) -> NavEntry:
    """Add (or replace, by ``key``) an entry of the side navigation.

    ``label`` and ``section`` should be lazy translations (``gettext_lazy``) so that each
    person sees them in their own language. Registering the same key again replaces the
    entry, which keeps ``ready()`` safe to run twice (tests, autoreload).
    """
    if not key:
        raise ValueError("A navigation entry needs a key.")
    entry = NavEntry(
        key=key,
        label=label,
        url_name=url_name,
        permission=permission,
        order=order,
        icon=icon,
        section=section,
    )
    _REGISTRY[key] = entry
    return entry


def unregister_nav(key: str) -> None:
    """Remove an entry (a module switched off by the bank)."""
    _REGISTRY.pop(key, None)


def nav_entries() -> list[NavEntry]:
    """Every registered entry, in display order, whoever may see it."""
    return sorted(_REGISTRY.values(), key=lambda entry: (entry.order, entry.key))


def _resolvable(entry: NavEntry) -> bool:
    # A module whose URLs are not mounted (switched off) must not break every page.
    try:
        reverse(entry.url_name)
    except NoReverseMatch:
        return False
    return True


def nav_for(actor: Any) -> list[NavEntry]:
    """The entries ``actor`` may open, in display order; nothing for an anonymous visitor."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return []
    from bankcrm.access.permissions import actor_has_perm

    visible = []
    for entry in nav_entries():
        if entry.permission and not actor_has_perm(actor, entry.permission):
            continue
        if _resolvable(entry):
            visible.append(entry)
    return visible


def nav_sections(entries: Iterable[NavEntry]) -> list[NavSection]:
    """Group entries by section; the unsectioned group first, then sections by first order."""
    groups: dict[str, list[NavEntry]] = {}
    labels: dict[str, str | Promise | None] = {}
    for entry in entries:
        name = "" if entry.section is None else str(entry.section)
        groups.setdefault(name, []).append(entry)
        labels.setdefault(name, entry.section)
    ordered = sorted(groups, key=lambda name: (name != "", groups[name][0].order, name))
    return [NavSection(label=labels[name], entries=tuple(groups[name])) for name in ordered]
