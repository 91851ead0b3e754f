"""Demo cases for the demo city 云川市 (loaded by ``seed_demo`` after the city): a dozen cases at every stage of the
loop, so each demo login finds work waiting and the lights, the queues and the supervision page have something to
show. Every case goes through the same services as the pages; loaded once (skipped when the city has cases).

Some clocks are started earlier than the moment of loading (``deadlines.started_at``), so that a few steps are
already due soon or overdue: the first sweep of ``make run`` then sends their reminders, 催办 and 督办.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from grids.models import Department, Region, User

from . import calendar, deadlines, services
from .models import Case, Category
from .workflow import WorkOrderState

CITY = "519900"
CALL = "社区协调未果，需街道协调相关部门处置。"
GRID = "519902001001001"  # 东湖和平社区第1网格 (gridworker)
GRID_NEXT = "519902001001002"
OTHER_DISTRICT_GRID = "519903001001001"  # 白鹭和平社区第1网格 (gridworker2)


def working_hours_ago(hours: float, now: datetime | None = None) -> datetime:
    """The moment ``hours`` working hours before ``now`` on the business calendar (to the minute): a binary
    search over the last few weeks, as working time only grows the further back one starts."""
    now = now or timezone.now()
    early, late = now - timedelta(days=max(14, hours)), now
    while late - early > timedelta(minutes=1):
        middle = early + (late - early) / 2
        if calendar.working_hours_between(middle, now) >= hours:
            early = middle
        else:
            late = middle
    return early


@transaction.atomic
def seed_demo_cases() -> int:
    """Load the demo cases; returns how many were made (0 when the city is missing or already has cases)."""
    city = Region.objects.filter(code=CITY).first()
    if city is None or Case.objects.filter(region__path__startswith=city.path).exists():
        return 0
    who = {u.username: u for u in User.objects.filter(username__in=_LOGINS)}
    if set(who) != set(_LOGINS):
        return 0
    grid, grid_next, far = (Region.objects.get(code=c) for c in (GRID, GRID_NEXT, OTHER_DISTRICT_GRID))
    cgzf, zj = (Department.objects.get(code=c) for c in ("519902-cgzf", "519902-zj"))
    made = []

    def report(code: str, title: str, where: Region = grid, by: str = "gridworker", **extra) -> Case:
        case = services.case_report(
            reporter=who[by], category=Category.objects.get(code=code), title=title, region=where, **extra
        )
        made.append(case)
        return case

    def act(case: Case, action: str, by: str, **data) -> Case:
        return services.case_transition(case=case, action=action, actor=who[by], **data)

    def accepted(code: str, title: str, address: str) -> Case:
        """Reported, called to the street and accepted there."""
        case = act(report(code, title, address=address), "call_street", "community", comment=CALL)
        return act(case, "accept", "dispatcher")

    def step(case: Case, department: Department, action: str, by: str, **data) -> None:
        order = case.work_orders.get(department=department, state__in=[WorkOrderState.ASSIGNED, WorkOrderState.SIGNED])
        services.work_order_step(work_order=order, action=action, actor=who[by], **data)

    # Waiting for the community's triage.
    report("csgl-zdjy", "东湖路菜市场门口占道经营", description="早市摊点占用人行道约20米。", address="东湖路18号")
    report(
        "hjws-zs", "夜间施工噪音扰民", where=grid_next, by="leader", description="23点后仍在施工。", address="和平巷6号"
    )
    # Called to the street: the dispatcher's queue, one overdue, one due soon.
    with deadlines.started_at(working_hours_ago(5)):
        act(
            report("csgl-ldlf", "小区后门建筑垃圾乱堆", address="和平小区北门"),
            "call_street",
            "community",
            comment="社区多次劝导无果，需街道协调城管清运。",
        )
    with deadlines.started_at(working_hours_ago(1.7)):
        act(
            report("aqyh-xftd", "消防通道被私家车堵塞", address="和平小区3栋"),
            "call_street",
            "community",
            comment="联系不上车主，请街道协调。",
        )
    # Accepted, to be dispatched.
    accepted("csgl-wzgg", "临街商铺违规设置户外广告", "东湖路32号")
    # Dispatched to 城管执法局, not signed in time: the handler's inbox shows it red.
    case = accepted("csgl-wfjs", "楼顶违法搭建彩钢房", "和平小区7栋顶楼")
    with deadlines.started_at(working_hours_ago(9)):
        act(case, "dispatch", "dispatcher", departments=[cgzf], comment="请核实后依法处置。")
    # Dispatched to 住建局 (lead) and 城管执法局: one signed and at work, the other to sign.
    case = accepted("mdjf-wy", "物业撤场后小区垃圾无人清运", "幸福里小区")
    case = act(case, "dispatch", "dispatcher", departments=[zj, cgzf], comment="住建牵头，城管配合。")
    step(case, zj, "sign", "handler2")
    # Every department done: the grid worker verifies on site.
    case = accepted("csgl-zdjy", "学校门口流动摊贩聚集", "东湖小学南门")
    case = act(case, "dispatch", "dispatcher", departments=[cgzf])
    step(case, cgzf, "sign", "handler")
    step(case, cgzf, "complete", "handler", result="已劝离摊贩，设置提示牌。")
    # Settled by the community: to verify.
    act(report("mdjf-llj", "楼上漏水邻里纠纷", address="和平小区5栋"), "settle", "community", comment="已调解。")
    # The whole loop, closed and called back.
    case = accepted("csgl-ldlf", "绿化带内堆放杂物", "东湖路绿化带")
    case = act(case, "dispatch", "dispatcher", departments=[cgzf])
    step(case, cgzf, "sign", "handler")
    step(case, cgzf, "complete", "handler", result="已清理。")
    case = act(Case.objects.get(pk=case.pk), "verify_ok", "gridworker")
    case = act(case, "close", "dispatcher")
    act(case, "evaluate", "hotline", satisfaction="satisfied", comment="居民表示满意。")
    # Closed, the resident still to be called back (回访): the hotline operator's home counts it.
    case = accepted("csgl-ldlf", "人行道共享单车乱停放", "东湖路地铁站B口")
    case = act(case, "dispatch", "dispatcher", departments=[cgzf])
    step(case, cgzf, "sign", "handler")
    step(case, cgzf, "complete", "handler", result="已清理并划定停放区。")
    case = act(Case.objects.get(pk=case.pk), "verify_ok", "gridworker")
    act(case, "close", "dispatcher")
    # The other district: none of 青石区's people see it.
    report("csgl-zdjy", "江岸路夜市占道", where=far, by="gridworker2", address="江岸路夜市")
    return len(made)


_LOGINS = ("gridworker", "leader", "gridworker2", "community", "dispatcher", "handler", "handler2", "hotline")
