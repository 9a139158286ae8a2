"""REST API of customers' consents (``/api/v1/customers/{pk}/consents``) and consent texts."""

from __future__ import annotations

from ninja import Router

router = Router()
