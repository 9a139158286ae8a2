"""Staff pages of the knowledge base, the response templates and the case page's knowledge
picker (included in support/urls.py, namespace "support", under /support/)."""

from __future__ import annotations

from django.urls import path

from . import views_knowledge as views

urlpatterns = [
    path("knowledge/", views.knowledge_list, name="knowledge_list"),
    path("knowledge/new/", views.knowledge_create, name="knowledge_create"),
    path("knowledge/<slug:slug>/", views.knowledge_detail, name="knowledge_detail"),
    path("knowledge/<slug:slug>/edit/", views.knowledge_edit, name="knowledge_edit"),
    path("knowledge/<slug:slug>/publish/", views.knowledge_publish, name="knowledge_publish"),
    path("knowledge/<slug:slug>/archive/", views.knowledge_archive, name="knowledge_archive"),
    path("templates/", views.template_list, name="template_list"),
    path("templates/new/", views.template_create, name="template_create"),
    path("templates/<slug:code>/", views.template_edit, name="template_edit"),
    path("cases/<uuid:pk>/kb/", views.kb_picker, name="kb_picker"),
    path("cases/<uuid:pk>/kb/link/", views.kb_link, name="kb_link"),
]
