"""An admin shapes the tree and grants a role; the grantee sees the grid; another street sees nothing."""

import pytest

from grids.demo import DEMO_PASSWORD, seed_demo
from grids.models import Grant, Region, User
from tests.e2e.conftest import login

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_admin_adds_grid_grants_role_and_scopes_hold(new_page, shot, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    seed_demo()
    newcomer = User.objects.create_user(
        "newcomer", password=DEMO_PASSWORD, display_name="新网格员", region=Region.objects.get(code="519902001001")
    )
    community = Region.objects.get(code="519902001001")

    admin = new_page()
    login(admin, "admin", DEMO_PASSWORD)
    shot(admin, "admin-home")

    # Find the community through the tree: expand district → street → community.
    admin.goto("/regions/")
    admin.click("[data-tree-toggle] >> nth=0")  # the city
    admin.get_by_role("link", name="青石区").wait_for()
    admin.fill("input[name=q]", "东湖和平")
    admin.click("button:has-text('Search')")
    admin.click("[data-testid=search-results] >> text=东湖和平社区")
    assert admin.inner_text("[data-testid=region-name]") == "东湖和平社区"
    shot(admin, "admin-community")

    # Add a grid: the next free code is suggested.
    admin.click("text=Add child")
    assert admin.input_value("#id_code") == "519902001001005"
    admin.fill("#id_name", "东湖和平社区第5网格")
    admin.fill(
        "#id_boundary",
        '{"type": "Polygon", "coordinates": [[[104.0, 30.5], [104.01, 30.5], [104.01, 30.51], [104.0, 30.51], [104.0, 30.5]]]}',
    )
    admin.click("button:has-text('Save')")
    assert admin.inner_text("[data-testid=region-name]") == "东湖和平社区第5网格"
    admin.wait_for_selector("#map[data-drawn='1']")  # the boundary is drawn without any tile server
    grid = Region.objects.get(code="519902001001005")
    assert Region.objects.get_parent(grid) == community
    shot(admin, "admin-new-grid")

    # Grant the grid-worker role on it.
    admin.click("text=Permissions")
    admin.fill("#id_user", "newcomer")
    admin.select_option("#id_role", label="网格员")
    admin.click("[data-testid=grant-form] button:has-text('Grant')")
    admin.wait_for_selector("[data-testid=grants-here] >> text=newcomer")
    assert Grant.objects.filter(user=newcomer, region=grid, role__code="grid_worker").exists()
    shot(admin, "admin-permissions")

    # The check form says yes, and names the grant.
    admin.goto("/access/check/")
    admin.fill("#id_user", "newcomer")
    admin.select_option("#id_permission", label="grids.view_region — See the node and everything below it")
    admin.fill("#id_region", "519902001001005")
    admin.click("button:has-text('Check')")
    result = admin.inner_text("[data-testid=check-result]")
    assert result.startswith("Yes") and "519902001001005" in result
    shot(admin, "admin-check-access")

    # The grantee logs in (on a phone) and sees the grid.
    worker = new_page(viewport={"width": 390, "height": 844})
    login(worker, "newcomer", DEMO_PASSWORD)
    worker.click("[data-testid=home-roles] summary")  # the home opens with the work; where one works is folded
    assert "东湖和平社区第5网格" in worker.inner_text("main")
    worker.click("text=东湖和平社区第5网格")
    assert worker.inner_text("[data-testid=region-name]") == "东湖和平社区第5网格"
    shot(worker, "gridworker-grid")

    # A grid worker of another district gets 404 for the grid's page.
    other = new_page()
    login(other, "gridworker2", DEMO_PASSWORD)
    response = other.goto(f"/regions/{grid.pk}/")
    assert response.status == 404
    assert "Not found" in other.inner_text("main")
