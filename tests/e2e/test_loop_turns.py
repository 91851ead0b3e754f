"""The loop's missing turns in real Chromium, in Chinese and English: 重办 after an unsatisfied call-back, a report
added to the nearby case it repeats, and the warning before dispatching to a department nobody staffs."""

import pytest

from cases import services
from cases.demo import seed_demo_cases
from cases.models import Case, Category, WorkOrder
from cases.workflow import State
from grids import services as grid_services
from grids.demo import DEMO_PASSWORD, seed_demo, system_actor
from grids.models import Region, User
from notifications.selectors import visible
from tests.e2e.conftest import login, watch
from tests.e2e.test_case_loop import photo

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TEXT = {
    "zh-CN": {"unstaffed": "无人在岗", "members": "人在岗", "again": "再次上报", "rehandled": "重办"},
    "en-US": {
        "unstaffed": "nobody staffs it",
        "members": "1 member",
        "again": "Reported again",
        "rehandled": "Re-handled",
    },
}


@pytest.fixture
def open_as(browser, live_server, violations):
    contexts = []

    def make(username, locale, **options):
        ctx = browser.new_context(base_url=live_server.url, locale=locale, **options)
        ctx.set_default_timeout(15_000)
        contexts.append(ctx)
        page = ctx.new_page()
        watch(page, violations)
        login(page, username, DEMO_PASSWORD)
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def demo(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    seed_demo()
    seed_demo_cases()  # the demo cases, as `make run` loads them


def open_action(page, code: str):
    box = page.locator(f"[data-testid=action-{code}]").first
    box.locator("summary").click()
    box.locator("form").wait_for()
    return box


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_unsatisfied_call_back_is_rehandled_by_the_dispatcher(open_as, demo, shot, locale):
    case = Case.objects.get(title="人行道共享单车乱停放")
    assert case.state == State.CLOSED and not case.satisfaction
    hotline = open_as("hotline", locale)
    hotline.goto("/")
    assert hotline.locator("[data-testid=count-callbacks] [data-count]").get_attribute("data-count") == "1"
    hotline.goto(f"/cases/{case.pk}/")
    box = open_action(hotline, "evaluate")
    box.locator("input[value=unsatisfied]").check()
    box.locator("textarea[name=comment]").fill("单车又堆满了")
    with hotline.expect_navigation():
        box.locator("button[type=submit]").click()
    hotline.locator("[data-testid=rehandled]").wait_for()
    assert TEXT[locale]["rehandled"] in hotline.inner_text("main")
    assert hotline.locator("[data-testid=action-evaluate]").count() == 0  # one evaluation per closing round
    case.refresh_from_db()
    assert (case.state, case.rehandle_count) == (State.ACCEPTED, 1)

    dispatcher = open_as("dispatcher", locale)
    dispatcher.goto(f"/cases/{case.pk}/")
    box = open_action(dispatcher, "dispatch")
    lead = box.locator("select[name=lead]")
    chosen = lead.locator("option:checked").inner_text()
    assert chosen.startswith("青石区城管执法局") and TEXT[locale]["members"] in chosen  # the last lead, prefilled
    # the lead is not offered again among the assisting departments
    assert not box.locator(f"input[name=assisting][value='{lead.input_value()}']").is_visible()
    shot(dispatcher, f"rehandle-dispatch-{locale}")
    with dispatcher.expect_navigation():
        box.locator("button[type=submit]").click()
    rounds = sorted(WorkOrder.objects.filter(case=case).values_list("round", "state"))
    assert rounds == [(1, "done"), (2, "assigned")]


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_same_problem_is_added_to_the_nearby_case(open_as, demo, shot, locale):
    grid = Region.objects.get(code="519902001001001")
    category = Category.objects.get(code="hjws-lj")
    original = services.case_report(
        reporter=User.objects.get(username="leader"),
        category=category,
        title="垃圾桶满溢",
        region=grid,
        lat=grid.centre_lat,
        lng=grid.centre_lng,
    )
    worker = open_as(
        "gridworker",
        locale,
        viewport={"width": 390, "height": 844},
        geolocation={"latitude": grid.centre_lat, "longitude": grid.centre_lng},
        permissions=["geolocation"],
    )
    worker.goto("/cases/report/")
    worker.wait_for_selector("#report-form[data-draft-ready='1']", state="attached")
    worker.select_option("#id_category", value=str(category.pk))
    worker.fill("#id_title", "垃圾桶又满了")
    worker.set_input_files("#id_files", files=[photo()])
    worker.click("#use-location")
    worker.wait_for_function("() => document.getElementById('id_lat').value !== ''")
    worker.click("[data-testid=report-submit]")
    worker.locator("[data-testid=nearby-warning]").wait_for()
    shot(worker, f"report-again-warning-{locale}")
    with worker.expect_navigation(url=f"**/cases/{original.pk}/"):
        worker.click("[data-testid=report-again]")
    assert worker.locator("[data-testid=reported-again]").is_visible()
    assert not worker.locator("[data-testid=timeline]").is_visible()  # folded on a phone
    worker.click("[data-testid=timeline-box] summary")
    assert TEXT[locale]["again"] in worker.inner_text("[data-testid=event-report_again]")
    original.refresh_from_db()
    assert original.reported_again_count == 1 and Case.objects.filter(title="垃圾桶又满了").count() == 0
    assert original.attachments.count() == 1


@pytest.mark.parametrize("locale", ["zh-CN", "en-US"])
def test_dispatching_to_an_unstaffed_department_asks_first(open_as, demo, shot, locale):
    district = Region.objects.get(code="519902")
    empty = grid_services.department_save(
        actor=system_actor(), name="青石区应急管理局", code="519902-yjgl", region=district, kind="yjgl"
    )
    case = Case.objects.get(title="临街商铺违规设置户外广告")
    assert case.state == State.ACCEPTED
    dispatcher = open_as("dispatcher", locale)
    dispatcher.goto(f"/cases/{case.pk}/")
    box = open_action(dispatcher, "dispatch")
    option = box.locator("select[name=lead] option", has_text="青石区应急管理局")
    assert TEXT[locale]["unstaffed"] in option.inner_text()
    box.locator("select[name=lead]").select_option(str(empty.pk))
    with dispatcher.expect_navigation():
        box.locator("button[type=submit]").click()
    box = dispatcher.locator("[data-testid=action-dispatch]").first
    confirm = box.locator("input[name=confirm_unstaffed]")
    confirm.wait_for()
    assert "青石区应急管理局" in box.inner_text() and not WorkOrder.objects.filter(case=case).exists()
    shot(dispatcher, f"unstaffed-warning-{locale}")
    confirm.check()
    with dispatcher.expect_navigation():
        box.locator("button[type=submit]").click()
    assert WorkOrder.objects.get(case=case).department == empty
    admin = User.objects.get(username="admin")
    assert visible(user=admin).filter(title__contains="青石区应急管理局").exists()
