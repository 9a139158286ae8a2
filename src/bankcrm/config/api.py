"""The REST API root: one ninja router per module, OpenAPI 3 at /api/v1/docs."""

from ninja import NinjaAPI

api = NinjaAPI(title="bankcrm API", version="1", urls_namespace="api")
