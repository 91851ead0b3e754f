"""Build a city at the scale GovGrid plans for: 10,000 grids and 20,000 staff with their role grants.

Rows go in with bulk_create (treebeard paths computed here) because adding 11,111 nodes one by one through
the services would take an hour; the guardian rows are still derived by grids.services, as in the app.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import ProtectedError

from bench.management.commands.bench_access import write_seed_section
from grids import services
from grids.codes import Level, significant_prefix, validate_code
from grids.geo import parse_boundary
from grids.models import Grant, Region, RegionGroupObjectPermission, RegionUserObjectPermission, Role, User

BATCH = 2000
# One published password for every generated account (hashing 20,000 of them would take hours); the
# accounts exist only in benchmark databases.
SCALE_PASSWORD = "scale-pass-12345"  # noqa: S105
# Where the city lies and how big it is, in degrees: about 100 km x 110 km, a grid about 1 km².
ORIGIN_LAT, ORIGIN_LNG, SPAN_LAT, SPAN_LNG = 26.2, 106.2, 1.0, 1.0
# Share of staff per level of their grant; grid workers take the rest (a Shanwei-like mix).
SHARES = {Level.DISTRICT: 0.04, Level.STREET: 0.10, Level.COMMUNITY: 0.25}
ROLE_AT = {
    Level.CITY: "region_admin",
    Level.DISTRICT: "supervisor",
    Level.STREET: "street_dispatcher",
    Level.COMMUNITY: "community_staff",
    Level.GRID: "grid_worker",
}
TEAMS = 5
TEAM_SIZE = 5


def user_prefix(city_code: str) -> str:
    return f"scale-{city_code}-"


def shape_for(grids: int) -> tuple[int, list[int]]:
    """Fan-out per level (districts = streets per district = communities per street) and grids per community.

    The largest n with n⁴ ≤ grids gives n × n × n communities; the grids are dealt out among them evenly,
    so the city has exactly ``grids`` grids (10,000 → 10 × 10 × 10 × 10).
    """
    n = max(1, math.isqrt(math.isqrt(grids)))
    communities = n**3
    per, extra = divmod(grids, communities)
    return n, [per + (1 if i < extra else 0) for i in range(communities)]


def box(lng0: float, lat0: float, lng1: float, lat1: float) -> dict[str, Any]:
    c = [round(v, 7) for v in (lng0, lat0, lng1, lat1)]
    ring = [[c[0], c[1]], [c[2], c[1]], [c[2], c[3]], [c[0], c[3]], [c[0], c[1]]]
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class Node:
    """A region to insert, with its rectangle; kept apart from the model so children can refer to it."""

    path: str
    depth: int
    code: str
    name: str
    rect: tuple[float, float, float, float]  # lng0, lat0, lng1, lat1
    children: list[Node] = field(default_factory=list)

    def region(self) -> Region:
        b = parse_boundary(box(*self.rect))
        return Region(
            path=self.path,
            depth=self.depth,
            numchild=len(self.children),
            code=self.code,
            name=self.name,
            boundary=b.geojson,
            min_lat=b.min_lat,
            max_lat=b.max_lat,
            min_lng=b.min_lng,
            max_lng=b.max_lng,
            centre_lat=b.centre_lat,
            centre_lng=b.centre_lng,
        )


def build_tree(city_code: str, city_name: str, root_path: str, grids: int) -> list[list[Node]]:
    """The nodes level by level (city first); rectangles nest: districts are columns, streets rows in them…"""
    n, per_community = shape_for(grids)
    city = Node(
        root_path, 1, city_code, city_name, (ORIGIN_LNG, ORIGIN_LAT, ORIGIN_LNG + SPAN_LNG, ORIGIN_LAT + SPAN_LAT)
    )
    levels: list[list[Node]] = [[city]]
    counts = iter(per_community)
    for depth in range(2, 6):
        level: list[Node] = []
        for parent in levels[-1]:
            lng0, lat0, lng1, lat1 = parent.rect
            k = next(counts) if depth == Level.GRID else n
            prefix = significant_prefix(parent.code, parent.depth)
            width = 2 if depth == Level.DISTRICT else 3
            for i in range(k):
                # Districts and communities split their parent west to east, streets and grids south to north.
                if depth % 2 == 0:
                    rect = (lng0 + (lng1 - lng0) * i / k, lat0, lng0 + (lng1 - lng0) * (i + 1) / k, lat1)
                else:
                    rect = (lng0, lat0 + (lat1 - lat0) * i / k, lng1, lat0 + (lat1 - lat0) * (i + 1) / k)
                code = f"{prefix}{i + 1:0{width}d}"
                label = Level(depth).label
                child = Node(Region._get_path(parent.path, depth, i + 1), depth, code, f"{label} {code}", rect)
                parent.children.append(child)
                level.append(child)
        levels.append(level)
    return levels


@contextmanager
def phase(out: Any, timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - start
    out.write(f"  {name:<28} {timings[name]:8.2f} s")


class Command(BaseCommand):
    help = "Generate a city with --grids grids and --staff staff accounts holding role grants (benchmark data)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--grids", type=int, default=10_000)
        parser.add_argument("--staff", type=int, default=20_000)
        parser.add_argument("--city-code", default="529900", help="6 digits ending in 00")
        parser.add_argument("--city-name", default="规模测试市")
        parser.add_argument("--reset", action="store_true", help="delete this city, its scale- users and teams first")
        parser.add_argument("--output", help="also record the timings in this Markdown file (seed_scale markers)")

    def handle(self, *args: Any, **opts: Any) -> None:
        code: str = opts["city_code"]
        grids, staff = opts["grids"], opts["staff"]
        try:
            validate_code(code, Level.CITY)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if grids < 1 or staff < 5:
            raise CommandError("Give at least 1 grid and 5 staff (one per level).")
        timings: dict[str, float] = {}
        total = time.perf_counter()
        with transaction.atomic():
            # Same lock as the services' structural edits: a concurrent new root would take the same path.
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [services.TREE_LOCK_KEY])
            if opts["reset"]:
                with phase(self.stdout, timings, "reset"):
                    self.reset(code)
            self.refuse_if_taken(code)
            with phase(self.stdout, timings, "regions"):
                levels = self.create_regions(code, opts["city_name"], grids)
            with phase(self.stdout, timings, "staff accounts"):
                users = self.create_users(code, levels, staff)
            with phase(self.stdout, timings, "grants and teams"):
                user_keys, group_keys = self.create_grants(code, levels, users)
            with phase(self.stdout, timings, "guardian rows (services)"):
                services.sync_object_permissions(user_keys=user_keys, group_keys=group_keys)
        if connection.vendor == "postgresql":
            # Fresh statistics, so the planner (and the benchmark after us) sees the new row counts at once.
            with phase(self.stdout, timings, "analyze"), connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        timings["total"] = time.perf_counter() - total
        summary = (
            f"City {code}: {sum(len(level) for level in levels)} regions "
            f"({' / '.join(str(len(level)) for level in levels)} per level), {len(users)} staff, "
            f"{len(user_keys)} user grants, {len(group_keys)} team grants, "
            f"{RegionUserObjectPermission.objects.count()} user + {RegionGroupObjectPermission.objects.count()} team "
            f"guardian rows in the database; {timings['total']:.1f} s."
        )
        self.stdout.write(self.style.SUCCESS(summary))
        if opts["output"]:
            self.record(Path(opts["output"]), opts, timings, summary)

    def refuse_if_taken(self, code: str) -> None:
        prefix = significant_prefix(code, Level.CITY)
        if Region.objects.filter(code__startswith=prefix).exists():
            raise CommandError(
                f"Codes beginning with {prefix} (city {code}) exist already: pass --reset to rebuild it."
            )
        if User.objects.filter(username__startswith=user_prefix(code)).exists():
            raise CommandError(f"Accounts named {user_prefix(code)}… exist already: pass --reset to delete them.")

    def reset(self, code: str) -> None:
        users = User.objects.filter(username__startswith=user_prefix(code))
        city = Region.objects.filter(depth=Level.CITY, code=code).first()
        try:
            # Guardian rows and grants first, in two statements, rather than through the deletion collector.
            RegionUserObjectPermission.objects.filter(user__in=users).delete()
            Grant.objects.filter(user__in=users).delete()
            users.delete()
            Group.objects.filter(name__startswith=user_prefix(code)).delete()
            if city is not None:
                Region.objects.filter(path__startswith=city.path).delete()
        except ProtectedError as exc:
            what = sorted({str(obj) for obj in list(exc.protected_objects)[:5]})
            raise CommandError(f"City {code} still has other records attached (e.g. {', '.join(what)}).") from exc

    def create_regions(self, code: str, name: str, grids: int) -> list[list[Region]]:
        last_root = Region.objects.filter(depth=1).order_by("-path").first()
        position = Region._str2int(last_root.path) + 1 if last_root else 1
        nodes = build_tree(code, name, Region._get_path(None, 1, position), grids)
        levels = []
        for level in nodes:
            # Parents are not referenced by key (the path says it all), so each level is one series of inserts.
            levels.append(Region.objects.bulk_create([n.region() for n in level], batch_size=BATCH))
        return levels

    def create_users(self, code: str, levels: list[list[Region]], staff: int) -> list[tuple[User, str, Region]]:
        """(account, role code, granted region) per person, spread round-robin over the nodes of each level."""
        counts = {Level.CITY: min(10, max(1, staff // 2000))}
        for lvl, share in SHARES.items():
            counts[lvl] = max(1, round(staff * share))
        counts[Level.GRID] = staff - sum(counts.values())
        if counts[Level.GRID] < 1:
            raise CommandError("Too few staff for five levels.")
        password = make_password(SCALE_PASSWORD)
        people: list[tuple[User, str, Region]] = []
        for lvl in Level:
            nodes = levels[lvl - 1]
            for i in range(counts[lvl]):
                region = nodes[i % len(nodes)]
                # The first person of each community is its grid leader; the others are community staff.
                role = "grid_leader" if lvl == Level.COMMUNITY and i < len(nodes) else ROLE_AT[lvl]
                number = len(people) + 1
                user = User(
                    username=f"{user_prefix(code)}{number:05d}",
                    display_name=f"{role} {number:05d}",
                    password=password,
                    region=region,
                )
                people.append((user, role, region))
        User.objects.bulk_create([u for u, _, _ in people], batch_size=BATCH)
        return people

    def create_grants(
        self, code: str, levels: list[list[Region]], people: list[tuple[User, str, Region]]
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        roles = dict(Role.objects.values_list("code", "pk"))
        missing = set(ROLE_AT.values()) - roles.keys()
        if missing:
            raise CommandError(f"Roles {sorted(missing)} are missing: run migrate first.")
        grants = [Grant(user_id=u.pk, region_id=r.pk, role_id=roles[role]) for u, role, r in people]
        # One grid worker in ten also covers the next grid of the same community (a colleague's leave, a gap).
        grid_at = {g.path: g for g in levels[Level.GRID - 1]}
        workers = [(u, r) for u, role, r in people if role == "grid_worker"]
        for u, r in workers[::10]:
            neighbour = grid_at.get(Region._get_path(r.path, Level.GRID, Region._str2int(r.path[-4:]) + 1))
            if neighbour is not None:
                grants.append(Grant(user_id=u.pk, region_id=neighbour.pk, role_id=roles["grid_worker"]))
        # A handful of district inspection teams: street dispatchers of the district who look across it.
        memberships = []
        team_grants = []
        dispatchers = [(u, r) for u, role, r in people if role == "street_dispatcher"]
        for district in levels[Level.DISTRICT - 1][:TEAMS]:
            team = Group.objects.create(name=f"{user_prefix(code)}{district.code} 督查组")
            team_grants.append(Grant(group_id=team.pk, region_id=district.pk, role_id=roles["supervisor"]))
            members = [u for u, r in dispatchers if r.path.startswith(district.path)][:TEAM_SIZE]
            memberships += [User.groups.through(user_id=u.pk, group_id=team.pk) for u in members]
        Grant.objects.bulk_create(grants + team_grants, batch_size=BATCH)
        User.groups.through.objects.bulk_create(memberships, batch_size=BATCH)
        return [(g.user_id, g.region_id) for g in grants], [(g.group_id, g.region_id) for g in team_grants]

    def record(self, path: Path, opts: dict[str, Any], timings: dict[str, float], summary: str) -> None:
        command = f"python manage.py seed_scale --grids {opts['grids']} --staff {opts['staff']} --city-code {opts['city_code']}"
        if opts["reset"]:
            command += " --reset"
        write_seed_section(path, "seed_scale", command, timings, summary)
        self.stdout.write(f"Wrote the seed_scale section of {path}.")
