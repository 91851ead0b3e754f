"""The seeded two-level category taxonomy (事件分类), loaded after migrate when there are no categories.

Each entry: code, name, default urgency, lead department kind per dispatching level (3 street, 2 district).
Department kinds: cgzf 城管执法, scjg 市场监管, zj 住建, sw 水务, sthj 生态环境, xf 消防, pcs 派出所, sq 社区/街道综治.
"""

from __future__ import annotations

N, U, E = "normal", "urgent", "emergency"

TAXONOMY: list[tuple[str, str, list[tuple[str, str, str, dict[str, str]]]]] = [
    (
        "mdjf",
        "矛盾纠纷",
        [
            ("mdjf-llj", "邻里纠纷", N, {"3": "pcs", "2": "pcs"}),
            ("mdjf-jt", "家庭纠纷", N, {"3": "pcs", "2": "pcs"}),
            ("mdjf-wy", "物业纠纷", N, {"3": "zj", "2": "zj"}),
            ("mdjf-lz", "劳资纠纷", U, {"3": "scjg", "2": "scjg"}),
            ("mdjf-td", "土地山林纠纷", N, {"3": "zj", "2": "zj"}),
        ],
    ),
    (
        "zaya",
        "治安隐患",
        [
            ("zaya-ksry", "可疑人员", U, {"3": "pcs", "2": "pcs"}),
            ("zaya-db", "涉赌涉黄线索", U, {"3": "pcs", "2": "pcs"}),
            ("zaya-jk", "监控设施损坏", N, {"3": "pcs", "2": "pcs"}),
            ("zaya-zz", "群租房隐患", N, {"3": "pcs", "2": "zj"}),
        ],
    ),
    (
        "aqyh",
        "安全隐患",
        [
            ("aqyh-xftd", "消防通道堵塞", U, {"3": "xf", "2": "xf"}),
            ("aqyh-rq", "燃气隐患", E, {"3": "zj", "2": "zj"}),
            ("aqyh-dp", "电动车违规充电", U, {"3": "xf", "2": "xf"}),
            ("aqyh-wf", "危房险情", E, {"3": "zj", "2": "zj"}),
            ("aqyh-gk", "高空坠物隐患", U, {"3": "zj", "2": "zj"}),
        ],
    ),
    (
        "csgl",
        "城市管理",
        [
            ("csgl-zdjy", "占道经营", N, {"3": "cgzf", "2": "cgzf"}),
            ("csgl-wfjs", "违法建设", N, {"3": "cgzf", "2": "cgzf"}),
            ("csgl-ldlf", "乱堆乱放", N, {"3": "cgzf", "2": "cgzf"}),
            ("csgl-wzgg", "违规户外广告", N, {"3": "cgzf", "2": "cgzf"}),
            ("csgl-tc", "乱停乱放", N, {"3": "pcs", "2": "cgzf"}),
        ],
    ),
    (
        "hjws",
        "环境卫生",
        [
            ("hjws-lj", "垃圾清运不及时", N, {"3": "cgzf", "2": "cgzf"}),
            ("hjws-zs", "噪声扰民", N, {"3": "sthj", "2": "sthj"}),
            ("hjws-yc", "油烟污染", N, {"3": "sthj", "2": "sthj"}),
            ("hjws-ws", "污水外溢", U, {"3": "sw", "2": "sw"}),
            ("hjws-ch", "病媒生物滋生", N, {"3": "cgzf", "2": "cgzf"}),
        ],
    ),
    (
        "scjg",
        "市场监管",
        [
            ("scjg-spaq", "食品安全", U, {"3": "scjg", "2": "scjg"}),
            ("scjg-wzjy", "无照经营", N, {"3": "scjg", "2": "scjg"}),
            ("scjg-jg", "价格欺诈", N, {"3": "scjg", "2": "scjg"}),
            ("scjg-tzsb", "特种设备隐患", U, {"3": "scjg", "2": "scjg"}),
        ],
    ),
    (
        "msfw",
        "民生服务",
        [
            ("msfw-djlr", "独居老人求助", U, {"3": "sq", "2": "sq"}),
            ("msfw-kn", "困难群众帮扶", N, {"3": "sq", "2": "sq"}),
            ("msfw-cj", "残疾人服务", N, {"3": "sq", "2": "sq"}),
            ("msfw-ts", "停水停电咨询", N, {"3": "sw", "2": "sw"}),
        ],
    ),
    (
        "jcss",
        "基础设施",
        [
            ("jcss-dlps", "道路破损", N, {"3": "zj", "2": "zj"}),
            ("jcss-jgqs", "井盖缺失", E, {"3": "sw", "2": "sw"}),
            ("jcss-ld", "路灯不亮", N, {"3": "cgzf", "2": "cgzf"}),
            ("jcss-gs", "供水管道漏水", U, {"3": "sw", "2": "sw"}),
            ("jcss-xsgd", "下水道堵塞", N, {"3": "sw", "2": "sw"}),
        ],
    ),
    (
        "stwh",
        "生态环境",
        [
            ("stwh-sz", "河道水质异常", U, {"3": "sthj", "2": "sthj"}),
            ("stwh-fs", "焚烧垃圾秸秆", N, {"3": "sthj", "2": "sthj"}),
            ("stwh-yc", "扬尘污染", N, {"3": "sthj", "2": "cgzf"}),
        ],
    ),
]

