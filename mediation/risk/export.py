"""The week's 研判 list as an XLSX workbook, with Chinese headers (read at the weekly meeting)."""

from __future__ import annotations

from io import BytesIO

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

HEADERS = [
    "序号",
    "区",
    "街道",
    "网格",
    "预警规则",
    "对象",
    "预警说明",
    "发现日期",
    "状态",
    "处理说明",
    "关联事件",
    "链接",
]


def rows_of(rows, *, base_url: str = "") -> list[list]:
    out = []
    for i, row in enumerate(rows, start=1):
        w = row.warning
        out.append(
            [
                i,
                w.district.name if w.district_id else "",
                w.street.name if w.street_id else "",
                w.region.name,
                row.rule_name,
                w.subject_label,
                row.explanation,
                w.found_on.isoformat(),
                str(w.get_status_display()),
                w.status_reason,
                w.case.number if w.case_id else "",
                base_url + w.get_absolute_url(),
            ]
        )
    return out


def workbook(*, title: str, rows: list[list]) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "研判清单"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append(HEADERS)
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    widths = [6, 10, 12, 16, 14, 24, 60, 12, 10, 24, 20, 30]
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=2, column=i).column_letter].width = width
    for line in ws.iter_rows(min_row=3, min_col=7, max_col=7):
        for cell in line:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.freeze_panes = "A3"
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
