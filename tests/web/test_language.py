"""The language switch: a cookie for everyone, and the user's profile when signed in."""

from __future__ import annotations

import pytest
from django.conf import settings

from bankcrm.access.models import User
from bankcrm.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_switching_language_is_saved_on_the_user(rm_client, relationship_manager):
    response = rm_client.post("/language/", {"language": "zh-hans", "next": "/help/"})
    assert response.status_code == 302
    assert response["Location"] == "/help/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert User.objects.get(pk=relationship_manager.pk).language == "zh-hans"
    event = AuditEvent.objects.filter(actor_user_id=relationship_manager.pk).latest("pk")
    assert event.after["language"] == "zh-hans"


def test_the_next_page_is_in_the_chosen_language(rm_client):
    rm_client.post("/language/", {"language": "zh-hans", "next": "/"})
    page = rm_client.get("/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "我的工作" in page


def test_an_unknown_language_is_refused_and_nothing_changes(rm_client, relationship_manager):
    before = AuditEvent.objects.count()
    response = rm_client.post("/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 400
    assert User.objects.get(pk=relationship_manager.pk).language == ""
    assert AuditEvent.objects.count() == before
    assert settings.LANGUAGE_COOKIE_NAME not in response.cookies


def test_a_visitor_gets_the_cookie_only(client):
    before = AuditEvent.objects.count()
    response = client.post("/language/", {"language": "zh-hans", "next": "/help/"})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    assert AuditEvent.objects.count() == before


def test_the_switch_does_not_redirect_to_another_site(rm_client):
    response = rm_client.post("/language/", {"language": "en", "next": "https://attacker.example/"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_the_switch_only_accepts_post(rm_client):
    assert rm_client.get("/language/?language=zh-hans").status_code == 405


def test_the_shell_offers_both_languages(rm_client):
    page = rm_client.get("/").content.decode()
    assert 'value="en"' in page
    assert 'value="zh-hans"' in page
    assert "简体中文" in page
    assert "English" in page