RESPONSE_TEMPLATES: list[tuple[str | None, str, str]] = [
    (None, "call_street", "社区已多次协调未果，需街道协调相关部门处置。"),
    (None, "call_street", "涉及多个部门职责，社区无法独立处置。"),
    (None, "settle", "经社区网格员现场协调，双方已达成一致。"),
    (None, "return", "事件信息不完整，请补充现场照片和具体地址后重新上报。"),
    (None, "dispatch", "请于时限内到场处置，并上传处置前后照片。"),
    (None, "verify_failed", "现场复核问题仍存在，请返工处置。"),
    (None, "cancel", "经核实，该事件不属实。"),
    ("mdjf-llj", "settle", "已组织双方调解，签订调解协议。"),
    ("csgl-zdjy", "dispatch", "请城管执法部门依法劝离占道经营摊点。"),
    ("aqyh-xftd", "dispatch", "请立即清理消防通道堵塞物，确保通道畅通。"),
]


# Groups whose categories residents may report through Open311 (public, not about people).
PUBLIC_GROUPS = {"csgl", "hjws"}
# Questions asked of residents (GeoReport v2 attributes), per category.
QUESTIONS = {
    "csgl-zdjy": [
        {
            "code": "blocking",
            "description": "是否阻碍通行 / Does it block the way?",
            "datatype": "singlevaluelist",
            "required": True,
            "values": [{"key": "yes", "name": "是 / yes"}, {"key": "no", "name": "否 / no"}],
        }
    ]
}


def ensure_categories(**_kwargs) -> None:
    """Load the taxonomy when there are no categories yet (post_migrate); admins edit it afterwards."""
    from .models import Category, ResponseTemplate

    if Category.objects.exists():
        return
    for g_index, (g_code, g_name, children) in enumerate(TAXONOMY):
        group = Category.objects.create(code=g_code, name=g_name, sort_order=g_index * 100)
        for c_index, (code, name, urgency, kinds) in enumerate(children):
            Category.objects.create(
                parent=group,
                code=code,
                name=name,
                default_urgency=urgency,
                lead_department_kinds=kinds,
                sort_order=g_index * 100 + c_index + 1,
                is_public=g_code in PUBLIC_GROUPS,
                keywords=name,
                questions=QUESTIONS.get(code, []),
            )
    from govgrid import versioned_cache

    from .selectors import CATEGORIES

    versioned_cache.raise_version(CATEGORIES)  # a database loaded anew (tests, a reset) holds new ids
    by_code = {c.code: c for c in Category.objects.all()}
    for i, (code, transition, text) in enumerate(RESPONSE_TEMPLATES):
        ResponseTemplate.objects.create(
            category=by_code.get(code) if code else None, transition=transition, text=text, sort_order=i
        )
