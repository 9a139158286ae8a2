"""URLs of the early warning report (filled by its module)."""

from __future__ import annotations

urlpatterns: list = []
