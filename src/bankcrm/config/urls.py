"""URL map: one include per module."""

from django.urls import include, path

urlpatterns = [
    path("", include("bankcrm.web.urls")),
    path("access/", include("bankcrm.access.urls")),
    path("audit/", include("bankcrm.audit.urls")),
    path("api/v1/", include("bankcrm.config.api_urls")),
]
