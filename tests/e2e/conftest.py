"""Real Chromium (Debian's package) driven by Playwright against pytest-django's live server."""

import os
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls made by fixtures are still
# synchronous and safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if CI:
            pytest.fail(f"Chromium is missing at {CHROMIUM}: `make test` installs Debian's chromium.")
        pytest.skip("Chromium is not installed (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


CSP_WORDS = ("Content Security Policy", "Content-Security-Policy", "Refused to", "Permissions policy violation")


def watch(page, sink: list[str]) -> None:
    """Record every Content-Security-Policy (or Permissions-Policy) violation and every uncaught script error that
    the page reports: the pages carry no inline script, and a violation means something on them stopped working."""
    page.on("console", lambda m: sink.append(f"{page.url}: {m.text}") if any(w in m.text for w in CSP_WORDS) else None)
    page.on("pageerror", lambda e: sink.append(f"{page.url}: uncaught {e}"))


@pytest.fixture
def violations():
    found: list[str] = []
    yield found
    assert not found, "violations in the browser:\n" + "\n".join(found)


@pytest.fixture
def new_page(browser, live_server, violations):
    contexts = []

    def make(viewport=None, locale="en-US", **options):
        context = browser.new_context(
            base_url=live_server.url, viewport=viewport or {"width": 1280, "height": 900}, locale=locale, **options
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        watch(page, violations)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shot():
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


def login(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=whoami]", state="attached")
