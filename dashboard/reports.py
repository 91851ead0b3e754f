"""What a monthly report (月报) says, and its XLSX: the dashboard's figures of the region for the month
(``indicators.compute``, so the report and the dashboard of that month agree), the sub-regions and departments
ranked, and the top problems against the month before.

``build`` returns the figures as plain JSON (kept on the report: the printable page shows them, in the reader's
language); ``workbook`` writes the same figures as XLSX with Chinese headers, one sheet per table.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from io import BytesIO
from typing import Any

from django.db.models import Sum
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

from cases.models import CaseDaily
from cases.workflow import State
from grids.models import Region

from . import disputes
from .export import HEADLINE, RATE_HEADERS, sheet
from .indicators import DEFINITIONS, Period, compute

TOP_PROBLEMS = 10
# Sub-regions and departments ranked by each figure, highest first: the rates best first, overdue cases and
# refused work orders most first.
CHILD_RANKINGS = ("closure_rate", "on_time_close_rate", "satisfaction_rate", "overdue")
DEPARTMENT_RANKINGS = ("done_rate", "refused")
# The sheets' names and headers (Chinese, whatever the reader's language: the figures go upwards in Chinese).
RANKING_SHEETS = {
    "closure_rate": ("结案率排名", "结案率(%)"),
    "on_time_close_rate": ("按期结案率排名", "按期结案率(%)"),
    "satisfaction_rate": ("满意率排名", "满意率(%)"),
    "overdue": ("超期排名", "当前超期"),
    "done_rate": ("部门按时办结排名", "按时办结率(%)"),
    "refused": ("部门退单排名", "退单"),
}


def month_bounds(month: date) -> tuple[date, date]:
    """The first and last day of the month of ``month``."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


def previous_month(month: date) -> date:
    return (month.replace(day=1) - timedelta(days=1)).replace(day=1)


