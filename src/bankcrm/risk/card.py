"""Model cards: the HTML and PDF documents of a model version."""

from __future__ import annotations

from typing import Any


def model_card_html(version: Any) -> str:
    """The model card of ``version`` as a standalone HTML document."""
    return ""


def model_card_pdf(html: str) -> bytes:
    """The PDF of a model card (or of any standalone HTML report)."""
    return b""
