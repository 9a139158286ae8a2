"""The compliance API: /api/v1/compliance/."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["compliance"])
