"""The case services: effects of each transition, events, coordinated resolution, concurrency, uploads."""

import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, transaction
from PIL import Image

from cases import services
from cases.models import Attachment, Case, CaseEvent, CaseSequence, Category, WorkOrder
from cases.workflow import State, WorkOrderState
from grids.codes import Level
from tests.factories import run_in_threads


def png(name="photo.png", size=(40, 30)) -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


def report(cast, category, **kw):
    return services.case_report(
        reporter=cast.worker,
        category=category,
        title=kw.pop("title", "占道经营"),
        region=kw.pop("region", cast.city.g1111),
        **kw,
    )


def test_report_numbers_locate_and_event(cast, category):
    case = report(cast, category, region=None, lat=cast.city.g1111.centre_lat, lng=cast.city.g1111.centre_lng)
    assert case.region == cast.city.g1111 and case.level == Level.COMMUNITY
    assert case.number.endswith("-0001") and case.urgency == category.default_urgency
    second = report(cast, category)
    assert second.number.endswith("-0002")
    event = CaseEvent.objects.get(case=case)
    assert (event.transition, event.from_state, event.to_state, event.actor) == ("report", "", "reported", cast.worker)


def test_report_refusals_write_nothing(cast, category):
    group = Category.objects.get(code="csgl")
    cases = [
        ({"category": group}, "category"),
        ({"title": "  "}, "title"),
        ({"region": cast.city.c111}, "region"),
        ({"region": None, "lat": 1.0, "lng": 1.0}, "lat"),
        ({"urgency": "whenever"}, "urgency"),
    ]
    for kwargs, field in cases:
        kwargs.setdefault("category", category)
        with pytest.raises(ValidationError) as exc:
            services.case_report(
                reporter=cast.worker,
                title=kwargs.pop("title", "x"),
                region=kwargs.pop("region", cast.city.g1111),
                **kwargs,
            )
        assert field in exc.value.message_dict
    with pytest.raises(PermissionDenied):
        report(cast, category, region=cast.city.g2111)
    assert Case.objects.count() == 0 and CaseEvent.objects.count() == 0


def test_call_accept_return_and_escalate_change_the_holder(cast, category):
    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="协调不了")
    assert (case.state, case.level) == (State.CALLED, Level.STREET)
    case = services.case_transition(case=case, action="return", actor=cast.dispatcher, comment="补充照片")
    assert (case.state, case.level) == (State.REPORTED, Level.COMMUNITY)
    case = services.case_transition(case=case, action="escalate", actor=cast.community, comment="超时")
    assert (case.state, case.level) == (State.ESCALATED, Level.STREET)
    case = services.case_transition(case=case, action="escalate", actor=cast.dispatcher, comment="需区里协调")
    assert (case.state, case.level) == (State.ESCALATED, Level.DISTRICT)
    with pytest.raises(PermissionDenied):  # the street no longer holds it
        services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    case = services.case_transition(case=case, action="accept", actor=cast.supervisor)
    assert case.state == State.ACCEPTED and case.level == Level.DISTRICT
    kinds = [e.transition for e in case.events.all()]
    assert kinds == ["report", "call_street", "return", "escalate", "escalate", "accept"]


def test_required_inputs(cast, category):
    case = report(cast, category)
    with pytest.raises(ValidationError) as exc:
        services.case_transition(case=case, action="call_street", actor=cast.community)
    assert "comment" in exc.value.message_dict
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    with pytest.raises(ValidationError) as exc:
        services.case_transition(case=case, action="dispatch", actor=cast.dispatcher, departments=[])
    assert "departments" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.case_transition(
            case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"], cast.d["cgzf"]]
        )
    assert WorkOrder.objects.count() == 0 and Case.objects.get(pk=case.pk).state == State.ACCEPTED


def dispatched(cast, category, depts=("cgzf", "zj")):
    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    return services.case_transition(
        case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d[k] for k in depts], comment="限期处置"
    )


def test_dispatch_with_a_deadline(cast, category):
    from datetime import timedelta

    from django.utils import timezone

    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    past = timezone.now() - timedelta(hours=1)
    with pytest.raises(ValidationError) as exc:
        services.case_transition(
            case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]], due_at=past
        )
    assert "due_at" in exc.value.message_dict
    due = timezone.now() + timedelta(days=2)
    case = services.case_transition(
        case=case, action="dispatch", actor=cast.dispatcher, departments=[cast.d["cgzf"]], due_at=due
    )
    assert case.work_orders.get().due_at == due


