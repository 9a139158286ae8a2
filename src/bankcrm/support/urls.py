"""Customer service pages for staff, under /support/."""

from __future__ import annotations

from . import urls_complaints, urls_knowledge, urls_workspace

app_name = "support"
urlpatterns = [
    *urls_workspace.urlpatterns,
    *urls_knowledge.urlpatterns,
    *urls_complaints.urlpatterns,
]
