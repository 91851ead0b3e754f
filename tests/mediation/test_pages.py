"""The ledger's pages over HTTP: scope (404 across streets), masking, uploads, the case panel, query counts."""

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from mediation import services
from mediation.models import Dispute, File, Kind
from mediation.workflow import Status
from tests.factories import page_queries

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def jpeg(name="p.jpg") -> SimpleUploadedFile:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(out, format="JPEG")
    return SimpleUploadedFile(name, out.getvalue(), content_type="image/jpeg")


def pdf(name="scan.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(
        name, b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", content_type="application/pdf"
    )


@pytest.fixture
def settled(med, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    dispute = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    services.dispute_session_record(
        actor=med.mediator, dispute=dispute, held_on=dt.date.today(), notes="调解", files=[jpeg()]
    )
    agreement = services.dispute_agree(actor=med.mediator, dispute=dispute, terms="赔偿800元")
    scan = services.agreement_scan_upload(actor=med.mediator, agreement=agreement, file=pdf())
    return dispute, agreement, scan


def urls(dispute, agreement, scan):
    return [
        reverse("mediation:dispute", args=[dispute.pk]),
        reverse("mediation:agreement", args=[agreement.pk]),
        reverse("mediation:file", args=[scan.pk]),
    ]


def test_scope_is_404_across_streets(client, med, settled):
    dispute, agreement, scan = settled
    for user in (med.mediator, med.dispatcher, med.supervisor, med.worker):
        client.force_login(user)
        for url in urls(*settled):
            assert client.get(url).status_code == 200, (user, url)
        assert dispute.number in client.get(reverse("mediation:ledger")).content.decode()
    for user in (med.other_street, med.other_mediator, med.far, med.nobody):
        client.force_login(user)
        for url in urls(*settled):
            assert client.get(url).status_code == 404, (user, url)
        assert dispute.number not in client.get(reverse("mediation:ledger")).content.decode() or user == med.nobody
        assert client.post(reverse("mediation:agree", args=[dispute.pk]), {"terms": "x"}).status_code == 404


def test_nobody_without_the_permission_gets_no_ledger(client, med):
    client.force_login(med.nobody)
    assert client.get(reverse("mediation:ledger")).status_code == 404


def test_party_numbers_are_masked(client, med, settled):
    dispute, agreement, _scan = settled
    for user in (med.mediator, med.worker):
        client.force_login(user)
        for url in (
            reverse("mediation:dispute", args=[dispute.pk]),
            reverse("mediation:agreement", args=[agreement.pk]),
        ):
            html = client.get(url).content.decode()
            assert "张建国" in html and "李四" in html
            assert "13912345678" not in html and "13800001234" not in html
            assert med.resident.id_number_mask in html or "agreement" in url
        assert (
            'data-testid="reveal-phone"'
            not in client.get(reverse("mediation:dispute", args=[dispute.pk])).content.decode()
        )
    client.force_login(med.community)  # holds parties.view_personal_data: a "show" button, one log row per click
    html = client.get(reverse("mediation:dispute", args=[dispute.pk])).content.decode()
    assert 'data-testid="reveal-phone"' in html
    typed = dispute.dispute_parties.get(side="respondent")
    response = client.post(reverse("parties:reveal", args=["dispute_party", typed.pk, "phone"]))
    assert "13912345678" in response.content.decode()
    client.force_login(med.other_street)
    assert client.post(reverse("parties:reveal", args=["dispute_party", typed.pk, "phone"])).status_code == 404


def test_uploads_are_checked(client, med, settled):
    dispute, agreement, _scan = settled
    client.force_login(med.mediator)
    fake = SimpleUploadedFile("scan.pdf", b"<html>not a pdf</html>", content_type="application/pdf")
    response = client.post(reverse("mediation:scan_upload", args=[agreement.pk]), {"file": fake})
    assert response.status_code == 400 and "not a photo" in response.content.decode()
    big = SimpleUploadedFile("big.pdf", b"%PDF-" + b"0" * 2048 + b"%%EOF", content_type="application/pdf")
    from django.test import override_settings

    with override_settings(GOVGRID_ATTACHMENT_MAX_BYTES=1024):
        response = client.post(reverse("mediation:scan_upload", args=[agreement.pk]), {"file": big})
    assert response.status_code == 400 and "larger than" in response.content.decode()
    assert File.objects.filter(agreement=agreement).count() == 1
    # A session photo must be a photo.
    other = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.FAMILY, title="家事")
    response = client.post(
        reverse("mediation:session_add", args=[other.pk]),
        {"held_on": dt.date.today().isoformat(), "notes": "x", "files": [pdf()]},
    )
    assert response.status_code == 400
    response = client.post(
        reverse("mediation:session_add", args=[other.pk]),
        {"held_on": dt.date.today().isoformat(), "notes": "第一次", "files": [jpeg()]},
    )
    assert response.status_code == 302
    photo = File.objects.get(session__dispute=other)
    got = client.get(reverse("mediation:file", args=[photo.pk]))
    assert got.status_code == 200 and got["Content-Type"] == "image/jpeg" and got["X-Content-Type-Options"] == "nosniff"


