"""The demo city's mediation: a people's mediator login in 东湖和平社区 and two disputes, made through the services
(seed_demo loads them after the cases)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from grids import services as grid_services
from grids.demo import DEMO_PASSWORD, system_actor
from grids.models import Grant, Region, Role, User

from . import services
from .models import Dispute, Kind

MEDIATOR = ("mediator", "陈调解", "peoples_mediator", "519902001001", "人民调解员 · 东湖和平社区 (people's mediator)")


def seed_demo_mediation() -> tuple[tuple[str, str], int]:
    """The mediator login (username, what) and the number of disputes added (0 when they exist)."""
    username, display, role_code, code, what = MEDIATOR
    community = Region.objects.get(code=code)
    actor = system_actor()
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, display_name=display, region=community, phone="13800000000")
        user.set_password(DEMO_PASSWORD)
        user.save()
    role = Role.objects.get(code=role_code)
    if not Grant.objects.filter(region=community, role=role, user=user).exists():
        grid_services.grant_create(actor=actor, region=community, role=role, user=user)
    if Dispute.objects.filter(region__path__startswith=community.path).exists():
        return (username, what), 0
    grid = Region.objects.get(code=f"{code}001")
    noise = services.dispute_open(
        actor=user, region=grid, kind=Kind.NEIGHBOURS, title="楼上装修噪音扰民", place="和平小区2栋"
    )
    services.dispute_party_add(actor=user, dispute=noise, side="applicant", name="刘阿姨", claim="晚上八点后停止施工")
    services.dispute_party_add(actor=user, dispute=noise, side="respondent", name="何先生", claim="工期紧，希望理解")
    services.dispute_session_record(
        actor=user,
        dispute=noise,
        held_on=timezone.localdate() - dt.timedelta(days=1),
        place="社区调解室",
        attendees="刘阿姨、何先生、陈调解",
        notes="双方陈述各自诉求，约定下周再谈施工时间。",
    )
    parking = services.dispute_open(
        actor=user, region=grid, kind=Kind.PROPERTY, title="小区车位收费争议", place="和平小区物业办公室"
    )
    services.dispute_party_add(
        actor=user, dispute=parking, side="applicant", name="业主代表王先生", claim="车位费不涨价"
    )
    services.dispute_party_add(actor=user, dispute=parking, side="respondent", name="和平物业公司", claim="按合同调价")
    services.dispute_session_record(
        actor=user, dispute=parking, held_on=timezone.localdate(), notes="物业同意本年度不调价，明年公示后再议。"
    )
    services.dispute_agree(
        actor=user, dispute=parking, terms="一、本年度车位费维持原价；\n二、明年调价须提前三十日公示并听取业主意见。"
    )
    return (username, what), 2
