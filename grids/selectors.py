"""Reads that users see, always scoped to the acting user through grids.access."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from . import access
from .models import AuditLog, Department, Grant, Region, Role, User

VIEW = "grids.view_region"


def region_list(*, user: Any, perm: str = VIEW) -> QuerySet[Region]:
    return access.scope(user, perm, Region.objects.all())


def region_get(*, user: Any, pk: int, perm: str = VIEW) -> Region:
    """The region, or 404 when the user may not see it (ids cannot be probed)."""
    return get_object_or_404(region_list(user=user, perm=perm), pk=pk)


def region_roots(*, user: Any) -> QuerySet[Region]:
    return access.top_regions(user, VIEW)


def region_children(*, region: Region) -> QuerySet[Region]:
    # The parent is visible, so its whole subtree is: no further scoping needed.
    return (
        Region.objects.filter(path__startswith=region.path, depth=region.depth + 1)
        .defer("boundary")  # lists never draw maps
        .order_by("code")
    )


def region_search(*, user: Any, q: str, limit: int = 50) -> QuerySet[Region]:
    q = q.strip()
    rows = region_list(user=user)
    if q.isdigit():
        rows = rows.filter(code__startswith=q)
    else:
        rows = rows.filter(name__icontains=q)
    return rows.defer("boundary").order_by("path")[:limit]


def region_ancestors(*, region: Region) -> list[Region]:
    return list(Region.objects.filter(path__in=region.ancestor_paths()[:-1]).order_by("depth"))


def region_move_targets(*, user: Any, region: Region) -> QuerySet[Region]:
    """Nodes one level up where the user may add: the possible new parents."""
    return (
        region_list(user=user, perm="grids.add_region")
        .filter(depth=region.depth - 1, is_active=True)
        .exclude(path=region.path[: -Region.steplen])
    )


def region_departments(*, region: Region) -> QuerySet[Department]:
    """Departments serving this node or a node above it."""
    return (
        Department.objects.filter(region__path__in=region.ancestor_paths())
        .select_related("region")
        .order_by("region__depth", "code")
    )


def region_grants(*, region: Region) -> dict[str, list[Grant]]:
    """Grants at this node ("here") and above it ("inherited"), nearest first."""
    rows = (
        Grant.objects.filter(region__path__in=region.ancestor_paths())
        .select_related("region", "user", "group", "role", "permission__content_type", "granted_by")
        .order_by("-region__depth", "role_id", "id")
    )
    here, inherited = [], []
    for grant in rows:
        (here if grant.region_id == region.pk else inherited).append(grant)
    return {"here": here, "inherited": inherited}


def region_audit(*, region: Region, limit: int = 20) -> QuerySet[AuditLog]:
    return AuditLog.objects.filter(region=region).select_related("actor")[:limit]


def grant_get(*, user: Any, pk: int) -> Grant:
    grants = access.scope(user, VIEW, Grant.objects.all(), path_field="region__path")
    return get_object_or_404(grants.select_related("region"), pk=pk)


def staff_list(*, user: Any, perm: str = "grids.manage_staff") -> QuerySet[User]:
    """Accounts whose main region lies where the user holds ``perm``."""
    return access.scope(user, perm, User.objects.exclude(username="system"), path_field="region__path").select_related(
        "region"
    )


def staff_get(*, user: Any, pk: int) -> User:
    return get_object_or_404(staff_list(user=user), pk=pk)


def grantable_users(*, user: Any) -> QuerySet[User]:
    return staff_list(user=user, perm="grids.manage_access").filter(is_active=True)


def visible_users(*, user: Any) -> QuerySet[User]:
    return staff_list(user=user, perm=VIEW)


def department_list(*, user: Any, perm: str = VIEW) -> QuerySet[Department]:
    rows = access.scope(user, perm, Department.objects.all(), path_field="region__path")
    if perm == VIEW and getattr(user, "is_authenticated", False):
        rows = rows | Department.objects.filter(members=user)
    return rows.distinct().select_related("region").order_by("region__path", "code")


def department_get(*, user: Any, pk: int, perm: str = VIEW) -> Department:
    return get_object_or_404(department_list(user=user, perm=perm), pk=pk)


def department_regions(*, user: Any) -> QuerySet[Region]:
    # Any level: the service explains that a department serves a district or a street.
    return region_list(user=user, perm="grids.manage_department")


def role_list() -> QuerySet[Role]:
    return Role.objects.prefetch_related("permissions__content_type")


def team_list(*, user: Any) -> QuerySet[Group]:
    """Teams whose members the user may see, or that hold a grant the user may see."""
    if user.is_superuser:
        return Group.objects.order_by("name")
    granted = access.scope(user, VIEW, Grant.objects.filter(group__isnull=False), path_field="region__path")
    return (
        Group.objects.filter(Q(pk__in=granted.values("group_id")) | Q(user__in=staff_list(user=user, perm=VIEW)))
        .distinct()
        .order_by("name")
    )
