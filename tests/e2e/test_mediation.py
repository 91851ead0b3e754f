"""On phones (390×844): a grid worker opens a dispute from a dispute-category case; the community's people's mediator
takes it, records two sessions and an agreement, opens the printable agreement, uploads the signed scan; the 30-day
follow-up reminder arrives in the mediator's inbox; the case is closed."""

import datetime as dt

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from cases import services as case_services
from cases.models import Case, Category
from cases.workflow import State
from grids.demo import DEMO_PASSWORD, seed_demo
from grids.models import Region, User
from mediation import services
from mediation.demo import seed_demo_mediation
from mediation.models import Dispute
from mediation.workflow import Status
from tests.e2e.conftest import login, watch

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PHONE = {"width": 390, "height": 844}


def phone(browser, live_server, violations):
    ctx = browser.new_context(base_url=live_server.url, locale="en-US", viewport=PHONE)
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    watch(page, violations)
    return ctx, page


def fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_dispute_from_case_to_agreement_and_follow_up(browser, live_server, shot, settings, tmp_path, violations):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    settings.LANGUAGE_CODE = "en"  # notices are written in the site's language; the assertions read English
    seed_demo()
    seed_demo_mediation()
    worker = User.objects.get(username="gridworker")
    grid = Region.objects.get(code="519902001001001")
    case = case_services.case_report(
        reporter=worker,
        category=Category.objects.get(code="mdjf-llj"),
        title="楼上漏水殃及楼下",
        region=grid,
        address="和平小区3栋",
    )
    from cases.case_parties import case_party_add

    case_party_add(actor=worker, case=case, role="reporter", name="刘阿姨", phone="13912345678")
    case_party_add(actor=worker, case=case, role="respondent", name="何先生")

    # The grid worker opens the dispute from the case in one tap.
    ctx, page = phone(browser, live_server, violations)
    login(page, "gridworker", DEMO_PASSWORD)
    page.goto(f"/cases/{case.pk}/")
    with page.expect_navigation():
        page.click("[data-testid=open-dispute]")
    dispute = Dispute.objects.get(case=case)
    expect(page.locator("[data-testid=dispute-status]")).to_have_text("Open")
    assert page.locator("[data-testid=dispute-party]").count() == 2
    assert "13912345678" not in page.content() and "139****5678" in page.content()
    fits(page)
    ctx.close()

    # The mediator takes it: assigns herself, records two sessions (one with a photo) and the agreement.
    ctx, page = phone(browser, live_server, violations)
    login(page, "mediator", DEMO_PASSWORD)
    page.goto("/mediation/")
    page.click(f"text={dispute.number}")
    with page.expect_navigation():
        page.click("[data-testid=candidate-mediator]")
    expect(page.locator("[data-testid=mediator]")).to_contain_text("陈调解")
    photo = tmp_path / "session.jpg"
    Image.new("RGB", (64, 48), "blue").save(photo, format="JPEG")
    for notes, place in (("双方陈述：漏水持续两周", "社区调解室"), ("何先生同意维修并赔偿", "和平小区3栋")):
        page.click("[data-testid=session-action] summary")
        page.fill("[data-testid=session-form] [name=notes]", notes)
        page.fill("[data-testid=session-form] [name=place]", place)
        if place == "社区调解室":
            page.set_input_files("[data-testid=session-form] [name=files]", str(photo))
        with page.expect_navigation():
            page.click("[data-testid=save-session]")
    assert page.locator("[data-testid=session]").count() == 2
    expect(page.locator("[data-testid=dispute-status]")).to_have_text("Mediating")
    page.click("[data-testid=agree-action] summary")
    page.fill("[data-testid=agree-form] [name=terms]", "一、何先生三日内维修防水层；\n二、赔偿刘阿姨装修损失800元。")
    with page.expect_navigation():
        page.click("[data-testid=save-agreement]")
    expect(page.locator("[data-testid=dispute-status]")).to_have_text("Agreement reached")
    fits(page)
    shot(page, "mediation-1-dispute-phone")

    # The printable agreement names the sides and the mediator, the terms, and places to sign.
    page.click("[data-testid=print-agreement]")
    sheet = page.locator("[data-testid=agreement-sheet]")
    expect(sheet).to_contain_text("刘阿姨")
    expect(sheet).to_contain_text("何先生")
    expect(sheet).to_contain_text("赔偿刘阿姨装修损失800元")
    assert page.locator("[data-testid=sign-party]").count() == 2
    expect(page.locator("[data-testid=sign-mediator]")).to_contain_text("陈调解")
    shot(page, "mediation-2-agreement-phone")
    page.go_back()

    # The signed scan goes back up.
    scan = tmp_path / "signed.pdf"
    scan.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    page.set_input_files("[data-testid=scan-form] [name=file]", str(scan))
    with page.expect_navigation():
        page.click("[data-testid=upload-scan]")
    expect(page.locator("[data-testid=scan]")).to_contain_text("signed.pdf")

    # Thirty days later the follow-up reminder is in the mediator's inbox.
    assert services.follow_ups_sweep(now=timezone.now() + dt.timedelta(days=30, minutes=1))["notices"] >= 1
    page.goto("/notifications/")
    expect(page.locator("main")).to_contain_text(f"Follow-up due (30 days): {dispute.number}")
    fits(page)
    shot(page, "mediation-3-inbox-phone")

    # The case is closed, and both timelines tell the story.
    case = Case.objects.get(pk=case.pk)
    assert case.state == State.CLOSED
    dispute.refresh_from_db()
    assert dispute.status == Status.AGREED
    page.goto(f"/cases/{case.pk}/")
    expect(page.locator("[data-testid=case-dispute-link]")).to_have_text(dispute.number)
    expect(page.locator("[data-testid=event-close]")).to_have_count(1)  # in the timeline, folded on a phone
    ctx.close()
