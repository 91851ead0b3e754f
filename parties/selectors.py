"""Reads of the parties app that people see, always scoped to the acting user through grids.access.

A user sees the records of the grids under a node where they hold ``parties.view_household``; anything else is a
404. Lists are pages of a keyset on (sort key, id): one query of ``size + 1`` rows and no count.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Count, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from grids import access
from grids.codes import Level
from grids.models import Region

from . import crypto, identity
from .models import (
    AccessLog,
    Building,
    Household,
    Keeping,
    Organisation,
    PartyMember,
    PartyOrg,
    PartyOrgKind,
    Residence,
    Resident,
    Tag,
    Visit,
)

VIEW = "parties.view_household"
PAGE_SIZE = 30
ID_LIKE = re.compile(r"^\d{17}[\dXx]$")
LAST_FOUR = re.compile(r"^\d{3}[\dXx]$")
PHONE_LIKE = re.compile(r"^(\+?86)?1[3-9]\d{9}$")


# --- paging ----------------------------------------------------------------------------------------------------


@dataclass
class Page:
    items: list = field(default_factory=list)
    next_cursor: str = ""
    first: bool = True

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def _cursor(value: Any, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{value}\x1f{pk}".encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> tuple[str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        value, pk = raw.rsplit("\x1f", 1)
        return value, int(pk)
    except (ValueError, UnicodeDecodeError):
        return None


def page_of(rows: QuerySet, *, key: str, after: str = "", size: int = PAGE_SIZE, descending: bool = False) -> Page:
    """Rows ordered by (``key``, id) from past the cursor ``after``; a bad cursor gives the first page."""
    position = _uncursor(after) if after else None
    if position is not None:
        value, pk = position
        op = "lt" if descending else "gt"
        rows = rows.filter(Q(**{f"{key}__{op}": value}) | Q(**{key: value, f"pk__{op}": pk}))
    order = (f"-{key}", "-pk") if descending else (key, "pk")
    fetched = list(rows.order_by(*order)[: size + 1])
    items = fetched[:size]
    page = Page(items=items, first=position is None)
    if len(fetched) > size:
        last = items[-1]
        value = getattr(last, key)
        page.next_cursor = _cursor(value.isoformat() if hasattr(value, "isoformat") else value, last.pk)
    return page


# --- regions ---------------------------------------------------------------------------------------------------


def region_family(region: Region) -> tuple[list[Region], list[Region]]:
    """The ancestors (root first) and the children of ``region``, in one query."""
    rows = Region.objects.filter(
        Q(path__in=region.ancestor_paths()[:-1]) | Q(path__startswith=region.path, depth=region.depth + 1)
    ).defer("boundary")
    ancestors, children = [], []
    for r in rows:
        (ancestors if r.depth < region.depth else children).append(r)
    return sorted(ancestors, key=lambda r: r.depth), sorted(children, key=lambda r: r.code)


def region_get(*, user: Any, pk: int, perm: str = VIEW) -> Region:
    """A region where the user holds ``perm`` (or below such a node), else 404."""
    return get_object_or_404(access.scope(user, perm, Region.objects.defer("boundary")), pk=pk)


def home_regions(*, user: Any, perm: str = VIEW) -> QuerySet[Region]:
    return access.top_regions(user, perm).defer("boundary")


def grids_under(region: Region) -> QuerySet[Region]:
    return Region.objects.filter(path__startswith=region.path, depth=Level.GRID).defer("boundary").order_by("path")


def _in(region: Region) -> Q:
    """Rows placed under ``region``: the grid itself, or the grids below a higher node (an id subquery)."""
    if region.depth == Level.GRID:
        return Q(region_id=region.pk)
    return Q(region_id__in=Region.objects.filter(path__startswith=region.path).values("id"))


def _visible(user: Any, rows: QuerySet, perm: str = VIEW) -> QuerySet:
    regions = access.regions_with(user, perm)
    return rows if regions is None else rows.filter(region_id__in=regions.values("id"))


# --- buildings, households, residents ------------------------------------------------------------------------


def buildings(*, region: Region) -> QuerySet[Building]:
    return Building.objects.filter(region=region, is_active=True).order_by("sort_key", "id")


def building_get(*, user: Any, pk: int) -> Building:
    return get_object_or_404(_visible(user, Building.objects.select_related("region")), pk=pk)


def tags(kind: str) -> QuerySet[Tag]:
    return Tag.objects.filter(kind=kind, is_active=True)


def household_list(*, user: Any, region: Region, filters: dict | None = None) -> QuerySet[Household]:
    """The households under ``region`` (already checked visible), filtered: building, kind, tag, uncovered, q."""
    return _household_filtered(Household.objects.filter(_in(region), is_active=True), filters)


def _household_filtered(rows: QuerySet[Household], filters: dict | None) -> QuerySet[Household]:
    f = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    rows = rows.select_related("building", "keeper", "region")
    if building := f.get("building"):
        rows = rows.filter(building=building)
    if kind := f.get("kind"):
        rows = rows.filter(kind=kind)
    if tag := f.get("tag"):
        rows = rows.filter(tags=tag)
    if f.get("uncovered"):
        rows = rows.filter(keeper__isnull=True)
    if q := str(f.get("q", "")).strip():
        rows = rows.filter(Q(room__icontains=q) | Q(address__icontains=q) | Q(building__name__icontains=q))
    return rows.defer("notes", "region__boundary")


def region_by_code(*, user: Any, code: str, perm: str = VIEW) -> Region:
    """A region named by its code where the user holds ``perm`` (or below such a node), else 404."""
    return get_object_or_404(access.scope(user, perm, Region.objects.defer("boundary")), code=code)


def households_visible(*, user: Any, region: Region | None = None, filters: dict | None = None) -> QuerySet[Household]:
    """Households under ``region`` (checked visible by the caller), or every household the user may see, with the
    name of each one's head (a subquery): the API's list."""
    rows = Household.objects.filter(is_active=True)
    rows = rows.filter(_in(region)) if region is not None else _visible(user, rows)
    head = Resident.objects.filter(household=OuterRef("pk"), relation="head", deceased_on__isnull=True).order_by("id")
    rows = _household_filtered(rows, filters).annotate(head_name=Subquery(head.values("name")[:1]))
    return rows.prefetch_related("tags")


def organisations_visible(*, user: Any, region: Region | None = None, q: str = "") -> QuerySet[Organisation]:
    rows = Organisation.objects.filter(is_active=True).select_related("building", "keeper", "region")
    rows = rows.filter(_in(region)) if region is not None else _visible(user, rows)
    if q := (q or "").strip():
        rows = rows.filter(Q(name__icontains=q) | Q(uscc=q.upper()))
    return rows.defer("notes", "region__boundary").prefetch_related("tags")


def household_page(*, user: Any, region: Region, filters: dict | None = None, after: str = "") -> Page:
    """One page of households with the name of each one's head (a subquery: one query in all)."""
    head = Resident.objects.filter(household=OuterRef("pk"), relation="head", deceased_on__isnull=True).order_by("id")
    rows = household_list(user=user, region=region, filters=filters).annotate(
        head_name=Subquery(head.values("name")[:1])
    )
    return page_of(rows, key="sort_key", after=after)


