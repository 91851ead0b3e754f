"""Every write of the grids app: one function per use case, in one transaction, audited.

Services check the actor's permission through grids.access and raise ``PermissionDenied`` or Django's
``ValidationError`` (with field names where a form can show them); entry points turn those into messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from . import access
from .codes import Level, next_code, significant_prefix, validate_code
from .geo import parse_boundary, validate_point
from .models import AuditLog, Department, Grant, Region, RegionGroupObjectPermission, RegionUserObjectPermission, Role

if TYPE_CHECKING:
    from .models import User

# Structural edits of the tree (add, move, recode, delete) are serialised by one transaction-scoped advisory
# lock on PostgreSQL, as treebeard advises: concurrent path rewrites would otherwise corrupt the tree.
# SQLite serialises writers by itself.
TREE_LOCK_KEY = 0x6E1D_7EE


def _lock_tree() -> None:
    access.grants_changed()  # a structural edit may change the paths that cached grants name
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK_KEY])


def audit(*, actor: Any, action: str, target: Any, region: Region | None = None, **data: Any) -> AuditLog:
    """Record a change; call inside the transaction that makes it."""
    return AuditLog.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        region=region,
        target_type=type(target).__name__.lower(),
        target_id=str(getattr(target, "pk", "")),
        target_repr=str(target)[:200],
        data=data,
    )


def _require(actor: Any, perm: str, obj: Any) -> None:
    if not access.user_can(actor, perm, obj):
        raise PermissionDenied(_("You do not have the permission “%(perm)s” here.") % {"perm": perm})


def _fresh(region: Region) -> Region:
    return Region.objects.get(pk=region.pk)


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("A name is required.")})
    if len(name) > 100:
        raise ValidationError({"name": _("A name has at most 100 characters.")})
    return name


# --- region tree -------------------------------------------------------------------------------------------


def region_suggest_code(*, parent: Region | None) -> str | None:
    """The next free code for a new child of ``parent`` (None for a new city: its code is national)."""
    if parent is None or parent.depth >= Level.GRID:
        return None
    prefix = significant_prefix(parent.code, parent.depth)
    siblings = Region.objects.filter(depth=parent.depth + 1, code__startswith=prefix).values_list("code", flat=True)
    return next_code(parent.code, parent.depth, list(siblings))


def _boundary_fields(boundary: Any) -> dict[str, Any]:
    if boundary in (None, "", {}):
        return {"boundary": None, "min_lat": None, "max_lat": None, "min_lng": None, "max_lng": None}
    try:
        b = parse_boundary(boundary)
    except ValidationError as exc:
        raise ValidationError({"boundary": exc.messages}) from exc
    return {
        "boundary": b.geojson,
        "min_lat": b.min_lat,
        "max_lat": b.max_lat,
        "min_lng": b.min_lng,
        "max_lng": b.max_lng,
        "centre_lat": b.centre_lat,
        "centre_lng": b.centre_lng,
    }


def _centre_fields(centre: tuple[float, float] | None) -> dict[str, float]:
    if centre is None:
        return {}
    lat, lng = centre
    try:
        validate_point(float(lat), float(lng))
    except (TypeError, ValueError, ValidationError) as exc:
        raise ValidationError({"centre_lat": _("Latitude must be within ±90 and longitude within ±180.")}) from exc
    return {"centre_lat": float(lat), "centre_lng": float(lng)}


def _check_code(code: str, level: int, parent: Region | None, *, exclude_pk: int | None = None) -> str:
    code = (code or "").strip()
    try:
        validate_code(code, level, parent.code if parent else None)
    except ValidationError as exc:
        raise ValidationError({"code": exc.messages}) from exc
    taken = Region.objects.filter(code=code).exclude(pk=exclude_pk).first()
    if taken:
        raise ValidationError(
            {"code": _("The code %(code)s is already used by %(name)s.") % {"code": code, "name": taken.name}}
        )
    return code


def region_add(
    *,
    actor: User,
    parent: Region | None,
    name: str,
    code: str | None = None,
    boundary: Any = None,
    centre: tuple[float, float] | None = None,
) -> Region:
    """Add a node one level below ``parent`` (or a new city when ``parent`` is None: superusers only)."""
    with transaction.atomic():
        _lock_tree()
        if parent is None:
            if not (actor.is_active and actor.is_superuser):
                raise PermissionDenied(_("Only a superuser can add a city."))
            level = Level.CITY
        else:
            parent = _fresh(parent)
            _require(actor, "grids.add_region", parent)
            if parent.depth >= Level.GRID:
                raise ValidationError(_("A grid is the lowest level: it cannot have children."))
            if not parent.is_active:
                raise ValidationError(_("%(name)s is retired and accepts no new nodes.") % {"name": parent.name})
            level = Level(parent.depth + 1)
        fields: dict[str, Any] = {"name": _clean_name(name)}
        if not code:
            code = region_suggest_code(parent=parent)
            if code is None:
                raise ValidationError({"code": _("Enter a code.")})
        fields["code"] = _check_code(code, level, parent)
        fields.update(_boundary_fields(boundary))
        fields.update(_centre_fields(centre))
        try:
            with transaction.atomic():
                if parent is None:
                    region = Region.objects.add_root(create_kwargs=fields)
                else:
                    region = Region.objects.add_child(parent, create_kwargs=fields)
        except IntegrityError as exc:
            raise ValidationError({"code": _("The code %(code)s is already used.") % {"code": fields["code"]}}) from exc
        audit(actor=actor, action="region.add", target=region, region=region, code=region.code, name=region.name)
        return region


def region_rename(*, actor: User, region: Region, name: str) -> Region:
    with transaction.atomic():
        region = Region.objects.select_for_update().get(pk=region.pk)
        _require(actor, "grids.change_region", region)
        old, region.name = region.name, _clean_name(name)
        region.save(update_fields=["name", "updated_at"])
        audit(actor=actor, action="region.rename", target=region, region=region, old=old, new=region.name)
        return region


def region_set_boundary(
    *, actor: User, region: Region, boundary: Any, centre: tuple[float, float] | None = None
) -> Region:
    with transaction.atomic():
        region = Region.objects.select_for_update().get(pk=region.pk)
        _require(actor, "grids.change_region", region)
        fields = _boundary_fields(boundary)
        fields.update(_centre_fields(centre))
        for key, value in fields.items():
            setattr(region, key, value)
        region.save()
        audit(actor=actor, action="region.boundary", target=region, region=region, has_boundary=bool(region.boundary))
        return region


def _recode_subtree(region: Region, new_code: str) -> int:
    """Give ``region`` its new code and rewrite the prefix of every code below it. Returns rows changed."""
    old_prefix = significant_prefix(region.code, region.depth)
    new_prefix = significant_prefix(new_code, region.depth)
    below = Region.objects.filter(path__startswith=region.path, depth__gt=region.depth)
    if old_prefix != new_prefix:
        clashes = (
            Region.objects.filter(code__startswith=new_prefix, depth__gt=region.depth)
            .exclude(path__startswith=region.path)
            .values_list("code", flat=True)[:1]
        )
        if clashes:
            raise ValidationError(
                {
                    "code": _("Codes beginning with %(prefix)s are already used (e.g. %(code)s).")
                    % {"prefix": new_prefix, "code": clashes[0]}
                }
            )
    Region.objects.filter(pk=region.pk).update(code=new_code, updated_at=timezone.now())
    changed = 1
    if old_prefix != new_prefix:
        changed += below.update(code=Concat(Value(new_prefix), Substr("code", len(old_prefix) + 1)))
    region.code = new_code
    return changed


def region_recode(*, actor: User, region: Region, code: str) -> Region:
    """Change a node's code; every code below it takes the new prefix."""
    with transaction.atomic():
        _lock_tree()
        region = _fresh(region)
        _require(actor, "grids.change_region", region)
        parent = Region.objects.get_parent(region)
        old = region.code
        new = _check_code(code, region.depth, parent, exclude_pk=region.pk)
        if new == old:
            return region
        changed = _recode_subtree(region, new)
        audit(actor=actor, action="region.recode", target=region, region=region, old=old, new=new, rows=changed)
        return region


