"""Fill the ``seed_scale`` city with the people of the grid: 3,000,000 residents in 1,200,000 households, 150,000
organisations, the party organisation (a committee per street and community, a branch per grid), 60,000 party
members keeping in touch with 490,000 households, and 2,000,000 visits over the last year.

Rows go in with ``COPY`` (through seed_cases' ``Rows`` and ``Writer``: a thread stores one batch of grids while the
next is generated), and the ID and phone numbers are encrypted and hashed in worker processes, as
``parties.services`` would store them: a Fernet token under the first key, the keyed hash, the mask. The derived
columns the services keep (a household's members, keeper and last visit; a member's counts) are computed here.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from stdnum.cn import ric

from bench.management.commands.bench_access import write_seed_section
from bench.management.commands.seed_cases import Ids, Rows, Writer, require_migrated
from bench.management.commands.seed_scale import phase
from grids.codes import Level
from grids.models import Grant, Region
from parties.identity import mask_id, mask_phone
from parties.models import (
    Building,
    Household,
    Keeping,
    Organisation,
    PartyMember,
    PartyOrg,
    Residence,
    Resident,
    Tag,
    Visit,
)
from parties.services import natural_key

# Real county-level codes (the checks of stdnum.cn.ric accept them), so generated numbers pass like real ones.
AREAS = ["110105", "110108", "310115", "440305", "510104", "510107", "320102", "330106", "420106", "610113"]
FIRST = 1940  # birth years from here
YEARS = 80
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国红梅志强海燕玉兰文斌"
RELATIONS = ["head", "spouse", "child", "parent", "child", "grandchild", "other"]
KINDS = ["resident"] * 7 + ["rented"] * 2 + ["vacant"]
ORG_KINDS = ["enterprise"] * 5 + ["shop"] * 4 + ["non_enterprise", "social", "government"]
NEEDS = ["elderly", "hardship", "disability", "dispute", "safety", "environment", "repairs", "policy"]
BUILDINGS_PER_GRID = 6


def id_number(i: int) -> str:
    """The i-th generated ID number: unique for i below 2.9e8 (area, birth day, sequence all follow from i)."""
    area = AREAS[i % len(AREAS)]
    day = date(FIRST, 1, 1) + timedelta(days=(i // len(AREAS)) % (YEARS * 365))
    seq = (i // (len(AREAS) * YEARS * 365)) % 1000
    body = f"{area}{day:%Y%m%d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")


def _protect(args: tuple[str, str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """(token, hash) of each (kind, value), in a worker process."""
    key, hmac_key, values = args
    fernet = Fernet(key.encode())
    secret = hmac_key.encode()
    out = []
    for kind, value in values:
        if not value:
            out.append(("", ""))
            continue
        token = fernet.encrypt(value.encode()).decode()
        out.append((token, hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()))
    return out


def spread(total: int, parts: int) -> list[int]:
    per, extra = divmod(total, parts)
    return [per + (1 if i < extra else 0) for i in range(parts)]


class Command(BaseCommand):
    help = "Fill the seed_scale city with households, residents, organisations, party members, 包联 and visits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--city-code", default="529900")
        parser.add_argument("--households", type=int, default=1_200_000)
        parser.add_argument("--residents", type=int, default=3_000_000)
        parser.add_argument("--organisations", type=int, default=150_000)
        parser.add_argument("--members", type=int, default=60_000)
        parser.add_argument("--kept", type=int, default=490_000, help="households with a keeper (包联户)")
        parser.add_argument("--visits", type=int, default=2_000_000)
        parser.add_argument("--grids-per-batch", type=int, default=100)
        parser.add_argument(
            "--processes", type=int, default=2, help="worker processes that encrypt the numbers (0: in this one)"
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--reset", action="store_true", help="delete the city's parties records first")
        parser.add_argument("--output", help="also record the timings in this Markdown file (seed_parties markers)")

    def handle(self, *args: Any, **opts: Any) -> None:
        require_migrated()
        city = Region.objects.filter(depth=Level.CITY, code=opts["city_code"]).first()
        if city is None:
            raise CommandError(f"No city {opts['city_code']}: run seed_scale first.")
        if opts["kept"] > opts["households"] or opts["residents"] < opts["households"] // 2:
            raise CommandError("Keep at most every household, and give at least one resident per two households.")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        if opts["reset"]:
            with phase(self.stdout, timings, "reset"), transaction.atomic():
                self.reset(city)
        grids = list(
            Region.objects.filter(path__startswith=city.path, depth=Level.GRID)
            .order_by("path")
            .only("id", "path", "code", "name")
        )
        if not grids:
            raise CommandError(f"City {city.code} has no grids.")
        if (
            Household.objects.filter(region__in=grids[:1]).exists()
            or Household.objects.filter(region__path__startswith=city.path).exists()
        ):
            raise CommandError(f"City {city.code} has households already: pass --reset to rebuild them.")
        self.rng = random.Random(opts["seed"])
        with phase(self.stdout, timings, "party organisation"), transaction.atomic():
            branches = self.party_tree(city, grids)
        self.workers = self.visitors(city)
        self.tags = list(Tag.objects.filter(kind="resident").values_list("pk", flat=True))
        counts = {
            name: spread(opts[name], len(grids))
            for name in ("households", "residents", "organisations", "members", "kept", "visits")
        }
        self.ids = {m: Ids(m) for m in (Building, Household, Resident, Organisation, PartyMember, Visit)}
        self.rows = self.row_writers()
        self.keys = (settings.GOVGRID_FIELD_KEYS[0], settings.GOVGRID_HMAC_KEY)
        self.today = timezone.localdate()
        self.person = 0
        self.phone = 0
        writer = Writer()
        totals = dict.fromkeys(("households", "residents", "organisations", "members", "keepings", "visits"), 0)
        pool = ProcessPoolExecutor(opts["processes"]) if opts["processes"] > 0 else None
        with phase(self.stdout, timings, "records (COPY)"):
            step = opts["grids_per_batch"]
            for start in range(0, len(grids), step):
                batch = []
                for i in range(start, min(start + step, len(grids))):
                    made = self.grid(grids[i], branches[grids[i].pk], {k: v[i] for k, v in counts.items()}, batch)
                    for k, v in made.items():
                        totals[k] += v
                self.protect(pool, batch)
                writer.put([(rows, rows.take()) for rows in self.rows.values()])
                if (start // step) % 10 == 0:
                    self.stdout.write(
                        f"    {min(start + step, len(grids))}/{len(grids)} grids, {totals['residents']} residents"
                    )
            writer.close()
        if pool is not None:
            pool.shutdown()
        if connection.vendor == "postgresql":
            # VACUUM (outside a transaction) sets the visibility map, so coverage counts read the index only.
            verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            with phase(self.stdout, timings, "vacuum analyze"), connection.cursor() as cursor:
                for model in (
                    Building,
                    Household,
                    Resident,
                    Residence,
                    Organisation,
                    PartyOrg,
                    PartyMember,
                    Keeping,
                    Visit,
                ):
                    cursor.execute(f"{verb} {model._meta.db_table}")
        timings["total"] = time.perf_counter() - started
        summary = (
            f"City {city.code}: {totals['households']} households, {totals['residents']} residents, "
            f"{totals['organisations']} organisations, {totals['members']} party members keeping in touch with "
            f"{totals['keepings']} households and organisations, {totals['visits']} visits; {timings['total']:.0f} s."
        )
        self.stdout.write(self.style.SUCCESS(summary))
        if opts["output"]:
            command = (
                f"python manage.py seed_parties --city-code {city.code} --households {opts['households']} "
                f"--residents {opts['residents']} --organisations {opts['organisations']} --members {opts['members']} "
                f"--kept {opts['kept']} --visits {opts['visits']}" + (" --reset" if opts["reset"] else "")
            )
            write_seed_section(Path(opts["output"]), "seed_parties", command, timings, summary)

    # --- set-up ------------------------------------------------------------------------------------------------

    def reset(self, city: Region) -> None:
        """Delete the city's parties records with plain statements in dependency order (the deletion collector
        would load millions of rows)."""
        regions = "(SELECT id FROM grids_region WHERE path LIKE %s)"
        visits = f"(SELECT id FROM parties_visit WHERE region_id IN {regions})"  # noqa: S608 - our table names
        statements = [
            f"DELETE FROM parties_visit_people_met WHERE visit_id IN {visits}",  # noqa: S608 - our table names
            f"DELETE FROM parties_visitphoto WHERE visit_id IN {visits}",  # noqa: S608 - our table names
            f"DELETE FROM parties_visit WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_keeping WHERE member_id IN (SELECT id FROM parties_partymember WHERE region_id IN {regions})",  # noqa: S608 - our table names
            f"UPDATE parties_household SET keeper_id = NULL WHERE region_id IN {regions} AND keeper_id IS NOT NULL",  # noqa: S608 - our table names
            f"UPDATE parties_organisation SET keeper_id = NULL WHERE region_id IN {regions} AND keeper_id IS NOT NULL",  # noqa: S608 - our table names
            f"DELETE FROM parties_partymember WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_partyorg WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_resident_tags WHERE resident_id IN (SELECT id FROM parties_resident WHERE region_id IN {regions})",  # noqa: S608 - our table names
            f"DELETE FROM parties_residence WHERE resident_id IN (SELECT id FROM parties_resident WHERE region_id IN {regions})",  # noqa: S608 - our table names
            f"DELETE FROM parties_resident WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_organisation_tags WHERE organisation_id IN (SELECT id FROM parties_organisation WHERE region_id IN {regions})",  # noqa: S608 - our table names
            f"DELETE FROM parties_organisation WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_household_tags WHERE household_id IN (SELECT id FROM parties_household WHERE region_id IN {regions})",  # noqa: S608 - our table names
            f"DELETE FROM parties_household WHERE region_id IN {regions}",  # noqa: S608 - our table names
            f"DELETE FROM parties_building WHERE region_id IN {regions}",  # noqa: S608 - our table names
        ]
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql, [city.path + "%"] * sql.count("%s"))

    def party_tree(self, city: Region, grids: list[Region]) -> dict[int, int]:
        """A committee per street and community and a branch per grid (through the ORM: 11,100 rows)."""
        nodes = Region.objects.filter(path__startswith=city.path, depth__in=[Level.STREET, Level.COMMUNITY]).order_by(
            "path"
        )
        by_path: dict[str, int] = {}
        for node in nodes.only("id", "path", "depth", "name"):
            parent = by_path.get(node.path[: (node.depth - 1) * Region.steplen])
            kind = "street" if node.depth == Level.STREET else "community"
            org = PartyOrg.objects.create(
                kind=kind,
                name=f"{node.name}党{'工委' if kind == 'street' else '委'}",
                region_id=node.pk,
                parent_id=parent,
            )
            by_path[node.path] = org.pk
        branches = PartyOrg.objects.bulk_create(
            [
                PartyOrg(
                    kind="grid",
                    name=f"{g.name}党支部",
                    region_id=g.pk,
                    parent_id=by_path.get(g.path[: Level.COMMUNITY * Region.steplen]),
                )
                for g in grids
            ],
            batch_size=2000,
        )
        return {g.pk: b.pk for g, b in zip(grids, branches, strict=True)}

    def visitors(self, city: Region) -> dict[str, list[int]]:
        """Grid workers by grid path (seed_scale's grants), else the community's staff."""
        people: dict[str, list[int]] = {}
        grants = Grant.objects.filter(
            region__path__startswith=city.path,
            user__isnull=False,
            role__code__in=["grid_worker", "grid_leader", "community_staff"],
        )
        for user_id, path in grants.values_list("user_id", "region__path"):
            people.setdefault(path, []).append(user_id)
        if not people:
            raise CommandError("The city has no grid workers: run seed_scale first.")
        return people

    def row_writers(self) -> dict[str, Rows]:
        return {
            "building": Rows(Building, ["id", "region_id", "name", "sort_key"]),
            "household": Rows(
                Household,
                [
                    "id",
                    "region_id",
                    "building_id",
                    "unit",
                    "floor",
                    "room",
                    "kind",
                    "sort_key",
                    "member_count",
                    "keeper_id",
                    "last_visited_on",
                ],
            ),
            "resident": Rows(
                Resident,
                [
                    "id",
                    "region_id",
                    "household_id",
                    "relation",
                    "name",
                    "gender",
                    "birth_date",
                    "id_number_enc",
                    "id_number_hash",
                    "id_number_mask",
                    "phone_enc",
                    "phone_hash",
                    "phone_mask",
                    "moved_in_on",
                ],
            ),
            "residence": Rows(Residence, ["resident_id", "household_id", "relation", "moved_in_on"]),
            "resident_tag": Rows(Resident.tags.through, ["resident_id", "tag_id"]),
            "organisation": Rows(
                Organisation,
                ["id", "region_id", "name", "uscc", "kind", "building_id", "address", "keeper_id", "last_visited_on"],
            ),
            "member": Rows(
                PartyMember,
                [
                    "id",
                    "org_id",
                    "region_id",
                    "name",
                    "joined_on",
                    "household_limit",
                    "organisation_limit",
                    "household_count",
                    "organisation_count",
                ],
            ),
            "keeping": Rows(Keeping, ["member_id", "household_id", "organisation_id", "since"]),
            "visit": Rows(
                Visit,
                [
                    "id",
                    "region_id",
                    "household_id",
                    "organisation_id",
                    "visited_on",
                    "visitor_id",
                    "member_id",
                    "notes",
                    "needs",
                ],
            ),
        }

    # --- one grid ------------------------------------------------------------------------------------------------

    def name(self) -> str:
        rng = self.rng
        return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))

    def grid(self, grid: Region, branch: int, n: dict[str, int], pending: list) -> dict[str, int]:
        rng, rows, today = self.rng, self.rows, self.today
        path = grid.path
        community = path[: Level.COMMUNITY * Region.steplen]
        visitors = self.workers.get(path) or self.workers.get(community) or next(iter(self.workers.values()))
        buildings = []
        for b in range(BUILDINGS_PER_GRID):
            pk, name = self.ids[Building](), f"{b + 1}栋"
            rows["building"].add(pk, grid.pk, name, natural_key(name))
            buildings.append((pk, natural_key(name)))
        # Members of the grid's branch, each keeping up to ten households.
        members = [self.ids[PartyMember]() for _ in range(n["members"])]
        households = []
        for h in range(n["households"]):
            building, key = buildings[h % BUILDINGS_PER_GRID]
            unit, floor, room = (
                1 + (h // BUILDINGS_PER_GRID) % 2,
                1 + (h // 12) % 18,
                f"{1 + (h // 12) % 18}{(h // BUILDINGS_PER_GRID) % 2 + 1:02d}",
            )
            households.append(
                [
                    self.ids[Household](),
                    building,
                    str(unit),
                    floor,
                    room,
                    rng.choice(KINDS),
                    "|".join([key, natural_key(str(unit)), natural_key(room), ""]),
                    0,
                    None,
                    None,
                ]
            )
        # 包联: the first ``kept`` households of a shuffled order, dealt out to the members.
        order = list(range(len(households)))
        rng.shuffle(order)
        kept_counts = dict.fromkeys(members, 0)
        for j, h in enumerate(order[: n["kept"]] if members else []):
            member = members[j % len(members)]
            households[h][8] = member
            kept_counts[member] += 1
            rows["keeping"].add(member, households[h][0], None, today - timedelta(days=rng.randrange(1, 1500)))
        # Residents: dealt over the households (the vacant ones too, as people registered there).
        per_household = spread(n["residents"], len(households)) if households else []
        for h, count in zip(households, per_household, strict=True):
            h[7] = count
        # Visits: households mostly, over the last year; a household's last visit is kept on its row.
        organisations = [self.ids[Organisation]() for _ in range(n["organisations"])]
        org_last: dict[int, date] = {}
        org_keeper: dict[int, int] = {}
        org_kept = dict.fromkeys(members, 0)
        for j, org in enumerate(organisations):
            if members and j % 5 < 3:  # three in five organisations are kept
                member = members[j % len(members)]
                org_keeper[org] = member
                org_kept[member] += 1
                rows["keeping"].add(member, None, org, today - timedelta(days=rng.randrange(1, 1500)))
        for _ in range(n["visits"]):
            on = today - timedelta(days=int(rng.expovariate(1 / 90)) % 365)
            visitor = rng.choice(visitors)
            needs = "[]" if rng.random() < 0.7 else f'["{rng.choice(NEEDS)}"]'
            if organisations and rng.random() < 0.1:
                org = rng.choice(organisations)
                org_last[org] = max(org_last.get(org, on), on)
                rows["visit"].add(self.ids[Visit](), grid.pk, None, org, on, visitor, None, "走访企业", needs)
            elif households:
                h = rng.choice(households)
                h[9] = on if h[9] is None or on > h[9] else h[9]
                rows["visit"].add(self.ids[Visit](), grid.pk, h[0], None, on, visitor, None, "入户走访", needs)
        for h in households:
            rows["household"].add(*([h[0], grid.pk] + h[1:]))
        for j, org in enumerate(organisations):
            code = ""
            building = buildings[j % BUILDINGS_PER_GRID][0] if j % 2 else None
            rows["organisation"].add(
                org,
                grid.pk,
                f"{grid.code[-6:]}商户{j + 1}",
                code,
                rng.choice(ORG_KINDS),
                building,
                "",
                org_keeper.get(org),
                org_last.get(org),
            )
        for member in members:
            rows["member"].add(
                member,
                branch,
                grid.pk,
                self.name(),
                today - timedelta(days=rng.randrange(300, 15000)),
                10,
                5,
                kept_counts[member],
                org_kept[member],
            )
        made_residents = 0
        for h, count in zip(households, per_household, strict=True):
            for r in range(count):
                self.person += 1
                number = id_number(self.person)
                phone = f"13{self.person:09d}" if rng.random() < 0.8 else ""
                relation = "head" if r == 0 else RELATIONS[1 + (r - 1) % (len(RELATIONS) - 1)]
                pk = self.ids[Resident]()
                birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
                gender = "M" if int(number[16]) % 2 else "F"
                moved = today - timedelta(days=rng.randrange(30, 9000))
                pending.append((pk, number, phone))
                rows["resident"].add(
                    pk,
                    grid.pk,
                    h[0],
                    relation,
                    self.name(),
                    gender,
                    birth,
                    None,
                    None,
                    mask_id(number),
                    None,
                    None,
                    mask_phone(phone),
                    moved,
                )
                rows["residence"].add(pk, h[0], relation, moved)
                if self.tags and rng.random() < 0.1:
                    rows["resident_tag"].add(pk, rng.choice(self.tags))
                made_residents += 1
        return {
            "households": len(households),
            "residents": made_residents,
            "organisations": len(organisations),
            "members": len(members),
            "keepings": min(n["kept"], len(households)) + sum(org_kept.values()),
            "visits": n["visits"],
        }

    def protect(self, pool: ProcessPoolExecutor | None, pending: list[tuple[int, str, str]]) -> None:
        """Encrypt and hash the batch's numbers in the worker processes, then put them into the resident rows."""
        values = [("id", number) for _, number, _ in pending] + [("phone", phone) for _, _, phone in pending]
        chunks = [values[i : i + 5000] for i in range(0, len(values), 5000)]
        work = [(*self.keys, c) for c in chunks]
        parts = pool.map(_protect, work) if pool is not None else map(_protect, work)
        results = [pair for part in parts for pair in part]
        ids, phones = results[: len(pending)], results[len(pending) :]
        by_pk = {pk: (ids[i], phones[i]) for i, (pk, _, _) in enumerate(pending)}
        resident_rows = self.rows["resident"].rows
        # Columns 7, 8 and 10, 11 of a resident row are the tokens and hashes (see row_writers).
        for i, row in enumerate(resident_rows):
            (id_token, id_hash), (phone_token, phone_hash) = by_pk[row[0]]
            resident_rows[i] = row[:7] + (id_token, id_hash, row[9], phone_token, phone_hash) + row[12:]
        pending.clear()
