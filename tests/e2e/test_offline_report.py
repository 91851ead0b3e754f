"""A report typed on a phone is never lost: the draft is kept as the worker types, a submit with no network is
queued on the phone and sent once when the network is back; the same draft sent twice is one case."""

import pytest

from cases.models import Case, Category
from grids.demo import DEMO_PASSWORD, seed_demo
from grids.models import Region
from tests.e2e.conftest import login, watch
from tests.e2e.test_case_loop import photo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def phone_for(browser, live_server, violations, username, locale="zh-CN", **context):
    grid = Region.objects.get(code="519902001001001")
    ctx = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        locale=locale,
        geolocation={"latitude": grid.centre_lat, "longitude": grid.centre_lng},
        permissions=["geolocation"],
        **context,
    )
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    watch(page, violations)
    login(page, username, DEMO_PASSWORD)
    return ctx, page


def controlled(page) -> None:
    """Wait until the service worker controls the page (it claims its clients once installed)."""
    page.wait_for_function("() => !!(navigator.serviceWorker && navigator.serviceWorker.controller)", timeout=20_000)


def fill_report(page, category: Category, title: str) -> None:
    page.wait_for_selector("#report-form[data-draft-ready='1']", state="attached")
    page.select_option("#id_category", value=str(category.pk))
    page.fill("#id_title", title)
    page.fill("#id_description", "楼道里没有信号")
    page.set_input_files("#id_files", files=[photo()])
    page.click("#use-location")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=located]').textContent.includes('519902001001001')"
    )


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_offline_report_is_queued_kept_and_sent_once(
    browser, live_server, settings, tmp_path, violations, shot, locale
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    seed_demo()
    category = Category.objects.get(code="aqyh-xftd")
    ctx, page = phone_for(browser, live_server, violations, "gridworker", locale=locale)
    page.goto("/")
    controlled(page)
    page.goto("/cases/mine/")  # the worker keeps a copy of the pages needed offline (and fetches them itself)
    page.goto("/")
    page.goto("/cases/report/")
    controlled(page)
    title = f"地下室消防通道堵塞 {locale}"
    fill_report(page, category, title)

    # A draft survives closing the page before submitting.
    page.wait_for_timeout(600)  # the draft is saved a moment after the last keystroke
    page.reload()
    page.wait_for_selector("[data-testid=draft-note]:visible")
    assert page.input_value("#id_title") == title
    assert page.evaluate("document.getElementById('id_files').files.length") == 1
    assert page.input_value("#id_lat")

    # No network: the submit is queued on the phone and says so.
    before = Case.objects.count()
    ctx.set_offline(True)
    page.click("[data-testid=report-submit]")
    queued = page.locator("[data-testid=outbox-queued]")
    queued.wait_for(state="visible")
    if locale == "zh-CN":
        assert "已保存，联网后自动上报" in queued.inner_text()
    else:
        assert "reported automatically when the network is back" in queued.inner_text()
    item = page.locator("[data-testid=outbox-item]", has_text=title)
    item.wait_for()
    assert item.get_attribute("data-state") == "waiting"
    shot(page, f"offline-queued-{locale}")
    assert Case.objects.count() == before

    # Closed and opened again with no network: the page comes from the phone, the queued report is still there.
    page.reload()
    page.locator("[data-testid=outbox-item]", has_text=title).wait_for()
    page.goto("/")
    home_item = page.locator("[data-testid=outbox-item]", has_text=title)
    home_item.wait_for()
    assert home_item.get_attribute("data-state") == "waiting"
    page.goto("/regions/")  # a page not kept offline says it needs the network
    page.wait_for_selector("[data-testid=offline-page]")
    page.goto("/")

    # The network is back: it is sent, exactly once, and the queue links to the case.
    ctx.set_offline(False)
    sent = page.locator("[data-testid=outbox-item][data-state=sent]", has_text=title)
    sent.wait_for(timeout=20_000)
    case = Case.objects.get(title=title)
    assert sent.locator("[data-testid=outbox-case]").inner_text() == case.number
    assert case.attachments.count() == 1 and case.lat is not None and case.reporter.username == "gridworker"
    page.goto("/cases/mine/")
    page.locator("[data-testid=outbox-item][data-state=sent]", has_text=title).wait_for()
    page.reload()
    page.wait_for_timeout(500)
    assert Case.objects.filter(title=title).count() == 1

    # The same draft sent a second time answers with the first case's number.
    key = str(case.idempotency_key)
    again = page.evaluate(
        """async (args) => {
            const who = await (await fetch('/cases/report/token/')).json();
            const body = new FormData();
            body.append('category', args.category);
            body.append('title', 'again');
            body.append('source', 'patrol');
            body.append('region', args.region);
            body.append('idempotency_key', args.key);
            const headers = {Accept: 'application/json', 'X-CSRFToken': who.csrf};
            const r = await fetch('/cases/report/', {method: 'POST', body, headers});
            return {status: r.status, data: await r.json()};
        }""",
        {"category": str(category.pk), "region": str(case.region_id), "key": key},
    )
    assert again["status"] == 200 and again["data"]["number"] == case.number and again["data"]["replayed"]
    assert Case.objects.filter(idempotency_key=case.idempotency_key).count() == 1
    shot(page, f"offline-sent-{locale}")
    ctx.close()


def test_refused_report_keeps_the_draft_for_editing(browser, live_server, settings, tmp_path, violations):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    seed_demo()
    category = Category.objects.get(code="aqyh-xftd")
    ctx, page = phone_for(browser, live_server, violations, "gridworker", locale="en-US")
    page.goto("/cases/report/")
    controlled(page)
    fill_report(page, category, "to be refused")
    # a point outside every grid, and no grid chosen: the server refuses it once it is sent
    page.select_option("#id_region", "")
    page.fill("#id_lat", "1")
    page.fill("#id_lng", "1")
    page.fill("#id_description", "no title")
    page.wait_for_timeout(600)  # the draft is saved a moment after the last keystroke
    ctx.set_offline(True)
    page.click("[data-testid=report-submit]")
    page.wait_for_selector("[data-testid=outbox-queued]:visible")
    ctx.set_offline(False)
    refused = page.locator("[data-testid=outbox-item][data-state=refused]")
    refused.wait_for(timeout=20_000)
    assert "No active grid contains this point" in refused.inner_text()
    with page.expect_navigation():
        refused.locator("[data-outbox-edit]").click()
    page.wait_for_selector("[data-testid=draft-note]:visible")
    assert page.input_value("#id_description") == "no title"
    assert page.evaluate("document.getElementById('id_files').files.length") == 1
    page.fill("#id_title", "edited and sent")
    page.click("#use-location")
    page.wait_for_function("() => document.getElementById('id_lat').value.startsWith('30')")
    with page.expect_navigation(url="**/cases/*/"):
        page.click("[data-testid=report-submit]")
    assert Case.objects.filter(title="edited and sent").count() == 1
    ctx.close()
