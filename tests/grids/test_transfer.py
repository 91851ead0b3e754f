"""Import and export of the region tree (CSV, XLSX) and of boundaries (GeoJSON)."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation
from openpyxl import Workbook, load_workbook

from grids import access, services, transfer
from grids.codes import Level
from grids.models import AuditLog, Region
from tests.factories import box, grant_role

HEADER = ["code", "name", "parent_code", "level", "boundary", "centre_lat", "centre_lng"]
CITY_NODES = 31  # build_city: 1 + 2 + 4 + 8 + 16
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 64
    + b"This program cannot be run in DOS mode."
)
BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[104.0, 30.0], [104.1, 30.1], [104.1, 30.0], [104.0, 30.1], [104.0, 30.0]]],
}


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted by their English msgids (the default language is zh-hans)."""
    with translation.override("en"):
        yield


def csv_bytes(rows: list[list], header: list[str] = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([json.dumps(v) if isinstance(v, dict) else v for v in row])
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list], header: list[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "code,name,parent_code,level\n")
    return out.getvalue()


def wipe_tree() -> None:
    Region.objects.all().delete()
    assert Region.objects.count() == 0


def errors_of(plan: transfer.ImportPlan) -> list[tuple[int, str, str]]:
    return [(e.line, e.code, e.message) for e in plan.errors]


def assert_refused(actor, data: bytes, filename: str = "regions.csv") -> transfer.ImportPlan:
    """The plan lists errors, and the import raises and writes nothing."""
    before = Region.objects.count()
    plan = transfer.plan_tree_import(actor=actor, data=data, filename=filename)
    assert not plan.ok
    with pytest.raises(ValidationError):
        transfer.tree_import(actor=actor, data=data, filename=filename)
    assert Region.objects.count() == before
    assert not AuditLog.objects.filter(action="region.import").exists()
    return plan


def tree_snapshot() -> list[tuple]:
    """What a round trip must keep: code, name, parent's code, level, boundary, centre."""
    code_by_path = dict(Region.objects.values_list("path", "code"))
    return sorted(
        (r.code, r.name, code_by_path.get(r.path[:-4], ""), r.depth, r.boundary, r.centre_lat, r.centre_lng)
        for r in Region.objects.all()
    )


def assert_tree_sound() -> None:
    """Paths, depths and numchild agree, as treebeard expects."""
    assert Region.objects.find_problems() == ([], [], [], [], [])


# --- round trips --------------------------------------------------------------------------------------------


def test_csv_export_is_utf8_with_bom_and_english_levels(city, root):
    data = transfer.export_tree_csv(actor=root)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == HEADER
    assert len(rows) == CITY_NODES
    by_code = {r["code"]: r for r in rows}
    assert by_code["519900"] == by_code["519900"] | {"name": "云川市", "parent_code": "", "level": "city"}
    assert by_code["519901001001001"]["parent_code"] == "519901001001"
    assert by_code["519901001001001"]["level"] == "grid"
    assert json.loads(by_code["519901001"]["boundary"]) == city.s11.boundary


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_then_import_into_empty_database_gives_the_same_tree(city, root, fmt):
    Region.objects.filter(pk=city.g1111.pk).update(centre_lat=30.01, centre_lng=104.01)  # a centre set by hand
    before = tree_snapshot()
    data = transfer.export_tree_csv(actor=root) if fmt == "csv" else transfer.export_tree_xlsx(actor=root)
    wipe_tree()

    assert transfer.tree_import(actor=root, data=data, filename=f"export.{fmt}") == CITY_NODES

    assert tree_snapshot() == before
    assert_tree_sound()
    grid = Region.objects.get(code="519901001001001")
    assert (grid.centre_lat, grid.centre_lng) == (30.01, 104.01)
    assert (grid.min_lat, grid.max_lat, grid.min_lng, grid.max_lng) == (30.0, 30.04, 104.0, 104.04)
    # The tree stays usable by treebeard: a new child lands after the imported ones.
    street = Region.objects.get(code="519901001")
    added = services.region_add(actor=root, parent=street, name="社区新", code="519901001003")
    assert Region.objects.get_parent(added).pk == street.pk
    assert Region.objects.get(pk=street.pk).numchild == 3
    assert_tree_sound()
    log = AuditLog.objects.get(action="region.import")
    assert log.data["rows"] == CITY_NODES
    assert log.data["levels"] == {"city": 1, "district": 2, "street": 4, "community": 8, "grid": 16}
    assert log.region.code == "519900"
    assert log.target_repr == f"export.{fmt}"


