"""Public marketing links under /m/ (no sign-in): signed click, open and unsubscribe links."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "marketing_public"
urlpatterns: list[URLPattern] = []
