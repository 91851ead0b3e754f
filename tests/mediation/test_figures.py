"""The ledger's figures per region and period, and their place on the dashboard and its XLSX."""

import datetime as dt
from io import BytesIO

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from mediation import services
from mediation.models import FollowUp, Kind
from mediation.selectors import dispute_figures

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def test_figures(med, client):
    today = timezone.localdate()
    a = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=a, user=med.mediator)
    agreement = services.dispute_agree(actor=med.mediator, dispute=a, terms="条款")
    f90 = FollowUp.objects.get(agreement=agreement, days=90)
    services.follow_up_record(actor=med.mediator, follow_up=f90, outcome="held")
    b = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.LAND, title="地界")
    services.dispute_hand_over(actor=med.mediator, dispute=b, target="court", reason="确认", receiver="法院")
    services.dispute_open(actor=med.far, region=med.city.g2111, kind=Kind.FAMILY, title="别区")
    figures = dispute_figures(user=med.supervisor, region=med.city.d1, start=today, end=today)
    assert figures == {
        "opened": 2,
        "settled": 1,
        "settled_locally": 1,
        "handed_over": 1,
        "fell_apart": 0,
        "held_90": 1,
        "local_rate": 0.5,
    }
    assert (
        dispute_figures(
            user=med.supervisor,
            region=med.city.d1,
            start=today - dt.timedelta(days=9),
            end=today - dt.timedelta(days=1),
        )["opened"]
        == 0
    )
    client.force_login(med.supervisor)
    page = client.get(reverse("dashboard:index"), {"region": med.city.d1.pk, "period": "today"})
    assert page.status_code == 200 and 'data-testid="dispute-figure-local_rate"' in page.content.decode()
    assert "50.0%" in page.content.decode()
    xlsx = client.get(reverse("dashboard:export"), {"region": med.city.d1.pk, "period": "today"})
    sheet = load_workbook(BytesIO(xlsx.content))["矛盾纠纷"]
    assert [r[:2] for r in sheet.iter_rows(min_row=2, values_only=True)][0] == ("新增纠纷", 2)