def test_dispatch_creates_one_order_per_department_lead_first(cast, category):
    case = dispatched(cast, category)
    orders = list(case.work_orders.order_by("id"))
    assert [(o.department.kind, o.is_lead, o.state) for o in orders] == [
        ("cgzf", True, "assigned"),
        ("zj", False, "assigned"),
    ]
    assert case.events.last().data["departments"] == ["城管执法局", "住建局"]


def test_coordinated_resolution_waits_for_every_department(cast, category):
    case = dispatched(cast, category)
    cg, zj = case.work_orders.order_by("id")
    services.work_order_step(work_order=cg, action="sign", actor=cast.cg)
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED
    services.work_order_step(work_order=zj, action="sign", actor=cast.zj)
    assert Case.objects.get(pk=case.pk).state == State.IN_PROGRESS
    services.work_order_step(work_order=cg, action="complete", actor=cast.cg, result="摊点已劝离")
    assert Case.objects.get(pk=case.pk).state == State.IN_PROGRESS
    services.work_order_step(work_order=zj, action="complete", actor=cast.zj, result="已修复")
    assert Case.objects.get(pk=case.pk).state == State.PENDING_VERIFICATION


def test_refusal_and_redispatch(cast, category):
    case = dispatched(cast, category)
    cg, zj = case.work_orders.order_by("id")
    with pytest.raises(ValidationError):
        services.work_order_step(work_order=zj, action="refuse", actor=cast.zj, refusal_reason="because")
    services.work_order_step(
        work_order=zj, action="refuse", actor=cast.zj, refusal_reason="not_our_duty", comment="非本部门"
    )
    services.work_order_step(work_order=cg, action="sign", actor=cast.cg)
    assert Case.objects.get(pk=case.pk).state == State.DISPATCHED  # a refusal holds the case for the dispatcher
    case = services.case_transition(
        case=Case.objects.get(pk=case.pk), action="redispatch", actor=cast.dispatcher, departments=[cast.d["scjg"]]
    )
    assert WorkOrder.objects.get(pk=zj.pk).state == WorkOrderState.CANCELLED
    assert WorkOrder.objects.get(pk=zj.pk).refusal_reason == "not_our_duty"
    scjg = case.work_orders.get(department=cast.d["scjg"])
    services.work_order_step(work_order=scjg, action="sign", actor=cast.scjg)
    assert Case.objects.get(pk=case.pk).state == State.IN_PROGRESS


def test_rework_sends_the_chosen_departments_back(cast, category):
    case = dispatched(cast, category)
    for order, who in zip(case.work_orders.order_by("id"), (cast.cg, cast.zj), strict=True):
        services.work_order_step(work_order=order, action="sign", actor=who)
        services.work_order_step(work_order=order, action="complete", actor=who, result="ok")
    case = Case.objects.get(pk=case.pk)
    cg = case.work_orders.get(department=cast.d["cgzf"])
    case = services.case_transition(
        case=case, action="verify_failed", actor=cast.worker, comment="仍有摊点", work_orders=[cg]
    )
    assert case.state == State.IN_PROGRESS and case.rework_count == 1
    assert WorkOrder.objects.get(pk=cg.pk).state == WorkOrderState.SIGNED
    assert case.work_orders.get(department=cast.d["zj"]).state == WorkOrderState.DONE
    services.work_order_step(work_order=cg, action="complete", actor=cast.cg, result="再次处置")
    case = services.case_transition(case=Case.objects.get(pk=case.pk), action="verify_ok", actor=cast.worker)
    case = services.case_transition(case=case, action="close", actor=cast.dispatcher)
    assert case.state == State.CLOSED and case.closed_at


def test_settled_locally_then_verified_or_sent_back(cast, category):
    case = report(cast, category)
    case = services.case_transition(case=case, action="settle", actor=cast.community, comment="已调解")
    assert case.state == State.PENDING_VERIFICATION
    case = services.case_transition(case=case, action="verify_failed", actor=cast.worker, comment="没解决")
    assert (case.state, case.level) == (State.REPORTED, Level.COMMUNITY)


