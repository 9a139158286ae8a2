"""The built-in help, in English and Simplified Chinese, with a page per role."""

from __future__ import annotations

import pytest

from bankcrm.access.models import Role
from bankcrm.web.help import help_topics

pytestmark = pytest.mark.django_db

ALL_SLUGS = [topic.slug for topic in help_topics()]


def test_every_role_has_a_help_page():
    assert {code.replace("_", "-") for code in Role.Code.values} <= set(ALL_SLUGS)
    assert ALL_SLUGS[:3] == ["getting-started", "security", "approvals"]


def test_visitors_read_the_general_topics_but_not_the_role_pages(client):
    index = client.get("/help/")
    assert index.status_code == 200
    html = index.content.decode()
    assert 'href="/help/getting-started/"' in html
    assert 'href="/help/auditor/"' not in html
    assert client.get("/help/security/").status_code == 200
    role_page = client.get("/help/auditor/")
    assert role_page.status_code == 302
    assert role_page["Location"] == "/access/login/?next=/help/auditor/"


def test_help_index_lists_every_topic_and_marks_my_role(rm_client):
    html = rm_client.get("/help/").content.decode()
    for slug in ALL_SLUGS:
        assert f'href="/help/{slug}/"' in html
    assert html.count("Your role") == 1


@pytest.mark.parametrize("slug", ALL_SLUGS)
def test_each_topic_exists_in_both_languages(rm_client, slug):
    english = rm_client.get(f"/help/{slug}/")
    assert english.status_code == 200
    rm_client.post("/language/", {"language": "zh-hans", "next": "/"})
    chinese = rm_client.get(f"/help/{slug}/")
    assert chinese.status_code == 200
    english_body = english.content.decode().split('class="lead">', 1)[1].split("</p>", 1)[0]
    chinese_body = chinese.content.decode().split('class="lead">', 1)[1].split("</p>", 1)[0]
    assert english_body != chinese_body
    assert any("\u4e00" <= char <= "\u9fff" for char in chinese_body)
    assert not any("\u4e00" <= char <= "\u9fff" for char in english_body)


def test_unknown_topic_is_404(rm_client):
    assert rm_client.get("/help/no-such-topic/").status_code == 404


def test_getting_started_quotes_the_configured_policy(rm_client, settings):
    settings.LOGIN_MAX_FAILURES = 7
    settings.SESSION_IDLE_MINUTES = 20
    html = rm_client.get("/help/getting-started/").content.decode()
    assert "After 7 wrong passwords" in html
    assert "After 20 minutes without activity" in html


def test_role_page_shows_what_the_bank_configured(rm_client, auditor):
    html = rm_client.get("/help/auditor/").content.decode()
    assert "Whole bank" in html
    assert "Required" in html  # two-factor sign-in
    assert "Always masked" in html
    pages_list = html.split('id="role-pages"', 1)[1].split("</ul>", 1)[0]
    assert "Audit trail" in pages_list
    assert "My work" in pages_list


def test_role_page_for_an_unconfigured_role(rm_client):
    Role.objects.filter(code="marketing_manager").update(is_active=False)
    html = rm_client.get("/help/marketing-manager/").content.decode()
    assert "Your bank has not set up this role" in html
