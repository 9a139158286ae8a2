"""The customer 360's marketing parts: in-branch campaign banners and next best offers."""

from __future__ import annotations

from typing import Any


def customer_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panels' context, or ``{"marketing": None}`` for those who may not see offers."""
    return {"marketing": None}