def region_move(*, actor: User, region: Region, new_parent: Region, code: str | None = None) -> Region:
    """Move a node and its whole subtree under ``new_parent`` (one level up), with a code under it.

    Everything attached to the nodes (people, grants, later cases) keeps pointing at them: only paths and
    codes change, so access follows the new place at once.
    """
    with transaction.atomic():
        _lock_tree()
        region, new_parent = _fresh(region), _fresh(new_parent)
        _require(actor, "grids.change_region", region)
        _require(actor, "grids.add_region", new_parent)
        if region.depth == Level.CITY:
            raise ValidationError(_("A city is the top of the tree and cannot be moved."))
        if new_parent.path.startswith(region.path):
            raise ValidationError(
                {"new_parent": _("A node cannot be moved under itself or one of its own descendants.")}
            )
        if new_parent.depth != region.depth - 1:
            raise ValidationError(
                {
                    "new_parent": _(
                        "A %(level)s can only be placed under a %(parent_level)s; %(target)s is a %(target_level)s."
                    )
                    % {
                        "level": region.level.label,
                        "parent_level": Level(region.depth - 1).label,
                        "target": new_parent.name,
                        "target_level": new_parent.level.label,
                    }
                }
            )
        old_parent = Region.objects.get_parent(region)
        if old_parent and old_parent.pk == new_parent.pk:
            raise ValidationError(
                {
                    "new_parent": _("%(name)s is already under %(parent)s.")
                    % {"name": region.name, "parent": new_parent.name}
                }
            )
        if not new_parent.is_active:
            raise ValidationError(
                {"new_parent": _("%(name)s is retired and accepts no new nodes.") % {"name": new_parent.name}}
            )
        if not code:
            code = region_suggest_code(parent=new_parent)
        new_code = _check_code(code, region.depth, new_parent, exclude_pk=region.pk)
        old_code, old_path = region.code, region.path
        Region.objects.move(region, new_parent, "last-child")
        region = _fresh(region)
        _recode_subtree(region, new_code)
        audit(
            actor=actor,
            action="region.move",
            target=region,
            region=region,
            old_parent=old_parent.code if old_parent else None,
            new_parent=new_parent.code,
            old_code=old_code,
            new_code=new_code,
            old_path=old_path,
            new_path=region.path,
        )
        return region


