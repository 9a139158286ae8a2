"""REST API of scoring and monitoring (``/api/v1/risk/score``, ``/api/v1/risk/monitoring``)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["risk"])
