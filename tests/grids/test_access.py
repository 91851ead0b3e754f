"""The access policy: grants on a node hold for its subtree, and nowhere else."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from grids import access, services
from grids.models import Grant, Region, RegionUserObjectPermission, Role, User
from tests.factories import grant_role

VIEW = "grids.view_region"

# (node of the grant, node checked, allowed?)
SUBTREE_TABLE = [
    ("s11", "s11", True),
    ("s11", "c111", True),
    ("s11", "c112", True),
    ("s11", "g1111", True),
    ("s11", "g1122", True),
    ("s11", "s12", False),
    ("s11", "c121", False),
    ("s11", "g1211", False),
    ("s11", "d1", False),
    ("s11", "city", False),
    ("s11", "g2111", False),
    ("d2", "g2222", True),
    ("d2", "g1111", False),
    ("city", "g2222", True),
    ("g1111", "g1111", True),
    ("g1111", "g1112", False),
    ("g1111", "c111", False),
]


@pytest.mark.parametrize(("granted_at", "checked", "allowed"), SUBTREE_TABLE)
def test_grant_holds_for_subtree_only(city, make_user, granted_at, checked, allowed):
    user = make_user("worker")
    grant_role(user, "grid_worker", getattr(city, granted_at), actor=city.actor)
    assert access.user_can(user, VIEW, getattr(city, checked)) is allowed
    visible = set(access.scope(user, VIEW, Region.objects.all()).values_list("pk", flat=True))
    assert (getattr(city, checked).pk in visible) is allowed


@pytest.mark.parametrize(
    ("role", "perm", "allowed"),
    [
        ("grid_worker", "grids.view_region", True),
        ("grid_worker", "grids.change_region", False),
        ("grid_worker", "grids.manage_access", False),
        ("region_admin", "grids.change_region", True),
        ("region_admin", "grids.manage_access", True),
        ("street_dispatcher", "grids.add_region", False),
    ],
)
def test_role_bundles(city, make_user, role, perm, allowed):
    user = make_user("someone")
    grant_role(user, role, city.s11, actor=city.actor)
    assert access.user_can(user, perm, city.g1111) is allowed


def test_team_grant_holds_for_members_only(city, make_user):
    member, outsider = make_user("member"), make_user("outsider")
    team = Group.objects.create(name="调度组")
    member.groups.add(team)
    grant_role(team, "street_dispatcher", city.s21, actor=city.actor)
    assert access.user_can(member, VIEW, city.g2122)
    assert not access.user_can(member, VIEW, city.g1111)
    assert not access.user_can(outsider, VIEW, city.g2122)
    assert access.explain(member, VIEW, city.g2122).grants[0].group == team


def test_revoke_takes_effect_on_next_request(city, make_user):
    user = make_user("worker")
    grant = grant_role(user, "grid_worker", city.c111, actor=city.actor)
    assert access.user_can(user, VIEW, city.g1111)
    services.grant_revoke(actor=city.actor, grant=grant)
    fresh = User.objects.get(pk=user.pk)  # the next request loads the user anew
    assert not access.user_can(fresh, VIEW, city.g1111)
    assert not RegionUserObjectPermission.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_cached_grants_follow_a_revoke_and_a_move_on_the_very_next_request(request):
    """Outside a test transaction grants are cached across requests (Redis in production); a change of a grant or
    of the tree is seen by the very next request all the same."""
    from django.test import Client
    from django.urls import reverse

    city = request.getfixturevalue("city")
    user = request.getfixturevalue("make_user")("cached-worker")
    grant = grant_role(user, "grid_worker", city.c111, actor=city.actor)
    client = Client()
    client.force_login(user)
    page = reverse("region_detail", args=[city.g1111.pk])
    assert client.get(page).status_code == 200
    assert client.get(page).status_code == 200  # from the cache now
    services.region_move(actor=city.actor, region=city.c111, new_parent=city.s21)
    assert client.get(page).status_code == 200  # the grant follows the moved community
    services.grant_revoke(actor=city.actor, grant=grant)
    assert client.get(page).status_code == 404


def test_revoking_one_role_keeps_what_another_grant_gives(city, make_user):
    user = make_user("worker")
    worker = grant_role(user, "grid_worker", city.c111, actor=city.actor)
    grant_role(user, "grid_leader", city.c111, actor=city.actor)
    services.grant_revoke(actor=city.actor, grant=worker)
    assert access.user_can(User.objects.get(pk=user.pk), VIEW, city.g1111)


def test_moving_a_grid_changes_who_may_act_at_once(city, make_user):
    a, b = make_user("street11"), make_user("street21")
    grant_role(a, "street_dispatcher", city.s11, actor=city.actor)
    grant_role(b, "street_dispatcher", city.s21, actor=city.actor)
    services.region_move(actor=city.actor, region=city.g1111, new_parent=city.c211)
    grid = Region.objects.get(pk=city.g1111.pk)
    a, b = User.objects.get(pk=a.pk), User.objects.get(pk=b.pk)
    assert not access.user_can(a, VIEW, grid)
    assert access.user_can(b, VIEW, grid)


def test_explain_names_the_nearest_grant(city, make_user):
    user = make_user("multi")
    grant_role(user, "supervisor", city.d1, actor=city.actor)
    near = grant_role(user, "grid_worker", city.c111, actor=city.actor)
    result = access.explain(user, VIEW, city.g1111)
    assert result.allowed and result.grants[0] == near and len(result.grants) == 2
    assert city.c111.code in result.reason
    refused = access.explain(user, "grids.manage_access", city.g1111)
    assert not refused.allowed and refused.grants == []
    assert not access.explain(user, VIEW, city.g2111).allowed


def test_inactive_and_anonymous_users_may_nothing(city, make_user):
    from django.contrib.auth.models import AnonymousUser

    user = make_user("gone")
    grant_role(user, "region_admin", city.city, actor=city.actor)
    user.is_active = False
    assert not access.user_can(user, VIEW, city.g1111)
    assert not access.scope(user, VIEW, Region.objects.all()).exists()
    assert not access.user_can(AnonymousUser(), VIEW, city.g1111)


@pytest.mark.parametrize("node", ["city", "d1", "s11", "c111", "g1111"])
def test_check_costs_one_query_whatever_the_depth(city, make_user, node):
    user = make_user("depth")
    grant_role(user, "grid_worker", city.city, actor=city.actor)
    grant_role(user, "region_admin", city.s22, actor=city.actor)
    fresh = User.objects.get(pk=user.pk)
    access.user_can(User.objects.get(pk=user.pk), VIEW, city.city)  # the process loads permission names once
    with CaptureQueriesContext(connection) as cold:
        assert access.user_can(fresh, VIEW, getattr(city, node))
    with CaptureQueriesContext(connection) as warm:
        access.user_can(fresh, "grids.change_region", getattr(city, node))
        access.user_can(fresh, VIEW, city.g2222)
    assert len(cold) == 1
    assert len(warm) == 0


def test_scope_is_one_query(city, make_user):
    user = make_user("two-streets")
    grant_role(user, "grid_worker", city.s11, actor=city.actor)
    grant_role(user, "grid_worker", city.s22, actor=city.actor)
    fresh = User.objects.get(pk=user.pk)
    access.user_can(User.objects.get(pk=user.pk), VIEW, city.city)  # the process loads permission names once
    with CaptureQueriesContext(connection) as ctx:
        grids = list(access.scope(fresh, VIEW, Region.objects.filter(depth=5)))
    assert len(ctx) == 2  # the grants, then the rows
    assert {g.code[:9] for g in grids} == {city.s11.code, city.s22.code}
    assert len(grids) == 8


def test_role_edit_follows_to_every_holder(city, make_user):
    user = make_user("worker")
    grant_role(user, "grid_worker", city.c111, actor=city.actor)
    role = Role.objects.get(code="grid_worker")
    change = Permission.objects.get(codename="change_region")
    services.role_save(actor=city.actor, role=role, name=role.name, permissions=[*role.permissions.all(), change])
    assert access.user_can(User.objects.get(pk=user.pk), "grids.change_region", city.g1111)
    services.role_save(actor=city.actor, role=role, name=role.name, permissions=[])
    assert not access.user_can(User.objects.get(pk=user.pk), VIEW, city.g1111)


def test_grantor_cannot_hand_on_what_they_lack(city, make_user):
    lead, target = make_user("lead"), make_user("target")
    manage = Permission.objects.get(codename="manage_access")
    services.grant_create(actor=city.actor, region=city.s11, user=lead, permission=manage)
    services.grant_create(actor=city.actor, region=city.s11, user=lead, role=Role.objects.get(code="grid_worker"))
    services.grant_create(actor=lead, region=city.c111, user=target, role=Role.objects.get(code="grid_worker"))
    with pytest.raises(PermissionDenied):
        services.grant_create(actor=lead, region=city.c111, user=target, role=Role.objects.get(code="region_admin"))
    with pytest.raises(PermissionDenied):
        services.grant_create(actor=lead, region=city.s12, user=target, role=Role.objects.get(code="grid_worker"))
    with pytest.raises(ValidationError):
        services.grant_create(actor=lead, region=city.c111, user=target, role=Role.objects.get(code="grid_worker"))
    assert Grant.objects.filter(user=target).count() == 1


def test_only_city_admins_edit_roles(city, make_user):
    street_admin = make_user("street-admin")
    grant_role(street_admin, "region_admin", city.s11, actor=city.actor)
    with pytest.raises(PermissionDenied):
        services.role_save(actor=street_admin, code="x", name="x", permissions=[])
    city_admin = make_user("city-admin")
    grant_role(city_admin, "region_admin", city.city, actor=city.actor)
    role = services.role_save(
        actor=city_admin, code="viewer", name="只读", permissions=[Permission.objects.get(codename="view_region")]
    )
    assert role.permissions.count() == 1


def test_seeding_a_new_permission_reaches_existing_grants(city, make_user):
    """A release that adds a permission to a seeded role gives it to everyone already holding the role."""
    from grids.roles import ensure_roles

    user = make_user("old-grant")
    grant_role(user, "grid_worker", city.c111, actor=city.actor)
    role = Role.objects.get(code="grid_worker")
    report = Permission.objects.get(codename="report_case")
    role.permissions.remove(report)
    role.seeded_permissions = [p for p in role.seeded_permissions if p != "cases.report_case"]
    role.save()
    services.sync_object_permissions(user_keys=[(user.pk, city.c111.pk)])
    assert not access.user_can(User.objects.get(pk=user.pk), "cases.report_case", city.g1111)
    ensure_roles()
    assert access.user_can(User.objects.get(pk=user.pk), "cases.report_case", city.g1111)
    role.permissions.remove(report)  # an admin removes it again: seeding does not bring it back
    ensure_roles()
    assert not role.permissions.filter(pk=report.pk).exists()
