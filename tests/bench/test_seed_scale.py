from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bench.management.commands.seed_scale import shape_for, user_prefix
from grids import access
from grids.codes import validate_code
from grids.models import Grant, Region, RegionGroupObjectPermission, RegionUserObjectPermission, User

CITY = "529700"


@pytest.fixture
def seeded(db):
    call_command("seed_scale", grids=40, staff=60, city_code=CITY, stdout=StringIO())
    return Region.objects.get(code=CITY)


def test_shape_follows_the_grid_count():
    assert shape_for(10_000) == (10, [10] * 1000)
    assert shape_for(40) == (2, [5] * 8)
    assert sum(shape_for(12_345)[1]) == 12_345


def test_tree_has_valid_codes_boundaries_and_paths(seeded):
    nodes = list(Region.objects.filter(path__startswith=seeded.path))
    per_depth = {d: sum(1 for n in nodes if n.depth == d) for d in range(1, 6)}
    assert per_depth == {1: 1, 2: 2, 3: 4, 4: 8, 5: 40}
    code_at = {n.path: n.code for n in nodes}
    for n in nodes:
        validate_code(n.code, n.depth, code_at.get(n.path[: -Region.steplen]))
        assert n.min_lat < n.centre_lat < n.max_lat and n.min_lng < n.centre_lng < n.max_lng
        assert n.boundary["type"] == "Polygon"
    assert Region.objects.find_problems() == ([], [], [], [], [])


def test_grants_give_guardian_rows_and_subtree_access(seeded):
    users = User.objects.filter(username__startswith=user_prefix(CITY))
    assert users.count() == 60
    assert not users.filter(grants__isnull=True).exists()
    for user_id, region_id in Grant.objects.filter(user__in=users).values_list("user_id", "region_id"):
        assert RegionUserObjectPermission.objects.filter(user_id=user_id, content_object_id=region_id).exists()
    team_grants = Grant.objects.filter(group__name__startswith=user_prefix(CITY))
    assert team_grants.count() == 2
    expected = sum(g.role.permissions.count() for g in team_grants.select_related("role"))
    assert RegionGroupObjectPermission.objects.filter(group__in=team_grants.values("group")).count() == expected

    grant = Grant.objects.filter(user__in=users, role__code="grid_worker").select_related("user", "region").first()
    worker, grid = grant.user, grant.region
    street = grid.path[: 3 * Region.steplen]
    other = Region.objects.filter(path__startswith=seeded.path, depth=5).exclude(path__startswith=street).first()
    assert access.user_can(worker, "grids.view_region", grid)
    assert not access.user_can(worker, "grids.view_region", other)


def test_refuses_an_existing_city_unless_reset(seeded):
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_scale", grids=40, staff=60, city_code=CITY, stdout=StringIO())
    call_command("seed_scale", grids=40, staff=60, city_code=CITY, reset=True, stdout=StringIO())
    assert Region.objects.filter(code__startswith=CITY[:4]).count() == 55
    assert User.objects.filter(username__startswith=user_prefix(CITY)).count() == 60
    assert Region.objects.find_problems() == ([], [], [], [], [])


def test_bench_access_writes_its_section(seeded, tmp_path):
    report = tmp_path / "performance.md"
    out = StringIO()
    call_command("bench_access", samples=20, city_code=CITY, output=str(report), stdout=out)
    call_command("bench_access", samples=20, city_code=CITY, output=str(report), stdout=StringIO())
    text = report.read_text()
    assert text.startswith("# Performance")
    assert text.count("<!-- bench_access:start -->") == 1
    for who in ("grid worker", "community", "street dispatcher", "district supervisor", "city admin"):
        assert f"| check, cold | {who} | 20 |" in text
    assert "| check, warm | grid worker | 20 |" in text and "| locate |" in out.getvalue()


def test_seed_timings_are_written_between_their_markers(tmp_path, db):
    from bench.management.commands.bench_access import write_seed_section

    report = tmp_path / "performance.md"
    report.write_text("# Performance\n\n<!-- seed_scale:start -->\nold\n<!-- seed_scale:end -->\n\nafter\n")
    write_seed_section(
        report, "seed_scale", "python manage.py seed_scale --grids 40", {"regions": 1.25, "total": 2.5}, "City X."
    )
    text = report.read_text()
    assert "old" not in text and text.endswith("after\n")
    assert "`python manage.py seed_scale --grids 40`" in text and "| regions | 1.2 |" in text and "City X." in text