def household_get(*, user: Any, pk: int) -> Household:
    rows = _visible(user, Household.objects.select_related("region", "building", "keeper"))
    return get_object_or_404(rows, pk=pk)


def household_members(*, household: Household) -> list[Resident]:
    return list(
        Resident.objects.filter(household=household)
        .prefetch_related("tags")
        .order_by("deceased_on", "relation", "id")
        .defer("id_number_enc", "phone_enc")
    )


def household_residents_for(households: list[Household]) -> dict[int, list[Resident]]:
    rows = Resident.objects.filter(household__in=households, deceased_on__isnull=True).defer(
        "id_number_enc", "phone_enc"
    )
    found: dict[int, list[Resident]] = {}
    for r in rows.order_by("id"):
        found.setdefault(r.household_id, []).append(r)
    return found


def resident_get(*, user: Any, pk: int) -> Resident:
    rows = _visible(user, Resident.objects.select_related("region", "household__building"))
    return get_object_or_404(rows, pk=pk)


def resident_residences(*, resident: Resident) -> QuerySet[Residence]:
    return resident.residences.select_related("household__building", "household__region").order_by("-id")


def resident_search(*, user: Any, q: str, region: Region | None = None, limit: int = 50) -> list[Resident]:
    """Residents the user may see, by exact ID number or mobile number (through the keyed hash), by the last four
    characters of the ID number, or by name."""
    q = (q or "").strip()
    if not q or "\x00" in q:
        return []
    rows = _visible(user, Resident.objects.select_related("region", "household__building")).defer(
        "id_number_enc", "phone_enc", "notes"
    )
    if region is not None:
        rows = rows.filter(_in(region))
    compact = q.replace(" ", "").upper()
    if ID_LIKE.match(compact):
        rows = rows.filter(id_number_hash=crypto.digest("id", compact)).exclude(id_number_hash="")
    elif PHONE_LIKE.match(compact):
        try:
            rows = rows.filter(phone_hash=crypto.digest("phone", identity.check_mobile(compact)))
        except Exception:  # noqa: BLE001 - not a mobile number after all: search by name
            rows = rows.filter(name__icontains=q)
    elif LAST_FOUR.match(compact):
        rows = rows.filter(id_number_mask__endswith=compact)
    else:
        rows = rows.filter(name__icontains=q)
    return list(rows.order_by("name", "id")[:limit])


