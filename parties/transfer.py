"""Import and export of households with their residents, and of organisations (CSV / XLSX).

An import is planned first: a dry run that reads every row, checks it (grid and building known and in the
importer's scope, ID number check character, birth date and gender against the ID number, duplicates in the file
and in the database, mobile phone format, tags) and lists every bad row; it writes nothing. Only a file whose every
row is good can be queued; the Celery task (tasks.run_import) plans it again and writes it in one transaction with
bulk inserts, so a file with one bad row, or one that became bad meanwhile, writes nothing.

Spreadsheets are read with the helpers of grids.transfer (type told by content, CSV in UTF-8 or GB18030, formula
escapes). Exports have the same columns as the templates and are masked unless asked otherwise by a holder of
``parties.view_personal_data``, which writes an access log row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from grids import access
from grids.codes import Level
from grids.models import Region
from grids.transfer import (
    CSV_DELIMITERS,
    ZIP_MAGIC,
    RowError,
    _cell_text,
    _csv_escape,
    _csv_unescape,
    _decode_text,
    _FileError,
    _refuse_binary,
    _xlsx_records,
)

from . import crypto, identity
from .models import (
    Building,
    Gender,
    Household,
    HouseholdKind,
    Organisation,
    OrganisationKind,
    Relation,
    Resident,
    Tag,
)

if TYPE_CHECKING:
    from grids.models import User

CHANGE = "parties.change_household"
HOUSEHOLD_COLUMNS = (
    "grid_code",
    "building",
    "unit",
    "floor",
    "room",
    "address",
    "household_kind",
    "household_ref",
    "name",
    "gender",
    "birth_date",
    "id_number",
    "phone",
    "relation",
    "tags",
    "moved_in_on",
)
ORGANISATION_COLUMNS = (
    "grid_code",
    "name",
    "uscc",
    "kind",
    "building",
    "address",
    "legal_representative",
    "contact_name",
    "contact_phone",
    "tags",
)
REQUIRED = {"households": ("grid_code", "name"), "organisations": ("grid_code", "name")}
COLUMNS = {"households": HOUSEHOLD_COLUMNS, "organisations": ORGANISATION_COLUMNS}
HEADINGS = {
    "grid_code": "网格编码",
    "building": "楼栋",
    "unit": "单元",
    "floor": "楼层",
    "room": "房号",
    "address": "地址",
    "household_kind": "户类型",
    "household_ref": "户编号",
    "name": "姓名",
    "gender": "性别",
    "birth_date": "出生日期",
    "id_number": "身份证号",
    "phone": "手机号",
    "relation": "与户主关系",
    "tags": "标签",
    "moved_in_on": "迁入日期",
    "uscc": "统一社会信用代码",
    "kind": "单位类型",
    "legal_representative": "法定代表人",
    "contact_name": "联系人",
    "contact_phone": "联系电话",
}
ALIASES = {v: k for k, v in HEADINGS.items()} | {"单位名称": "name", "名称": "name", "网格": "grid_code"}
CHOICE_WORDS = {
    "gender": {"男": Gender.MALE, "女": Gender.FEMALE, "m": Gender.MALE, "f": Gender.FEMALE},
    "household_kind": {"自住": "resident", "出租": "rented", "空置": "vacant", "集体户": "collective"},
    "relation": {
        "户主": "head",
        "本人": "head",
        "配偶": "spouse",
        "妻": "spouse",
        "夫": "spouse",
        "子": "child",
        "女": "child",
        "子女": "child",
        "儿子": "child",
        "女儿": "child",
        "父母": "parent",
        "父亲": "parent",
        "母亲": "parent",
        "孙子女": "grandchild",
        "孙子": "grandchild",
        "孙女": "grandchild",
        "兄弟姐妹": "sibling",
        "租户": "tenant",
        "其他": "other",
    },
    "kind": {
        "企业": "enterprise",
        "民办非企业单位": "non_enterprise",
        "机关事业单位": "government",
        "个体工商户": "shop",
        "商铺": "shop",
        "社会团体": "social",
        "其他": "other",
    },
}
CHOICES = {
    "gender": Gender.values,
    "household_kind": HouseholdKind.values,
    "relation": Relation.values,
    "kind": OrganisationKind.values,
}
TEMPLATE_EXAMPLES = {
    "households": [
        [
            "519902001001001",
            "1栋",
            "1",
            "5",
            "501",
            "",
            "自住",
            "A1",
            "张建国",
            "男",
            "1965-03-08",
            "510104196503081235",
            "13800001234",
            "户主",
            "退役军人",
            "2010-05-01",
        ],
        [
            "519902001001001",
            "1栋",
            "1",
            "5",
            "501",
            "",
            "自住",
            "A1",
            "李秀英",
            "女",
            "1967-09-12",
            "",
            "",
            "配偶",
            "",
            "2010-05-01",
        ],
    ],
    "organisations": [
        [
            "519902001001001",
            "云川市和平超市有限公司",
            "91510100MA6123456W",
            "企业",
            "1栋",
            "东湖路18号",
            "王强",
            "王强",
            "13900001234",
            "民营企业",
        ],
    ],
}


@dataclass
class Plan:
    """The dry run of an import: rows as read (personal values only in memory) and every reason they are bad."""

    kind: str
    rows: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    households: int = 0
    residents: int = 0
    region: Region | None = None  # the lowest node above every grid of the file

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)

    def preview(self, limit: int = 50) -> list[dict]:
        """The first rows for the page, with the numbers masked."""
        return [
            {
                "grid_code": row.get("grid_code", ""),
                "place": " ".join(row.get(k, "") for k in ("building", "unit", "room", "address") if row.get(k)),
                "name": row.get("name", ""),
                "number": identity.mask_id(row.get("id_number", "")) or row.get("uscc", ""),
                "phone": identity.mask_phone(row.get("phone", "") or row.get("contact_phone", "")),
            }
            for row in self.rows[:limit]
        ]


# --- reading ----------------------------------------------------------------------------------------------------


def _column(heading: Any) -> str:
    text = _cell_text(heading).lstrip("\ufeff").strip()
    key = text.lower().replace(" ", "_").replace("-", "_")
    return ALIASES.get(text, key)


def _records(data: bytes, kind: str) -> Iterator[tuple[int, list[Any]]]:
    limit = settings.GOVGRID_PARTIES_IMPORT_MAX_BYTES
    if len(data) > limit:
        raise _FileError(
            _("The file is too large (%(size)s); at most %(max)s can be imported at once. Split it into smaller files.")
            % {"size": filesizeformat(len(data)), "max": filesizeformat(limit)}
        )
    if data.startswith(ZIP_MAGIC):
        return _xlsx_records(data)
    _refuse_binary(data, expected=_("a CSV or .xlsx spreadsheet"))
    text = _decode_text(data)
    first = text.lstrip().partition("\n")[0]
    delimiter = next((d for d in CSV_DELIMITERS if {_column(h) for h in first.split(d)} & set(REQUIRED[kind])), ",")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for line, values in enumerate(reader, start=1):
                yield line, [_csv_unescape(v) for v in values]
        except csv.Error as exc:
            raise _FileError(_("The CSV file cannot be read: %(error)s") % {"error": exc}) from exc

    return rows()


def _header(values: list[Any], kind: str) -> dict[int, str]:
    header: dict[int, str] = {}
    for i, heading in enumerate(values):
        name = _column(heading)
        if name in COLUMNS[kind]:
            if name in header.values():
                raise _FileError(_("The column “%(column)s” appears twice.") % {"column": name})
            header[i] = name
    missing = [c for c in REQUIRED[kind] if c not in header.values()]
    if missing:
        raise _FileError(
            _(
                "The first row must name the columns of the template (download it from the import page). Missing: %(missing)s."
            )
            % {"missing": ", ".join(missing)}
        )
    return header


def read_file(data: bytes, kind: str) -> tuple[list[dict], list[RowError]]:
    """Rows as dicts of text, with the line number; a file-level problem gives one error and no rows."""
    try:
        header: dict[int, str] | None = None
        rows: list[dict] = []
        for line, values in _records(data, kind):
            if not any(_cell_text(v) for v in values):
                continue
            if header is None:
                header = _header(values, kind)
                continue
            if len(rows) >= settings.GOVGRID_PARTIES_IMPORT_MAX_ROWS:
                raise _FileError(
                    _("The file has too many rows: at most %(max)d can be imported at once. Split it.")
                    % {"max": settings.GOVGRID_PARTIES_IMPORT_MAX_ROWS}
                )
            row = {name: _cell(values[i]) for i, name in header.items() if i < len(values)}
            # CSV cells are text already; _cell only matters for the typed cells of a workbook.
            row["_line"] = line
            rows.append(row)
    except _FileError as exc:
        return [], [RowError(0, "", exc.message)]
    if header is None:
        return [], [RowError(0, "", _("The file is empty: the first row must name the columns."))]
    if not rows:
        return [], [RowError(0, "", _("The file has no rows below the heading."))]
    return rows, []


def _cell(value: Any) -> str:
    if type(value) is str:
        return value.strip()
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return _cell_text(value)


def _choice(row: dict, name: str, problems: list[str], default: str = "") -> str:
    raw = row.get(name, "").strip()
    if not raw:
        return default
    value = CHOICE_WORDS.get(name, {}).get(raw.lower(), CHOICE_WORDS.get(name, {}).get(raw, raw))
    if value not in CHOICES[name]:
        problems.append(_("Unknown value “%(value)s” in %(column)s.") % {"value": raw, "column": name})
        return default
    return value


def _date(row: dict, name: str, problems: list[str]) -> date | None:
    raw = row.get(name, "").strip().replace("/", "-").replace(".", "-")
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        problems.append(_("%(column)s is not a date (write 2024-05-01).") % {"column": name})
        return None


def _tags(row: dict, known: dict[str, Tag], problems: list[str]) -> list[int]:
    raw = row.get("tags", "").replace("，", ",").replace("、", ",").replace("；", ",").replace(";", ",")
    found = []
    for name in (t.strip() for t in raw.split(",")):
        if not name:
            continue
        tag = known.get(name)
        if tag is None:
            problems.append(_("Unknown tag “%(name)s”.") % {"name": name})
        else:
            found.append(tag.pk)
    return found


# --- planning -------------------------------------------------------------------------------------------------


class _Grids:
    """The grids named by a file, looked up once, and whether the importer may write there."""

    def __init__(self, actor: User, codes: set[str]) -> None:
        self.actor = actor
        self.checked: dict[str, tuple[Region | None, list[str]]] = {}
        self.by_code = {r.code: r for r in Region.objects.filter(code__in=codes, depth=Level.GRID).defer("boundary")}
        self.buildings: dict[tuple[int, str], int] = {
            (region_id, name): pk
            for pk, region_id, name in Building.objects.filter(
                region__in=list(self.by_code.values()), is_active=True
            ).values_list("pk", "region_id", "name")
        }

    def get(self, code: str, problems: list[str]) -> Region | None:
        """The grid of a code, or None with the reason added to ``problems`` (one check per code, not per row)."""
        if code not in self.checked:
            found: list[str] = []
            self.checked[code] = (self._get(code, found), found)
        region, reasons = self.checked[code]
        problems.extend(reasons)
        return region

    def _get(self, code: str, problems: list[str]) -> Region | None:
        region = self.by_code.get(code)
        if region is None or not access.user_can(self.actor, "parties.view_household", region):
            problems.append(_("Unknown grid %(code)s.") % {"code": code})
            return None
        if not access.user_can(self.actor, CHANGE, region):
            problems.append(_("You may not add records in %(name)s.") % {"name": region.name})
            return None
        if not region.is_active:
            problems.append(_("%(name)s is retired.") % {"name": region.name})
            return None
        return region

    def building(self, region: Region, name: str, problems: list[str]) -> int | None:
        if not name:
            return None
        pk = self.buildings.get((region.pk, name))
        if pk is None:
            problems.append(
                _("Unknown building “%(name)s” in %(grid)s: add it to the grid's building list first.")
                % {"name": name, "grid": region.name}
            )
        return pk


def _common_region(regions: list[Region]) -> Region | None:
    paths = [r.path for r in regions]
    if not paths:
        return None
    prefix = paths[0]
    for p in paths[1:]:
        while not p.startswith(prefix):
            prefix = prefix[: -Region.steplen]
    return Region.objects.defer("boundary").filter(path=prefix).first() if prefix else None


def _person(row: dict, problems: list[str]) -> None:
    """Check the resident's ID number and phone in place: the normalised values replace what was typed."""
    birth = _date(row, "birth_date", problems)
    gender = _choice(row, "gender", problems)
    number = row.get("id_number", "").strip()
    if number:
        try:
            checked = identity.check_id_number(number)
        except ValidationError as exc:
            problems.extend(exc.messages)
            row["id_number"] = ""
        else:
            problems.extend(identity.check_agreement(checked, birth_date=birth, gender=gender).values())
            row["id_number"] = checked.number
            birth, gender = birth or checked.birth_date, gender or checked.gender
    row["_birth_date"], row["_gender"] = birth, gender
    phone = row.get("phone", "").strip()
    if phone:
        try:
            row["phone"] = identity.check_mobile(phone)
        except ValidationError as exc:
            problems.extend(exc.messages)
            row["phone"] = ""


