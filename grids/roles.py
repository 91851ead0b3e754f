"""The seeded roles (角色): named bundles of permissions. Admins edit them afterwards; seeding never
overwrites an existing role."""

from __future__ import annotations

from django.contrib.auth.models import Permission

VIEW = ["grids.view_region"]
ADMIN = [
    "grids.view_region",
    "grids.add_region",
    "grids.change_region",
    "grids.delete_region",
    "grids.manage_access",
    "grids.manage_department",
    "grids.manage_staff",
]

# code, name, description, permissions. Case permissions join these bundles with the cases app.
ROLE_DEFINITIONS: list[tuple[str, str, str, list[str]]] = [
    ("grid_worker", "网格员", "Walks a grid, reports cases, visits households, verifies fixes.", VIEW),
    ("grid_leader", "网格长", "Leads the grid workers of a community and triages what they report.", VIEW),
    ("community_staff", "社区工作人员", "Settles cases locally or calls the street.", VIEW),
    ("street_dispatcher", "街道指挥中心调度员", "Accepts called cases and dispatches them to departments.", VIEW),
    ("department_handler", "职能部门处置人员", "Signs for work orders, does the work, reports the result.", VIEW),
    ("supervisor", "督办人员", "District or city command centre: watches deadlines and supervises.", VIEW),
    (
        "region_admin",
        "区域管理员",
        "Edits the region tree, departments, staff and who may do what below the node.",
        ADMIN,
    ),
]


def ensure_roles(**_kwargs) -> None:
    """Create the seeded roles that are missing (post_migrate)."""
    from .models import Role

    for code, name, description, perms in ROLE_DEFINITIONS:
        if Role.objects.filter(code=code).exists():
            continue
        role = Role.objects.create(code=code, name=name, description=description, is_system=True)
        q = [p.split(".", 1) for p in perms]
        found = [
            perm
            for perm in Permission.objects.filter(content_type__app_label__in={a for a, _ in q}).select_related(
                "content_type"
            )
            if [perm.content_type.app_label, perm.codename] in q
        ]
        role.permissions.set(found)
