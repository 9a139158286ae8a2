"""REST API of lending."""

from ninja import Router

router = Router(tags=["lending"])
