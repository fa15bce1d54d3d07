"""Headless Chromium (Debian's) driven by Playwright, with screenshots kept under test-output/."""

import os
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from portal.access import Role
from tests import factories

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PASSWORD = "correct horse battery staple"


def browser_user(settings, **fields):
    """A user who signs in through the login page of a server process, which checks passwords with the
    real hasher, not the tests' fast one."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    user = factories.UserFactory(**fields)
    user.set_password(PASSWORD)
    user.save()
    return user


def sign_in(page, server, user) -> None:
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


@pytest.fixture
def technician(settings, tenant_a):
    return browser_user(settings, username="tech", role=Role.OPERATOR, companies=[tenant_a.company])


@pytest.fixture
def chromium():
    # Playwright's sync API runs an event loop on this thread while it is open, which Django takes for
    # async code and refuses ORM calls from; the tests' ORM calls are plain synchronous set-up and checks.
    # One browser per test: a session-wide one would leave that loop in place for every later test.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
            # Connections opened while Playwright's loop ran belong to that context: close them here,
            # or PostgreSQL cannot drop the test database at the end of the run.
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """``screenshot("name")`` saves test-output/screenshots/<test>-<name>.png (kept as CI artifacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return take

