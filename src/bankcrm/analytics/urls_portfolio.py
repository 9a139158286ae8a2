"""URLs of the portfolio report (filled by its module)."""

from __future__ import annotations

urlpatterns: list = []
