"""Placeholder: filled in by its owner (public pages under /contact/, no sign-in)."""

app_name = "support_public"
urlpatterns: list = []
