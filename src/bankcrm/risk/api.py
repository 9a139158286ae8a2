"""REST API of credit risk (``/api/v1/risk/``): the model registry and its governance."""

from __future__ import annotations

from ninja import Router

from .api_scoring import router as scoring_router

router = Router(tags=["risk"])
router.add_router("", scoring_router)
