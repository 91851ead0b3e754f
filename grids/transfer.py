"""Import and export of the region tree (区划/网格批量导入导出): CSV, XLSX and GeoJSON boundaries.

An import is planned first (a dry run that lists every bad row and why) and written only when every row is
good, in one transaction under the tree lock, re-validated inside it. Writing computes materialized paths
itself and inserts in bulk, so 10,000 rows cost a handful of queries, not one ``add_child`` each.
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, Count, IntegerField, Max, Value, When
from django.db.models.functions import Substr
from django.template.defaultfilters import filesizeformat
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from govgrid import safejson

from . import access, services
from .codes import Level, level_slug, parse_level, validate_code
from .geo import parse_boundary, validate_point
from .models import Region

if TYPE_CHECKING:
    from .models import User

TREE_COLUMNS = ("code", "name", "parent_code", "level", "boundary", "centre_lat", "centre_lng")
REQUIRED_COLUMNS = ("code", "name", "parent_code", "level")
# Headings people type in spreadsheets made by hand, mapped to our columns.
HEADER_ALIASES = {
    "parent": "parent_code",
    "center_lat": "centre_lat",
    "center_lng": "centre_lng",
    "编码": "code",
    "代码": "code",
    "区划代码": "code",
    "网格编码": "code",
    "名称": "name",
    "上级编码": "parent_code",
    "上级代码": "parent_code",
    "层级": "level",
    "级别": "level",
    "边界": "boundary",
    "中心纬度": "centre_lat",
    "中心经度": "centre_lng",
}
XLSX_CELL_LIMIT = 32_767  # Excel refuses longer text in one cell
XLSX_MAX_UNPACKED_RATIO = 20  # a workbook that unpacks to more than this times the upload limit is refused
CSV_DELIMITERS = (",", "\t", ";")
CSV_FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")
SNIFF_BYTES = 8192
ZIP_MAGIC = b"PK\x03\x04"
# Files people upload by mistake, named so that the refusal says what the file is.
KNOWN_BINARIES = (
    (b"\x89PNG", gettext_lazy("a PNG image")),
    (b"\xff\xd8\xff", gettext_lazy("a JPEG image")),
    (b"GIF8", gettext_lazy("a GIF image")),
    (b"%PDF", gettext_lazy("a PDF document")),
    (b"\x7fELF", gettext_lazy("a program")),
    (b"\xd0\xcf\x11\xe0", gettext_lazy("an Excel 97–2003 (.xls) file or a password-protected workbook")),
    (b"Rar!", gettext_lazy("a RAR archive")),
    (b"\x1f\x8b", gettext_lazy("a gzip archive")),
    (b"7z\xbc\xaf", gettext_lazy("a 7-Zip archive")),
)


@dataclass
class RowError:
    line: int  # 1-based line/row number in the file (header is line 1), 0 for file-level errors
    code: str  # the row's code or ""
    message: str  # a message a person can act on


@dataclass
class ImportPlan:
    """The dry run of an import: the rows as read, and every reason they cannot be written."""

    kind: str  # "tree" or "boundaries"
    rows: list[dict] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and bool(self.rows)


@dataclass(frozen=True)
class ImportFile:
    """The audit target of an import: the uploaded file (the rows it wrote are counted in the event)."""

    name: str

    def __str__(self) -> str:
        return self.name


class _FileError(Exception):
    """The whole file is refused (wrong type, unreadable, too large)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- reading ---------------------------------------------------------------------------------------------------


def _check_size(data: bytes) -> None:
    limit = settings.GOVGRID_IMPORT_MAX_BYTES
    if len(data) > limit:
        raise _FileError(
            _("The file is too large (%(size)s); at most %(max)s can be imported at once. Split it into smaller files.")
            % {"size": filesizeformat(len(data)), "max": filesizeformat(limit)}
        )


