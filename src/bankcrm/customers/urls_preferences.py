"""The customer's marketing preference page under /preferences/ (no sign-in: a signed link)."""

from __future__ import annotations

from django.urls import path

from . import views_preferences

app_name = "preferences"
urlpatterns = [
    path("<str:token>/", views_preferences.preference_page, name="page"),
]
