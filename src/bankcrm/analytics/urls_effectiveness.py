"""URLs of the effectiveness report (filled by its module)."""

from __future__ import annotations

urlpatterns: list = []