def _too_many_rows() -> _FileError:
    return _FileError(
        _("The file has too many rows: at most %(max)d can be imported at once. Split it into smaller files.")
        % {"max": settings.GOVGRID_IMPORT_MAX_ROWS}
    )


def _refuse_binary(data: bytes, *, expected: str) -> None:
    """Refuse images, programs and archives whatever their name says."""
    head = data[:SNIFF_BYTES]
    kind = next((str(label) for magic, label in KNOWN_BINARIES if head.startswith(magic)), None)
    if kind is None and head.startswith(b"MZ") and b"\x00" in head:
        kind = _("a Windows program")
    if kind is None and b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        kind = _("binary data, not text")
    if kind is not None:
        raise _FileError(
            _("This file is not %(expected)s: it looks like %(kind)s.") % {"expected": expected, "kind": kind}
        )


def _decode_text(data: bytes) -> str:
    """UTF-8 with or without BOM; UTF-16 (Excel's "Unicode text"); GB18030 for files saved by Chinese Excel."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            line = text.count("\n", 0, text.index("\x00")) + 1
            raise _FileError(
                _("Line %(line)d contains a NUL character, which text cannot hold: remove it and upload again.")
                % {"line": line}
            )
        return text
    raise _FileError(_("The file is not readable text. Save it from Excel as “CSV UTF-8” or as an .xlsx workbook."))


def _cell_text(value: Any) -> str:
    """A cell as text; Excel turns codes into numbers, so give integral numbers back their digits."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _xlsx_records(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise _FileError(_("The file looks like an .xlsx workbook but is damaged: %(error)s") % {"error": exc}) from exc
    if unpacked > XLSX_MAX_UNPACKED_RATIO * settings.GOVGRID_IMPORT_MAX_BYTES:
        raise _FileError(_("The workbook is too large once unpacked; split it into smaller files."))
    from openpyxl import load_workbook

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about styles and extensions it does not read
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a zip that is not a workbook
        raise _FileError(
            _("The file is a zip archive but not an Excel workbook (.xlsx) that can be read: %(error)s")
            % {"error": str(exc) or type(exc).__name__}
        ) from exc
    try:
        if not workbook.worksheets:
            raise _FileError(_("The workbook has no sheet."))
        for line, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            yield line, list(values)
    finally:
        workbook.close()


