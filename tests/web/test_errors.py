"""Error pages: inside the shell where possible; the 500 page needs no database."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import include, path

from bankcrm.web.views import server_error

pytestmark = pytest.mark.django_db


def test_404_page_is_shown_in_the_shell(rm_client):
    response = rm_client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert 'data-nav-key="home"' in page
    assert 'id="main"' in page


def test_404_page_for_a_visitor_has_no_navigation(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert "data-nav-key" not in page
    assert "bc-public-card" in page


def test_404_page_in_chinese(rm_client):
    rm_client.post("/language/", {"language": "zh-hans", "next": "/"})
    response = rm_client.get("/no-such-page/")
    assert response.status_code == 404
    assert "页面不存在" in response.content.decode()


def test_500_page_renders_without_the_database(django_assert_num_queries):
    request = RequestFactory().get("/")
    request.request_id = "req-12345678"
    with django_assert_num_queries(0):
        response = server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert "req-12345678" in page


def test_an_unhandled_error_gives_the_500_page(rm_client, monkeypatch):
    from bankcrm.web import views

    def broken(*, actor):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "my_work", broken)
    rm_client.raise_request_exception = False
    response = rm_client.get("/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert response["X-Request-ID"] in response.content.decode()


def _forbidden(request):
    raise PermissionDenied


urlpatterns = [path("forbidden/", _forbidden), path("", include("bankcrm.config.urls"))]


def test_403_page_uses_the_shell(rm_client, settings):
    settings.ROOT_URLCONF = __name__
    response = rm_client.get("/forbidden/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You are not allowed to do this" in page
    assert 'data-nav-key="home"' in page