def plan(*, actor: User, kind: str, data: bytes, progress: Callable[[int, int], None] | None = None) -> Plan:
    """The dry run of an import of ``kind`` (households, organisations). Writes nothing."""
    if kind not in COLUMNS:
        raise ValidationError(_("Unknown kind of import."))
    rows, errors = read_file(data, kind)
    result = Plan(kind=kind, rows=rows, errors=errors)
    if not rows:
        return result
    grids = _Grids(actor, {r.get("grid_code", "") for r in rows})
    tag_kind = "resident" if kind == "households" else "organisation"
    known_tags = {t.name: t for t in Tag.objects.filter(kind=tag_kind, is_active=True)}
    seen: dict[str, int] = {}
    used_regions: dict[int, Region] = {}
    for i, row in enumerate(rows):
        problems: list[str] = []
        line = row["_line"]
        if any("\x00" in v for v in row.values() if isinstance(v, str)):
            problems.append(_("The row contains a NUL character."))
        region = grids.get(row.get("grid_code", ""), problems)
        if region is not None:
            used_regions[region.pk] = region
            row["_region"] = region.pk
            row["_building"] = grids.building(region, row.get("building", ""), problems)
        if kind == "households":
            if not row.get("building") and not row.get("address"):
                problems.append(_("Give the building (and room) or an address line."))
            if row.get("floor") and not row["floor"].lstrip("-").isdigit():
                problems.append(_("The floor is a whole number."))
            row["_kind"] = _choice(row, "household_kind", problems, default=HouseholdKind.RESIDENT)
            row["_relation"] = _choice(row, "relation", problems)
            row["_moved_in_on"] = _date(row, "moved_in_on", problems)
            row["_tags"] = _tags(row, known_tags, problems)
            if row.get("name"):
                _person(row, problems)
                key = row.get("id_number")
                if key:
                    if key in seen:
                        problems.append(
                            _("The ID number is repeated: it is also on line %(line)d.") % {"line": seen[key]}
                        )
                    else:
                        seen[key] = line
        else:
            row["_kind"] = _choice(row, "kind", problems, default=OrganisationKind.ENTERPRISE)
            row["_tags"] = _tags(row, known_tags, problems)
            if row.get("uscc"):
                try:
                    row["uscc"] = identity.check_uscc(row["uscc"])
                except ValidationError as exc:
                    problems.extend(exc.messages)
                else:
                    if row["uscc"] in seen:
                        problems.append(
                            _("The code is repeated: it is also on line %(line)d.") % {"line": seen[row["uscc"]]}
                        )
                    seen.setdefault(row["uscc"], line)
            if row.get("contact_phone"):
                try:
                    row["contact_phone"] = identity.check_mobile(row["contact_phone"])
                except ValidationError as exc:
                    problems.extend(exc.messages)
        for name in ("name", "address", "legal_representative", "contact_name"):
            if len(row.get(name, "")) > (
                120 if name == "name" and kind == "organisations" else 50 if name != "address" else 200
            ):
                problems.append(_("%(column)s is too long.") % {"column": name})
        result.errors.extend(RowError(line, row.get("name", "")[:30], p) for p in dict.fromkeys(problems))
        if progress and i % 2000 == 0:
            progress(i, len(rows))
    _check_database(kind, rows, seen, result)
    if kind == "households":
        keys = {_household_key(r) for r in rows}
        result.households = len(keys)
        result.residents = sum(1 for r in rows if r.get("name"))
    else:
        result.households, result.residents = 0, 0
    result.region = _common_region(list(used_regions.values()))
    result.errors.sort(key=lambda e: e.line)
    return result


