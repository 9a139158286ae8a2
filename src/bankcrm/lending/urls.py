"""Lending pages."""

app_name = "lending"
urlpatterns: list = []
