"""Credit risk pages, under /risk/."""

from django.urls import path  # noqa: F401

app_name = "risk"
urlpatterns: list = []
