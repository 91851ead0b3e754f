"""The whole loop in real Chromium across the roles: report on a phone → call the street → dispatch to two
departments → one refuses and is re-dispatched → sign and complete → verification fails, then passes → close."""

import io

import pytest
from PIL import Image

from cases.models import Case, CaseEvent, Category
from cases.workflow import State
from grids.demo import DEMO_PASSWORD, seed_demo
from grids.models import Region
from tests.e2e.conftest import login, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def photo() -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(buf, format="JPEG")
    return {"name": "现场.jpg", "mimeType": "image/jpeg", "buffer": buf.getvalue()}


def submit(box, **fields) -> None:
    """Open an action box (a <details> opens on its summary), fill its fields, submit, and wait for the page."""
    if box.evaluate("el => el.tagName") == "DETAILS":
        box.locator("summary").click()
    for name, value in fields.items():
        field = box.locator(f"[name={name}]")
        if name == "lead":  # options name the department and its active members ("· 1 member")
            field.select_option(field.locator("option", has_text=value).first.get_attribute("value"))
        elif name == "refusal_reason":
            field.select_option(value)
        elif name == "assisting":
            box.get_by_label(value).check()
        elif name == "files":
            field.set_input_files(files=[value])
        else:
            field.fill(value)
    with box.page.expect_navigation():
        box.locator("button[type=submit]").last.click()


def act(page, code: str, **fields) -> None:
    """An action of the case itself on its page."""
    submit(page.locator(f"[data-testid=action-{code}]").first, **fields)


def order_act(page, department: str, code: str, **fields) -> None:
    """A step on the work order of ``department``."""
    order = page.locator("[data-testid=work-order]", has_text=department)
    submit(order.locator(f"[data-testid=action-{code}]").first, **fields)


def test_case_loop_across_the_roles(browser, live_server, shot, settings, tmp_path, violations):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    seed_demo()
    grid = Region.objects.get(code="519902001001001")
    category = Category.objects.get(code="csgl-zdjy")

    def page_for(username, **context):
        ctx = browser.new_context(base_url=live_server.url, locale="en-US", **context)
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        watch(page, violations)
        login(page, username, DEMO_PASSWORD)
        return page

    # 1. The grid worker reports from a phone, with a photo and the phone's position.
    worker = page_for(
        "gridworker",
        viewport={"width": 390, "height": 844},
        geolocation={"latitude": grid.centre_lat, "longitude": grid.centre_lng},
        permissions=["geolocation"],
    )
    worker.goto("/cases/report/")
    worker.fill("#category-filter", "占道")
    worker.select_option("#id_category", value=str(category.pk))
    worker.fill("#id_title", "东湖路口占道经营")
    worker.fill("#id_description", "水果摊占用人行道")
    worker.set_input_files("#id_files", files=[photo()])
    worker.click("#use-location")
    worker.wait_for_function(
        "() => document.querySelector('[data-testid=located]').textContent.includes('519902001001001')"
    )
    shot(worker, "loop-1-gridworker-report")
    with worker.expect_navigation():
        worker.click("[data-testid=report-submit]")
    case = Case.objects.get(title="东湖路口占道经营")
    assert case.region == grid and case.attachments.count() == 1 and case.number.startswith("QS-")
    assert case.number in worker.inner_text("[data-testid=case-number]")

    # 2. The community finds it in its triage queue and calls the street.
    community = page_for("community")
    community.goto("/cases/triage/")
    shot(community, "loop-2-community-triage")
    community.click(f"text={case.number}")
    act(community, "call_street", comment="摊主不听劝阻，需要城管执法")
    assert Case.objects.get(pk=case.pk).state == State.CALLED

    # 3. The street dispatcher accepts and dispatches to two departments.
    dispatcher = page_for("dispatcher")
    dispatcher.goto("/cases/street/")
    shot(dispatcher, "loop-3-dispatcher-queue")
    dispatcher.click(f"text={case.number}")
    act(dispatcher, "accept")
    act(dispatcher, "dispatch", lead="青石区城管执法局", assisting="青石区住建局", comment="请两日内处置")
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED
    assert case.work_orders.count() == 2

    # 4. 住建局 refuses; the dispatcher re-dispatches to 市场监管局.
    handler2 = page_for("handler2")
    handler2.goto("/cases/inbox/")
    shot(handler2, "loop-4-department-inbox")
    handler2.click(f"text={case.number}")
    order_act(handler2, "青石区住建局", "refuse", refusal_reason="not_our_duty", comment="不属于住建职责")
    dispatcher.goto(f"/cases/{case.pk}/")
    assert dispatcher.locator("[data-testid=work-order]", has_text="青石区住建局").is_visible()
    act(dispatcher, "redispatch", lead="青石区市场监管局", comment="请市场监管局协同")

    # 5. Both departments sign and complete, with an "after" photo.
    handler = page_for("handler")
    for page, department in ((handler, "青石区城管执法局"), (handler2, "青石区市场监管局")):
        page.goto(f"/cases/{case.pk}/")
        order_act(page, department, "sign")
        order_act(page, department, "complete", result="已劝离摊点并清理", files=photo())
    assert Case.objects.get(pk=case.pk).state == State.PENDING_VERIFICATION

    # 6. The grid worker's first verification fails; the departments redo it; the second passes.
    worker.goto("/cases/verify/")
    shot(worker, "loop-5-gridworker-verify")
    worker.click(f"text={case.number}")
    act(worker, "verify_failed", comment="摊点又回来了")
    assert Case.objects.get(pk=case.pk).state == State.IN_PROGRESS
    for page, department in ((handler, "青石区城管执法局"), (handler2, "青石区市场监管局")):
        page.goto(f"/cases/{case.pk}/")
        order_act(page, department, "complete", result="再次清理并设置提示牌")
    worker.goto(f"/cases/{case.pk}/")
    act(worker, "verify_ok")
    assert Case.objects.get(pk=case.pk).state == State.VERIFIED

    # 7. The dispatcher closes; the timeline shows every step with the right actor.
    dispatcher.goto(f"/cases/{case.pk}/")
    act(dispatcher, "close")
    assert Case.objects.get(pk=case.pk).state == State.CLOSED
    shot(dispatcher, "loop-6-closed-case")
    expected = [
        ("report", "gridworker"),
        ("call_street", "community"),
        ("accept", "dispatcher"),
        ("dispatch", "dispatcher"),
        ("wo_refuse", "handler2"),
        ("redispatch", "dispatcher"),
        ("wo_sign", "handler"),
        ("wo_complete", "handler"),
        ("wo_sign", "handler2"),
        ("wo_complete", "handler2"),
        ("verify_failed", "gridworker"),
        ("wo_complete", "handler"),
        ("wo_complete", "handler2"),
        ("verify_ok", "gridworker"),
        ("close", "dispatcher"),
    ]
    events = list(CaseEvent.objects.filter(case=case).select_related("actor").order_by("at", "id"))
    assert [(e.transition, e.actor.username) for e in events] == expected
    timeline = dispatcher.inner_text("[data-testid=timeline]")
    for name in ("孙网格员", "赵社区", "张调度", "吴处置", "郑处置"):
        assert name in timeline
    assert dispatcher.locator("[data-testid=timeline] li").count() == len(expected)
