"""Playwright driving Debian's Chromium (never a downloaded browser) against a live server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
# test itself are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(
    os.environ.get(
        "OKWALLET_SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
    )
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("needs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser):
    contexts = []

    def make(**kwargs):
        kwargs.setdefault("locale", "zh-CN")
        ctx = browser.new_context(**kwargs)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def shot():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str):
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture(autouse=True)
def reference_data(transactional_db):
    """Transactional tests flush the tables that migrations filled; put the reference rows back."""
    from okwallet.accounts.roles import ensure_role_groups
    from okwallet.contact.defaults import ensure_default_contact
    from okwallet.contact.selectors import contact_cache_clear

    ensure_role_groups()
    ensure_default_contact()
    contact_cache_clear()
    from okwallet.hours.defaults import ensure_default_hours

    ensure_default_hours()
