"""The demo city's risk warnings: a few real findings for the weekly 研判 list, then the rules run (seed_demo loads
them after the cases, the households and the disputes).

- The demo households are put on record a season ago (as a city's records would be), so a lonely elder whom nobody
  visited in 60 days is found (褚德福 in 幸福里).
- A grid worker reports five dark street lamps along one road within 200 m (a cluster), and names the same resident
  as the reporter of three of them (a household in three cases in 90 days).

The rules run over today's data as the demo's first night, so the list opens on this week with the findings; the
beat job goes on from the next night.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from cases import services as case_services
from cases.case_parties import case_party_add
from cases.models import Category
from grids.models import Region, User
from parties.models import Household, Resident

from . import services
from .models import Warning

GRID = "519902001001001"  # 东湖和平社区第1网格
LAMPS = [(0.0000, 0.0000), (0.0003, 0.0002), (0.0006, 0.0001), (0.0004, 0.0006), (0.0001, 0.0008)]  # within ~120 m


def seed_demo_risk() -> int:
    """The warnings raised by the demo's first night (0 when the demo has warnings already)."""
    if Warning.objects.exists():
        return 0
    grid = Region.objects.get(code=GRID)
    worker = User.objects.get(username="gridworker")
    city = grid.path[: Region.steplen]
    season_ago = timezone.now() - timedelta(days=120)
    Household.objects.filter(region__path__startswith=city, created_at__gt=season_ago).update(created_at=season_ago)
    lamp = Category.objects.get(code="jcss-ld")
    reporter = Resident.objects.filter(region=grid, name="张建国").first()
    lat0, lng0 = grid.centre_lat or 30.0, grid.centre_lng or 104.0
    for i, (dlat, dlng) in enumerate(LAMPS, start=1):
        case = case_services.case_report(
            reporter=worker,
            category=lamp,
            title=f"和平路路灯不亮（{i}号杆）",
            description="夜间整段道路漆黑，居民反映出行不便。",
            region=grid,
            lat=round(lat0 + dlat, 6),
            lng=round(lng0 + dlng, 6),
            address=f"和平路{i * 10}号附近",
        )
        if reporter is not None and i <= 3:
            case_party_add(actor=worker, case=case, role="reporter", resident=reporter)
    run = services.warnings_run_night(timezone.localdate())
    return sum((run.counts or {}).values()) if run else 0
