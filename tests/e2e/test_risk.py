"""Risk early warning (mediation/risk) in real Chromium, on a phone: on the small city with noise and the planted
patterns (tests/mediation/risk/conftest.py), the nightly rules run, then a supervisor reads the weekly 研判 list, opens a
warning, dismisses one (a reason is required), downloads the XLSX and sees the warnings on the 民情地图."""

from datetime import timedelta
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from mediation.risk import services
from mediation.risk.models import Warning
from tests.e2e.conftest import login
from tests.factories import UserFactory, grant_role
from tests.mediation.risk.conftest import day, noisy, planted  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def console_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def fits(page) -> None:
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, (page.url, width, inner)


def test_a_supervisor_reviews_the_week_on_a_phone(new_page, city, planted, day, shot):  # noqa: F811
    supervisor = UserFactory(username="city-supervisor")
    grant_role(supervisor, "supervisor", city.city, actor=city.actor)
    runs = services.warnings_nightly(day + timedelta(days=1))
    assert [r.run_date for r in runs] == [day]
    raised = Warning.objects.count()
    assert raised >= 5

    page = new_page(viewport=PHONE, locale="zh-CN")
    errors = console_errors(page)
    login(page, "city-supervisor", "pass-12345")

    # the weekly list: every planted pattern, and no more rows than the night raised
    page.goto("/mediation/risk/")
    rows = page.locator("[data-testid=risk-row]")
    rows.first.wait_for()
    assert rows.count() == raised
    found = set(page.eval_on_selector_all("[data-testid=risk-row]", "rs => rs.map(r => r.dataset.rule)"))
    assert {"rising_grid", "repeat_party", "cluster", "unvisited", "fell_apart"} <= found
    assert "风险预警" in page.locator("h1").inner_text()
    fits(page)
    shot(page, "risk-list-phone")

    # a warning explains itself; dismissing it without a reason is refused, with the reason it is done
    page.locator("[data-testid=risk-row][data-rule=unvisited] [data-testid=risk-open]").first.click()
    page.wait_for_url("**/mediation/risk/*/")
    assert "60" in page.locator("[data-testid=warning-why]").inner_text()
    fits(page)
    shot(page, "risk-warning-phone")
    page.click("[data-testid=warning-dismiss]")
    error = page.locator("[data-testid=reason-error]")
    error.wait_for()
    assert "原因" in error.inner_text()
    assert [e for e in errors if "400" not in e] == [], errors
    errors.clear()  # the refused form answers 400, which the browser logs
    page.fill("[data-testid=warning-reason]", "已由社区核实，老人随子女居住")
    page.click("[data-testid=warning-dismiss]")
    page.wait_for_selector("[data-testid=warning-status]")
    assert "已排除" in page.locator("[data-testid=warning-status]").inner_text()
    assert Warning.objects.filter(status="dismissed").count() == 1
    history = page.locator("[data-testid=warning-history]").inner_text()
    assert "新 → 已排除" in history and "dismiss" not in history

    # the XLSX of the week, as the list shows it (the dismissed one with its reason)
    page.goto("/mediation/risk/")
    rows.first.wait_for()
    with page.expect_download() as download:
        page.click("[data-testid=risk-export]")
    sheet = load_workbook(BytesIO(Path(download.value.path()).read_bytes())).active
    table = list(sheet.iter_rows(min_row=3, values_only=True))
    assert len(table) == raised
    assert any(r[8] == "已排除" and "随子女居住" in (r[9] or "") for r in table)

    # the 民情地图 with the warnings layer: markers, and a popup that leads to the warning
    page.goto("/map/")
    page.wait_for_selector("#case-map[data-drawn='1']")
    page.wait_for_selector("#case-map[data-warnings]")
    with_place = Warning.objects.filter(lat__isnull=False).count()
    assert page.locator("#case-map").get_attribute("data-warnings") == str(with_place)
    markers = page.locator(".casemap-warning")
    assert markers.count() == with_place >= 1
    markers.first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    link = popup.locator("a[href^='/mediation/risk/']")
    assert link.count() == 1
    shot(page, "risk-map-phone")
    link.click()
    page.wait_for_url("**/mediation/risk/*/")
    page.locator("[data-testid=warning-why]").wait_for()
    assert not errors, errors