def test_close_evaluate_reopen_and_duplicate(cast, category):
    case = report(cast, category)
    case = services.case_transition(case=case, action="settle", actor=cast.community, comment="已调解")
    case = services.case_transition(case=case, action="verify_ok", actor=cast.worker)
    case = services.case_transition(case=case, action="close", actor=cast.dispatcher)
    case = services.case_transition(
        case=case, action="evaluate", actor=cast.hotline, satisfaction="basically", comment="基本满意"
    )
    assert case.state == State.CLOSED and case.satisfaction == "basically"
    case = services.case_transition(case=case, action="reopen", actor=cast.dispatcher, comment="重新核实")
    assert (case.state, case.level, case.closed_at) == (State.REPORTED, Level.COMMUNITY, None)
    again = report(cast, category, title="同一摊点")
    with pytest.raises(ValidationError):
        services.case_transition(case=again, action="mark_duplicate", actor=cast.dispatcher, duplicate_of=again)
    again = services.case_transition(case=again, action="mark_duplicate", actor=cast.dispatcher, duplicate_of=case)
    assert again.state == State.CANCELLED and again.duplicate_of == case


def test_extension_request_and_answer(cast, category):
    from datetime import timedelta

    from django.utils import timezone

    case = dispatched(cast, category, depts=("cgzf",))
    order = case.work_orders.get()
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    until = timezone.now() + timedelta(days=3)
    with pytest.raises(ValidationError):
        services.work_order_step(
            work_order=order,
            action="request_extension",
            actor=cast.cg,
            until=timezone.now() - timedelta(hours=1),
            comment="x",
        )
    services.work_order_step(work_order=order, action="request_extension", actor=cast.cg, until=until, comment="等材料")
    with pytest.raises(PermissionDenied):
        services.work_order_step(work_order=order, action="grant_extension", actor=cast.cg)
    services.work_order_step(work_order=order, action="grant_extension", actor=cast.dispatcher)
    order.refresh_from_db()
    assert order.extension_state == "granted" and order.due_at == until


def test_stale_version_is_refused_and_changes_nothing(cast, category):
    case = report(cast, category)
    services.case_transition(
        case=case, action="call_street", actor=cast.community, comment="x", expected_version=case.version
    )
    with pytest.raises(services.StaleCase):
        services.case_transition(
            case=case, action="settle", actor=cast.community, comment="y", expected_version=case.version
        )
    assert Case.objects.get(pk=case.pk).state == State.CALLED
    assert CaseEvent.objects.filter(case=case).count() == 2


def test_events_are_immutable_in_the_database(cast, category):
    case = report(cast, category)
    event = CaseEvent.objects.get(case=case)
    for statement in (
        lambda: CaseEvent.objects.filter(pk=event.pk).update(comment="改写"),
        lambda: CaseEvent.objects.filter(pk=event.pk).delete(),
    ):
        with pytest.raises(DatabaseError), transaction.atomic():
            statement()
    assert CaseEvent.objects.get(pk=event.pk).comment == event.comment


# --- uploads ------------------------------------------------------------------------------------------------


