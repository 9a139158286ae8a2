"""Public marketing links under /m/ (no sign-in): signed click, open and unsubscribe links.
Short paths: the links also go out by SMS."""

from __future__ import annotations

from django.urls import path

from . import views_public

app_name = "marketing_public"
urlpatterns = [
    path("c/<str:token>/", views_public.click, name="click"),
    path("o/<str:token>/", views_public.open_pixel, name="open"),
    path("u/<str:token>/", views_public.unsubscribe, name="unsubscribe"),
]
