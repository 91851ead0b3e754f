"""The mediation ledger's figures on the command centre (a section of the page, a sheet of its XLSX and of the
monthly report). Read from mediation.selectors.dispute_figures; kept apart from the case indicators."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.translation import gettext_lazy as _

from grids.models import Region

# code, label (page), header (XLSX, Chinese like the other sheets)
FIGURES: list[tuple[str, Any, str]] = [
    ("opened", _("Disputes opened"), "新增纠纷"),
    ("settled", _("Settled by agreement"), "调解成功"),
    ("settled_locally", _("Settled at community level"), "就地化解"),
    ("local_rate", _("Local settlement rate (就地化解率)"), "就地化解率"),
    ("held_90", _("Agreements held at 90 days"), "90日回访履行"),
    ("handed_over", _("Handed over"), "移交"),
    ("fell_apart", _("Agreements that fell apart"), "协议反悔"),
]


def figures(*, user: Any, region: Region, start: date, end: date) -> dict[str, Any]:
    from mediation.selectors import dispute_figures

    return dispute_figures(user=user, region=region, start=start, end=end)


def cards(values: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for code, label, _h in FIGURES:
        value = values.get(code)
        if code == "local_rate":
            value = f"{100 * value:.1f}%" if value is not None else "—"
        out.append({"code": code, "label": label, "value": value})
    return out


def rows(values: dict[str, Any], region_name: str, period: str) -> list[list]:
    return [[header, values.get(code), region_name, period] for code, _l, header in FIGURES]


def month_figures(region: Region, start: date, end: date) -> dict[str, Any]:
    """For the monthly report (unscoped, like the rest of the report: the job writes it for the region)."""
    from grids.demo import system_actor

    return figures(user=system_actor(), region=region, start=start, end=end)