def _csv_records(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    text = _decode_text(data)
    first_line = text.lstrip().partition("\n")[0]
    # The delimiter that splits the heading into our column names (Excel writes ";" or tabs in some locales).
    delimiter = next(
        (d for d in CSV_DELIMITERS if {_column(h) for h in first_line.split(d)} & set(REQUIRED_COLUMNS)), ","
    )
    # A boundary can be far longer than csv's default field limit; the upload limit bounds it instead.
    csv.field_size_limit(max(csv.field_size_limit(), settings.GOVGRID_IMPORT_MAX_BYTES))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for line, values in enumerate(reader, start=1):
            yield line, [_csv_unescape(v) for v in values]
    except csv.Error as exc:
        raise _FileError(_("The CSV file cannot be read: %(error)s") % {"error": exc}) from exc


def _csv_escape(value: str) -> str:
    """Stop Excel from running a cell as a formula (CSV injection); import takes the quote off again."""
    return "'" + value if value.startswith(CSV_FORMULA_CHARS) else value


def _csv_unescape(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(CSV_FORMULA_CHARS) else value


def _column(heading: Any) -> str:
    text = _cell_text(heading).lstrip("\ufeff").strip().lower().replace(" ", "_").replace("-", "_")
    return HEADER_ALIASES.get(text, text)


def _table(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    """The records of a CSV or XLSX file, told apart by content (never by the file's name)."""
    _check_size(data)
    if data.startswith(ZIP_MAGIC):
        return _without_nul(_xlsx_records(data))
    _refuse_binary(data, expected=_("a CSV or .xlsx spreadsheet"))
    return _without_nul(_csv_records(data))


def _without_nul(records: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Any]]]:
    """Refuse a file with a NUL character in any cell (CSV, or XLSX's _x0000_ escape): text cannot hold it."""
    for line, cells in records:
        if any(isinstance(cell, str) and "\x00" in cell for cell in cells):
            raise _FileError(
                _("Line %(line)d contains a NUL character, which text cannot hold: remove it and upload again.")
                % {"line": line}
            )
        yield line, cells


def _float_or_none(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _read_boundary(value: Any) -> dict | None:
    if isinstance(value, dict):
        geojson: Any = value
    else:
        text = _cell_text(value)
        if not text:
            return None
        try:
            geojson = safejson.loads(text)
        except ValueError as exc:
            raise ValidationError(_("The boundary is not valid GeoJSON text: %(error)s") % {"error": exc}) from exc
    return parse_boundary(geojson).geojson


def _tree_row(line: int, cells: dict[str, Any]) -> tuple[dict, list[str]]:
    """One row normalised, with what is wrong with its own cells (cross-row checks come later)."""
    problems: list[str] = []
    code = _cell_text(cells.get("code"))
    if not code:
        problems.append(_("The code is missing."))
    name = _cell_text(cells.get("name"))
    try:
        name = services._clean_name(name)
    except ValidationError as exc:
        problems.extend(exc.messages)
    level: int | None = None
    raw_level = _cell_text(cells.get("level"))
    if not raw_level:
        problems.append(_("The level is missing: use city, district, street, community or grid."))
    else:
        try:
            level = int(parse_level(raw_level))
        except ValidationError as exc:
            problems.extend(exc.messages)
    boundary = None
    try:
        boundary = _read_boundary(cells.get("boundary"))
    except ValidationError as exc:
        problems.extend(exc.messages)
    centre_lat = centre_lng = None
    try:
        centre_lat, centre_lng = _float_or_none(cells.get("centre_lat")), _float_or_none(cells.get("centre_lng"))
        if (centre_lat is None) != (centre_lng is None):
            problems.append(_("Give both centre_lat and centre_lng, or neither."))
        elif centre_lat is not None and centre_lng is not None:
            validate_point(centre_lat, centre_lng)
    except (TypeError, ValueError):
        problems.append(_("The centre must be two numbers: centre_lat (latitude) and centre_lng (longitude)."))
    except ValidationError as exc:
        problems.extend(exc.messages)
    row = {
        "line": line,
        "code": code,
        "name": name,
        "parent_code": _cell_text(cells.get("parent_code")),
        "level": level,
        "boundary": boundary,
        "centre_lat": centre_lat,
        "centre_lng": centre_lng,
    }
    return row, problems


def read_tree_file(data: bytes, filename: str) -> tuple[list[dict], list[RowError]]:
    """Parse a CSV or XLSX tree file into normalised rows and the errors of the file and of each row's cells.

    ``filename`` is not trusted: the type is told by content. A file-level error returns no rows.
    """
    try:
        records = _table(data)
        header: dict[int, str] | None = None
        rows: list[dict] = []
        errors: list[RowError] = []
        for line, values in records:
            if not any(_cell_text(v) for v in values):
                continue
            if header is None:
                header = _header(values)
                continue
            if len(rows) >= settings.GOVGRID_IMPORT_MAX_ROWS:
                raise _too_many_rows()
            cells = {header[i]: v for i, v in enumerate(values) if i in header}
            row, problems = _tree_row(line, cells)
            rows.append(row)
            errors.extend(RowError(line, row["code"], message) for message in problems)
    except _FileError as exc:
        return [], [RowError(0, "", exc.message)]
    if header is None:
        return [], [RowError(0, "", _("The file is empty: the first row must name the columns."))]
    if not rows:
        return [], [RowError(0, "", _("The file has no rows below the heading."))]
    return rows, errors


def _header(values: list[Any]) -> dict[int, str]:
    """Column index → column name; unknown columns are ignored (people keep notes beside the data)."""
    header: dict[int, str] = {}
    for i, heading in enumerate(values):
        name = _column(heading)
        if name not in TREE_COLUMNS:
            continue
        if name in header.values():
            raise _FileError(_("The column “%(column)s” appears twice.") % {"column": name})
        header[i] = name
    missing = [c for c in REQUIRED_COLUMNS if c not in header.values()]
    if missing:
        raise _FileError(
            _(
                "This is not a region file: the first row must name the columns %(required)s "
                "(and optionally boundary, centre_lat, centre_lng). Missing: %(missing)s."
            )
            % {"required": ", ".join(REQUIRED_COLUMNS), "missing": ", ".join(missing)}
        )
    return header


# --- planning the tree import ------------------------------------------------------------------------------


def _regions_by_code(codes: set[str]) -> dict[str, Region]:
    found: dict[str, Region] = {}
    ordered = sorted(codes)
    for start in range(0, len(ordered), 5000):  # keep each query's parameter list bounded
        chunk = ordered[start : start + 5000]
        fields = ("pk", "code", "name", "path", "depth", "numchild", "is_active")
        found.update({r.code: r for r in Region.objects.filter(code__in=chunk).only(*fields)})
    return found


def _check_tree(*, actor: User, rows: list[dict], errors: list[RowError]) -> dict[str, Region]:
    """Cross-row and database checks; appends to ``errors`` and returns the existing parents by code."""
    first_line: dict[str, int] = {}
    in_file: dict[str, dict] = {}
    for row in rows:
        if row["code"] and row["code"] not in first_line:
            first_line[row["code"]] = row["line"]
            in_file[row["code"]] = row
    existing = _regions_by_code(set(first_line) | {r["parent_code"] for r in rows if r["parent_code"]})
    is_superuser = bool(actor.is_active and actor.is_superuser)
    parents: dict[str, Region] = {}
    for row in rows:
        line, code, level, parent_code = row["line"], row["code"], row["level"], row["parent_code"]
        problems: list[str] = []
        if code and first_line.get(code) != line:
            problems.append(
                _("The code %(code)s is repeated: it is also on line %(line)d.")
                % {"code": code, "line": first_line[code]}
            )
        taken = existing.get(code) if code else None
        if taken is not None:
            if access.user_can(actor, "grids.view_region", taken):
                problems.append(
                    _("The code %(code)s is already used by %(name)s.") % {"code": code, "name": taken.name}
                )
            else:
                problems.append(_("The code %(code)s is already used.") % {"code": code})
        parent_level: int | None = None
        if not parent_code:
            if level is not None and level != Level.CITY:
                problems.append(_("A %(level)s needs a parent.") % {"level": Level(level).label})
            elif level == Level.CITY and not is_superuser:
                problems.append(_("Only a superuser can add a city."))
        elif level == Level.CITY:
            problems.append(_("A city is the top of the tree: leave its parent_code empty."))
        elif parent_code == code:
            problems.append(_("A region cannot be its own parent."))
        else:
            parent = existing.get(parent_code)
            # A parent the actor may not see is "unknown", so codes elsewhere in the tree cannot be probed.
            if parent is not None and access.user_can(actor, "grids.view_region", parent):
                parent_level = parent.depth
                parents[parent_code] = parent
                if not parent.is_active:
                    problems.append(_("%(name)s is retired and accepts no new nodes.") % {"name": parent.name})
                elif not access.user_can(actor, "grids.add_region", parent):
                    problems.append(
                        _("You may not add regions under %(name)s (%(code)s).")
                        % {"name": parent.name, "code": parent_code}
                    )
            elif parent is None and parent_code in in_file:
                parent_level = in_file[parent_code]["level"]
            else:
                problems.append(
                    _("The parent code %(code)s is neither in the database nor in this file.") % {"code": parent_code}
                )
        if level is not None and parent_level is not None and level != parent_level + 1:
            if parent_level >= Level.GRID:
                problems.append(_("A grid is the lowest level: it cannot have children."))
            else:
                problems.append(
                    _("A %(level)s cannot be placed under a %(parent_level)s (%(parent)s): put a %(expected)s there.")
                    % {
                        "level": Level(level).label,
                        "parent_level": Level(parent_level).label,
                        "parent": parent_code,
                        "expected": Level(parent_level + 1).label,
                    }
                )
        if code and level is not None and parent_code != code:
            try:
                validate_code(code, level, parent_code or None)
            except ValidationError as exc:
                problems.extend(exc.messages)
        # One cause can surface twice (e.g. a missing parent from two checks): say it once.
        errors.extend(RowError(line, code, message) for message in dict.fromkeys(problems))
    return parents


def _plan_tree(*, actor: User, rows: list[dict], errors: list[RowError]) -> tuple[ImportPlan, dict[str, Region]]:
    errors = list(errors)
    parents = _check_tree(actor=actor, rows=rows, errors=errors) if rows else {}
    errors.sort(key=lambda e: e.line)
    return ImportPlan(kind="tree", rows=rows, errors=errors), parents


def plan_tree_import(*, actor: User, data: bytes, filename: str) -> ImportPlan:
    """The dry run: every row as read and every reason a row cannot be written. Writes nothing."""
    rows, errors = read_tree_file(data, filename)
    return _plan_tree(actor=actor, rows=rows, errors=errors)[0]


# --- writing the tree ------------------------------------------------------------------------------------------


def _children_of(parents: list[Region]) -> dict[str, tuple[str, int]]:
    """parent path → (last child path, number of children), from the rows themselves: numchild may be stale."""
    found: dict[str, tuple[str, int]] = {}
    by_depth: dict[int, list[str]] = {}
    for parent in parents:
        by_depth.setdefault(parent.depth, []).append(parent.path)
    for depth, paths in by_depth.items():
        width = depth * Region.steplen
        for start in range(0, len(paths), 5000):
            rows = (
                Region.objects.filter(depth=depth + 1)
                .annotate(parent_path=Substr("path", 1, width))
                .filter(parent_path__in=paths[start : start + 5000])
                .values("parent_path")
                .annotate(last=Max("path"), n=Count("pk"))
                .order_by()
            )
            found.update({r["parent_path"]: (r["last"], r["n"]) for r in rows})
    return found


def _write_tree(rows: list[dict], parents: dict[str, Region]) -> list[Region]:
    """Insert the (valid) rows with computed paths, parents first, and fix the parents' ``numchild``."""
    existing_parents = list(parents.values())
    last_child = _children_of(existing_parents)
    last_root = Region.objects.filter(depth=1).aggregate(last=Max("path"))["last"]
    next_step: dict[str, int] = {
        p: Region._str2int(last[-Region.steplen :]) + 1 for p, (last, _n) in last_child.items()
    }
    next_step[""] = Region._str2int(last_root) + 1 if last_root else 1
    added: Counter[str] = Counter(r["parent_code"] for r in rows if r["parent_code"])
    path_by_code = {code: region.path for code, region in parents.items()}
    new: list[Region] = []
    # Levels only grow downwards, so ordering by level puts every parent before its children.
    for row in sorted(rows, key=lambda r: r["level"]):
        parent_path = path_by_code[row["parent_code"]] if row["parent_code"] else ""
        step = next_step.get(parent_path, 1)
        if step >= len(Region.alphabet) ** Region.steplen:
            raise ValidationError(_("%(code)s has no room for more children.") % {"code": row["parent_code"]})
        next_step[parent_path] = step + 1
        path = Region._get_path(parent_path, row["level"], step)
        path_by_code[row["code"]] = path
        fields = services._boundary_fields(row["boundary"])
        if row["centre_lat"] is not None:
            fields.update(centre_lat=row["centre_lat"], centre_lng=row["centre_lng"])
        new.append(
            Region(
                path=path,
                depth=row["level"],
                numchild=added[row["code"]],
                name=row["name"],
                code=row["code"],
                **fields,
            )
        )
    Region.objects.bulk_create(new, batch_size=2000)
    if existing_parents:
        counts = [
            When(pk=p.pk, then=Value(last_child.get(p.path, ("", 0))[1] + added[code])) for code, p in parents.items()
        ]
        Region.objects.filter(pk__in=[p.pk for p in existing_parents]).update(
            numchild=Case(*counts, output_field=IntegerField())
        )
    return new


def _anchor(paths: list[str]) -> Region | None:
    """The nearest node above (or at) every given path: where the audit event is filed."""
    if not paths:
        return None
    prefix = paths[0]
    for path in paths[1:]:
        while not path.startswith(prefix):
            prefix = prefix[: -Region.steplen]
    return Region.objects.filter(path=prefix).first() if prefix else None


def _error_list(errors: list[RowError]) -> ValidationError:
    messages = [
        _("Line %(line)d (%(code)s): %(message)s") % {"line": e.line, "code": e.code or "-", "message": e.message}
        if e.line
        else e.message
        for e in errors
    ]
    return ValidationError(messages or [_("The file has no rows to import.")])


def tree_import(*, actor: User, data: bytes, filename: str) -> int:
    """Add every row of the file to the tree, or nothing: raises ValidationError listing every bad row.

    The plan is made again inside the transaction, under the tree lock, so nothing changed since the preview
    can slip through. Returns the number of regions written.
    """
    rows, errors = read_tree_file(data, filename)  # parsing needs no lock; the database checks do
    with transaction.atomic():
        services._lock_tree()
        plan, parents = _plan_tree(actor=actor, rows=rows, errors=errors)
        if not plan.ok:
            raise _error_list(plan.errors)
        new = _write_tree(plan.rows, parents)
        tops = [p.path for p in parents.values()] + [r.path for r in new if r.depth == Level.CITY]
        levels = Counter(level_slug(r.depth) for r in new)
        services.audit(
            actor=actor,
            action="region.import",
            target=ImportFile(filename[:200]),
            region=_anchor(tops),
            file=filename,
            rows=len(new),
            levels=dict(levels),
            under=sorted(parents)[:100],
        )
        return len(new)


# --- export ----------------------------------------------------------------------------------------------------


def export_tree_rows(*, actor: User) -> list[dict]:
    """The active regions the actor may see, parents first, as rows of the import format.

    ``level`` is the English slug and ``boundary`` the GeoJSON geometry (a dict) or None. Retired nodes are
    left out: retiring takes a whole subtree, so what remains is still a tree.
    """
    visible = access.scope(actor, "grids.view_region", Region.objects.filter(is_active=True), "path")
    nodes = list(
        visible.order_by("path").values("path", "depth", "code", "name", "boundary", "centre_lat", "centre_lng")
    )
    code_by_path = {n["path"]: n["code"] for n in nodes}
    # The parents of the actor's top nodes lie outside what they see; their codes still place the rows.
    outside = {n["path"][: -Region.steplen] for n in nodes if n["depth"] > 1} - code_by_path.keys()
    if outside:
        code_by_path.update(Region.objects.filter(path__in=outside).values_list("path", "code"))
    return [
        {
            "code": n["code"],
            "name": n["name"],
            "parent_code": code_by_path.get(n["path"][: -Region.steplen], "") if n["depth"] > 1 else "",
            "level": level_slug(n["depth"]),
            "boundary": n["boundary"],
            "centre_lat": n["centre_lat"],
            "centre_lng": n["centre_lng"],
        }
        for n in nodes
    ]


def _boundary_text(boundary: dict | None) -> str:
    return json.dumps(boundary, ensure_ascii=False, separators=(",", ":")) if boundary else ""


def export_tree_csv(*, actor: User) -> bytes:
    """UTF-8 with a BOM, so that Excel (Chinese Windows) opens it without garbling the names."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(TREE_COLUMNS)
    for row in export_tree_rows(actor=actor):
        writer.writerow(
            [
                row["code"],
                _csv_escape(row["name"]),
                row["parent_code"],
                row["level"],
                _boundary_text(row["boundary"]),
                "" if row["centre_lat"] is None else repr(row["centre_lat"]),
                "" if row["centre_lng"] is None else repr(row["centre_lng"]),
            ]
        )
    return out.getvalue().encode("utf-8-sig")


def export_tree_xlsx(*, actor: User) -> bytes:
    """One sheet, codes stored as text (Excel would show 15-digit numbers in scientific notation).

    A boundary longer than Excel's cell limit (32,767 characters) is left out of its cell: export the
    boundaries as GeoJSON for those.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "regions"
    sheet.append(list(TREE_COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r, row in enumerate(export_tree_rows(actor=actor), start=2):
        boundary = _boundary_text(row["boundary"])
        values = [
            row["code"],
            row["name"],
            row["parent_code"],
            row["level"],
            boundary if len(boundary) <= XLSX_CELL_LIMIT else "",
            row["centre_lat"],
            row["centre_lng"],
        ]
        for c, value in enumerate(values, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the name begins with
    for letter, width in zip("ABCDEFG", (18, 24, 18, 12, 40, 12, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def export_boundaries_geojson(*, actor: User) -> dict:
    """A FeatureCollection of the visible regions that have a boundary; properties: code, name, level."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": row["code"], "name": row["name"], "level": row["level"]},
                "geometry": row["boundary"],
            }
            for row in export_tree_rows(actor=actor)
            if row["boundary"]
        ],
    }


# --- boundaries import -------------------------------------------------------------------------------------


def _read_features(data: bytes) -> list[Any]:
    _check_size(data)
    expected = _("a GeoJSON file")
    if data.startswith(ZIP_MAGIC):
        raise _FileError(
            _("This file is not %(expected)s: it looks like %(kind)s.")
            % {"expected": expected, "kind": _("a zip archive")}
        )
    _refuse_binary(data, expected=expected)
    try:
        document = safejson.loads(data.decode("utf-8-sig"), max_bytes=settings.GOVGRID_IMPORT_MAX_BYTES)
    except UnicodeDecodeError as exc:
        raise _FileError(_("A GeoJSON file must be UTF-8 text.")) from exc
    except safejson.JSONTooDeep as exc:
        raise _FileError(str(exc)) from exc
    except ValueError as exc:
        raise _FileError(_("The file is not valid JSON: %(error)s") % {"error": exc}) from exc
    if not isinstance(document, dict) or document.get("type") != "FeatureCollection":
        raise _FileError(_("The file must be a GeoJSON FeatureCollection with one feature per region."))
    features = document.get("features")
    if not isinstance(features, list):
        raise _FileError(_("The FeatureCollection has no list of features."))
    if len(features) > settings.GOVGRID_IMPORT_MAX_ROWS:
        raise _too_many_rows()
    if not features:
        raise _FileError(_("The FeatureCollection has no features."))
    return features


def _boundary_row(number: int, feature: Any) -> tuple[dict, list[str]]:
    problems: list[str] = []
    properties = feature.get("properties") if isinstance(feature, dict) else None
    properties = properties if isinstance(properties, dict) else {}
    code = _cell_text(properties.get("code")) or (_cell_text(feature.get("id")) if isinstance(feature, dict) else "")
    if not code:
        problems.append(_("The feature has no code: put the region's code in properties.code."))
    level: int | None = None
    if _cell_text(properties.get("level")):
        try:
            level = int(parse_level(_cell_text(properties.get("level"))))
        except ValidationError as exc:
            problems.extend(exc.messages)
    boundary = None
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        problems.append(_("Each item of features must be a GeoJSON Feature."))
    elif not feature.get("geometry"):
        problems.append(_("The feature has no geometry."))
    else:
        try:
            boundary = parse_boundary(feature).geojson
        except ValidationError as exc:
            problems.extend(exc.messages)
    row = {
        "line": number,
        "code": code,
        "name": _cell_text(properties.get("name")),
        "level": level,
        "boundary": boundary,
    }
    return row, problems


def _read_boundaries_file(data: bytes) -> tuple[list[dict], list[RowError]]:
    try:
        features = _read_features(data)
    except _FileError as exc:
        return [], [RowError(0, "", exc.message)]
    rows: list[dict] = []
    errors: list[RowError] = []
    for number, feature in enumerate(features, start=1):
        row, problems = _boundary_row(number, feature)
        rows.append(row)
        errors.extend(RowError(number, row["code"], message) for message in problems)
    return rows, errors


def _plan_boundaries(*, actor: User, rows: list[dict], errors: list[RowError]) -> tuple[ImportPlan, dict[str, Region]]:
    errors = list(errors)
    existing = _regions_by_code({r["code"] for r in rows if r["code"]})
    first: dict[str, int] = {}
    targets: dict[str, Region] = {}
    for row in rows:
        code, number = row["code"], row["line"]
        if not code:
            continue
        if code in first:
            message = _("The code %(code)s is repeated: it is also feature %(n)d.") % {"code": code, "n": first[code]}
            errors.append(RowError(number, code, message))
            continue
        first[code] = number
        region = existing.get(code)
        if region is None or not access.user_can(actor, "grids.view_region", region):
            errors.append(RowError(number, code, _("No region has the code %(code)s.") % {"code": code}))
            continue
        row["name"] = region.name
        if row["level"] is not None and row["level"] != region.depth:
            message = _("%(name)s (%(code)s) is a %(actual)s, but the feature says %(level)s.") % {
                "name": region.name,
                "code": code,
                "actual": region.level.label,
                "level": Level(row["level"]).label,
            }
            errors.append(RowError(number, code, message))
        if not access.user_can(actor, "grids.change_region", region):
            message = _("You may not change %(name)s (%(code)s).") % {"name": region.name, "code": code}
            errors.append(RowError(number, code, message))
        targets[code] = region
    errors.sort(key=lambda e: e.line)
    return ImportPlan(kind="boundaries", rows=rows, errors=errors), targets


def plan_boundaries_import(*, actor: User, data: bytes, filename: str) -> ImportPlan:
    """The dry run of a boundaries import (GeoJSON FeatureCollection keyed by properties.code).

    ``RowError.line`` is the feature's position in ``features`` (1-based). Writes nothing.
    """
    rows, errors = _read_boundaries_file(data)
    return _plan_boundaries(actor=actor, rows=rows, errors=errors)[0]


def boundaries_import(*, actor: User, data: bytes, filename: str) -> int:
    """Set the boundary (and so the box and centre) of every region named in the file, or of none.

    Returns the number of regions updated.
    """
    rows, errors = _read_boundaries_file(data)
    with transaction.atomic():
        services._lock_tree()  # a concurrent recode could change which node a code names
        plan, targets = _plan_boundaries(actor=actor, rows=rows, errors=errors)
        if not plan.ok:
            raise _error_list(plan.errors)
        now = timezone.now()
        changed: list[Region] = []
        for row in plan.rows:
            region = targets[row["code"]]
            for key, value in services._boundary_fields(row["boundary"]).items():
                setattr(region, key, value)
            region.updated_at = now
            changed.append(region)
        names = ["boundary", "min_lat", "max_lat", "min_lng", "max_lng", "centre_lat", "centre_lng", "updated_at"]
        Region.objects.bulk_update(changed, names, batch_size=500)
        services.audit(
            actor=actor,
            action="region.import_boundaries",
            target=ImportFile(filename[:200]),
            region=_anchor([r.path for r in changed]),
            file=filename,
            rows=len(changed),
        )
        return len(changed)
