"""The dashboard as an XLSX workbook: one sheet per table of the page, Chinese headers (the figures a city sends
upwards are read in Chinese, whatever the viewer's language)."""

from __future__ import annotations

from io import BytesIO
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from . import disputes as ledger
from .indicators import DEFINITIONS, Dashboard

RATE_HEADERS = [
    ("closure_rate", "结案率(%)"),
    ("on_time_close_rate", "按期结案率(%)"),
    ("dispatch_rate", "按时派遣率(%)"),
    ("rework_rate", "返工率(%)"),
    ("rehandle_rate", "重办率(%)"),
    ("satisfaction_rate", "满意率(%)"),
    ("avg_hours", "平均办结工时(h)"),
    ("p90_hours", "P90办结工时(h)"),
    ("local_rate", "就地解决率(%)"),
]
HEADLINE = {
    "new": "新增案件",
    "open": "当前在办",
    "overdue": "当前超期",
    "closed": "结案数",
    **dict(RATE_HEADERS),
}


def sheet(wb: Workbook, title: str, headers: list[str], rows: list[list]) -> None:
    """One sheet of a workbook: bold headers, the rows, columns wide enough for the headers."""
    ws = wb.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    for i, h in enumerate(headers):
        ws.column_dimensions[ws.cell(row=1, column=i + 1).column_letter].width = max(10, 2 * len(h) + 2)


def _rates(r: dict) -> list:
    return [r.get(code) for code, _h in RATE_HEADERS]


def workbook(d: Dashboard, disputes: dict[str, Any] | None = None) -> bytes:
    """The dashboard as XLSX: one sheet per table, Chinese headers; with the mediation ledger's figures
    (``dashboard.disputes``), their sheet too."""
    wb = Workbook()
    wb.remove(wb.active)
    period = f"{d.period.start:%Y-%m-%d} 至 {d.period.end:%Y-%m-%d}"
    values = {**{k: d.totals.get(k) for k in ("new", "open", "overdue", "closed")}, **d.rates}
    sheet(
        wb,
        "指标",
        ["指标", "数值", "口径", "区域", "统计期"],
        [[HEADLINE[code], values.get(code), str(DEFINITIONS[code][1]), d.region.name, period] for code in HEADLINE],
    )
    sheet(wb, "在办状态", ["状态", "案件数"], [[label, n] for _s, label, n in d.open_by_state])
    sheet(
        wb,
        "下级区域",
        ["区域", "代码", "新增", "结案", "当前在办", "当前超期", *(h for _c, h in RATE_HEADERS)],
        [[r["name"], r["code"], r["new"], r["closed"], r["open"], r["overdue"], *_rates(r)] for r in d.children],
    )
    sheet(
        wb,
        "分类大类",
        ["大类", "新增", "结案", *(h for _c, h in RATE_HEADERS)],
        [[r["name"], r["new"], r["closed"], *_rates(r)] for r in d.groups],
    )
    sheet(
        wb,
        "事件分类",
        ["分类", "新增", "结案", *(h for _c, h in RATE_HEADERS)],
        [[r["name"], r["new"], r["closed"], *_rates(r)] for r in d.categories],
    )
    sheet(
        wb,
        "职能部门",
        ["部门", "签收", "按时签收率(%)", "办结", "按时办结率(%)", "退单", "当前超期"],
        [
            [r["name"], r["signed"], r["signed_rate"], r["done"], r["done_rate"], r["refused"], r["overdue"]]
            for r in d.departments
        ],
    )
    sheet(wb, "来源", ["来源", "新增"], [[r["name"], r["new"]] for r in d.sources])
    sheet(wb, "时段", ["时段", "新增"], [[f"{r['hour']:02d}时", r["new"]] for r in d.hours])
    sheet(wb, "趋势", ["日期", "新增", "结案"], [[f"{r['day']:%Y-%m-%d}", r["new"], r["closed"]] for r in d.trend])
    if disputes is not None:
        sheet(wb, "矛盾纠纷", ["指标", "数值", "区域", "统计期"], ledger.rows(disputes, d.region.name, period))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