def region_retire(*, actor: User, region: Region, reason: str = "") -> int:
    """Retire a node and its subtree: they keep their history and accept no new work. Returns nodes retired."""
    with transaction.atomic():
        region = _fresh(region)
        _require(actor, "grids.change_region", region)
        if not region.is_active:
            raise ValidationError(_("%(name)s is already retired.") % {"name": region.name})
        now = timezone.now()
        count = Region.objects.filter(path__startswith=region.path, is_active=True).update(
            is_active=False, retired_at=now, updated_at=now
        )
        audit(actor=actor, action="region.retire", target=region, region=region, nodes=count, reason=reason)
        return count


def region_reactivate(*, actor: User, region: Region) -> int:
    """Bring a retired node back, with the nodes that were retired together with it."""
    with transaction.atomic():
        region = _fresh(region)
        _require(actor, "grids.change_region", region)
        if region.is_active:
            raise ValidationError(_("%(name)s is active.") % {"name": region.name})
        parent = Region.objects.get_parent(region)
        if parent and not parent.is_active:
            raise ValidationError(_("Reactivate %(parent)s first.") % {"parent": parent.name})
        count = Region.objects.filter(path__startswith=region.path, retired_at=region.retired_at).update(
            is_active=True, retired_at=None, updated_at=timezone.now()
        )
        audit(actor=actor, action="region.reactivate", target=region, region=region, nodes=count)
        return count


