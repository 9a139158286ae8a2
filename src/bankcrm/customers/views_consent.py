"""The customer 360's consent panel and the consent pages of staff."""

from __future__ import annotations

from typing import Any


def consent_panel_context(actor: Any, party: Any) -> dict[str, Any]:
    """The panel's context, or ``{"consent": None}`` for those who may not see consents."""
    return {"consent": None}
