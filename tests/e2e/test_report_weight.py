"""The report page's weight over the wire in production mode (gunicorn, DEBUG off, hashed and compressed static
files, the service worker installing its precache) on a first and a warm visit, and the taps of a report with a
photo and "use my location" from the home page. The figures are printed and written in docs/performance.md."""

import re

import pytest

from tests.e2e.test_case_loop import photo
from tests.project.test_production import DEMO_PASSWORD, stack  # noqa: F401
from tests.project.test_production import pytestmark as production_marks

pytestmark = [pytest.mark.e2e, *production_marks]
FIRST_VISIT_MAX = 300 * 1024
WARM_VISIT_MAX = 20 * 1024
TAPS_MAX = 5


class Wire:
    """Bytes over the wire of every response the browser context received (pages, static files, the service
    worker's own fetches): headers plus the encoded (compressed) body, as Chromium counts them."""

    def __init__(self, context) -> None:
        self.rows: list[tuple[str, int]] = []
        context.on("requestfinished", self._finished)

    def _finished(self, request) -> None:
        try:
            sizes = request.sizes()
        except Exception:  # noqa: BLE001 - a request that ended without a response counts nothing
            return
        self.rows.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    def take(self) -> list[tuple[str, int]]:
        rows, self.rows = self.rows, []
        return rows


def sign_in(context, base: str) -> None:
    """Sign in through the login form by HTTP (the context's cookies), so no page asset is loaded before the
    report page's first visit."""
    login = context.request.get(base + "/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text()).group(1)
    done = context.request.post(
        base + "/login/",
        form={"username": "gridworker", "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/login/"},
    )
    assert done.ok and 'data-testid="whoami"' in done.text()


def test_report_page_weight_and_taps(stack, browser):  # noqa: F811 - the production stack fixture
    grid_centre = (30.515, 104.015)  # 东湖和平社区第1网格 of the demo city (grids/demo.py)
    context = browser.new_context(
        base_url=stack.url,
        viewport={"width": 390, "height": 844},
        locale="zh-CN",
        geolocation={"latitude": grid_centre[0], "longitude": grid_centre[1]},
        permissions=["geolocation"],
    )
    context.set_default_timeout(30_000)
    wire = Wire(context)
    sign_in(context, stack.url)
    wire.take()  # the sign-in is not the report page's weight
    page = context.new_page()

    # First visit: nothing cached; the service worker installs and precaches while the page is open.
    page.goto("/cases/report/")
    page.wait_for_function("() => !!(navigator.serviceWorker && navigator.serviceWorker.controller)")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1500)
    first = wire.take()
    first_total = sum(n for _, n in first)

    # Warm visit: the same page again, everything but the page itself from the phone's caches.
    page.goto("/cases/report/")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    warm = wire.take()
    warm_total = sum(n for _, n in warm)

    # Taps from the home page: 上报, the category, the photo, "use my location", 上报 again; no typing.
    page.goto("/")
    taps = 0
    page.click("[data-testid=home-report]")
    taps += 1
    page.wait_for_selector("#report-form[data-draft-ready='1']", state="attached")
    category = page.evaluate(
        "() => Array.from(document.querySelectorAll('#id_category option')).find(o => o.textContent.includes('消防通道堵塞')).value"
    )
    page.select_option("#id_category", category)
    taps += 1
    page.set_input_files("#id_files", files=[photo()])
    taps += 1
    page.click("#use-location")
    taps += 1
    page.wait_for_function("() => document.getElementById('id_region').value !== ''")
    with page.expect_navigation(url=re.compile(r"/cases/\d+/$")):
        page.click("[data-testid=report-submit]")
    taps += 1
    assert page.locator("[data-testid=case-number]").is_visible()

    print("\nreport page, first visit:", first_total, "bytes over the wire in", len(first), "responses")
    for url, n in sorted(first, key=lambda r: -r[1]):
        print(f"  {n:>8}  {url.replace(stack.url, '')}")
    print("report page, warm visit:", warm_total, "bytes in", len(warm), "responses")
    for url, n in warm:
        print(f"  {n:>8}  {url.replace(stack.url, '')}")
    print("taps from the home page to a report with a photo and the location:", taps)
    assert first_total <= FIRST_VISIT_MAX, first_total
    assert warm_total <= WARM_VISIT_MAX, warm_total
    assert taps <= TAPS_MAX
    context.close()
