"""Region tree services: levels, codes, moves, retire, delete, audit, and concurrent edits."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from grids import services
from grids.models import AuditLog, Department, Region
from tests.factories import build_city, grant_role, run_in_threads, superuser


def errors_of(exc_info) -> str:
    return " ".join(exc_info.value.messages)


def test_levels_follow_depth_and_codes_nest(city):
    assert [city.city.level, city.d1.level, city.s11.level, city.c111.level, city.g1111.level] == [1, 2, 3, 4, 5]
    assert city.g2121.code.startswith(city.c212.code)
    assert city.d1.code.startswith(city.city.code[:4])
    assert Region.objects.find_problems() == ([], [], [], [], [])


def test_add_suggests_next_free_code(city):
    assert services.region_suggest_code(parent=city.c111) == city.c111.code + "003"
    grid = services.region_add(actor=city.actor, parent=city.c111, name="新网格")
    assert grid.code == city.c111.code + "003"
    assert grid.depth == 5 and Region.objects.get_parent(grid).pk == city.c111.pk
    assert AuditLog.objects.filter(action="region.add", target_id=str(grid.pk)).exists()


@pytest.mark.parametrize(
    ("parent", "code", "message"),
    [
        ("c111", "51990100100", "12 digits" if False else "15 digits"),
        ("c111", "519902001001009", "must begin with 519901001001"),
        ("c111", "519901001001001", "already used"),
        ("c111", "51990100100100X", "digits only"),
        ("g1111", "519901001001001001", "lowest level"),
    ],
)
def test_add_refuses_bad_codes_and_levels(city, parent, code, message):
    before = Region.objects.count()
    with pytest.raises(ValidationError) as exc:
        services.region_add(actor=city.actor, parent=getattr(city, parent), name="x", code=code)
    assert message in errors_of(exc)
    assert Region.objects.count() == before


def test_add_refuses_empty_name_and_bad_boundary(city):
    with pytest.raises(ValidationError) as exc:
        services.region_add(actor=city.actor, parent=city.c111, name="  ")
    assert "name" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.region_add(
            actor=city.actor, parent=city.c111, name="x", boundary={"type": "Point", "coordinates": [1, 2]}
        )
    assert "Polygon" in errors_of(exc)
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(ValidationError) as exc:
        services.region_add(actor=city.actor, parent=city.c111, name="x", boundary=bowtie)
    assert "not valid" in errors_of(exc)
    assert not Region.objects.filter(name="x").exists()


def test_add_needs_permission_on_parent(city, make_user):
    user = make_user("admin11")
    grant_role(user, "region_admin", city.s11, actor=city.actor)
    services.region_add(actor=user, parent=city.c111, name="ok")
    with pytest.raises(PermissionDenied):
        services.region_add(actor=user, parent=city.c121, name="not mine")
    with pytest.raises(PermissionDenied):
        services.region_add(actor=user, parent=None, name="新城", code="529900")


def test_move_keeps_subtree_and_recodes_it(city):
    grants_before = city.c111.grants.count()
    moved = services.region_move(actor=city.actor, region=city.c111, new_parent=city.s22)
    assert Region.objects.get_parent(moved).pk == city.s22.pk
    assert moved.code == city.s22.code + "003"
    grids = list(Region.objects.filter(path__startswith=moved.path, depth=5).order_by("code"))
    assert [g.code for g in grids] == [moved.code + "001", moved.code + "002"]
    assert all(g.pk in (city.g1111.pk, city.g1112.pk) for g in grids)
    assert moved.grants.count() == grants_before
    assert Region.objects.find_problems() == ([], [], [], [], [])
    log = AuditLog.objects.get(action="region.move")
    assert log.data["old_code"] == city.c111.code and log.data["new_code"] == moved.code


def test_move_with_chosen_code(city):
    moved = services.region_move(actor=city.actor, region=city.g1111, new_parent=city.c222, code=city.c222.code + "050")
    assert moved.code == city.c222.code + "050"


@pytest.mark.parametrize(
    ("node", "target", "message"),
    [
        ("s11", "c111", "under itself or one of its own descendants"),
        ("d1", "d1", "under itself"),
        ("c111", "d2", "can only be placed under a Street"),
        ("g1111", "s11", "can only be placed under a Community"),
        ("c111", "s11", "already under"),
        ("city", "d1", "cannot be moved"),
    ],
)
def test_refused_moves_change_nothing(city, node, target, message):
    paths = dict(Region.objects.values_list("pk", "path"))
    with pytest.raises(ValidationError) as exc:
        services.region_move(actor=city.actor, region=getattr(city, node), new_parent=getattr(city, target))
    assert message in errors_of(exc)
    assert dict(Region.objects.values_list("pk", "path")) == paths


def test_move_onto_duplicate_code_is_refused(city):
    with pytest.raises(ValidationError) as exc:
        services.region_move(actor=city.actor, region=city.g1111, new_parent=city.c222, code=city.g2221.code)
    assert "already used" in errors_of(exc)
    assert Region.objects.get(pk=city.g1111.pk).code == city.g1111.code


def test_recode_cascades_to_descendants(city):
    services.region_recode(actor=city.actor, region=city.d1, code="519909")
    codes = set(Region.objects.filter(path__startswith=city.d1.path).values_list("code", flat=True))
    assert all(c.startswith("519909") for c in codes) and len(codes) == 15
    assert Region.objects.get(pk=city.g1111.pk).code == "519909001001001"


def test_recode_refuses_taken_or_malformed(city):
    with pytest.raises(ValidationError) as exc:
        services.region_recode(actor=city.actor, region=city.d1, code=city.d2.code)
    assert "already used" in errors_of(exc)
    with pytest.raises(ValidationError):
        services.region_recode(actor=city.actor, region=city.s11, code="519902001")  # outside its district
    assert Region.objects.get(pk=city.s11.pk).code == city.s11.code


def test_retire_subtree_refuses_new_children_and_reactivates(city):
    assert services.region_retire(actor=city.actor, region=city.s11, reason="合并") == 7
    assert not Region.objects.get(pk=city.g1111.pk).is_active
    with pytest.raises(ValidationError) as exc:
        services.region_add(actor=city.actor, parent=Region.objects.get(pk=city.c111.pk), name="x")
    assert "retired" in errors_of(exc)
    with pytest.raises(ValidationError):
        services.region_reactivate(actor=city.actor, region=city.c111)  # parent still retired
    assert services.region_reactivate(actor=city.actor, region=city.s11) == 7
    assert Region.objects.filter(path__startswith=city.s11.path, is_active=False).count() == 0


def test_delete_only_empty_nodes(city):
    with pytest.raises(ValidationError) as exc:
        services.region_delete(actor=city.actor, region=city.c111)
    assert "child nodes" in errors_of(exc)
    Department.objects.create(name="派出所", code="pcs", region=city.s12)
    services.region_delete(actor=city.actor, region=city.g1111)
    assert not Region.objects.filter(pk=city.g1111.pk).exists()
    assert Region.objects.get(pk=city.c111.pk).numchild == 1
    for comm in (city.c121, city.c122):
        for grid in Region.objects.filter(path__startswith=comm.path, depth=5):
            services.region_delete(actor=city.actor, region=grid)
        services.region_delete(actor=city.actor, region=comm)
    with pytest.raises(ValidationError) as exc:
        services.region_delete(actor=city.actor, region=city.s12)
    assert "departments" in errors_of(exc)
    assert Region.objects.filter(pk=city.s12.pk).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_additions_under_one_parent_keep_the_tree_sound():
    tree = build_city(superuser("root-concurrent"))
    parent = tree.c111
    results = run_in_threads(12, lambda i: services.region_add(actor=tree.actor, parent=parent, name=f"并发{i}"))
    assert all(isinstance(r, Region) for r in results), results
    children = Region.objects.filter(path__startswith=parent.path, depth=5)
    assert children.count() == 14
    assert len(set(children.values_list("code", flat=True))) == 14
    assert Region.objects.get(pk=parent.pk).numchild == 14
    assert Region.objects.find_problems() == ([], [], [], [], [])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_moves_and_additions_keep_the_tree_sound():
    tree = build_city(superuser("root-concurrent2"))

    def work(i: int):
        if i % 3 == 0:
            street = [tree.s11, tree.s12, tree.s21][i // 3 % 3]
            target = [tree.d2, tree.d1, tree.d1][i // 3 % 3]
            try:
                return services.region_move(actor=tree.actor, region=street, new_parent=target)
            except ValidationError as exc:  # already moved by another thread
                return exc
        return services.region_add(actor=tree.actor, parent=[tree.c111, tree.c121, tree.c211][i % 3], name=f"n{i}")

    results = run_in_threads(9, work)
    assert not [r for r in results if not isinstance(r, (Region, ValidationError))], results
    assert Region.objects.find_problems() == ([], [], [], [], [])
    for node in Region.objects.filter(depth__gt=1):
        parent = Region.objects.get_parent(node)
        assert node.code.startswith(parent.code if parent.depth > 1 else parent.code[:4])
