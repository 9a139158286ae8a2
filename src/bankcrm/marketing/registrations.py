"""Start-up registrations of the marketing module: navigation and the maker-checker action of
a campaign's launch (each in its own module, imported here)."""

from __future__ import annotations

from . import (  # noqa: F401
    approvals,  # a campaign's launch needs a second person (maker-checker)
    navigation,
)