def region_delete(*, actor: User, region: Region) -> None:
    """Delete an empty node (no children, nobody and nothing attached). Otherwise retire it."""
    with transaction.atomic():
        _lock_tree()
        region = _fresh(region)
        _require(actor, "grids.delete_region", region)
        if region.numchild or Region.objects.filter(path__startswith=region.path, depth__gt=region.depth).exists():
            raise ValidationError(
                _("%(name)s has child nodes; delete or move them first, or retire it.") % {"name": region.name}
            )
        grants = Grant.objects.filter(region=region).count()
        if grants:
            raise ValidationError(
                _("%(name)s has %(n)d grants; revoke them first, or retire it.") % {"name": region.name, "n": grants}
            )
        parent = Region.objects.get_parent(region)
        snapshot = {"code": region.code, "name": region.name, "parent": parent.code if parent else None}
        audit(actor=actor, action="region.delete", target=region, region=parent, **snapshot)
        try:
            with transaction.atomic():
                region.delete()
        except ProtectedError as exc:
            kinds = sorted({obj._meta.verbose_name_plural for obj in exc.protected_objects})
            raise ValidationError(
                _("%(name)s still has %(what)s attached; retire it instead.")
                % {"name": region.name, "what": ", ".join(map(str, kinds))}
            ) from exc


# --- roles and grants ---------------------------------------------------------------------------------------


def sync_object_permissions(
    *, user_keys: Iterable[tuple[int, int]] = (), group_keys: Iterable[tuple[int, int]] = ()
) -> None:
    """Make the guardian rows of each (principal, region) pair equal to what its grants give.

    Each chunk reads its grants and rows with two ``IN`` queries and keeps the wanted pairs in Python: a
    long OR of pairs costs more to compile than to run.
    """
    access.grants_changed()
    for principal, keys, model in (
        ("user", sorted(set(user_keys)), RegionUserObjectPermission),
        ("group", sorted(set(group_keys)), RegionGroupObjectPermission),
    ):
        for start in range(0, len(keys), 1000):
            chunk = set(keys[start : start + 1000])
            principals = {p for p, _ in chunk}
            regions = {r for _, r in chunk}
            desired: set[tuple[int, int, int]] = set()
            rows = Grant.objects.filter(**{f"{principal}_id__in": principals, "region_id__in": regions}).values_list(
                f"{principal}_id", "region_id", "role__permissions", "permission_id"
            )
            for pid, rid, role_perm, direct_perm in rows:
                if (pid, rid) not in chunk:
                    continue
                for perm in (role_perm, direct_perm):
                    if perm:
                        desired.add((pid, rid, perm))
            existing = {
                (pid, rid, perm): pk
                for pk, pid, rid, perm in model.objects.filter(
                    **{f"{principal}_id__in": principals, "content_object_id__in": regions}
                ).values_list("pk", f"{principal}_id", "content_object_id", "permission_id")
                if (pid, rid) in chunk
            }
            stale = [pk for key, pk in existing.items() if key not in desired]
            if stale:
                model.objects.filter(pk__in=stale).delete()
            model.objects.bulk_create(
                [
                    model(**{f"{principal}_id": pid, "content_object_id": rid, "permission_id": perm})
                    for pid, rid, perm in desired - existing.keys()
                ],
                ignore_conflicts=True,
                batch_size=2000,
            )


def _sync_grant(grant: Grant) -> None:
    if grant.user_id:
        sync_object_permissions(user_keys=[(grant.user_id, grant.region_id)])
    else:
        sync_object_permissions(group_keys=[(grant.group_id, grant.region_id)])


def _grant_permissions(role: Role | None, permission: Permission | None) -> list[Permission]:
    return list(role.permissions.select_related("content_type")) if role else [permission]


def grant_create(
    *,
    actor: User,
    region: Region,
    user: User | None = None,
    group: Group | None = None,
    role: Role | None = None,
    permission: Permission | None = None,
) -> Grant:
    """Grant a role or one permission to a user or a team at ``region`` (and so its whole subtree).

    A grantor can only hand on permissions they hold at that node themselves.
    """
    if (user is None) == (group is None):
        raise ValidationError({"user": _("Choose either a user or a team.")})
    if (role is None) == (permission is None):
        raise ValidationError({"role": _("Choose either a role or a permission.")})
    with transaction.atomic():
        region = _fresh(region)
        _require(actor, "grids.manage_access", region)
        for perm in _grant_permissions(role, permission):
            code = f"{perm.content_type.app_label}.{perm.codename}"
            if not access.user_can(actor, code, region):
                raise PermissionDenied(
                    _("You cannot grant “%(perm)s”: you do not hold it here yourself.") % {"perm": code}
                )
        if user is not None and not user.is_active:
            raise ValidationError({"user": _("%(user)s is inactive.") % {"user": user.label}})
        try:
            with transaction.atomic():
                grant = Grant.objects.create(
                    region=region, user=user, group=group, role=role, permission=permission, granted_by=actor
                )
        except IntegrityError as exc:
            raise ValidationError(_("This grant already exists at %(region)s.") % {"region": region.name}) from exc
        _sync_grant(grant)
        if user is not None:
            access.clear_cache(user)
        audit(
            actor=actor,
            action="grant.create",
            target=grant,
            region=region,
            user=user.username if user else None,
            group=group.name if group else None,
            role=role.code if role else None,
            permission=f"{permission.content_type.app_label}.{permission.codename}" if permission else None,
        )
        return grant


