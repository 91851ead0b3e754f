"""Units (单位): the groups of people a notice can be addressed to as a whole.

A unit is a department (its members), or the people who hold a permission granted at one region node, such as
the dispatchers of a street (``cases.dispatch_case`` at the street) or the supervisors of a district. A unit is
named by a short key (``d:12``, ``r:345:dispatch_case``) that the notifications app stores on a notice; who is
in it is read from the grants and memberships *now*, so a person who joins a department sees its notices and
one who leaves stops seeing them.

The region units follow the rule the deadline sweep has always used for "the people who hold that level": the
holders at the node itself, else at the nearest node above it where someone active holds the permission
(directly or through a team). ``Holders`` resolves many such levels in a fixed number of queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from django.db.models import CharField, Value
from django.utils.translation import gettext_lazy as _

from govgrid import versioned_cache

from . import access
from .models import Department, Region, RegionGroupObjectPermission, RegionUserObjectPermission, User

# The permissions that name a unit, and what its members are called. Only these make units: a person granted a
# dozen permissions on a node belongs to a handful of units, not to one per permission.
ROLES: dict[str, Any] = {
    "dispatch_case": _("dispatchers"),
    "supervise_case": _("supervisors"),
    "verify_case": _("verifiers"),
    "triage_case": _("community staff"),
    "manage_department": _("department admins"),
    "mediate_dispute": _("people's mediators"),
}
_ROLE_APPS = ("cases", "grids", "mediation")
_USER_ATTR = "_govgrid_units"


def department_key(department_id: int) -> str:
    return f"d:{department_id}"


def region_key(region_id: int, codename: str) -> str:
    return f"r:{region_id}:{codename}"


@dataclass(frozen=True)
class Unit:
    """A parsed unit key: a department, or (region node, permission codename)."""

    key: str
    department_id: int | None = None
    region_id: int | None = None
    codename: str = ""


def parse(key: str) -> Unit | None:
    """The unit a key names, or None for a malformed key."""
    kind, _sep, rest = key.partition(":")
    try:
        if kind == "d":
            return Unit(key, department_id=int(rest))
        if kind == "r":
            region, _sep, codename = rest.partition(":")
            if codename in ROLES:
                return Unit(key, region_id=int(region), codename=codename)
    except ValueError:
        return None
    return None


# --- whom a unit is made of -------------------------------------------------------------------------------------


def units_of(user: Any) -> frozenset[str]:
    """The keys of the units ``user`` belongs to now: his departments, and each node where he holds one of
    ``ROLES`` by a grant made there (directly or through a team). Cached on the user object and in the shared
    cache with the grants (any change of a grant, a team's or a department's members makes it stale), so the
    inbox and the navbar badge pay no query for it most of the time."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, _USER_ATTR, None)
    if cached is None:
        cached = versioned_cache.get_or_build(access.GRANTS, f"units:{user.pk}", lambda: _query_units(user.pk))
        setattr(user, _USER_ATTR, cached)
    return cached


def _query_units(user_id: int) -> frozenset[str]:
    """One query: his grant rows of ``ROLES`` (direct and through his teams) and his departments."""
    memberships = User.groups.through.objects.filter(user_id=user_id).values("group_id")
    roles = {"permission__codename__in": ROLES, "permission__content_type__app_label__in": _ROLE_APPS}
    direct = RegionUserObjectPermission.objects.filter(user_id=user_id, **roles).values_list(
        "content_object_id", "permission__codename"
    )
    via_team = RegionGroupObjectPermission.objects.filter(group_id__in=memberships, **roles).values_list(
        "content_object_id", "permission__codename"
    )
    departments = Department.members.through.objects.filter(user_id=user_id).values_list(
        "department_id", Value("", output_field=CharField())
    )
    return frozenset(
        region_key(pk, code) if code else department_key(pk) for pk, code in direct.union(via_team, departments)
    )