def test_stale_form_is_409(client, med):
    dispute = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.FAMILY, title="家事")
    client.force_login(med.mediator)
    seen = dispute.version
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.community)
    response = client.post(
        reverse("mediation:session_add", args=[dispute.pk]),
        {"held_on": dt.date.today().isoformat(), "notes": "x", "version": seen},
    )
    assert response.status_code == 409 and "changed in the meantime" in response.content.decode()


def test_case_page_opens_and_shows_the_dispute(client, med):
    client.force_login(med.worker)
    case_url = reverse("case_detail", args=[med.case.pk])
    html = client.get(case_url).content.decode()
    assert 'data-testid="open-dispute"' in html
    response = client.post(reverse("mediation:from_case", args=[med.case.pk]))
    dispute = Dispute.objects.get(case=med.case)
    assert response.status_code == 302 and response["Location"] == dispute.get_absolute_url()
    html = client.get(case_url).content.decode()
    assert dispute.number in html and 'data-testid="open-dispute"' not in html
    client.force_login(med.other_street)
    assert client.post(reverse("mediation:from_case", args=[med.case.pk])).status_code == 404


def test_open_directly_and_the_ledger_filters(client, med):
    client.force_login(med.mediator)
    response = client.post(
        reverse("mediation:new"), {"region": med.city.g1112.pk, "kind": "labour", "title": "欠薪", "summary": ""}
    )
    assert response.status_code == 302
    dispute = Dispute.objects.get(title="欠薪")
    assert dispute.region == med.city.g1112
    ledger = reverse("mediation:ledger")
    assert "欠薪" in client.get(ledger, {"kind": "labour"}).content.decode()
    assert "欠薪" not in client.get(ledger, {"kind": "family"}).content.decode()
    assert "欠薪" in client.get(ledger, {"status": Status.OPEN, "region": med.city.g1112.code}).content.decode()
    assert "欠薪" not in client.get(ledger, {"region": med.city.g1111.code}).content.decode()
    assert client.get(ledger, {"region": med.city.g1211.code}).status_code == 200  # not in scope: an error, no rows


def test_ledger_queries_do_not_grow(client, med):
    client.force_login(med.supervisor)
    for i in range(3):
        d = services.dispute_open(actor=med.mediator, region=med.city.g1111, kind=Kind.FAMILY, title=f"家事{i}")
        services.dispute_mediator_assign(actor=med.mediator, dispute=d, user=med.community)
    few = page_queries(client, reverse("mediation:ledger"))
    for i in range(12):
        d = services.dispute_open(actor=med.mediator, region=med.city.g1112, kind=Kind.LAND, title=f"土地{i}")
        services.dispute_mediator_assign(actor=med.mediator, dispute=d, user=med.community)
    assert page_queries(client, reverse("mediation:ledger")) == few
    assert few <= 12


def test_handovers_through_the_page_reach_both_timelines(client, med):
    from cases.models import CaseEvent

    dispute = services.dispute_open_from_case(actor=med.worker, case=med.case)
    services.dispute_mediator_assign(actor=med.mediator, dispute=dispute, user=med.mediator)
    dispute.refresh_from_db()
    client.force_login(med.mediator)
    url = reverse("mediation:hand_over", args=[dispute.pk])
    page = client.get(dispute.get_absolute_url()).content.decode()
    assert 'data-testid="handover-action"' in page and 'value="street"' in page
    # a department needs choosing: a form error, nothing written
    response = client.post(url, {"target": "department", "reason": "物业归口", "version": dispute.version})
    assert response.status_code == 400 and not dispute.handovers.exists()
    # up to the street: still in the ledger, held by the street
    response = client.post(url, {"target": "street", "reason": "社区调解不成", "version": dispute.version})
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == Status.MEDIATING and dispute.level == 3
    assert dispute.events.filter(action="hand_up").exists()
    # the community's mediator no longer holds it: the page offers him no handover, a post is refused
    page = client.get(dispute.get_absolute_url()).content.decode()
    assert 'data-testid="handover-action"' not in page
    response = client.post(
        url, {"target": "department", "reason": "x", "department": med.dept.pk, "version": dispute.version}
    )
    assert response.status_code == 403
    # the street's dispatcher sees it; a street mediator hands it over to a department, out of the ledger
    from tests.factories import UserFactory, grant_role

    street_mediator = UserFactory(username="street-mediator")
    grant_role(street_mediator, "peoples_mediator", med.city.s11, actor=med.actor)
    client.force_login(street_mediator)
    page = client.get(dispute.get_absolute_url()).content.decode()
    assert 'value="street"' not in page and 'value="department"' in page
    response = client.post(
        url, {"target": "department", "reason": "物业归口", "department": med.dept.pk, "version": dispute.version}
    )
    assert response.status_code == 302
    dispute.refresh_from_db()
    assert dispute.status == Status.HANDED_OVER
    assert list(dispute.handovers.order_by("id").values_list("target", flat=True)) == ["street", "department"]
    notes = list(CaseEvent.objects.filter(case=med.case, transition="note").values_list("comment", flat=True))
    assert sum("handed over" in n for n in notes) == 2
    med.case.refresh_from_db()
    assert med.case.state == "closed"
    client.force_login(med.other_street)
    assert client.get(dispute.get_absolute_url()).status_code == 404
