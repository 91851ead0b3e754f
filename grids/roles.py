"""The seeded roles (角色): named bundles of permissions. Admins edit them afterwards; seeding never
overwrites an existing role."""

from __future__ import annotations

from django.contrib.auth.models import Permission
from django.utils.translation import gettext_noop

VIEW = ["grids.view_region"]
CASE_VIEW = ["cases.view_case"]
# Households, residents, organisations and party building (parties/). The personal-data permission (whole ID and
# phone numbers, each view logged) goes only to the community staff who handle benefits and certificates, and to
# region admins; grid workers record and visit, and see masked numbers.
PARTIES_RECORDS = ["parties.view_household", "parties.change_household", "parties.record_visit"]
PARTIES_ALL = [
    *PARTIES_RECORDS,
    "parties.view_personal_data",
    "parties.manage_party",
    "parties.view_access_log",
]
# Disputes and their mediation (mediation/): who sees the ledger, who opens a dispute, who mediates.
DISPUTE_VIEW = ["mediation.view_dispute"]
DISPUTE_OPEN = [*DISPUTE_VIEW, "mediation.open_dispute"]
DISPUTE_ALL = [*DISPUTE_OPEN, "mediation.mediate_dispute"]
ADMIN = [
    "grids.view_region",
    "grids.add_region",
    "grids.change_region",
    "grids.delete_region",
    "grids.manage_access",
    "grids.manage_department",
    "grids.manage_staff",
    # A region admin may do everything below the node, and so can hand on any role there.
    "cases.view_case",
    "cases.report_case",
    "cases.triage_case",
    "cases.dispatch_case",
    "cases.verify_case",
    "cases.close_case",
    "cases.cancel_case",
    "cases.reopen_case",
    "cases.evaluate_case",
    "cases.escalate_case",
    "cases.supervise_case",
    *PARTIES_ALL,
    *DISPUTE_ALL,
    "mediation.review_warning",
    "mediation.manage_risk_rules",
]
# Risk early warning (研判): the weekly list of warnings, for those who supervise or dispatch.
RISK_REVIEW = ["mediation.review_warning"]
STREET = [
    "cases.dispatch_case",
    "cases.close_case",
    "cases.cancel_case",
    "cases.reopen_case",
    "cases.evaluate_case",
    "cases.escalate_case",
]

# code, name, description, permissions.
ROLE_DEFINITIONS: list[tuple[str, str, str, list[str]]] = [
    (
        "grid_worker",
        "网格员",
        gettext_noop("Walks a grid, reports cases, visits households, verifies fixes."),
        [*VIEW, *CASE_VIEW, "cases.report_case", "cases.verify_case", *PARTIES_RECORDS, *DISPUTE_OPEN],
    ),
    (
        "grid_leader",
        "网格长",
        gettext_noop("Leads the grid workers of a community and triages what they report."),
        [
            *VIEW,
            *CASE_VIEW,
            "cases.report_case",
            "cases.triage_case",
            "cases.verify_case",
            "cases.escalate_case",
            *PARTIES_RECORDS,
            "parties.manage_party",
            *DISPUTE_OPEN,
        ],
    ),
    (
        "community_staff",
        "社区工作人员",
        gettext_noop("Settles cases locally or calls the street."),
        [
            *VIEW,
            *CASE_VIEW,
            "cases.report_case",
            "cases.triage_case",
            "cases.verify_case",
            "cases.escalate_case",
            "cases.cancel_case",
            *PARTIES_RECORDS,
            "parties.manage_party",
            "parties.view_personal_data",
            *DISPUTE_ALL,
        ],
    ),
    (
        "peoples_mediator",
        "人民调解员",
        gettext_noop(
            "A community's people's mediator: opens and mediates disputes, records agreements and follow-ups."
        ),
        [*VIEW, *CASE_VIEW, "parties.view_household", *DISPUTE_ALL],
    ),
    (
        "street_dispatcher",
        "街道指挥中心调度员",
        gettext_noop("Accepts called cases and dispatches them to departments."),
        [*VIEW, *CASE_VIEW, *STREET, "parties.view_household", *DISPUTE_VIEW, *RISK_REVIEW],
    ),
    (
        "department_handler",
        "职能部门处置人员",
        gettext_noop("Signs for work orders, does the work, reports the result (as a member of a department)."),
        VIEW,
    ),
    (
        "supervisor",
        "督办人员",
        gettext_noop("District or city command centre: watches deadlines, supervises, takes escalated cases."),
        [*VIEW, *CASE_VIEW, *STREET, "cases.supervise_case", "parties.view_household", *DISPUTE_VIEW, *RISK_REVIEW],
    ),
    (
        "hotline_operator",
        "热线回访员",
        gettext_noop("Calls residents back after closing and records their evaluation."),
        [*VIEW, *CASE_VIEW, "cases.evaluate_case"],
    ),
    (
        "region_admin",
        "区域管理员",
        gettext_noop("Edits the region tree, departments, staff and who may do what below the node."),
        ADMIN,
    ),
]


def ensure_roles(**_kwargs) -> None:
    """Create the seeded roles that are missing and give them the seeded permissions they never had.

    Runs after every app's migrations (permissions appear app by app); a permission already seeded once is
    never added again, so an admin's edits stay.
    """
    from .models import Role

    existing = {
        f"{app}.{codename}": pk
        for pk, app, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for code, name, description, perms in ROLE_DEFINITIONS:
        role, _created = Role.objects.get_or_create(
            code=code, defaults={"name": name, "description": description, "is_system": True}
        )
        new = [p for p in perms if p in existing and p not in role.seeded_permissions]
        if new:
            role.permissions.add(*[existing[p] for p in new])
            role.seeded_permissions = [*role.seeded_permissions, *new]
            role.save(update_fields=["seeded_permissions"])
            _resync(role)


def _resync(role) -> None:
    """Give the role's existing grants the permissions just added to it (guardian rows)."""
    from .models import Grant
    from .services import sync_object_permissions

    grants = Grant.objects.filter(role=role)
    sync_object_permissions(
        user_keys=grants.filter(user__isnull=False).values_list("user_id", "region_id"),
        group_keys=grants.filter(group__isnull=False).values_list("group_id", "region_id"),
    )
