"""REST API of marketing: segments."""

from __future__ import annotations

from ninja import Router

router = Router()
