"""Browser tests: Python Playwright driving Debian's chromium (never a downloaded browser).

The live server runs in a thread of this process; Playwright's sync API runs an event loop in
the test's thread, so Django's async-safety guard is relaxed for these tests only.
"""

import os
import shutil

import pytest

from tests.conftest import IN_CI

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
TABLET = {"viewport": {"width": 820, "height": 1180}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"Debian chromium not found at {CHROMIUM} (make test installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


CSP_REPORTER = (
    "document.addEventListener('securitypolicyviolation',"
    " e => console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI));"
)


@pytest.fixture
def new_page(browser, live_server):
    """new_page(device=DESKTOP, locale="zh-CN") -> a page whose relative URLs go to the live server.

    Every page reports Content-Security-Policy violations; a test that caused any fails at teardown.
    """
    contexts = []
    violations: list[str] = []

    def make(device=None, locale="zh-CN"):
        context = browser.new_context(base_url=live_server.url, locale=locale, **(device or DESKTOP))
        context.set_default_timeout(15_000)
        context.add_init_script(CSP_REPORTER)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: violations.append(f"{page.url}: {msg.text}") if "Content Security Policy" in msg.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)


def login(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def follow(page, target) -> None:
    """Click a link or submit button that loads a new page, and return once that page has loaded.

    A bare click() returns when the navigation has started; reading the page right after it may
    still see the old document, or a half-parsed new one, on a slow machine.
    """
    with page.expect_navigation():
        target.click()


def switch_language(page, code: str) -> None:
    with page.expect_navigation():
        page.select_option("[data-testid=language-switcher] select", code)


def portal_menu_follow(page, name: str) -> None:
    """Open a distributor-portal page from its menu by the link's name; on a phone the menu opens first."""
    toggle = page.get_by_test_id("portal-menu-toggle")
    if toggle.is_visible():
        toggle.click()
        page.locator("#vh-portal-menu.show").wait_for()
    follow(page, page.get_by_test_id("portal-nav").get_by_role("link", name=name, exact=True))
