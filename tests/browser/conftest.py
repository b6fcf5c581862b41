"""Fixtures for the headless-browser tests: Debian's Chromium driven by pytest-playwright.

The browser is Debian's ``chromium`` package (.ci/run installs it), never one that
``playwright install`` downloads. Without it the tests skip locally and fail under
REQUIRE_SERVICES=1.

While Playwright's sync API is started, an asyncio event loop counts as running in the main
thread, and Django then keeps database connections apart from the thread's own (asgiref's
``Local`` switches to per-context storage). pytest-playwright starts Playwright once per
session; here it lives for one test instead, started after pytest-django has set up the
database and stopped before it flushes it, so the setup and the flush use the session's own
connection, and the rest of the suite runs without that loop.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from playwright.sync_api import Browser, BrowserType, Playwright, sync_playwright

from tests.conftest import require_service, seed_taxonomy

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    # `--browser-channel` cannot name a browser by path, so the executable is given here.
    return {
        "executable_path": str(CHROMIUM),
        "args": ["--disable-gpu", "--disable-background-networking", "--disable-component-update"],
    }


@pytest.fixture(scope="module")
def _migration_rows_restored(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    # This module's transactional test ends with a flush that also empties the rows a data
    # migration seeds (the consent taxonomy). pytest-django runs transactional tests last so
    # that no `db` test meets the empty tables; whatever the order, leave them in place.
    yield
    with django_db_blocker.unblock():
        seed_taxonomy()


@pytest.fixture
def playwright(
    _migration_rows_restored: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Playwright]:
    require_service("chromium", lambda: CHROMIUM.exists())
    # Playwright's sync API runs an asyncio event loop in this thread, so Django takes every
    # ORM call made in the test body for one made from async code and raises
    # SynchronousOnlyOperation. No async code touches the database here: the loop is only
    # Playwright's. Allowed for this test alone (monkeypatch undoes it).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        yield pw
        # The connections the test body opened belong to the loop's context: close them
        # before it goes (PostgreSQL would otherwise refuse to drop the test database).
        connections.close_all()


@pytest.fixture
def browser_type(playwright: Playwright, browser_name: str) -> BrowserType:
    return getattr(playwright, browser_name)


@pytest.fixture
def browser(browser_type: BrowserType, browser_type_launch_args: dict) -> Iterator[Browser]:
    browser = browser_type.launch(**browser_type_launch_args)
    yield browser
    browser.close()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    return {"viewport": {"width": 1280, "height": 800}, "locale": "en-GB"}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the journey's full-page screenshots go: $PORTAL_SCREENSHOTS, else tmp_path."""
    folder = Path(os.environ.get("PORTAL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
