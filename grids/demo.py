"""The fictional demo city 云川市 loaded by `make run` (python manage.py seed_demo). Safe to run again.

Demo logins exist only in this data; every one shares DEMO_PASSWORD.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction

from . import access, services
from .models import Department, Grant, Region, Role, User

DEMO_PASSWORD = "govgrid-demo"  # noqa: S105 - demo data only, printed by make run

CITY = ("519900", "云川市")
DISTRICTS = [
    ("519902", "青石区", "QS", ["东湖街道", "南门街道", "西城街道"]),
    ("519903", "白鹭区", "BL", ["白鹭街道", "江岸街道", "新桥街道"]),
]
COMMUNITY_NAMES = ["和平社区", "幸福社区", "光明社区"]
DISTRICT_DEPARTMENTS = [
    ("cgzf", "城管执法局"),
    ("scjg", "市场监管局"),
    ("zj", "住建局"),
    ("sw", "水务局"),
    ("sthj", "生态环境局"),
    ("xf", "消防救援大队"),
]
# Grid origin and cell sizes (degrees): the city is 0.36 × 0.18, each grid 0.03 × 0.03.
LNG0, LAT0 = 104.00, 30.50

# username, display name, role, where (code), how
DEMO_LOGINS = [
    ("admin", "王管理", "region_admin", "519900", "区域管理员 · 云川市 (region admin at the city)"),
    ("supervisor", "李督办", "supervisor", "519902", "督办 · 青石区 (district supervisor)"),
    ("dispatcher", "张调度", "street_dispatcher", "519902001", "街道指挥中心 · 东湖街道, via the team 东湖街道调度组"),
    ("community", "赵社区", "community_staff", "519902001001", "社区工作人员 · 东湖和平社区"),
    ("leader", "钱网格长", "grid_leader", "519902001001", "网格长 · 东湖和平社区"),
    ("gridworker", "孙网格员", "grid_worker", "519902001001001", "网格员 · 东湖和平社区第1网格"),
    ("gridworker2", "周网格员", "grid_worker", "519903001001001", "网格员 · 白鹭和平社区第1网格 (another district)"),
    ("handler", "吴处置", "department_handler", "519902", "职能部门 · 青石区城管执法局 member"),
    ("handler2", "郑处置", "department_handler", "519902", "职能部门 · 青石区住建局 and 市场监管局 member"),
    ("hotline", "冯回访", "hotline_operator", "519900", "12345 热线回访 · 云川市"),
]
DEPARTMENT_MEMBERS = {"handler": ["519902-cgzf"], "handler2": ["519902-zj", "519902-scjg"]}
TEAM = ("东湖街道调度组", "street_dispatcher", "519902001")


def _box(lng0: float, lat0: float, w: float, h: float) -> dict:
    lng1, lat1 = round(lng0 + w, 6), round(lat0 + h, 6)
    lng0, lat0 = round(lng0, 6), round(lat0, 6)
    return {"type": "Polygon", "coordinates": [[[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]]}


def system_actor() -> User:
    """The account that loaders act as: a superuser that cannot log in."""
    user, created = User.objects.get_or_create(
        username="system", defaults={"display_name": "系统", "is_superuser": True, "is_staff": False}
    )
    if created:
        user.set_unusable_password()
        user.save()
    return user


def _node(actor: User, parent: Region | None, code: str, name: str, boundary: dict) -> Region:
    existing = Region.objects.filter(code=code).first()
    if existing:
        return existing
    return services.region_add(actor=actor, parent=parent, name=name, code=code, boundary=boundary)


def _grant(
    actor: User, region: Region, role_code: str, *, user: User | None = None, group: Group | None = None
) -> None:
    role = Role.objects.get(code=role_code)
    if not Grant.objects.filter(region=region, role=role, user=user, group=group).exists():
        services.grant_create(actor=actor, region=region, role=role, user=user, group=group)


@transaction.atomic
def seed_demo() -> list[tuple[str, str]]:
    """Load the demo city; returns (username, what) of the demo logins."""
    actor = system_actor()
    city = _node(actor, None, CITY[0], CITY[1], _box(LNG0, LAT0, 0.36, 0.18))
    for d_index, (d_code, d_name, abbr, streets) in enumerate(DISTRICTS):
        d_lng = LNG0 + d_index * 0.18
        district = _node(actor, city, d_code, d_name, _box(d_lng, LAT0, 0.18, 0.18))
        if district.abbr != abbr:
            Region.objects.filter(pk=district.pk).update(abbr=abbr)
        for s_index, s_name in enumerate(streets):
            s_lat = LAT0 + s_index * 0.06
            street = _node(actor, district, f"{d_code}{s_index + 1:03d}", s_name, _box(d_lng, s_lat, 0.18, 0.06))
            for c_index, c_name in enumerate(COMMUNITY_NAMES):
                c_lng = d_lng + c_index * 0.06
                c_code = f"{street.code}{c_index + 1:03d}"
                community = _node(actor, street, c_code, f"{s_name[:2]}{c_name}", _box(c_lng, s_lat, 0.06, 0.06))
                for g in range(4):
                    g_lng, g_lat = c_lng + (g % 2) * 0.03, s_lat + (g // 2) * 0.03
                    _node(
                        actor,
                        community,
                        f"{c_code}{g + 1:03d}",
                        f"{community.name}第{g + 1}网格",
                        _box(g_lng, g_lat, 0.03, 0.03),
                    )
        for dept_code, dept_name in DISTRICT_DEPARTMENTS:
            code = f"{d_code}-{dept_code}"
            if not Department.objects.filter(code=code).exists():
                services.department_save(
                    actor=actor, name=f"{d_name}{dept_name}", code=code, region=district, kind=dept_code
                )
        for street in Region.objects.filter(path__startswith=district.path, depth=3):
            for kind, suffix in (("pcs", "派出所"), ("sq", "综治中心")):
                code = f"{street.code}-{kind}"
                if not Department.objects.filter(code=code).exists():
                    services.department_save(
                        actor=actor, name=f"{street.name}{suffix}", code=code, region=street, kind=kind
                    )

    team_name, team_role, team_region = TEAM
    team, _ = Group.objects.get_or_create(name=team_name)
    _grant(actor, Region.objects.get(code=team_region), team_role, group=team)
    logins = []
    for username, display, role_code, code, what in DEMO_LOGINS:
        region = Region.objects.get(code=code)
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, display_name=display, region=region, phone="13800000000")
            user.set_password(DEMO_PASSWORD)
            user.save()
        if username == "dispatcher":
            user.groups.add(team)
            access.grants_changed()
        else:
            _grant(actor, region, role_code, user=user)
        for dept_code in DEPARTMENT_MEMBERS.get(username, []):
            Department.objects.get(code=dept_code).members.add(user)
        logins.append((username, what))
    _staff_every_department(actor)
    return logins


def _staff_every_department(actor: User) -> None:
    """Every demo department has an active member (a work order sent to a department nobody staffs would wait
    forever): those without one of the demo logins get a duty account ``duty-<department code>``."""
    from django.contrib.auth.hashers import make_password

    hashed = None
    for department in Department.objects.filter(is_active=True, members__isnull=True).select_related("region"):
        hashed = hashed or make_password(DEMO_PASSWORD)  # hashed once: the hasher is slow on purpose
        username = f"duty-{department.code}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = User(username=username, display_name=f"{department.name}值班员", region=department.region)
            user.password = hashed
            user.save()
            _grant(actor, department.region, "department_handler", user=user)
        department.members.add(user)