def test_xlsx_export_stores_codes_as_text_and_names_never_as_formulas(city, root):
    services.region_rename(actor=root, region=city.g1111, name="=HYPERLINK(1)")
    sheet = load_workbook(io.BytesIO(transfer.export_tree_xlsx(actor=root))).active
    rows = list(sheet.iter_rows(min_row=2))
    assert [c.value for c in sheet[1]] == HEADER
    assert all(row[0].data_type == "s" for row in rows)
    hyperlink = next(row for row in rows if row[0].value == "519901001001001")
    assert hyperlink[1].value == "=HYPERLINK(1)"
    assert hyperlink[1].data_type == "s"


def test_csv_export_quotes_formula_like_names_and_import_restores_them(city, root):
    services.region_rename(actor=root, region=city.g1111, name="=HYPERLINK(1)")
    data = transfer.export_tree_csv(actor=root)
    assert b",'=HYPERLINK(1)," in data
    wipe_tree()
    transfer.tree_import(actor=root, data=data, filename="regions.csv")
    assert Region.objects.get(code="519901001001001").name == "=HYPERLINK(1)"


def test_long_boundary_survives_csv_and_is_left_out_of_xlsx(city, root):
    ring = [
        [104.0 + 0.01 * math.cos(i * math.tau / 6000), 30.0 + 0.01 * math.sin(i * math.tau / 6000)] for i in range(6000)
    ]
    circle = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    services.region_set_boundary(actor=root, region=city.g1111, boundary=circle)
    assert len(json.dumps(circle)) > 131_072  # longer than the csv module's default field limit
    sheet = load_workbook(io.BytesIO(transfer.export_tree_xlsx(actor=root))).active
    cells = {row[0]: row[4] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert cells["519901001001001"] is None and cells["519901001001002"]  # over Excel's 32,767-character cell limit

    data = transfer.export_tree_csv(actor=root)
    wipe_tree()
    assert transfer.tree_import(actor=root, data=data, filename="regions.csv") == CITY_NODES
    assert Region.objects.get(code="519901001001001").boundary == circle


def test_boundaries_round_trip(city, root):
    before = {
        r.code: (r.boundary, r.min_lat, r.max_lat, r.min_lng, r.max_lng, r.centre_lat) for r in Region.objects.all()
    }
    collection = transfer.export_boundaries_geojson(actor=root)
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == CITY_NODES
    feature = next(f for f in collection["features"] if f["properties"]["code"] == "519901001")
    assert feature["properties"] == {"code": "519901001", "name": "街道11", "level": "street"}
    Region.objects.update(boundary=None, min_lat=None, max_lat=None, min_lng=None, max_lng=None, centre_lat=None)
    data = json.dumps(collection, ensure_ascii=False).encode()

    plan = transfer.plan_boundaries_import(actor=root, data=data, filename="b.geojson")
    assert plan.ok and plan.kind == "boundaries" and len(plan.rows) == CITY_NODES
    assert Region.objects.filter(boundary__isnull=False).count() == 0  # the plan writes nothing
    assert transfer.boundaries_import(actor=root, data=data, filename="b.geojson") == CITY_NODES

    after = {
        r.code: (r.boundary, r.min_lat, r.max_lat, r.min_lng, r.max_lng, r.centre_lat) for r in Region.objects.all()
    }
    assert after == before
    log = AuditLog.objects.get(action="region.import_boundaries")
    assert log.data["rows"] == CITY_NODES and log.region.code == "519900"


# --- writing under existing nodes -----------------------------------------------------------------------------


def test_rows_in_any_order_are_added_after_existing_children(city, root):
    data = csv_bytes(
        [
            ["519901001003001", "网格新1", "519901001003", "grid", box(104.0, 30.0, 104.01, 30.01), "", ""],
            ["519901001003002", "网格新2", "519901001003", "5", "", "", ""],
            ["519901001003", "社区新", "519901001", "社区", "", "30.02", "104.02"],
        ]
    )
    plan = transfer.plan_tree_import(actor=root, data=data, filename="new.csv")
    assert plan.ok
    assert [r["level"] for r in plan.rows] == [Level.GRID, Level.GRID, Level.COMMUNITY]
    assert plan.rows[0]["boundary"]["type"] == "Polygon"
    assert Region.objects.count() == CITY_NODES  # the plan writes nothing

    assert transfer.tree_import(actor=root, data=data, filename="new.csv") == 3

    street = Region.objects.get(pk=city.s11.pk)
    community = Region.objects.get(code="519901001003")
    assert street.numchild == 3 and community.numchild == 2
    assert Region.objects.get_parent(community).pk == street.pk
    assert [c.code for c in Region.objects.get_children(street)] == ["519901001001", "519901001002", "519901001003"]
    assert community.path == Region._get_path(street.path, 4, 3)
    assert [c.name for c in Region.objects.get_children(community)] == ["网格新1", "网格新2"]
    assert (community.centre_lat, community.centre_lng) == (30.02, 104.02)
    grid = Region.objects.get(code="519901001003001")
    assert (grid.min_lat, grid.max_lat, grid.centre_lat) == (30.0, 30.01, 30.005)
    assert_tree_sound()
    assert AuditLog.objects.filter(action="region.import").count() == 1
    assert AuditLog.objects.get(action="region.import").region.pk == street.pk


def test_import_re_validates_what_changed_since_the_preview(city, root):
    data = csv_bytes([["519901003", "新街道", "519901", "street", "", "", ""]])
    assert transfer.plan_tree_import(actor=root, data=data, filename="x.csv").ok
    services.region_add(actor=root, parent=city.d1, name="抢先", code="519901003")
    with pytest.raises(ValidationError) as info:
        transfer.tree_import(actor=root, data=data, filename="x.csv")
    assert info.value.messages == ["Line 2 (519901003): The code 519901003 is already used by 抢先."]
    assert Region.objects.filter(code="519901003").count() == 1


def test_ten_thousand_rows_are_written_in_a_few_queries(city, root, django_assert_max_num_queries):
    rows = [["519800", "新市", "", "city", box(103.0, 29.0, 104.0, 30.0), "", ""]]
    for d in range(1, 11):
        district = f"5198{d:02d}"
        rows.append([district, f"区{d}", "519800", "district", "", "", ""])
        for s in range(1, 11):
            street = f"{district}{s:03d}"
            rows.append([street, f"街道{d}-{s}", district, "street", "", "", ""])
            for c in range(1, 11):
                community = f"{street}{c:03d}"
                rows.append([community, f"社区{d}-{s}-{c}", street, "community", "", "", ""])
                for g in range(1, 10):
                    lng, lat = 103.0 + d * 0.05 + g * 0.001, 29.0 + s * 0.05 + c * 0.001
                    rows.append(
                        [
                            f"{community}{g:03d}",
                            f"网格{g}",
                            community,
                            "grid",
                            box(lng, lat, lng + 0.001, lat + 0.001),
                            "",
                            "",
                        ]
                    )
    rows.reverse()  # children before parents
    data = csv_bytes(rows)
    with django_assert_max_num_queries(20):
        assert transfer.tree_import(actor=root, data=data, filename="big.csv") == 10_111
    new_city = Region.objects.get(code="519800")
    assert new_city.path == Region._get_path("", 1, 2)  # after the existing city
    assert Region.objects.filter(path__startswith=new_city.path, depth=Level.GRID).count() == 9000
    assert Region.objects.filter(path__startswith=new_city.path, depth=Level.COMMUNITY, numchild=9).count() == 1000
    assert Region.objects.filter(path__startswith=new_city.path, depth=Level.STREET, numchild=10).count() == 100
    sample = Region.objects.get(code="519807004006005")
    assert Region.objects.get_parent(sample).code == "519807004006" and sample.min_lat is not None


# --- bad rows -------------------------------------------------------------------------------------------------


ROW_ERRORS = [
    ("code_not_digits", [["51990100A", "新街道", "519901", "street", "", "", ""]], 2, "made of digits only"),
    ("code_length", [["5199010033", "新街道", "519901", "street", "", "", ""]], 2, "A Street code has 9 digits"),
    ("code_prefix", [["519902003", "新街道", "519901", "street", "", "", ""]], 2, "must begin with 519901"),
    ("code_missing", [["", "新街道", "519901", "street", "", "", ""]], 2, "The code is missing."),
    (
        "unknown_parent",
        [["519903001", "新街道", "519903", "street", "", "", ""]],
        2,
        "The parent code 519903 is neither in the database nor in this file.",
    ),
    (
        "wrong_level",
        [["519901001003", "新社区", "519901", "community", "", "", ""]],
        2,
        "A Community cannot be placed under a District (519901): put a Street there.",
    ),
    (
        "wrong_level_in_file",
        [
            ["519901003", "新街道", "519901", "street", "", "", ""],
            ["519901003001", "新网格", "519901003", "grid", "", "", ""],
        ],
        3,
        "A Grid cannot be placed under a Street (519901003): put a Community there.",
    ),
    ("own_parent", [["519901001001001", "x", "519901001001001", "grid", "", "", ""]], 2, "its own parent"),
    (
        "child_of_grid",
        [["519901001001002", "x", "519901001001001", "grid", "", "", ""]],
        2,
        "A grid is the lowest level",
    ),
    ("city_with_parent", [["519800", "新市", "519900", "city", "", "", ""]], 2, "leave its parent_code empty"),
    ("street_without_parent", [["519901003", "新街道", "", "street", "", "", ""]], 2, "A Street needs a parent."),
    ("unknown_level", [["519901003", "新街道", "519901", "town", "", "", ""]], 2, "Unknown level “town”"),
    ("missing_level", [["519901003", "新街道", "519901", "", "", "", ""]], 2, "The level is missing"),
    ("missing_name", [["519901003", " ", "519901", "street", "", "", ""]], 2, "A name is required."),
    (
        "duplicate_in_file",
        [
            ["519901003", "新街道", "519901", "street", "", "", ""],
            ["519901003", "又一个", "519901", "street", "", "", ""],
        ],
        3,
        "The code 519901003 is repeated: it is also on line 2.",
    ),
    (
        "duplicate_in_db",
        [["519901001", "街道", "519901", "street", "", "", ""]],
        2,
        "The code 519901001 is already used by 街道11.",
    ),
    (
        "boundary_not_json",
        [["519901003", "新街道", "519901", "street", "{not json", "", ""]],
        2,
        "not valid GeoJSON text",
    ),
    ("boundary_not_polygon", [["519901003", "新街道", "519901", "street", '{"type": "Point"}', "", ""]], 2, "Polygon"),
    ("boundary_crossing", [["519901003", "新街道", "519901", "street", BOWTIE, "", ""]], 2, "polygon is not valid"),
    (
        "centre_out_of_range",
        [["519901003", "新街道", "519901", "street", "", "123", "104"]],
        2,
        "Latitude must be within",
    ),
    (
        "centre_half",
        [["519901003", "新街道", "519901", "street", "", "30.1", ""]],
        2,
        "Give both centre_lat and centre_lng",
    ),
    ("centre_text", [["519901003", "新街道", "519901", "street", "", "north", "east"]], 2, "must be two numbers"),
]


@pytest.mark.parametrize(("rows", "line", "message"), [c[1:] for c in ROW_ERRORS], ids=[c[0] for c in ROW_ERRORS])
def test_bad_row_is_reported_with_its_line_and_nothing_is_written(city, root, rows, line, message):
    good = ["519902009", "好街道", "519902", "street", "", "", ""]  # a good row does not get written either
    plan = assert_refused(root, csv_bytes([*rows, good]))
    assert any(e.line == line and message in e.message for e in plan.errors), errors_of(plan)
    assert all(e.code != "519902009" for e in plan.errors)
    assert not Region.objects.filter(code="519902009").exists()


def test_every_bad_row_is_listed_at_once(city, root):
    plan = assert_refused(
        root,
        csv_bytes(
            [
                ["519901003", "好", "519901", "street", "", "", ""],
                ["51990100A", "坏", "519901", "street", "", "", ""],
                ["519901004", "好", "519901", "street", "", "", ""],
                ["519901001", "重", "519901", "street", "", "", ""],
                ["519901005", "坏", "519909", "street", "", "", ""],
            ]
        ),
    )
    assert {(e.line, e.code) for e in plan.errors} == {(3, "51990100A"), (5, "519901001"), (6, "519901005")}


def test_validation_error_lists_lines(city, root):
    data = csv_bytes([["519901003", "新街道", "519909", "street", "", "", ""]])
    with pytest.raises(ValidationError) as info:
        transfer.tree_import(actor=root, data=data, filename="x.csv")
    assert info.value.messages == [
        "Line 2 (519901003): The parent code 519909 is neither in the database nor in this file.",
        "Line 2 (519901003): A code under 519909 must begin with 519909; “519901003” does not.",
    ]


# --- bad files ---------------------------------------------------------------------------------------------------


FILE_ERRORS = [
    ("png_renamed_csv", PNG, "regions.csv", "This file is not a CSV or .xlsx spreadsheet: it looks like a PNG image."),
    ("exe_renamed_csv", EXE, "regions.csv", "it looks like a Windows program"),
    ("old_xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "regions.xls", "Excel 97–2003 (.xls)"),
    ("zip_not_workbook", zip_bytes(), "regions.xlsx", "not an Excel workbook (.xlsx) that can be read"),
    ("truncated_xlsx", b"PK\x03\x04" + b"\x01" * 50, "regions.xlsx", "damaged"),
    ("not_text", b"code,name,parent_code,level\n\xff\x80\xff\x80\n", "regions.csv", "not readable text"),
    ("plain_text", "你好，这不是表格\n".encode(), "regions.csv", "Missing: code, name, parent_code, level."),
    ("missing_columns", b"code,name\n519901003,x\n", "regions.csv", "Missing: parent_code, level."),
    ("duplicate_column", b"code,name,parent_code,level,code\n", "regions.csv", "The column “code” appears twice."),
    ("empty", b"", "regions.csv", "The file is empty"),
    ("header_only", b"\xef\xbb\xbfcode,name,parent_code,level\n\n", "regions.csv", "no rows below the heading"),
]


@pytest.mark.parametrize(("data", "filename", "message"), [c[1:] for c in FILE_ERRORS], ids=[c[0] for c in FILE_ERRORS])
def test_malformed_file_is_refused_as_a_whole(city, root, data, filename, message):
    plan = assert_refused(root, data, filename)
    assert plan.rows == []
    assert len(plan.errors) == 1 and plan.errors[0].line == 0 and plan.errors[0].code == ""
    assert message in plan.errors[0].message


@override_settings(GOVGRID_IMPORT_MAX_BYTES=100)
def test_file_over_the_byte_limit_is_refused(city, root):
    data = csv_bytes([["519901003", "新街道" * 20, "519901", "street", "", "", ""]])
    assert len(data) > 100
    plan = assert_refused(root, data)
    assert errors_of(plan) == [
        (
            0,
            "",
            "The file is too large (269\xa0bytes); at most 100\xa0bytes can be imported at once. Split it into smaller files.",
        )
    ]


@override_settings(GOVGRID_IMPORT_MAX_ROWS=2)
def test_file_over_the_row_limit_is_refused(city, root):
    rows = [[f"51990100{n}", f"街道{n}", "519901", "street", "", "", ""] for n in (3, 4, 5)]
    plan = assert_refused(root, csv_bytes(rows))
    assert errors_of(plan) == [
        (0, "", "The file has too many rows: at most 2 can be imported at once. Split it into smaller files.")
    ]
    assert transfer.plan_tree_import(actor=root, data=csv_bytes(rows[:2]), filename="x.csv").ok


# --- encodings and spreadsheet quirks ------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_csv_in_the_encodings_excel_writes(city, root, encoding):
    data = csv_bytes([["519901003", "锦江街道", "519901", "街道", "", "", ""]], encoding=encoding)
    assert transfer.tree_import(actor=root, data=data, filename="x.csv") == 1
    assert Region.objects.get(code="519901003").name == "锦江街道"


def test_chinese_headings_and_semicolons(city, root):
    data = "编码;名称;上级编码;层级\n519901003;锦江街道;519901;街道\n".encode("gb18030")
    assert transfer.tree_import(actor=root, data=data, filename="x.txt") == 1
    assert Region.objects.get(code="519901003").depth == Level.STREET


def test_xlsx_with_numbers_typed_by_excel(city, root):
    data = xlsx_bytes(
        [
            [519901003, "新街道", 519901, 3, None, 30.05, 104.05],
            [519901003001.0, "新社区", 519901003, "community", json.dumps(box(104.0, 30.0, 104.01, 30.01)), None, None],
        ],
        header=[*HEADER, "notes"],
    )
    assert transfer.tree_import(actor=root, data=data, filename="renamed.csv") == 2  # content decides, not name
    street = Region.objects.get(code="519901003")
    assert (street.depth, street.centre_lat, street.centre_lng) == (Level.STREET, 30.05, 104.05)
    assert Region.objects.get_parent(Region.objects.get(code="519901003001")).pk == street.pk


def test_xlsx_errors_carry_the_sheet_row_number(city, root):
    data = xlsx_bytes([[519901003, "新街道", 519901, "street"], [], [519901004, "坏", 519999, "street"]])
    plan = assert_refused(root, data, "x.xlsx")
    assert {e.line for e in plan.errors} == {4}


# --- permissions and scope -----------------------------------------------------------------------------------------


def test_street_admin_cannot_import_under_another_street(city, make_user):
    admin = make_user("admin11")
    grant_role(admin, "region_admin", city.s11)
    mine = ["519901001003", "我的社区", "519901001", "community", "", "", ""]
    theirs = ["519901002003", "别人的社区", "519901002", "community", "", "", ""]

    # A street they cannot even see is unknown to them (as a page would answer 404) ...
    plan = assert_refused(admin, csv_bytes([mine, theirs]))
    assert errors_of(plan) == [
        (3, "519901002003", "The parent code 519901002 is neither in the database nor in this file.")
    ]
    # ... and one they see but do not administer is named in the refusal.
    grant_role(admin, "supervisor", city.d1)
    access.clear_cache(admin)  # grants are cached on the user object for a request
    plan = assert_refused(admin, csv_bytes([mine, theirs]))
    assert errors_of(plan) == [(3, "519901002003", "You may not add regions under 街道12 (519901002).")]

    assert transfer.tree_import(actor=admin, data=csv_bytes([mine]), filename="x.csv") == 1
    assert Region.objects.get_parent(Region.objects.get(code="519901001003")).pk == city.s11.pk


def test_only_a_superuser_adds_a_city(city, make_user):
    admin = make_user("cityadmin")
    grant_role(admin, "region_admin", city.city)
    plan = assert_refused(admin, csv_bytes([["519800", "新市", "", "city", "", "", ""]]))
    assert errors_of(plan) == [(2, "519800", "Only a superuser can add a city.")]


def test_nodes_outside_ones_view_are_not_revealed(city, make_user):
    admin = make_user("admin11")
    grant_role(admin, "region_admin", city.s11)
    plan = assert_refused(
        admin,
        csv_bytes(
            [
                ["519902001003", "x", "519902001", "community", "", "", ""],  # exists, but not theirs
                ["519902001", "y", "519901001", "street", "", "", ""],  # a code used elsewhere
            ]
        ),
    )
    messages = [e.message for e in plan.errors]
    assert "The parent code 519902001 is neither in the database nor in this file." in messages
    assert "The code 519902001 is already used." in messages
    assert not any("街道21" in m for m in messages)


def test_export_for_a_street_user_holds_only_their_subtree(city, make_user):
    worker = make_user("worker11")
    grant_role(worker, "grid_worker", city.s11)
    subtree = {"519901001", "519901001001", "519901001002"} | {f"51990100100{c}00{g}" for c in (1, 2) for g in (1, 2)}

    rows = transfer.export_tree_rows(actor=worker)
    assert {r["code"] for r in rows} == subtree
    assert rows[0] == rows[0] | {"code": "519901001", "parent_code": "519901", "level": "street"}
    csv_codes = {
        r["code"] for r in csv.DictReader(io.StringIO(transfer.export_tree_csv(actor=worker).decode("utf-8-sig")))
    }
    assert csv_codes == subtree
    sheet = load_workbook(io.BytesIO(transfer.export_tree_xlsx(actor=worker))).active
    assert {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)} == subtree
    features = transfer.export_boundaries_geojson(actor=worker)["features"]
    assert {f["properties"]["code"] for f in features} == subtree


def test_export_leaves_out_retired_nodes_and_is_empty_without_grants(city, root, make_user):
    services.region_retire(actor=root, region=city.s22)
    codes = {r["code"] for r in transfer.export_tree_rows(actor=root)}
    assert len(codes) == CITY_NODES - 7 and "519902002" not in codes
    assert transfer.export_tree_rows(actor=make_user("nobody")) == []


# --- boundaries import errors ------------------------------------------------------------------------------------


def feature(code: str, geometry: dict | None, **properties) -> dict:
    return {"type": "Feature", "properties": {"code": code, **properties}, "geometry": geometry}


def geojson_bytes(*features: dict) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": list(features)}).encode()


def assert_boundaries_refused(actor, data: bytes) -> transfer.ImportPlan:
    before = dict(Region.objects.values_list("code", "boundary"))
    plan = transfer.plan_boundaries_import(actor=actor, data=data, filename="b.geojson")
    assert not plan.ok
    with pytest.raises(ValidationError):
        transfer.boundaries_import(actor=actor, data=data, filename="b.geojson")
    assert dict(Region.objects.values_list("code", "boundary")) == before
    assert not AuditLog.objects.filter(action="region.import_boundaries").exists()
    return plan


NEW_BOX = box(104.0, 30.0, 104.05, 30.05)
BOUNDARY_ERRORS = [
    (
        "unknown_code",
        [feature("519901001", NEW_BOX), feature("519909001", NEW_BOX)],
        2,
        "No region has the code 519909001.",
    ),
    ("crossing", [feature("519901001", BOWTIE)], 1, "polygon is not valid"),
    ("no_geometry", [feature("519901001", None)], 1, "The feature has no geometry."),
    ("no_code", [feature("", NEW_BOX)], 1, "The feature has no code"),
    ("repeated", [feature("519901001", NEW_BOX), feature("519901001", NEW_BOX)], 2, "repeated: it is also feature 1"),
    (
        "wrong_level",
        [feature("519901001", NEW_BOX, level="grid")],
        1,
        "街道11 (519901001) is a Street, but the feature says Grid.",
    ),
]


@pytest.mark.parametrize(
    ("features", "line", "message"), [c[1:] for c in BOUNDARY_ERRORS], ids=[c[0] for c in BOUNDARY_ERRORS]
)
def test_bad_feature_is_reported_and_no_boundary_changes(city, root, features, line, message):
    plan = assert_boundaries_refused(root, geojson_bytes(*features))
    assert any(e.line == line and message in e.message for e in plan.errors), errors_of(plan)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (PNG, "This file is not a GeoJSON file: it looks like a PNG image."),
        (EXE, "it looks like a Windows program"),
        (zip_bytes(), "it looks like a zip archive"),
        (b"code,name\n", "not valid JSON"),
        (b'{"type": "Polygon", "coordinates": []}', "must be a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "has no features"),
    ],
    ids=["png", "exe", "zip", "csv", "geometry", "empty"],
)
def test_malformed_geojson_is_refused(city, root, data, message):
    plan = assert_boundaries_refused(root, data)
    assert len(plan.errors) == 1 and plan.errors[0].line == 0
    assert message in plan.errors[0].message