def ranked(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """``rows`` ordered by ``key``, highest first, with their rank (1, 2, 2, 4 …: equal figures share a rank);
    rows without the figure (a rate with nothing to divide by) come last, unranked."""
    known = sorted((r for r in rows if r.get(key) is not None), key=lambda r: (-r[key], r["name"]))
    out, rank, last = [], 0, object()
    for i, r in enumerate(known, start=1):
        if r[key] != last:
            rank, last = i, r[key]
        out.append({"rank": rank, "name": r["name"], "value": r[key], "id": r["id"]})
    out += [{"rank": None, "name": r["name"], "value": None, "id": r["id"]} for r in rows if r.get(key) is None]
    return out


def _previous_new(region: Region, month: date) -> dict[int, int]:
    start, end = month_bounds(previous_month(month))
    rows = (
        CaseDaily.objects.filter(region=region, day__gte=start, day__lte=end)
        .values("category_id")
        .annotate(new=Sum("new"))
    )
    return {r["category_id"]: r["new"] or 0 for r in rows}


def build(*, region: Region, month: date, now: datetime) -> dict[str, Any]:
    """The figures of ``region``'s report for ``month`` (unscoped: the job and the admins' command call it)."""
    start, end = month_bounds(month)
    d = compute(region=region, period=Period("custom", start, end), now=now)
    headline = {**{k: d.totals.get(k) for k in ("new", "open", "overdue", "closed")}, **d.rates}
    rate_codes = [code for code, _h in RATE_HEADERS]
    children = [
        {k: r[k] for k in ("id", "name", "code", "new", "closed", "open", "overdue", "evaluated", *rate_codes)}
        for r in d.children
    ]
    departments = [dict(r) for r in d.departments]
    before = _previous_new(region, month)
    problems = []
    for r in d.categories[:TOP_PROBLEMS]:
        if not r["new"]:
            break
        prev = before.get(r["id"], 0)
        change = r["new"] - prev
        problems.append(
            {
                "id": r["id"],
                "name": r["name"],
                "new": r["new"],
                "previous": prev,
                "change": change,
                "change_rate": round(100 * change / prev, 1) if prev else None,
            }
        )
    return {
        "version": 1,
        "region": {"id": region.pk, "name": region.name, "code": region.code, "depth": region.depth},
        "month": f"{start:%Y-%m}",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "generated_at": now.isoformat(),
        "headline": headline,
        "open_by_state": [[code, n] for code, _label, n in d.open_by_state],
        "children": children,
        "child_rankings": {key: ranked(children, key) for key in CHILD_RANKINGS} if children else {},
        "departments": departments,
        "department_rankings": {key: ranked(departments, key) for key in DEPARTMENT_RANKINGS},
        "top_problems": problems,
        "groups": [{k: r[k] for k in ("id", "name", "new", "closed", *rate_codes)} for r in d.groups],
        "categories": [{k: r[k] for k in ("id", "name", "new", "closed", *rate_codes)} for r in d.categories],
        "sources": [{"code": r["code"], "new": r["new"]} for r in d.sources],
        "trend": [{"day": r["day"].isoformat(), "new": r["new"], "closed": r["closed"]} for r in d.trend],
        "disputes": disputes.month_figures(region, start, end),
    }


# --- the XLSX ------------------------------------------------------------------------------------------------


def workbook(data: dict[str, Any]) -> bytes:
    """The report as XLSX: one sheet per table, Chinese headers, the same figures as the page."""
    from cases.models import Source

    wb = Workbook()
    wb.remove(wb.active)
    region, month = data["region"]["name"], data["month"]
    rates = [h for _c, h in RATE_HEADERS]
    with translation.override("zh-hans"):
        definitions = {code: str(text) for code, (_label, text) in DEFINITIONS.items()}
        states = {s: str(State(s).label) for s, _n in data["open_by_state"]}
        sources = {code: str(label) for code, label in Source.choices}
    sheet(
        wb,
        "指标",
        ["指标", "数值", "口径", "区域", "月份"],
        [[HEADLINE[c], data["headline"].get(c), definitions[c], region, month] for c in HEADLINE],
    )
    sheet(wb, "在办状态", ["状态", "案件数"], [[states[s], n] for s, n in data["open_by_state"]])
    if data["children"]:
        sheet(
            wb,
            "下级区域",
            ["区域", "代码", "新增", "结案", "当前在办", "当前超期", *rates],
            [
                [
                    r["name"],
                    r["code"],
                    r["new"],
                    r["closed"],
                    r["open"],
                    r["overdue"],
                    *(r[c] for c, _h in RATE_HEADERS),
                ]
                for r in data["children"]
            ],
        )
        for key in CHILD_RANKINGS:
            title, header = RANKING_SHEETS[key]
            sheet(
                wb,
                title,
                ["名次", "区域", header],
                [[r["rank"], r["name"], r["value"]] for r in data["child_rankings"][key]],
            )
    sheet(
        wb,
        "职能部门",
        ["部门", "签收", "按时签收率(%)", "办结", "按时办结率(%)", "退单", "当前超期"],
        [
            [r["name"], r["signed"], r["signed_rate"], r["done"], r["done_rate"], r["refused"], r["overdue"]]
            for r in data["departments"]
        ],
    )
    for key in DEPARTMENT_RANKINGS:
        title, header = RANKING_SHEETS[key]
        sheet(
            wb,
            title,
            ["名次", "部门", header],
            [[r["rank"], r["name"], r["value"]] for r in data["department_rankings"][key]],
        )
    sheet(
        wb,
        "突出问题",
        ["名次", "事件分类", "本月新增", "上月新增", "增减", "增减(%)"],
        [
            [i, r["name"], r["new"], r["previous"], r["change"], r["change_rate"]]
            for i, r in enumerate(data["top_problems"], start=1)
        ],
    )
    sheet(
        wb,
        "分类大类",
        ["大类", "新增", "结案", *rates],
        [[r["name"], r["new"], r["closed"], *(r[c] for c, _h in RATE_HEADERS)] for r in data["groups"]],
    )
    sheet(
        wb,
        "事件分类",
        ["分类", "新增", "结案", *rates],
        [[r["name"], r["new"], r["closed"], *(r[c] for c, _h in RATE_HEADERS)] for r in data["categories"]],
    )
    sheet(wb, "来源", ["来源", "新增"], [[sources.get(r["code"], r["code"]), r["new"]] for r in data["sources"]])
    sheet(wb, "趋势", ["日期", "新增", "结案"], [[r["day"], r["new"], r["closed"]] for r in data["trend"]])
    if "disputes" in data:  # reports written before the mediation ledger have none
        sheet(wb, "矛盾纠纷", ["指标", "数值", "区域", "统计期"], disputes.rows(data["disputes"], region, month))
    out = BytesIO()
    wb.save(out)
    return out.getvalue()


# --- the printable page --------------------------------------------------------------------------------------

RANKING_TITLES = {
    "closure_rate": _("By closure rate (结案率)"),
    "on_time_close_rate": _("By on-time closure rate (按期结案率)"),
    "satisfaction_rate": _("By satisfaction rate (满意率)"),
    "overdue": _("By cases overdue now"),
    "done_rate": _("By work done in time"),
    "refused": _("By work orders refused (退单)"),
}


def page_context(report) -> dict[str, Any]:
    """What the report's page shows: the kept figures, labelled in the reader's language."""
    from cases.models import Source

    data = report.data
    unit = {"avg_hours": "h", "p90_hours": "h"}
    headline = [
        {
            "code": code,
            "label": label,
            "definition": definition,
            "value": data["headline"].get(code),
            "unit": unit.get(code, "%" if code.endswith("_rate") else ""),
        }
        for code, (label, definition) in DEFINITIONS.items()
    ]
    sources = dict(Source.choices)

    def titled(rankings: dict[str, list]) -> list[dict[str, Any]]:
        return [
            {"code": k, "title": RANKING_TITLES[k], "rows": rows, "rate": k.endswith("_rate")}
            for k, rows in rankings.items()
        ]

    start, end = date.fromisoformat(data["start"]), date.fromisoformat(data["end"])
    return {
        "report": report,
        "data": data,
        "start": start,
        "end": end,
        "headline": headline,
        "states": [(State(s).label, n) for s, n in data["open_by_state"]],
        "sources": [(sources.get(r["code"], r["code"]), r["new"]) for r in data["sources"]],
        "child_rankings": titled(data.get("child_rankings") or {}),
        "department_rankings": titled(data.get("department_rankings") or {}),
        "dashboard_query": f"region={report.region_id}&period=custom&start={start:%Y-%m-%d}&end={end:%Y-%m-%d}",
    }
