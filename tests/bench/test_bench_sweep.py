from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from cases.models import StepDeadline
from notifications.models import Notification

CITY = "529500"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_sweep_measures_one_and_two_processes_and_leaves_nothing_behind(tmp_path):
    call_command("seed_scale", grids=40, staff=60, city_code=CITY, stdout=StringIO())
    call_command("seed_cases", cases=300, city_code=CITY, days=30, stdout=StringIO())
    steps_before = StepDeadline.objects.count()
    notices_before = Notification.objects.count()
    out, doc = StringIO(), tmp_path / "performance.md"
    call_command("bench_sweep", steps=400, workers="1,2", city_code=CITY, batch=50, output=doc, stdout=out)
    text = out.getvalue()
    assert "400 steps due at once, 1 sweep process(es)" in text and "2 sweep process(es)" in text
    section = doc.read_text()
    assert "<!-- bench_sweep:start -->" in section and "| 2 | 400 |" in section
    assert "| floor s | × floor |" in section and "(floor " in text  # the floor beside each figure
    # Both processes took a share of the rows (SKIP LOCKED), and the run cleaned up after itself.
    two = section.split("| 2 | 400 |", 1)[1].splitlines()[0]
    shares = [int(s.replace(",", "")) for s in two.rsplit("|", 2)[-2].split("/")]
    assert sum(shares) == 400
    assert StepDeadline.objects.count() == steps_before
    assert Notification.objects.count() == notices_before


def test_bench_sweep_refuses_bad_arguments(db):
    with pytest.raises(CommandError, match="PostgreSQL|workers|city"):
        call_command("bench_sweep", steps=10, workers="one", stdout=StringIO())