def _check_database(kind: str, rows: list[dict], seen: dict[str, int], result: Plan) -> None:
    """Numbers of the file that are already on record (by keyed hash for ID numbers)."""
    if not seen:
        return
    if kind == "households":
        digests = {crypto.digest("id", number): number for number in seen}
        taken: set[str] = set()
        keys = list(digests)
        for start in range(0, len(keys), 5000):
            taken.update(
                # The unique index is partial (numbers present): say so, or the planner cannot use it for a list.
                Resident.objects.filter(id_number_hash__in=keys[start : start + 5000])
                .exclude(id_number_hash="")
                .values_list("id_number_hash", flat=True)
            )
        for digest in taken:
            number = digests[digest]
            result.errors.append(
                RowError(
                    seen[number],
                    "",
                    _("The ID number %(mask)s is already on record.") % {"mask": identity.mask_id(number)},
                )
            )
    else:
        codes = list(seen)
        for start in range(0, len(codes), 5000):
            for code in Organisation.objects.filter(uscc__in=codes[start : start + 5000]).values_list(
                "uscc", flat=True
            ):
                result.errors.append(
                    RowError(seen[code], "", _("The code %(code)s is already on record.") % {"code": code})
                )


def _household_key(row: dict) -> tuple:
    if row.get("household_ref"):
        return (row.get("_region"), "ref", row["household_ref"])
    return (row.get("_region"), row.get("_building"), row.get("unit", ""), row.get("room", ""), row.get("address", ""))


