"""Every asset the shell uses is served by bankcrm itself: nothing comes from the internet."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings

from .htmlparse import tags

pytestmark = pytest.mark.django_db

STATIC_PREFIX = "/static/"


def asset_urls(html: str) -> list[str]:
    urls = []
    for attrs in tags(html):
        for name in ("src", "href"):
            if name in attrs:
                urls.append(attrs[name])
    # SVG sprites are referenced by <use href="…#symbol">.
    return urls


def pages(client):
    return [client.get(path).content.decode() for path in ("/", "/help/", "/help/security/")]


def test_every_static_asset_of_the_shell_is_found_locally(rm_client):
    static = set()
    for html in pages(rm_client):
        for url in asset_urls(html):
            if url.startswith(STATIC_PREFIX):
                static.add(url.split("#", 1)[0][len(STATIC_PREFIX) :])
    expected = {
        "bootstrap/css/bootstrap.min.css",
        "bootstrap/js/bootstrap.bundle.min.js",
        "django_htmx/htmx-2.min.js",
        "web/bankcrm.css",
        "web/bankcrm.js",
        "web/icons.svg",
        "web/favicon.svg",
    }
    assert expected <= static
    missing = sorted(path for path in static if finders.find(path) is None)
    assert missing == []


def test_static_assets_are_served(rm_client):
    for path in ("bootstrap/css/bootstrap.min.css", "django_htmx/htmx-2.min.js", "web/icons.svg"):
        response = rm_client.get(STATIC_PREFIX + path)
        assert response.status_code == 200, path


@pytest.mark.parametrize("signed_in", [True, False])
def test_no_page_points_to_another_host(client, relationship_manager, signed_in):
    if signed_in:
        client.force_login(relationship_manager)
    html_pages = pages(client) if signed_in else [client.get("/access/login/").content.decode()]
    html_pages.append(client.get("/no-such-page/").content.decode())
    for html in html_pages:
        external = [u for u in asset_urls(html) if re.match(r"^(https?:)?//", u)]
        assert external == []


def test_the_500_page_points_to_no_other_host(rm_client):
    from django.test import RequestFactory

    from bankcrm.web.views import server_error

    html = server_error(RequestFactory().get("/")).content.decode()
    assert [u for u in asset_urls(html) if re.match(r"^(https?:)?//", u)] == []
    assert "/static/bootstrap/css/bootstrap.min.css" in asset_urls(html)


@override_settings(BANK_NAME="Riverside Savings Bank")
def test_the_top_bar_shows_the_bank_name(rm_client):
    html = rm_client.get("/").content.decode()
    assert "Riverside Savings Bank" in html
    assert "<title>My work · Riverside Savings Bank</title>" in html


def test_skip_link_targets_the_main_region(rm_client):
    html = rm_client.get("/").content.decode()
    anchors = tags(html, "a")
    assert anchors[0]["href"] == "#main"
    assert [m for m in tags(html, "main") if m.get("id") == "main"]


def test_user_menu_links_and_post_sign_out(rm_client):
    html = rm_client.get("/").content.decode()
    hrefs = [a.get("href") for a in tags(html, "a")]
    assert "/access/profile/" in hrefs
    assert "/access/password/" in hrefs
    forms = [f for f in tags(html, "form") if f.get("action") == "/access/logout/"]
    assert forms and forms[0]["method"] == "post"


@override_settings(HELP_URL="/manuals/")
def test_help_link_follows_the_setting(rm_client):
    html = rm_client.get("/").content.decode()
    assert next(a for a in tags(html, "a") if a.get("id") == "bc-help-link")["href"] == "/manuals/"


def test_environment_badge_only_outside_production(rm_client, settings):
    assert "Embedded environment" in rm_client.get("/").content.decode()
    settings.IS_PRODUCTION = True
    assert "Embedded environment" not in rm_client.get("/").content.decode()
