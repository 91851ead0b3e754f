"""The one access policy: who may do what where.

Permissions are granted on region nodes (guardian rows derived from grids.models.Grant) and hold for the
node's whole subtree. A user's grants are loaded once per request in a single query and cached on the user
object, so a check costs at most one query whatever the depth of the tree, and scoping a queryset adds one
indexed ``path LIKE 'prefix%'`` condition per granted node. Nothing else in the project calls guardian.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from govgrid import versioned_cache

from .models import Grant, Region, RegionGroupObjectPermission, RegionUserObjectPermission, User

_CACHE_ATTR = "_govgrid_grants"


_PERMISSION_CODES: dict[int, str] = {}


def _permission_code(perm_id: int) -> str:
    """ "app_label.codename" of a permission id, from a process-wide map (permissions rarely change)."""
    if perm_id not in _PERMISSION_CODES:
        _PERMISSION_CODES.clear()
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename"):
            _PERMISSION_CODES[pk] = f"{app_label}.{codename}"
    return _PERMISSION_CODES.get(perm_id, "")


# Grants are also kept in the shared cache (govgrid.versioned_cache): every change of a grant, a role's permissions,
# a team's members or the tree's paths raises their version after its commit, so the next request reads them anew.
GRANTS = "grants"


def forget_all_grants() -> None:
    """Every cached grant set is stale from now on."""
    versioned_cache.raise_version(GRANTS)


def grants_changed() -> None:
    """Forget everyone's cached grants once the current transaction commits (call where grants change)."""
    versioned_cache.changed(GRANTS)


def _load_grants(user: User) -> dict[str, tuple[str, ...]]:
    """perm ("app.codename") → granted region paths, reduced to the topmost ones: from the shared cache, or one
    query.

    Only permission ids and paths are selected (names come from a cached map), and team rows are found
    through a subquery on the user's memberships: a small plan that PostgreSQL prepares quickly.
    """
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    grants = versioned_cache.get_or_build(GRANTS, user.pk, lambda: _query_grants(user))
    setattr(user, _CACHE_ATTR, grants)
    return grants


def _query_grants(user: User) -> dict[str, tuple[str, ...]]:
    memberships = User.groups.through.objects.filter(user_id=user.pk).values("group_id")
    direct = RegionUserObjectPermission.objects.filter(user_id=user.pk).values_list(
        "permission_id", "content_object__path"
    )
    via_team = RegionGroupObjectPermission.objects.filter(group_id__in=Subquery(memberships)).values_list(
        "permission_id", "content_object__path"
    )
    paths: dict[str, set[str]] = {}
    for perm_id, path in direct.union(via_team, all=True):
        paths.setdefault(_permission_code(perm_id), set()).add(path)
    return {perm: _topmost(found) for perm, found in paths.items()}


def _topmost(paths: set[str]) -> tuple[str, ...]:
    """Drop paths that lie under another path of the set: the ancestor's grant already covers them."""
    kept: list[str] = []
    for path in sorted(paths):  # an ancestor sorts before its descendants
        if not kept or not path.startswith(kept[-1]):
            kept.append(path)
    return tuple(kept)


def clear_cache(user: Any) -> None:
    """Forget the user's cached grants (the next check reloads them)."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def path_of(obj: Any) -> str:
    """The region path of a region or of anything placed in one (``region_path`` or ``region``)."""
    if isinstance(obj, Region):
        return obj.path
    region_path = getattr(obj, "region_path", None)
    if region_path is not None:
        return region_path
    region = getattr(obj, "region", None)
    if isinstance(region, Region):
        return region.path
    raise TypeError(f"{type(obj).__name__} is not placed in a region")


def _is_privileged(user: Any) -> bool:
    return bool(user.is_active and user.is_superuser)


def granted_paths(user: Any, perm: str) -> tuple[str, ...]:
    """The topmost region paths at which the user holds ``perm`` (empty for anonymous/inactive users)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return ()
    return _load_grants(user).get(perm, ())