def grant_revoke(*, actor: User, grant: Grant) -> None:
    with transaction.atomic():
        grant = Grant.objects.select_related("region", "user", "group", "role", "permission__content_type").get(
            pk=grant.pk
        )
        _require(actor, "grids.manage_access", grant.region)
        label = str(grant)
        data = {
            "user": grant.user.username if grant.user_id else None,
            "group": grant.group.name if grant.group_id else None,
        }
        data["what"] = grant.what_label
        audit(actor=actor, action="grant.revoke", target=grant, region=grant.region, label=label, **data)
        grant.delete()
        _sync_grant(grant)
        if grant.user_id:
            access.clear_cache(grant.user)


def _may_edit_roles(actor: User) -> bool:
    """Roles are city-wide: only someone who manages access at a city (or a superuser) edits them."""
    if actor.is_active and actor.is_superuser:
        return True
    return any(len(p) == Region.steplen for p in access.granted_paths(actor, "grids.manage_access"))


def role_save(
    *,
    actor: User,
    role: Role | None = None,
    code: str = "",
    name: str,
    description: str = "",
    permissions: Iterable[Permission],
) -> Role:
    """Create a role or change one; every grant of the role follows at once."""
    if not _may_edit_roles(actor):
        raise PermissionDenied(_("Only an administrator at city level can edit roles."))
    with transaction.atomic():
        if role is None:
            if Role.objects.filter(code=code).exists():
                raise ValidationError({"code": _("A role with this code exists.")})
            role = Role.objects.create(code=code, name=_clean_name(name), description=description)
            old: set[int] = set()
        else:
            role = Role.objects.select_for_update().get(pk=role.pk)
            role.name, role.description = _clean_name(name), description
            role.save()
            old = set(role.permissions.values_list("pk", flat=True))
        new = {p.pk for p in permissions}
        role.permissions.set(new)
        if old != new:
            grants = Grant.objects.filter(role=role)
            sync_object_permissions(
                user_keys=grants.filter(user__isnull=False).values_list("user_id", "region_id"),
                group_keys=grants.filter(group__isnull=False).values_list("group_id", "region_id"),
            )
        audit(actor=actor, action="role.save", target=role, added=sorted(new - old), removed=sorted(old - new))
        return role


# --- departments --------------------------------------------------------------------------------------------


def _check_department_region(region: Region) -> None:
    if region.depth not in (Level.DISTRICT, Level.STREET):
        raise ValidationError(
            {
                "region": _("A department serves a district or a street, not a %(level)s.")
                % {"level": region.level.label}
            }
        )


def department_save(
    *,
    actor: User,
    department: Department | None = None,
    name: str,
    code: str,
    region: Region,
    is_active: bool = True,
    kind: str = "",
) -> Department:
    with transaction.atomic():
        _require(actor, "grids.manage_department", region)
        _check_department_region(region)
        if Department.objects.filter(code=code).exclude(pk=getattr(department, "pk", None)).exists():
            raise ValidationError({"code": _("A department with the code %(code)s exists.") % {"code": code}})
        if department is None:
            department = Department(code=code)
            action, old = "department.create", {}
        else:
            department = Department.objects.select_for_update().select_related("region").get(pk=department.pk)
            _require(actor, "grids.manage_department", department.region)
            action = "department.update"
            old = {
                "name": department.name,
                "code": department.code,
                "region": department.region.code,
                "active": department.is_active,
            }
        department.name, department.code, department.region, department.is_active = (
            _clean_name(name),
            code,
            region,
            is_active,
        )
        department.kind = kind
        department.save()
        new = {"name": department.name, "code": code, "kind": kind, "region": region.code, "active": is_active}
        audit(actor=actor, action=action, target=department, region=region, old=old, new=new)
        return department