# --- templates and export -------------------------------------------------------------------------------------


def template_rows(kind: str) -> tuple[list[str], list[list[str]]]:
    return [HEADINGS.get(c, c) for c in COLUMNS[kind]], TEMPLATE_EXAMPLES[kind]


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_escape(str(v)) if v is not None else "" for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM makes Excel read UTF-8


def to_xlsx(header: list[str], rows: list[list[Any]], title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(header)
    for row in rows:
        # Numbers stay text: an ID number as a number loses its last digits in Excel.
        sheet.append(["" if v is None else str(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export_households(*, region: Region, unmasked: bool, limit: int) -> tuple[list[str], list[list[str]]]:
    """One row per resident (a household without residents: one row), in the template's columns."""
    header = [HEADINGS.get(c, c) for c in HOUSEHOLD_COLUMNS]
    where = Region.objects.filter(path__startswith=region.path, depth=Level.GRID).values("id")
    households = (
        Household.objects.filter(region_id__in=where, is_active=True)
        .select_related("region", "building")
        .order_by("region__path", "sort_key", "id")[:limit]
    )
    by_household: dict[int, list[Resident]] = {}
    ids = [h.pk for h in households]
    for start in range(0, len(ids), 5000):
        for r in (
            Resident.objects.filter(household_id__in=ids[start : start + 5000]).prefetch_related("tags").order_by("id")
        ):
            by_household.setdefault(r.household_id, []).append(r)
    labels = {"gender": dict(Gender.choices), "relation": dict(Relation.choices)}
    rows = []
    for h in households:
        base = [
            h.region.code,
            h.building.name if h.building_id else "",
            h.unit,
            "" if h.floor is None else h.floor,
            h.room,
            h.address,
            str(HouseholdKind(h.kind).label),
            f"H{h.pk}",
        ]
        people = by_household.get(h.pk) or [None]
        for r in people:
            if r is None:
                rows.append(base + [""] * 8)
                continue
            number = crypto.decrypt(r.id_number_enc) if unmasked else r.id_number_mask
            phone = crypto.decrypt(r.phone_enc) if unmasked else r.phone_mask
            rows.append(
                base
                + [
                    r.name,
                    str(labels["gender"].get(r.gender, "")),
                    r.birth_date.isoformat() if r.birth_date else "",
                    number,
                    phone,
                    str(labels["relation"].get(r.relation, "")),
                    "、".join(t.name for t in r.tags.all()),
                    r.moved_in_on.isoformat() if r.moved_in_on else "",
                ]
            )
        if len(rows) >= limit:
            break
    return header, rows[:limit]


def export_organisations(*, region: Region, unmasked: bool, limit: int) -> tuple[list[str], list[list[str]]]:
    header = [HEADINGS.get(c, c) for c in ORGANISATION_COLUMNS]
    where = Region.objects.filter(path__startswith=region.path, depth=Level.GRID).values("id")
    rows = []
    for o in (
        Organisation.objects.filter(region_id__in=where)
        .select_related("region", "building")
        .prefetch_related("tags")
        .order_by("region__path", "name", "id")[:limit]
    ):
        phone = crypto.decrypt(o.contact_phone_enc) if unmasked else o.contact_phone_mask
        rows.append(
            [
                o.region.code,
                o.name,
                o.uscc,
                str(OrganisationKind(o.kind).label),
                o.building.name if o.building_id else "",
                o.address,
                o.legal_representative,
                o.contact_name,
                phone,
                "、".join(t.name for t in o.tags.all()),
            ]
        )
    return header, rows
