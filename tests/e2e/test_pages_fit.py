"""Every page of every demo role fits the window at 390, 1024 and 1366 px (the document is never wider than the
window), the navigation is grouped, and axe-core finds no serious or critical violation on each role's main pages."""

import json
from pathlib import Path

import pytest

from cases.demo import seed_demo_cases
from cases.models import Case
from dashboard.services import monthly_reports_run
from grids.demo import DEMO_PASSWORD, seed_demo
from tests.e2e.conftest import login, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1024, 1366)
ROLES = ["admin", "supervisor", "dispatcher", "community", "leader", "gridworker", "handler", "handler2", "hotline"]
AXE = Path(__file__).resolve().parents[2] / "var" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
# Main pages checked with axe, per role (besides the home page and the pages of its menu).
SKIP = ("/logout", "/django-admin")


def menu_links(page) -> list[str]:
    """Every page the menu offers (the grouped dropdowns included), in the order shown."""
    hrefs = page.eval_on_selector_all("nav a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
    seen, out = set(), []
    for href in ["/", *hrefs]:
        if href not in seen and not href.startswith(SKIP):
            seen.add(href)
            out.append(href)
    return out


def overflow(page) -> dict:
    return page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, win: window.innerWidth})"
    )


def axe_problems(page) -> list[dict]:
    """Serious and critical violations axe-core finds on the page (axe is injected by the test, never served)."""
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return result


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo()
    seed_demo_cases()  # the demo cases, as `make run` loads them


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_every_page_fits_and_has_no_serious_accessibility_problem(
    browser, live_server, demo, violations, shot, locale, settings, tmp_path
):
    assert AXE.exists(), "make assets installs axe-core (for the browser tests only)"
    case = Case.objects.filter(region__code__startswith="519902", state="dispatched").first()
    settings.MEDIA_ROOT = str(tmp_path)
    written = monthly_reports_run()  # last month's reports: the list has rows, a street's report is a page
    street = next(r for r in written if r.region.depth == 3 and r.region.code.startswith("519902"))
    too_wide, problems, visited = [], {}, 0
    for username in ROLES:
        ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900}, locale=locale)
        ctx.add_init_script(path=str(AXE))  # injected by the browser itself: the app's CSP still applies to the app
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        watch(page, violations)
        login(page, username, DEMO_PASSWORD)
        pages = menu_links(page)
        if case is not None:
            pages.append(f"/cases/{case.pk}/")
        pages += ["/cases/report/", "/account/", "/notifications/", f"/dashboard/reports/{street.pk}/"]
        for path in dict.fromkeys(pages):
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                response = page.goto(path)
                if response is None or response.status >= 400:
                    continue  # a page the role may not use is not in its menu; direct links answer 403/404
                page.wait_for_load_state("load")
                size = overflow(page)
                visited += 1
                if size["doc"] > size["win"] or size["body"] > size["win"]:
                    too_wide.append(f"{username} {path} @{width}: {size}")
                    shot(page, f"too-wide-{username}-{path.strip('/').replace('/', '-') or 'home'}-{width}")
            found = axe_problems(page)
            if found:
                problems[f"{username} {path}"] = found
        ctx.close()
    assert visited > 100
    assert not too_wide, "pages wider than the window:\n" + "\n".join(too_wide)
    assert not problems, "axe-core: serious or critical violations:\n" + json.dumps(
        problems, ensure_ascii=False, indent=1
    )


def test_navigation_is_grouped_and_the_account_menu_is_readable(browser, live_server, demo, violations):
    ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = ctx.new_page()
    watch(page, violations)
    login(page, "admin", DEMO_PASSWORD)
    # three groups, each a dropdown; the navigation stays on one line at 1366 px
    for group in ("nav-work", "nav-supervision-menu", "nav-admin"):
        assert page.locator(f"[data-testid={group}]").is_visible()
    height = page.evaluate("() => document.querySelector('nav.navbar').getBoundingClientRect().height")
    assert height < 80, height
    page.click("[data-testid=nav-admin]")
    page.locator(".dropdown-menu.show a", has_text="区域树").click()
    page.wait_for_url("**/regions/")
    # the account menu: the language switch shows its value, the links are dark on white
    page.click("[data-testid=whoami]")
    assert page.locator("[data-testid=nav-language]").input_value() == "zh-hans"
    colours = page.evaluate(
        """() => { const a = document.querySelector('[data-testid=nav-account]');
                   const s = getComputedStyle(a); return [s.color, getComputedStyle(a.closest('.dropdown-menu')).backgroundColor]; }"""
    )
    assert colours[0] != colours[1]
    page.select_option("[data-testid=nav-language]", "en")
    page.wait_for_selector("html[lang=en]")
    assert page.locator("[data-testid=nav-work]").inner_text().strip() == "Work"
    ctx.close()


def unreachable_by_keyboard(page, limit: int = 300) -> list[str]:
    """Tab from the top of the page: every visible control of the main content must take the focus (one radio
    per group, as arrow keys move inside a group). Returns the controls Tab never reached."""
    total = page.evaluate(
        """() => {
            let i = 0; const radios = new Set();
            for (const el of document.querySelectorAll(
                'main a[href], main button, main input:not([type=hidden]), main select, main textarea, main summary')) {
                // checkVisibility: not rendered, hidden, or inside a folded <details> (opened by its summary first)
                const r = el.getBoundingClientRect();
                if (el.disabled || r.width === 0 || r.height === 0 || !el.checkVisibility({visibilityProperty: true})) continue;
                if (el.tagName !== 'SUMMARY' && el.closest('details:not([open])')) continue;
                if (el.type === 'radio') { if (radios.has(el.name)) continue; radios.add(el.name); }
                el.dataset.kb = String(i++);
            }
            if (document.activeElement) document.activeElement.blur();
            return i;
        }"""
    )
    reached: set[str] = set()
    radio_groups: set[str] = set()
    for _ in range(limit):
        if len(reached) >= total:
            break
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => { const e = document.activeElement; return e ? [e.dataset.kb || '', e.type || '', e.name || ''] : null; }"
        )
        if focused:
            kb, kind, name = focused
            if kb:
                reached.add(kb)
            if kind == "radio":
                radio_groups.add(name)
    return page.evaluate(
        """([reached, groups]) => [...document.querySelectorAll('[data-kb]')]
            .filter(e => !reached.includes(e.dataset.kb) && !(e.type === 'radio' && groups.includes(e.name)))
            .map(e => e.outerHTML.slice(0, 140))""",
        [sorted(reached), sorted(radio_groups)],
    )


def test_every_control_of_the_main_pages_is_reachable_by_keyboard(browser, live_server, demo, violations):
    case = Case.objects.filter(region__code__startswith="519902", state="dispatched").first()
    pages = {
        "gridworker": ["/", "/cases/report/", "/cases/mine/"],
        "dispatcher": ["/", "/cases/street/", f"/cases/{case.pk}/"],
        "handler": ["/", "/cases/inbox/"],
        "admin": ["/", "/regions/"],
    }
    missing = {}
    for username, paths in pages.items():
        ctx = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900}, locale="zh-CN")
        page = ctx.new_page()
        watch(page, violations)
        login(page, username, DEMO_PASSWORD)
        for path in paths:
            response = page.goto(path)
            assert response is not None and response.status == 200, (username, path)
            page.wait_for_load_state("load")
            found = unreachable_by_keyboard(page)
            if found:
                missing[f"{username} {path}"] = found
        ctx.close()
    assert not missing, "controls Tab never reaches:\n" + json.dumps(missing, ensure_ascii=False, indent=1)