def test_report_with_photos_keeps_files_and_thumbnails(cast, category, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    case = report(cast, category, files=[png(), png("b.png", (10, 10))])
    attachments = list(Attachment.objects.filter(case=case))
    assert len(attachments) == 2 and all(a.thumbnail and a.content_type == "image/png" for a in attachments)
    assert (tmp_path / attachments[0].file.name).exists()


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([SimpleUploadedFile("photo.jpg", b"MZ\x90\x00" + b"\x00" * 200, content_type="image/jpeg")], "not a photo"),
        (
            [SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, content_type="image/png")],
            "not a photo",
        ),
        ([SimpleUploadedFile("empty.png", b"", content_type="image/png")], "empty"),
        ([SimpleUploadedFile("doc.pdf", b"%PDF-1.4 broken", content_type="application/pdf")], "damaged PDF"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_saved(cast, category, settings, tmp_path, files, message):
    settings.MEDIA_ROOT = str(tmp_path)
    with pytest.raises(ValidationError) as exc:
        report(cast, category, files=files)
    assert message in " ".join(exc.value.message_dict["files"])
    assert Case.objects.count() == 0 and Attachment.objects.count() == 0
    assert not any(tmp_path.rglob("*.*"))


def test_oversized_and_too_many_files(cast, category, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.GOVGRID_ATTACHMENT_MAX_BYTES = 1000
    with pytest.raises(ValidationError) as exc:
        report(cast, category, files=[png(size=(400, 400))])
    assert "larger than" in " ".join(exc.value.messages)
    settings.GOVGRID_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    with pytest.raises(ValidationError) as exc:
        report(cast, category, files=[png(f"{i}.png") for i in range(10)])
    assert "At most 9" in " ".join(exc.value.messages)
    assert Case.objects.count() == 0


def test_files_are_removed_when_the_transaction_fails(cast, category, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    case = dispatched(cast, category, depts=("cgzf",))
    order = case.work_orders.get()
    services.work_order_step(work_order=order, action="sign", actor=cast.cg)
    with pytest.raises(ValidationError):  # result missing: refused after the photo was checked
        services.work_order_step(work_order=order, action="complete", actor=cast.cg, files=[png()])
    assert Attachment.objects.count() == 0 and not any(tmp_path.rglob("*.png"))
    # A failure after the files were stored removes them with the rolled-back rows.
    from cases import attachments

    checked = attachments.check_files([png()])
    with pytest.raises(RuntimeError), attachments.removed_on_error(), transaction.atomic():
        attachments.save_attachments(case=case, event=None, checked=checked, actor=cast.cg)
        assert any(tmp_path.rglob("*.png"))
        raise RuntimeError("commit failed")
    assert Attachment.objects.count() == 0 and not any(tmp_path.rglob("*.png")) and not any(tmp_path.rglob("*.jpg"))


# --- concurrency (real PostgreSQL, real threads) ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_dispatches_one_wins(request):
    cast = request.getfixturevalue("cast")
    category = Category.objects.get(code="csgl-zdjy")
    case = report(cast, category)
    case = services.case_transition(case=case, action="call_street", actor=cast.community, comment="x")
    case = services.case_transition(case=case, action="accept", actor=cast.dispatcher)
    version = case.version

    def dispatch(i):
        return services.case_transition(
            case=case,
            action="dispatch",
            actor=cast.dispatcher,
            departments=[cast.d["cgzf"], cast.d["zj"]],
            expected_version=version,
        )

    results = run_in_threads(20, dispatch)
    wins = [r for r in results if isinstance(r, Case)]
    losers = [r for r in results if isinstance(r, services.StaleCase | services.TransitionNotAllowed)]
    assert len(wins) == 1 and len(losers) == 19, results
    assert WorkOrder.objects.filter(case=case).count() == 2
    assert CaseEvent.objects.filter(case=case, transition="dispatch").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_simultaneous_reports_get_unique_numbers(request):
    cast = request.getfixturevalue("cast")
    category = Category.objects.get(code="csgl-zdjy")
    results = run_in_threads(50, lambda i: report(cast, category, title=f"并发{i}"))
    assert all(isinstance(r, Case) for r in results), [r for r in results if not isinstance(r, Case)]
    numbers = {r.number for r in results}
    assert len(numbers) == 50
    assert CaseSequence.objects.get().last == 50


def _jpeg_with_gps() -> SimpleUploadedFile:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (30.0, 30.0, 0.0), 3: "E", 4: (104.0, 1.0, 0.0)}
    exif[0x010F] = "Phone"
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 10, 10)).save(buf, format="JPEG", exif=exif.tobytes())
    return SimpleUploadedFile("gps.jpg", buf.getvalue(), content_type="image/jpeg")


@pytest.mark.parametrize("strip", [False, True])
def test_photo_location_is_removed_only_when_the_setting_says_so(cast, category, settings, tmp_path, strip):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.GOVGRID_STRIP_PHOTO_LOCATION = strip
    case = report(cast, category, files=[_jpeg_with_gps()])
    stored = Attachment.objects.get(case=case)
    with stored.file.open("rb") as fh, Image.open(fh) as img:
        exif = img.getexif()
        assert (0x8825 in exif) is (not strip)
        assert exif.get(0x010F) == "Phone"  # the rest of the metadata stays
