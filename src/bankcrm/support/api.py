"""REST API of customer service (``/api/v1/support/``): cases, messages, queues, SLA status,
knowledge articles and complaints; each part in its own api_*.py router."""

from __future__ import annotations

from ninja import Router

from . import api_cases, api_complaints, api_knowledge

router = Router(tags=["support"])
router.add_router("", api_cases.router)
router.add_router("", api_knowledge.router)
router.add_router("", api_complaints.router)