def household_search(*, user: Any, q: str, region: Region | None = None, limit: int = 30) -> list[Household]:
    q = (q or "").strip()
    if not q or "\x00" in q:
        return []
    rows = _visible(user, Household.objects.select_related("building", "region"))
    if region is not None:
        rows = rows.filter(_in(region))
    rows = rows.filter(Q(room__icontains=q) | Q(address__icontains=q) | Q(building__name__icontains=q))
    return list(rows.order_by("sort_key", "id")[:limit])


# --- organisations ---------------------------------------------------------------------------------------------


def organisation_page(*, user: Any, region: Region, q: str = "", after: str = "") -> Page:
    rows = Organisation.objects.filter(_in(region), is_active=True).select_related("building", "keeper", "region")
    if q := (q or "").strip():
        rows = rows.filter(Q(name__icontains=q) | Q(uscc=q.upper()))
    return page_of(rows.defer("notes", "region__boundary"), key="name", after=after)


def organisation_get(*, user: Any, pk: int) -> Organisation:
    rows = _visible(user, Organisation.objects.select_related("region", "building", "keeper"))
    return get_object_or_404(rows, pk=pk)


def organisation_search(*, user: Any, q: str, region: Region | None = None, limit: int = 30) -> list[Organisation]:
    q = (q or "").strip()
    if not q or "\x00" in q:
        return []
    rows = _visible(user, Organisation.objects.select_related("region"))
    if region is not None:
        rows = rows.filter(_in(region))
    return list(rows.filter(Q(name__icontains=q) | Q(uscc=q.upper())).order_by("name", "id")[:limit])


# --- visits ----------------------------------------------------------------------------------------------------


def visit_page(*, user: Any, region: Region, after: str = "") -> Page:
    rows = (
        Visit.objects.filter(_in(region))
        .select_related("household__building", "organisation", "visitor", "region")
        .defer("region__boundary")
    )
    return page_of(rows, key="created_at", after=after, descending=True)