def user_can(user: Any, perm: str, obj: Any) -> bool:
    """May ``user`` use ``perm`` ("app_label.codename") on ``obj`` (a region or anything placed in one)?"""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if _is_privileged(user):
        return True
    path = path_of(obj)
    return any(path.startswith(p) for p in granted_paths(user, perm))


def user_can_anywhere(user: Any, perm: str) -> bool:
    """Does the user hold ``perm`` on at least one node (e.g. to show a menu entry)?"""
    if getattr(user, "is_authenticated", False) and _is_privileged(user):
        return True
    return bool(granted_paths(user, perm))


def scope(user: Any, perm: str, queryset: QuerySet, path_field: str = "path") -> QuerySet:
    """Only the rows of ``queryset`` that lie under a node where ``user`` holds ``perm``.

    ``path_field`` names the region path of the rows: ``"path"`` for regions, ``"region__path"`` for rows
    placed in a region. One indexed prefix condition per granted node; no loop over the tree.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return queryset.none()
    if _is_privileged(user):
        return queryset
    paths = granted_paths(user, perm)
    if not paths:
        return queryset.none()
    condition = Q()
    for p in paths:
        condition |= Q(**{f"{path_field}__startswith": p})
    return queryset.filter(condition)


def regions_with(user: Any, perm: str) -> QuerySet[Region] | None:
    """The regions under the nodes where ``user`` holds ``perm`` (None: every region, for superusers).

    For filtering big tables by ``region_id IN (subquery)``: unlike a prefix condition through a join, it can be
    combined with other conditions (OR) without making the database join every row to the tree.
    """
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Region.objects.none()
    if _is_privileged(user):
        return None
    return scope(user, perm, Region.objects.all())


def top_regions(user: Any, perm: str = "grids.view_region") -> QuerySet[Region]:
    """The topmost nodes where the user holds ``perm``: the roots of what they see."""
    if getattr(user, "is_authenticated", False) and _is_privileged(user):
        return Region.objects.filter(depth=1).order_by("code")
    return Region.objects.filter(path__in=granted_paths(user, perm)).order_by("path")


def _permission_id(perm: str) -> int:
    app_label, codename = perm.split(".", 1)
    return Permission.objects.get(content_type__app_label=app_label, codename=codename).pk


def permission_for(perm: str) -> Permission:
    return Permission.objects.get(pk=_permission_id(perm))


@dataclass
class Explanation:
    """Why a user may (or may not) use a permission on an object."""

    allowed: bool
    grants: list[Grant] = field(default_factory=list)
    reason: str = ""


def explain(user: Any, perm: str, obj: Any) -> Explanation:
    """Name the grant(s) that allow ``perm`` on ``obj`` for ``user``, nearest node first, or say none does."""
    if not user.is_active:
        return Explanation(False, reason=_("The account is inactive."))
    if user.is_superuser:
        return Explanation(True, reason=_("The account is a superuser."))
    try:
        perm_id = _permission_id(perm)
    except Permission.DoesNotExist:
        return Explanation(False, reason=_("There is no permission “%(perm)s”.") % {"perm": perm})
    region = obj if isinstance(obj, Region) else getattr(obj, "region", None)
    paths = region.ancestor_paths() if isinstance(region, Region) else []
    grants = list(
        Grant.objects.filter(region__path__in=paths)
        .filter(Q(user=user) | Q(group__user=user))
        .filter(Q(permission_id=perm_id) | Q(role__permissions=perm_id))
        .select_related("region", "user", "group", "role", "permission__content_type")
        .distinct()
        .order_by("-region__depth", "id")
    )
    if grants:
        g = grants[0]
        return Explanation(
            True,
            grants,
            _("Allowed by %(what)s granted to %(who)s at %(where)s.")
            % {"what": g.what_label, "who": g.principal_label, "where": f"{g.region.name} ({g.region.code})"},
        )
    return Explanation(False, reason=_("No grant on this node or above it gives this permission."))
