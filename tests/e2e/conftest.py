"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

The browser comes from the operating system (``/usr/bin/chromium``), never from a download.
Without it the tests skip with a message on a workstation and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from tests.conftest import in_ci

CHROMIUM = os.environ.get("BANKCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


@pytest.fixture(scope="session", autouse=True)
def _allow_sync_orm_beside_playwright():
    # Playwright's sync API runs an event loop in the test thread; Django would refuse ORM
    # calls (factories, the database flush) in that thread. Only for the browser tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class _OneRequestAtATime:
    """A WSGI application that serves one request at a time, its body read before the next.

    With SQLite in memory, pytest-django hands the live server's threads the test's own
    database connection: two requests in flight at once (a page's panels loading while a
    form posts) would share one transaction state and fail at random ("cannot start a
    transaction within a transaction"). Connections are still accepted in parallel.
    """

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


class _SerialWhenShared(ThreadedWSGIServer):
    def set_app(self, application) -> None:
        if self.connections_override:
            application = _OneRequestAtATime(application)
        super().set_app(application)


@pytest.fixture(scope="session", autouse=True)
def _live_server_serial_on_shared_connection():
    previous = LiveServerThread.server_class
    LiveServerThread.server_class = _SerialWhenShared
    yield
    LiveServerThread.server_class = previous


@pytest.fixture(scope="session")
def chromium_browser(_allow_sync_orm_beside_playwright):
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package."
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageWatch:
    """What a page did that a test must fail on: external requests and console errors."""

    def __init__(self) -> None:
        self.external_requests: list[str] = []
        self.console_errors: list[str] = []

    def assert_clean(self) -> None:
        assert self.external_requests == [], "requests left the bank's network"
        assert self.console_errors == [], "the browser console shows errors"


@pytest.fixture
def viewport() -> tuple[int, int]:
    """Window size; a test narrows it with ``@pytest.mark.parametrize("viewport", [...])``."""
    return (1920, 1080)


@pytest.fixture
def browser_page(chromium_browser, live_server, viewport):
    """A fresh browser context watched for external requests and console errors."""
    width, height = viewport
    context = chromium_browser.new_context(
        viewport={"width": width, "height": height}, locale="en-GB", base_url=live_server.url
    )
    watch = PageWatch()

    def guard(route):
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            watch.external_requests.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            watch.console_errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: watch.console_errors.append(str(error)))
    page.watch = watch
    yield page
    context.close()
    watch.assert_clean()


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
