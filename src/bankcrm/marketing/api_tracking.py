"""REST API of marketing: delivery reports from e-mail and SMS providers."""

from __future__ import annotations

from ninja import Router

router = Router()
