"""A grid worker on a phone (390×844) records a visit to a household and opens a case from it in one tap; the case
page lists the household's residents, masked."""

import pytest

from cases.models import Case
from grids.demo import DEMO_PASSWORD, seed_demo
from grids.models import Region
from parties.demo import seed_demo_parties
from parties.models import Household, Visit
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_grid_worker_records_a_visit_and_opens_a_case(browser, live_server, shot, settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = str(tmp_path)
    seed_demo()
    seed_demo_parties()
    grid = Region.objects.get(code="519902001001001")
    household = Household.objects.get(region=grid, building__name="和平小区1栋", room="102")
    ctx = browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 390, "height": 844},
        geolocation={"latitude": grid.centre_lat, "longitude": grid.centre_lng},
        permissions=["geolocation"],
    )
    ctx.set_default_timeout(15_000)
    page = ctx.new_page()
    login(page, "gridworker", DEMO_PASSWORD)

    # The worker's grid opens on its households; the household's residents are masked.
    page.goto("/parties/")
    page.wait_for_selector("[data-testid=household-list]")
    shot(page, "parties-1-households-phone")
    page.click(f"[href='/parties/households/{household.pk}/']")
    members = page.locator("[data-testid=member]")
    assert members.count() == 3
    assert "**********" in members.first.inner_text() and "****" in members.first.inner_text()
    assert page.locator("[data-testid=reveal-id_number]").count() == 0  # no permission to show whole numbers
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    # Record the visit: people met, a need, a note, the phone's position.
    page.click("[data-testid=record-visit]")
    page.wait_for_selector("[data-testid=visit-form]")
    page.get_by_label("李明").check()
    page.get_by_label("Dispute between neighbours").check()
    page.fill("#id_notes", "楼上装修噪音，与邻居发生争执")
    page.click("[data-testid=use-location]")
    page.wait_for_function("() => document.querySelector('[data-testid=location-status]').textContent.includes(',')")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "parties-2-visit-form-phone")
    with page.expect_navigation():
        page.click("[data-testid=save-visit]")
    visit = Visit.objects.get(household=household, notes__contains="噪音")
    assert visit.needs == ["dispute"] and visit.lat is not None
    assert [r.name for r in visit.people_met.all()] == ["李明"]

    # One tap opens the case, with the household's address and people filled in.
    page.wait_for_selector("[data-testid=open-case]")
    shot(page, "parties-3-visit-phone")
    with page.expect_navigation():
        page.click("[data-testid=open-case]")
    case = Case.objects.get(visit=visit)
    assert case.region == grid and case.address == household.label and case.category.code == "mdjf-llj"
    parties = page.locator("[data-testid=case-party]")
    assert parties.count() == 3
    text = page.inner_text("[data-testid=case-parties]")
    assert "李明" in text and "王芳" in text and "**********" in text and "****" in text
    for resident in household.members.all():
        from parties import crypto

        assert crypto.decrypt(resident.id_number_enc) not in page.content()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "parties-4-case-phone")
    ctx.close()