def visit_get(*, user: Any, pk: int) -> Visit:
    rows = _visible(
        user, Visit.objects.select_related("region", "household__building", "organisation", "visitor", "member")
    )
    return get_object_or_404(rows.prefetch_related("photos", "people_met"), pk=pk)


def visits_of(*, household: Household | None = None, organisation: Organisation | None = None, limit: int = 20):
    rows = Visit.objects.filter(household=household) if household else Visit.objects.filter(organisation=organisation)
    return rows.select_related("visitor").order_by("-visited_on", "-id")[:limit]


def visit_coverage(*, region: Region) -> dict[str, int]:
    """Households under ``region`` visited in the last 30 and 90 days, and never visited."""
    today = timezone.localdate()
    rows = Household.objects.filter(_in(region), is_active=True)
    return rows.aggregate(
        total=Count("id"),
        days30=Count("id", filter=Q(last_visited_on__gte=today - timedelta(days=30))),
        days90=Count("id", filter=Q(last_visited_on__gte=today - timedelta(days=90))),
        never=Count("id", filter=Q(last_visited_on__isnull=True)),
    )


# --- party organisation --------------------------------------------------------------------------------------


def party_orgs(*, user: Any, region: Region) -> list[PartyOrg]:
    """The party organisations serving ``region``, the nodes above it and below it, as a flat list in tree order."""
    rows = PartyOrg.objects.filter(
        Q(region__path__startswith=region.path) | Q(region__path__in=region.ancestor_paths())
    ).select_related("region", "building", "parent")
    order = {kind: i for i, kind in enumerate(PartyOrgKind.values)}
    return sorted(rows, key=lambda o: (o.region.path, order.get(o.kind, 9), o.name))


def party_org_get(*, user: Any, pk: int, perm: str = VIEW) -> PartyOrg:
    return get_object_or_404(
        _visible(user, PartyOrg.objects.select_related("region", "parent", "building"), perm), pk=pk
    )


def party_members(*, org: PartyOrg) -> QuerySet[PartyMember]:
    return org.members.select_related("resident", "user").order_by("-is_active", "name", "id")


def member_get(*, user: Any, pk: int, perm: str = VIEW) -> PartyMember:
    rows = _visible(user, PartyMember.objects.select_related("org", "region", "resident", "user"), perm)
    return get_object_or_404(rows, pk=pk)


def member_keepings(*, member: PartyMember) -> QuerySet[Keeping]:
    return member.keepings.select_related("household__building", "organisation").order_by("id")


def branch_members(*, region: Region) -> list[PartyMember]:
    """Active members who may keep households of grid ``region``: those of organisations serving it or above."""
    return list(
        PartyMember.objects.filter(region__path__in=region.ancestor_paths(), is_active=True)
        .select_related("org")
        .order_by("-region__depth", "name", "id")[:300]
    )


# --- the access log ----------------------------------------------------------------------------------------------


def access_log(*, user: Any, filters: dict | None = None, after: str = "") -> Page:
    """Rows of the personal data access log in the regions where the user holds ``parties.view_access_log``."""
    f = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
    rows = _visible(user, AccessLog.objects.select_related("user", "region"), "parties.view_access_log")
    if person := f.get("person"):
        rows = rows.filter(Q(user__username=person) | Q(user__display_name=person))
    if target_type := f.get("target_type"):
        rows = rows.filter(target_type=target_type)
    if target_id := f.get("target_id"):
        rows = rows.filter(target_id=target_id)
    if record := f.get("record"):
        rows = rows.filter(target_label__icontains=record)
    if since := f.get("since"):
        rows = rows.filter(at__date__gte=since)
    if until := f.get("until"):
        rows = rows.filter(at__date__lte=until)
    return page_of(rows.defer("region__boundary"), key="at", after=after, descending=True)


def prefetch_tags(rows: QuerySet) -> QuerySet:
    return rows.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("sort_order")))