@override_settings(GOVGRID_IMPORT_MAX_ROWS=1)
def test_geojson_over_the_feature_limit_is_refused(city, root):
    plan = assert_boundaries_refused(root, geojson_bytes(feature("519901001", NEW_BOX), feature("519901002", NEW_BOX)))
    assert errors_of(plan) == [
        (0, "", "The file has too many rows: at most 1 can be imported at once. Split it into smaller files.")
    ]


def test_boundaries_need_change_permission_on_each_node(city, make_user):
    admin = make_user("admin11")
    grant_role(admin, "region_admin", city.s11)
    grant_role(admin, "supervisor", city.d1)  # sees the district, changes only the street
    data = geojson_bytes(
        feature("519901001001", NEW_BOX), feature("519901002001", NEW_BOX), feature("519902001", NEW_BOX)
    )
    plan = assert_boundaries_refused(admin, data)
    assert errors_of(plan) == [
        (2, "519901002001", "You may not change 社区121 (519901002001)."),
        (3, "519902001", "No region has the code 519902001."),
    ]
    assert (
        transfer.boundaries_import(
            actor=admin, data=geojson_bytes(feature("519901001001", NEW_BOX)), filename="b.geojson"
        )
        == 1
    )
    community = Region.objects.get(code="519901001001")
    assert community.boundary == NEW_BOX and (community.min_lat, community.max_lat, community.centre_lat) == (
        30.0,
        30.05,
        30.025,
    )
