"""The dashboard in real Chromium on the demo city: the ECharts charts draw (a canvas in each), the figures are
there, no console error, readable on a phone; screenshots at desktop and phone width."""

import pytest

from cases.demo import seed_demo_cases
from grids.demo import DEMO_PASSWORD, seed_demo
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo()
    seed_demo_cases()


@pytest.mark.parametrize("username", ["supervisor", "dispatcher"])
def test_the_dashboard_draws_its_charts(new_page, demo, shot, username):
    page = new_page(locale="zh-CN")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    login(page, username, DEMO_PASSWORD)
    page.click("[data-testid=nav-supervision-menu]")
    page.click("[data-testid=nav-dashboard]")
    page.wait_for_selector("[data-chart=trend] canvas")
    charts = page.eval_on_selector_all("[data-chart]", "els => els.map(e => !!e.querySelector('canvas'))")
    assert charts and all(charts), charts
    # the canvas is drawn: some pixel of the trend chart is not blank
    drawn = page.eval_on_selector(
        "[data-chart=trend] canvas",
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                 for (let i = 3; i < d.length; i += 4) { if (d[i] !== 0) return true; } return false; }""",
    )
    assert drawn
    assert int(page.get_attribute("[data-testid=card-new]", "data-value")) > 0
    shot(page, f"dashboard-{username}")
    # drill down to the first sub-region, then climb back with the breadcrumb
    first = page.locator("[data-testid=child-row] a").first
    name = first.inner_text()
    first.click()
    page.wait_for_selector("[data-chart=trend] canvas")
    assert name in page.inner_text("[data-testid=dashboard-breadcrumb]")
    page.locator("[data-testid=dashboard-breadcrumb] a").last.click()
    page.wait_for_selector("[data-testid=child-row]")
    page.set_viewport_size({"width": 390, "height": 800})
    page.reload()
    page.wait_for_selector("[data-chart=trend] canvas")
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    shot(page, f"dashboard-{username}-phone")
    assert not errors, errors
