"""Case forms and uploads refuse bad input with a clear answer and write nothing."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from cases import attachments, services
from cases.models import Attachment, Case, CaseEvent
from cases.workflow import State

ROOT = Path(__file__).resolve().parents[2]


def client_for(user) -> Client:
    c = Client(headers={"accept-language": "en"})
    c.force_login(user)
    return c


@pytest.fixture
def called(cast, category):
    case = services.case_report(reporter=cast.worker, category=category, title="占道经营", region=cast.city.g1111)
    return services.case_transition(case=case, action="call_street", actor=cast.community, comment="需街道协调")


@pytest.mark.parametrize("version", [None, "", "abc", "-1", "99999999999999999999"])
def test_a_case_action_without_a_good_version_is_a_400_that_says_what_to_do(cast, called, version):
    data = {"comment": "退回"} if version is None else {"comment": "退回", "version": version}
    response = client_for(cast.dispatcher).post(reverse("case_action", args=[called.pk, "return"]), data)
    assert response.status_code == 400
    assert "This form is incomplete or out of date: reload the case page and try again." in response.text
    fresh = Case.objects.get(pk=called.pk)
    assert fresh.state == State.CALLED and fresh.version == called.version
    assert not CaseEvent.objects.filter(case=called, transition="return").exists()


def test_a_work_order_step_without_a_version_is_a_400(cast, called):
    services.case_transition(case=called, action="accept", actor=cast.dispatcher)
    case = services.case_transition(
        case=Case.objects.get(pk=called.pk), action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]]
    )
    order = case.work_orders.get()
    response = client_for(cast.cg).post(reverse("work_order_action", args=[order.pk, "sign"]), {})
    assert response.status_code == 400 and "reload the case page" in response.text
    order.refresh_from_db()
    assert order.state == "assigned"


def _png(size, mode="1") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("size", [(9000, 9000), (10000, 11000)])
def test_images_above_the_pixel_limit_are_refused_before_decoding(size):
    data = _png(size)
    assert len(data) < attachments.max_bytes()  # small files: the size on disk says nothing about the pixels
    with pytest.raises(ValidationError) as refused:
        attachments.check_files([SimpleUploadedFile("bomb.png", data, "image/png")])
    assert "too large an image" in " ".join(refused.value.messages)


def test_a_refused_image_on_the_report_page_saves_nothing(cast, category):
    before = Case.objects.count(), Attachment.objects.count()
    response = client_for(cast.worker).post(
        reverse("case_report"),
        {
            "category": category.pk,
            "title": "大图",
            "region": cast.city.g1111.pk,
            "urgency": "normal",
            "source": "patrol",
            "files": SimpleUploadedFile("bomb.png", _png((9000, 9000)), "image/png"),
        },
    )
    assert response.status_code == 200 and "too large an image" in response.text
    assert (Case.objects.count(), Attachment.objects.count()) == before


def test_a_phone_photo_at_the_limit_is_checked_and_thumbnailed_in_little_memory(tmp_path):
    photo = tmp_path / "photo.jpg"
    Image.new("L", (7000, 7000), 128).convert("RGB").save(photo, format="JPEG", quality=60)  # 49 megapixels
    png = tmp_path / "screen.png"
    Image.new("RGB", (6000, 6000), (10, 20, 30)).save(png, format="PNG")  # 36 megapixels decoded whole: 108 MB
    code = f"""
import django
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from cases import attachments
for path in ({str(photo)!r}, {str(png)!r}):
    data = open(path, "rb").read()
    checked = attachments.check_files([SimpleUploadedFile(path, data)])
    thumb = attachments._thumbnail(checked[0].data)
    assert len(thumb) > 100
# VmHWM: this process's own peak (getrusage would keep the parent's peak across fork and exec)
status = open("/proc/self/status").read()
print(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) // 1024)
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "govgrid.settings", "DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stdout.split()[-1])
    assert peak_mb < 300, f"peak memory {peak_mb} MB"
