"""REST API of marketing: offers."""

from __future__ import annotations

from ninja import Router

router = Router()