def department_set_members(*, actor: User, department: Department, members: Iterable[User]) -> Department:
    with transaction.atomic():
        department = Department.objects.select_for_update().select_related("region").get(pk=department.pk)
        _require(actor, "grids.manage_department", department.region)
        old = set(department.members.values_list("username", flat=True))
        members = list(members)
        department.members.set(members)
        access.grants_changed()  # members see the department's cases: their cached department lists go stale
        new = {m.username for m in members}
        audit(
            actor=actor,
            action="department.members",
            target=department,
            region=department.region,
            added=sorted(new - old),
            removed=sorted(old - new),
        )
        return department


# --- staff accounts and teams -------------------------------------------------------------------------------


def staff_save(
    *,
    actor: User,
    staff: User | None = None,
    username: str,
    display_name: str,
    region: Region,
    phone: str = "",
    email: str = "",
    is_active: bool = True,
    password: str = "",
    must_change_password: bool | None = None,
) -> User:
    """Create or edit a staff account whose main region is where the actor manages staff."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password

    user_model = get_user_model()
    with transaction.atomic():
        _require(actor, "grids.manage_staff", region)
        if user_model.objects.filter(username=username).exclude(pk=getattr(staff, "pk", None)).exists():
            raise ValidationError({"username": _("The username %(name)s is taken.") % {"name": username}})
        if staff is None:
            if not password:
                raise ValidationError({"password": _("A new account needs a password.")})
            staff, action, old = user_model(username=username), "staff.create", {}
        else:
            staff = user_model.objects.select_for_update(of=("self",)).select_related("region").get(pk=staff.pk)
            if staff.region_id:
                _require(actor, "grids.manage_staff", staff.region)
            elif not actor.is_superuser:
                raise PermissionDenied(_("Only a superuser can edit an account without a main region."))
            action = "staff.update"
            old = {
                "username": staff.username,
                "region": staff.region.code if staff.region_id else None,
                "active": staff.is_active,
            }
        if staff.pk == actor.pk and not is_active:
            raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
        staff.username, staff.display_name, staff.region = username, display_name.strip(), region
        staff.phone, staff.email, staff.is_active = phone.strip(), email.strip(), is_active
        if password:
            try:
                validate_password(password, staff)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from exc
            staff.set_password(password)
        if must_change_password is not None and staff.pk != actor.pk:
            staff.must_change_password = must_change_password
        staff.save()
        new = {
            "username": username,
            "region": region.code,
            "active": is_active,
            "password_changed": bool(password),
            "must_change_password": staff.must_change_password,
        }
        audit(actor=actor, action=action, target=staff, region=region, old=old, new=new)
        access.clear_cache(staff)
        return staff


def team_save(*, actor: User, team: Group | None = None, name: str, members: Iterable[User]) -> Group:
    """Create or edit a team (a group that grants can name). Only for whoever edits roles."""
    if not _may_edit_roles(actor):
        raise PermissionDenied(_("Only an administrator at city level can edit teams."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("A name is required.")})
    with transaction.atomic():
        if Group.objects.filter(name=name).exclude(pk=getattr(team, "pk", None)).exists():
            raise ValidationError({"name": _("A team named %(name)s exists.") % {"name": name}})
        if team is None:
            team = Group.objects.create(name=name)
            old: set[str] = set()
        else:
            team = Group.objects.select_for_update().get(pk=team.pk)
            team.name = name
            team.save()
            old = set(team.user_set.values_list("username", flat=True))
        members = list(members)
        team.user_set.set(members)
        access.grants_changed()  # a team's grants now reach other people
        new = {m.username for m in members}
        audit(
            actor=actor, action="team.save", target=team, name=name, added=sorted(new - old), removed=sorted(old - new)
        )
        return team


def user_set_language(*, user: User, language: str) -> None:
    from django.conf import settings

    if language not in dict(settings.LANGUAGES):
        raise ValidationError({"language": _("Unknown language.")})
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
