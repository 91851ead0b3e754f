"""Pages for admins and staff: thin views that parse input, call one service or selector, and render."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from . import access, accounts, selectors, services, transfer
from .codes import Level
from .forms import (
    AccessCheckForm,
    DepartmentForm,
    DepartmentMembersForm,
    GrantForm,
    LocateForm,
    RegionAddForm,
    RegionEditForm,
    RegionMoveForm,
    RegionRecodeForm,
    RoleForm,
    SearchForm,
    StaffForm,
    TeamForm,
    UploadForm,
    call_service,
)
from .geo import locate as locate_point
from .models import Region, Role


def _region_actions(user, region: Region) -> dict[str, bool]:
    can = lambda perm: access.user_can(user, perm, region)  # noqa: E731
    return {
        "add": can("grids.add_region") and region.depth < Level.GRID and region.is_active,
        "change": can("grids.change_region"),
        "move": can("grids.change_region") and region.depth > Level.CITY,
        "delete": can("grids.delete_region") and region.numchild == 0,
        "access": can("grids.manage_access"),
        "departments": can("grids.manage_department"),
    }


def _require(user, perm: str, region: Region) -> None:
    """The form of an action is shown only to those who may take it (the service checks again on POST)."""
    if not access.user_can(user, perm, region):
        raise PermissionDenied(_("You do not have the permission “%(perm)s” here.") % {"perm": perm})


def _require_anywhere(user, perm: str) -> None:
    if not access.user_can_anywhere(user, perm):
        raise PermissionDenied(_("You do not have the permission “%(perm)s” anywhere.") % {"perm": perm})


# --- language ------------------------------------------------------------------------------------------------


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    language = request.POST.get("language", "")
    next_url = request.POST.get("next") or "/"
    if not next_url.startswith("/") or not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "/"
    response = HttpResponseRedirect(next_url)  # a URL, never a view name (redirect() would try to reverse it)
    if language not in dict(settings.LANGUAGES):
        return response
    if request.user.is_authenticated:
        services.user_set_language(user=request.user, language=language)
    response.set_cookie(settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, samesite="Lax")
    return response


# --- the tree -----------------------------------------------------------------------------------------------


@login_required
def region_tree(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    results = None
    if form.is_valid() and form.cleaned_data["q"]:
        results = list(selectors.region_search(user=request.user, q=form.cleaned_data["q"]))
    roots = list(selectors.region_roots(user=request.user))
    return render(request, "grids/region_tree.html", {"form": form, "roots": roots, "results": results})


@login_required
def region_children(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    children = selectors.region_children(region=region)
    return render(request, "grids/_tree_children.html", {"nodes": children})


@login_required
def region_detail(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    context = {
        "region": region,
        "ancestors": selectors.region_ancestors(region=region),
        "children": selectors.region_children(region=region),
        "departments": selectors.region_departments(region=region),
        "actions": _region_actions(request.user, region),
        "audit": selectors.region_audit(region=region)
        if access.user_can(request.user, "grids.change_region", region)
        else [],
        "boundary_json": json.dumps(region.boundary) if region.boundary else "null",
        "tile_url": settings.GOVGRID_TILE_URL,
        "tile_attribution": settings.GOVGRID_TILE_ATTRIBUTION,
    }
    return render(request, "grids/region_detail.html", context)


@login_required
def region_add(request: HttpRequest, pk: int) -> HttpResponse:
    parent = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.add_region", parent)
    suggested = services.region_suggest_code(parent=parent)
    form = RegionAddForm(request.POST or None, initial={"code": suggested})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        region = call_service(
            form,
            services.region_add,
            actor=request.user,
            parent=parent,
            name=data["name"],
            code=data["code"],
            boundary=data["boundary"],
            centre=form.centre(),
        )
        if region:
            messages.success(request, _("%(name)s (%(code)s) was added.") % {"name": region.name, "code": region.code})
            return redirect("region_detail", pk=region.pk)
    child_level = Level(parent.depth + 1).label if parent.depth < Level.GRID else ""
    return render(
        request,
        "grids/region_form.html",
        {
            "form": form,
            "region": parent,
            "title": _("Add a %(level)s under %(name)s") % {"level": child_level, "name": parent.name},
        },
    )


@login_required
def region_edit(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.change_region", region)
    initial = {
        "name": region.name,
        "boundary": region.boundary,
        "centre_lat": region.centre_lat,
        "centre_lng": region.centre_lng,
    }
    form = RegionEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ok = True
        if data["name"] != region.name:
            ok = (
                call_service(form, services.region_rename, actor=request.user, region=region, name=data["name"])
                is not None
            )
        if ok and (data["boundary"] != region.boundary or form.centre() != (region.centre_lat, region.centre_lng)):
            ok = (
                call_service(
                    form,
                    services.region_set_boundary,
                    actor=request.user,
                    region=region,
                    boundary=data["boundary"],
                    centre=form.centre(),
                )
                is not None
            )
        if ok:
            messages.success(request, _("Saved."))
            return redirect("region_detail", pk=region.pk)
    return render(
        request,
        "grids/region_form.html",
        {"form": form, "region": region, "title": _("Edit %(name)s") % {"name": region.name}},
    )


@login_required
def region_recode(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.change_region", region)
    form = RegionRecodeForm(request.POST or None, initial={"code": region.code})
    if request.method == "POST" and form.is_valid():
        if call_service(
            form, services.region_recode, actor=request.user, region=region, code=form.cleaned_data["code"]
        ):
            messages.success(
                request, _("The code is now %(code)s; codes below it follow.") % {"code": form.cleaned_data["code"]}
            )
            return redirect("region_detail", pk=region.pk)
    return render(
        request,
        "grids/region_form.html",
        {
            "form": form,
            "region": region,
            "title": _("Change the code of %(name)s") % {"name": region.name},
            "help": _("Every code below this node takes the new prefix."),
        },
    )


@login_required
def region_move(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.change_region", region)
    candidates = selectors.region_move_targets(user=request.user, region=region)
    form = RegionMoveForm(request.POST or None, candidates=candidates)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        moved = call_service(
            form,
            services.region_move,
            actor=request.user,
            region=region,
            new_parent=data["new_parent"],
            code=data["code"] or None,
        )
        if moved:
            messages.success(
                request,
                _("%(name)s moved under %(parent)s with the code %(code)s.")
                % {"name": moved.name, "parent": data["new_parent"].name, "code": moved.code},
            )
            return redirect("region_detail", pk=moved.pk)
    return render(
        request,
        "grids/region_move.html",
        {"form": form, "region": region, "candidates": candidates.order_by("code")[:200]},
    )


@login_required
def region_retire(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.change_region", region)
    if request.method == "POST":
        try:
            if region.is_active:
                n = services.region_retire(actor=request.user, region=region, reason=request.POST.get("reason", ""))
                messages.success(request, ngettext("%(n)d node retired.", "%(n)d nodes retired.", n) % {"n": n})
            else:
                n = services.region_reactivate(actor=request.user, region=region)
                messages.success(request, ngettext("%(n)d node reactivated.", "%(n)d nodes reactivated.", n) % {"n": n})
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("region_detail", pk=region.pk)
    return render(request, "grids/region_confirm.html", {"region": region, "action": "retire"})


@login_required
def region_delete(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    _require(request.user, "grids.delete_region", region)
    if request.method == "POST":
        parent = Region.objects.get_parent(region)
        try:
            services.region_delete(actor=request.user, region=region)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("region_detail", pk=region.pk)
        messages.success(request, _("%(name)s was deleted.") % {"name": region.name})
        return redirect("region_detail", pk=parent.pk) if parent else redirect("region_tree")
    return render(request, "grids/region_confirm.html", {"region": region, "action": "delete"})


# --- access -------------------------------------------------------------------------------------------------


@login_required
def region_access(request: HttpRequest, pk: int) -> HttpResponse:
    region = selectors.region_get(user=request.user, pk=pk)
    may_manage = access.user_can(request.user, "grids.manage_access", region)
    form = GrantForm(request.POST or None, users=selectors.grantable_users(user=request.user))
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            grant = call_service(
                form,
                services.grant_create,
                actor=request.user,
                region=region,
                user=data["user"],
                group=data["group"],
                role=data["role"],
                permission=data["permission"],
            )
            if grant:
                messages.success(request, _("Granted: %(grant)s.") % {"grant": grant})
                return redirect("region_access", pk=region.pk)
    context = {
        "region": region,
        "form": form,
        "may_manage": may_manage,
        **selectors.region_grants(region=region),
        "ancestors": selectors.region_ancestors(region=region),
        "roles": selectors.role_list(),
    }
    return render(request, "grids/region_access.html", context)


@login_required
@require_POST
def grant_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    grant = selectors.grant_get(user=request.user, pk=pk)
    region_pk = grant.region_id
    services.grant_revoke(actor=request.user, grant=grant)
    messages.success(request, _("Revoked."))
    return redirect("region_access", pk=region_pk)


@login_required
def access_check(request: HttpRequest) -> HttpResponse:
    form = AccessCheckForm(
        request.GET or None,
        users=selectors.visible_users(user=request.user),
        regions=selectors.region_list(user=request.user),
    )
    result = None
    if request.GET and form.is_valid():
        data = form.cleaned_data
        perm = f"{data['permission'].content_type.app_label}.{data['permission'].codename}"
        result = access.explain(data["user"], perm, data["region"])
        result.allowed_by_policy = access.user_can(data["user"], perm, data["region"])
        result.perm = perm
    return render(request, "grids/access_check.html", {"form": form, "result": result})


# --- locate -------------------------------------------------------------------------------------------------


@login_required
def locate(request: HttpRequest) -> HttpResponse:
    form = LocateForm(request.GET or None)
    grid = None
    searched = False
    if request.GET and form.is_valid():
        searched = True
        grid = locate_point(form.cleaned_data["lat"], form.cleaned_data["lng"])
        if grid is not None and not access.user_can(request.user, "grids.view_region", grid):
            grid = None  # a grid outside the user's subtree is as good as none
    if request.GET.get("format") == "json":
        if form.errors:
            return JsonResponse({"errors": form.errors}, status=400)
        if grid is None:
            return JsonResponse({"grid": None}, status=404 if searched else 400)
        ancestors = selectors.region_ancestors(region=grid)
        return JsonResponse(
            {
                "grid": {
                    "id": grid.pk,
                    "code": grid.code,
                    "name": grid.name,
                    "path": [{"code": a.code, "name": a.name} for a in ancestors],
                }
            }
        )
    return render(request, "grids/locate.html", {"form": form, "grid": grid, "searched": searched})


# --- import / export ----------------------------------------------------------------------------------------

IMPORT_SESSION_KEY = "grids_import"


def _import_store(request: HttpRequest, kind: str, upload) -> None:
    """Keep the previewed upload under var/imports until it is confirmed (never in the session)."""
    import uuid

    folder = settings.VAR_DIR / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    (folder / token).write_bytes(upload["data"])
    request.session[IMPORT_SESSION_KEY] = {"kind": kind, "token": token, "filename": upload["filename"]}


def _import_load(request: HttpRequest, kind: str) -> tuple[bytes, str] | None:
    info = request.session.get(IMPORT_SESSION_KEY)
    if not info or info.get("kind") != kind:
        return None
    path = settings.VAR_DIR / "imports" / info["token"]
    if not path.exists():
        return None
    return path.read_bytes(), info["filename"]


def _import_forget(request: HttpRequest) -> None:
    info = request.session.pop(IMPORT_SESSION_KEY, None)
    if info:
        (settings.VAR_DIR / "imports" / info["token"]).unlink(missing_ok=True)


@login_required
def region_import(request: HttpRequest, kind: str = "tree") -> HttpResponse:
    _require_anywhere(request.user, "grids.change_region")
    planner = {"tree": transfer.plan_tree_import, "boundaries": transfer.plan_boundaries_import}[kind]
    writer = {"tree": transfer.tree_import, "boundaries": transfer.boundaries_import}[kind]
    form = UploadForm()
    plan = None
    if request.method == "POST" and request.POST.get("confirm"):
        stored = _import_load(request, kind)
        if stored is None:
            messages.error(request, _("The preview has expired: upload the file again."))
            return redirect(request.path)
        data, filename = stored
        try:
            count = writer(actor=request.user, data=data, filename=filename)
        except ValidationError as exc:
            messages.error(request, _("Nothing was imported: %(errors)s") % {"errors": " ".join(exc.messages[:20])})
            plan = planner(actor=request.user, data=data, filename=filename)
        else:
            _import_forget(request)
            messages.success(request, ngettext("%(n)d row imported.", "%(n)d rows imported.", count) % {"n": count})
            return redirect("region_tree")
    elif request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            limit = settings.GOVGRID_IMPORT_MAX_BYTES
            data = upload.read(limit + 1)
            plan = planner(actor=request.user, data=data, filename=upload.name)
            for row in plan.rows[:50]:
                row["level_label"] = Level(row["level"]).label if row.get("level") else ""
            if plan.ok:
                _import_store(request, kind, {"data": data, "filename": upload.name})
    return render(
        request,
        "grids/region_import.html",
        {"form": form, "plan": plan, "kind": kind, "max_mb": settings.GOVGRID_IMPORT_MAX_BYTES // (1024 * 1024)},
    )


@login_required
def region_export(request: HttpRequest, fmt: str) -> HttpResponse:
    if fmt == "csv":
        response = HttpResponse(transfer.export_tree_csv(actor=request.user), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="regions.csv"'
    elif fmt == "xlsx":
        response = HttpResponse(
            transfer.export_tree_xlsx(actor=request.user),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        response["Content-Disposition"] = 'attachment; filename="regions.xlsx"'
    else:
        body = json.dumps(transfer.export_boundaries_geojson(actor=request.user), ensure_ascii=False)
        response = HttpResponse(body, content_type="application/geo+json; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="boundaries.geojson"'
    return response


@login_required
def transfer_home(request: HttpRequest) -> HttpResponse:
    _require_anywhere(request.user, "grids.change_region")
    return render(request, "grids/transfer.html", {"max_mb": settings.GOVGRID_IMPORT_MAX_BYTES // (1024 * 1024)})


# --- departments --------------------------------------------------------------------------------------------


@login_required
def department_list(request: HttpRequest) -> HttpResponse:
    departments = selectors.department_list(user=request.user).prefetch_related("members")
    may_create = access.user_can_anywhere(request.user, "grids.manage_department")
    return render(request, "grids/department_list.html", {"departments": departments, "may_create": may_create})


@login_required
def department_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if pk is None:
        _require_anywhere(request.user, "grids.manage_department")
    department = selectors.department_get(user=request.user, pk=pk, perm="grids.manage_department") if pk else None
    initial = (
        {
            "name": department.name,
            "code": department.code,
            "kind": department.kind,
            "region": department.region.code,
            "is_active": department.is_active,
        }
        if department
        else {"is_active": True}
    )
    form = DepartmentForm(
        request.POST or None, initial=initial, regions=selectors.department_regions(user=request.user)
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = call_service(form, services.department_save, actor=request.user, department=department, **data)
        if saved:
            messages.success(request, _("Department %(name)s saved.") % {"name": saved.name})
            return redirect("department_list")
    return render(request, "grids/department_form.html", {"form": form, "department": department})


@login_required
def department_members(request: HttpRequest, pk: int) -> HttpResponse:
    department = selectors.department_get(user=request.user, pk=pk, perm="grids.manage_department")
    users = selectors.visible_users(user=request.user).filter(is_active=True) | department.members.all()
    initial = {"members": "\n".join(department.members.order_by("username").values_list("username", flat=True))}
    form = DepartmentMembersForm(request.POST or None, initial=initial, users=users.distinct())
    if request.method == "POST" and form.is_valid():
        if call_service(
            form,
            services.department_set_members,
            actor=request.user,
            department=department,
            members=form.cleaned_data["members"],
        ):
            messages.success(request, _("Members of %(name)s saved.") % {"name": department.name})
            return redirect("department_list")
    return render(request, "grids/department_members.html", {"form": form, "department": department})


# --- roles and teams ----------------------------------------------------------------------------------------


@login_required
def role_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "grids/role_list.html",
        {"roles": selectors.role_list(), "may_edit": services._may_edit_roles(request.user)},
    )


@login_required
def role_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not services._may_edit_roles(request.user):
        raise PermissionDenied(_("Only an administrator at city level can edit roles."))
    role = get_object_or_404(Role, pk=pk) if pk else None
    initial = (
        {"code": role.code, "name": role.name, "description": role.description, "permissions": role.permissions.all()}
        if role
        else {}
    )
    form = RoleForm(request.POST or None, initial=initial)
    if role:
        form.fields["code"].disabled = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = call_service(
            form,
            services.role_save,
            actor=request.user,
            role=role,
            code=data["code"],
            name=data["name"],
            description=data["description"],
            permissions=data["permissions"],
        )
        if saved:
            messages.success(request, _("Role %(name)s saved; its grants follow.") % {"name": saved.name})
            return redirect("role_list")
    return render(request, "grids/role_form.html", {"form": form, "role": role})


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    teams = selectors.team_list(user=request.user).prefetch_related("user_set")
    return render(request, "grids/team_list.html", {"teams": teams, "may_edit": services._may_edit_roles(request.user)})


@login_required
def team_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    if not services._may_edit_roles(request.user):
        raise PermissionDenied(_("Only an administrator at city level can edit teams."))
    team = get_object_or_404(selectors.team_list(user=request.user), pk=pk) if pk else None
    initial = (
        {"name": team.name, "members": "\n".join(team.user_set.order_by("username").values_list("username", flat=True))}
        if team
        else {}
    )
    form = TeamForm(request.POST or None, initial=initial)
    users = selectors.visible_users(user=request.user).filter(is_active=True)
    if request.method == "POST" and form.is_valid():
        members_form = DepartmentMembersForm({"members": form.cleaned_data["members"]}, users=users)
        if not members_form.is_valid():
            form.add_error("members", members_form.errors["members"])
        else:
            saved = call_service(
                form,
                services.team_save,
                actor=request.user,
                team=team,
                name=form.cleaned_data["name"],
                members=members_form.cleaned_data["members"],
            )
            if saved:
                messages.success(request, _("Team %(name)s saved.") % {"name": saved.name})
                return redirect("team_list")
    return render(request, "grids/team_form.html", {"form": form, "team": team})


# --- staff --------------------------------------------------------------------------------------------------


@login_required
def staff_list(request: HttpRequest) -> HttpResponse:
    _require_anywhere(request.user, "grids.manage_staff")
    q = request.GET.get("q", "").strip()
    rows = selectors.staff_list(user=request.user)
    if q:
        rows = rows.filter(username__icontains=q) | rows.filter(display_name__icontains=q)
    rows = rows.order_by("region__path", "username")[:200]
    return render(request, "grids/staff_list.html", {"staff": rows, "q": q})


@login_required
def staff_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    staff = selectors.staff_get(user=request.user, pk=pk) if pk else None
    initial = (
        {
            "username": staff.username,
            "display_name": staff.display_name,
            "phone": staff.phone,
            "email": staff.email,
            "region": staff.region.code if staff.region_id else "",
            "is_active": staff.is_active,
            "must_change_password": staff.must_change_password,
        }
        if staff
        else {"is_active": True, "must_change_password": True}
    )
    if staff is None:
        _require_anywhere(request.user, "grids.manage_staff")
    regions = selectors.region_list(user=request.user, perm="grids.manage_staff")
    form = StaffForm(request.POST or None, initial=initial, regions=regions)
    if request.method == "POST" and form.is_valid():
        saved = call_service(form, services.staff_save, actor=request.user, staff=staff, **form.cleaned_data)
        if saved:
            messages.success(request, _("Account %(name)s saved.") % {"name": saved.username})
            return redirect("staff_list")
    lockout = accounts.lockout_of(username=staff.username) if staff else None
    return render(request, "grids/staff_form.html", {"form": form, "staff": staff, "lockout": lockout})


def handler403(request: HttpRequest, exception=None) -> HttpResponse:
    return render(request, "403.html", {"message": str(exception) if exception else ""}, status=403)


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness and database check for load balancers and docker compose (no login, no data)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return HttpResponse("ok", content_type="text/plain")
