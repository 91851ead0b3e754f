"""The case map (casemap/, tests/casemap/) in real Chromium: it draws the grids, the heatmap and the markers of the
demo city with a few more cases, a grid's popup leads to its cases, it fits a phone, and it draws tiles when the city
has a tile server. It lives with the other browser tests: one Chromium serves the whole session."""

import base64

import pytest

from cases import services
from cases.demo import seed_demo_cases
from cases.models import Category
from grids.demo import DEMO_PASSWORD, seed_demo, system_actor
from grids.models import Region
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A 1×1 PNG: what the stand-in tile server answers.
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo()
    seed_demo_cases()
    actor = system_actor()
    category = Category.objects.get(code="csgl-zdjy")
    grids = list(Region.objects.filter(code__startswith="519902", depth=5).order_by("code")[:6])
    for i, grid in enumerate(grids):
        for k in range(3):
            lat = (grid.min_lat + grid.max_lat) / 2 + 0.004 * (k - 1)
            lng = (grid.min_lng + grid.max_lng) / 2 + 0.003 * ((i + k) % 3 - 1)
            services.case_report(
                reporter=actor, category=category, title=f"占道经营{i}{k}", region=grid, lat=lat, lng=lng
            )


def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def wait_drawn(page) -> None:
    page.wait_for_selector("#case-map[data-drawn='1']")


def test_the_map_draws_grids_heatmap_and_markers_and_a_grid_leads_to_its_cases(new_page, demo, shot):
    page = new_page(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    errors = console_errors(page)
    login(page, "supervisor", DEMO_PASSWORD)
    page.click("[data-testid=nav-supervision-menu]")
    page.click("[data-testid=nav-map]")
    page.wait_for_url("**/map/")
    wait_drawn(page)
    page.wait_for_selector(".leaflet-marker-icon")
    assert page.locator("[data-testid=map-region]").inner_text() == "青石区"
    grids = Region.objects.filter(code__startswith="519902", depth=5).count()
    assert page.locator("#case-map").get_attribute("data-areas") == str(grids)
    assert page.locator(".leaflet-overlay-pane svg path.leaflet-interactive").count() == grids
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.locator(".leaflet-marker-icon").count() >= 1
    assert page.locator("[data-testid=map-legend] li").count() >= 2
    assert "事件" in page.locator("[data-testid=map-status]").inner_text()
    shot(page, "casemap-district")

    # a cluster opens on a click (the map zooms in, and asks for the boundaries of the new zoom); a case marker's
    # popup names the case and opens it
    with page.expect_response(lambda r: "/map/data/" in r.url):
        page.locator(".marker-cluster").first.click()
    pin = page.locator(".casemap-pin").first
    pin.wait_for()
    pin.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    number = popup.locator("a").first.inner_text()
    assert number.startswith("QS-")
    shot(page, "casemap-case-popup")
    popup.locator("a").first.click()
    page.wait_for_url("**/cases/*/")
    assert number in page.content()
    page.go_back()
    wait_drawn(page)

    # a grid with cases: its popup leads to the case list of that grid
    page.locator("input#measure-overdue").check()
    page.locator("input#measure-count").check()
    grid = Region.objects.filter(code__startswith="519902", depth=5).order_by("code").first()
    page.locator(f"path[data-code='{grid.code}']").click(position={"x": 4, "y": 4})  # the corner: markers sit mid-grid
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    shot(page, "casemap-grid-popup")
    popup.get_by_role("link", name="查看事件").click()
    page.wait_for_url("**/cases/?grid=*")
    assert page.locator("h1").first.inner_text()
    assert not errors, errors


def test_the_map_fits_a_phone(new_page, demo, shot):
    page = new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    errors = console_errors(page)
    login(page, "dispatcher", DEMO_PASSWORD)
    page.goto("/map/")
    wait_drawn(page)
    size = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert size[0] <= size[1], size
    assert page.locator(".leaflet-overlay-pane svg path.leaflet-interactive").count() >= 1
    shot(page, "casemap-phone")
    assert not errors, errors


def test_the_map_draws_tiles_from_the_citys_tile_server(new_page, demo, settings, shot):
    origin = "http://tiles.example.test"
    settings.GOVGRID_TILE_URL = origin + "/{z}/{x}/{y}.png"
    settings.SECURE_CSP = {**settings.SECURE_CSP, "img-src": [*settings.SECURE_CSP["img-src"], origin]}
    page = new_page(viewport={"width": 1280, "height": 900})
    page.route(origin + "/**", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    errors = console_errors(page)
    login(page, "admin", DEMO_PASSWORD)
    page.goto("/map/")
    wait_drawn(page)
    page.wait_for_selector(".leaflet-tile-loaded")
    assert not page.locator("input[name=date_from]").is_visible()  # the dates show for a date range only
    page.select_option("select[name=period]", "custom")
    assert page.locator("input[name=date_from]").is_visible()
    assert page.locator(".leaflet-overlay-pane svg path.leaflet-interactive").count() >= 1
    shot(page, "casemap-tiles")
    assert not errors, errors
