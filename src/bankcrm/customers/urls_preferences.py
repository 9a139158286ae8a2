"""The customer's marketing preference page under /preferences/ (no sign-in: a signed link)."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "preferences"
urlpatterns: list[URLPattern] = []