def members(keys: Iterable[str]) -> dict[str, list[User]]:
    """The active members of each unit, now (for delivering a unit's notice to each member's channels): a
    fixed number of queries whatever the number of units."""
    parsed = [u for u in (parse(k) for k in set(keys)) if u is not None]
    found: dict[str, set[int]] = {u.key: set() for u in parsed}
    departments = {u.department_id: u.key for u in parsed if u.department_id is not None}
    if departments:
        for dept, user in Department.members.through.objects.filter(
            department_id__in=departments, user__is_active=True
        ).values_list("department_id", "user_id"):
            found[departments[dept]].add(user)
    regions = [u for u in parsed if u.region_id is not None]
    if regions:
        perms = _permission_ids({u.codename for u in regions})
        wanted = {(u.region_id, u.codename): u.key for u in regions}
        region_ids = {u.region_id for u in regions}
        for region, perm, user in RegionUserObjectPermission.objects.filter(
            content_object_id__in=region_ids, permission_id__in=perms, user__is_active=True
        ).values_list("content_object_id", "permission_id", "user_id"):
            key = wanted.get((region, perms[perm]))
            if key:
                found[key].add(user)
        for region, perm, user in RegionGroupObjectPermission.objects.filter(
            content_object_id__in=region_ids, permission_id__in=perms, group__user__is_active=True
        ).values_list("content_object_id", "permission_id", "group__user"):
            key = wanted.get((region, perms[perm]))
            if key:
                found[key].add(user)
    people = User.objects.in_bulk({u for ids in found.values() for u in ids})
    return {key: [people[u] for u in sorted(ids) if u in people] for key, ids in found.items()}


def staffed(department_ids: Iterable[int]) -> set[int]:
    """The departments among ``department_ids`` with at least one active member (one query)."""
    return set(
        Department.members.through.objects.filter(department_id__in=set(department_ids), user__is_active=True)
        .values_list("department_id", flat=True)
        .distinct()
    )


def labels(keys: Iterable[str]) -> dict[str, str]:
    """A readable name of each unit ("城管执法局", "dispatchers of 青石街道"), two queries at most."""
    parsed = [u for u in (parse(k) for k in set(keys)) if u is not None]
    names = dict(
        Department.objects.filter(pk__in={u.department_id for u in parsed if u.department_id}).values_list("pk", "name")
    )
    regions = dict(Region.objects.filter(pk__in={u.region_id for u in parsed if u.region_id}).values_list("pk", "name"))
    found = {}
    for u in parsed:
        if u.department_id is not None and u.department_id in names:
            found[u.key] = names[u.department_id]
        elif u.region_id is not None and u.region_id in regions:
            found[u.key] = _("%(role)s of %(region)s") % {"role": ROLES[u.codename], "region": regions[u.region_id]}
    return found


def _permission_ids(codenames: set[str]) -> dict[int, str]:
    return dict(
        Permission.objects.filter(codename__in=codenames, content_type__app_label__in=_ROLE_APPS).values_list(
            "pk", "codename"
        )
    )


# --- to whom a level's notice goes ------------------------------------------------------------------------------


class Holders:
    """The unit that holds a level: for (region path, codename), the key of the node at the path or the nearest
    node above it where an active person holds the permission by a grant made there (directly or through a
    team); None when nobody does. ``fetch`` resolves any number of levels in a fixed number of queries; a sweep
    keeps one for its whole run (grants do not change within a minute)."""

    def __init__(self) -> None:
        self._levels: dict[tuple[str, str], str | None] = {}

    def fetch(self, levels: Iterable[tuple[str, str]]) -> None:
        wanted = set(levels) - self._levels.keys()
        if not wanted:
            return
        above = {path[: depth * 4] for path, _code in wanted for depth in range(1, len(path) // 4 + 1)}
        perms = _permission_ids({code for _path, code in wanted})
        held: dict[tuple[str, str], int] = {}
        rows = RegionUserObjectPermission.objects.filter(
            content_object__path__in=above, permission_id__in=perms, user__is_active=True
        ).values_list("content_object__path", "permission_id", "content_object_id")
        teams = RegionGroupObjectPermission.objects.filter(
            content_object__path__in=above, permission_id__in=perms, group__user__is_active=True
        ).values_list("content_object__path", "permission_id", "content_object_id")
        for path, perm, region in rows.union(teams):
            held[(path, perms[perm])] = region
        for path, code in wanted:
            self._levels[(path, code)] = None
            for depth in range(len(path) // 4, 0, -1):  # the node itself, else the nearest node above with someone
                region = held.get((path[: depth * 4], code))
                if region is not None:
                    self._levels[(path, code)] = region_key(region, code)
                    break

    def unit(self, path: str, codename: str) -> str | None:
        """The key of the unit holding ``codename`` at ``path`` (``fetch`` it first, or it is fetched now)."""
        if (path, codename) not in self._levels:
            self.fetch({(path, codename)})
        return self._levels[(path, codename)]


def holder_unit(path: str, codename: str) -> str | None:
    """``Holders`` for one level."""
    return Holders().unit(path, codename)


def clear_cache(user: Any) -> None:
    """Forget the units cached on the user object (the next question reads them anew)."""
    if hasattr(user, _USER_ATTR):
        delattr(user, _USER_ATTR)
