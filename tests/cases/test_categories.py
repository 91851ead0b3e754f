from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cases import services
from cases.models import Category, ResponseTemplate, default_time_limits
from cases.workflow import TRANSITIONS
from grids.models import AuditLog


def test_taxonomy_is_seeded_after_migrate(db):
    groups = Category.objects.filter(parent=None)
    leaves = Category.objects.exclude(parent=None)
    assert groups.count() >= 8 and leaves.count() >= 40
    names = set(leaves.values_list("name", flat=True))
    assert {
        "邻里纠纷",
        "家庭纠纷",
        "物业纠纷",
        "劳资纠纷",
        "消防通道堵塞",
        "燃气隐患",
        "占道经营",
        "违法建设",
        "独居老人求助",
        "道路破损",
        "井盖缺失",
    } <= names
    for c in leaves:
        assert c.lead_department_kinds and set(c.time_limits) == {"normal", "urgent", "emergency"}
    assert ResponseTemplate.objects.filter(transition="call_street").exists()


def test_city_admin_edits_categories_and_in_use_ones_are_retired(cast, category):
    admin = cast.city_supervisor
    with pytest.raises(PermissionDenied):
        services.category_save(actor=cast.dispatcher, code="x", name="x", parent=category.parent)
    from tests.factories import grant_role

    grant_role(admin, "region_admin", cast.city.city, actor=cast.city.actor)
    new = services.category_save(
        actor=admin, code="csgl-new", name="共享单车乱停", parent=category.parent, lead_department_kinds={"3": "cgzf"}
    )
    assert new.time_limits == default_time_limits() and AuditLog.objects.filter(action="category.save").exists()
    with pytest.raises(ValidationError) as exc:
        services.category_save(actor=admin, code="x2", name="x", parent=new)
    assert "two levels" in " ".join(exc.value.messages)
    with pytest.raises(ValidationError):
        services.category_save(
            actor=admin,
            category=new,
            code="csgl-new",
            name="x",
            parent=category.parent,
            time_limits={"normal": {"accept": -1}},
        )
    services.case_report(reporter=cast.worker, category=new, title="单车", region=cast.city.g1111)
    with pytest.raises(ValidationError) as exc:
        services.category_delete(actor=admin, category=new)
    assert "retire" in " ".join(exc.value.messages)
    services.category_save(
        actor=admin, category=new, code="csgl-new", name="共享单车乱停", parent=category.parent, is_active=False
    )
    with pytest.raises(ValidationError):
        services.case_report(
            reporter=cast.worker, category=Category.objects.get(pk=new.pk), title="单车2", region=cast.city.g1111
        )
    unused = services.category_save(actor=admin, code="tmp", name="临时", parent=category.parent)
    services.category_delete(actor=admin, category=unused)
    assert not Category.objects.filter(code="tmp").exists()


def test_workflow_doc_lists_every_transition():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "workflow.md").read_text()
    for code in TRANSITIONS:
        assert f"`{code}`" in doc, code


def test_category_pages(cast, category):
    from django.test import Client
    from django.urls import reverse

    from tests.factories import grant_role

    admin = cast.city_supervisor
    grant_role(admin, "region_admin", cast.city.city, actor=cast.city.actor)
    c = Client(headers={"accept-language": "en"})
    c.force_login(admin)
    listing = c.get(reverse("category_list"))
    assert listing.status_code == 200 and "占道经营" in listing.text and "消防通道堵塞" in listing.text
    form = c.get(reverse("category_edit", args=[category.pk]))
    assert form.status_code == 200 and 'name="tl_emergency_complete"' in form.text
    data = {
        "code": category.code,
        "name": "占道经营（含流动摊贩）",
        "parent": category.parent_id,
        "default_urgency": "urgent",
        "lead_street": "cgzf",
        "lead_district": "cgzf",
        "escalation_grace_hours": 4,
        "sort_order": 1,
        "is_active": "on",
        **{
            f"tl_{u}_{s}": 6
            for u in ("normal", "urgent", "emergency")
            for s in ("accept", "dispatch", "sign", "complete", "verify", "evaluate")
        },
    }
    assert c.post(reverse("category_edit", args=[category.pk]), data).status_code == 302
    category.refresh_from_db()
    assert category.name == "占道经营（含流动摊贩）" and category.time_limits["emergency"]["complete"] == 6
    bad = c.post(reverse("category_edit", args=[category.pk]), {**data, "tl_normal_accept": -3})
    assert bad.status_code == 200 and "greater than or equal" in bad.text
    services.case_report(reporter=cast.worker, category=category, title="x", region=cast.city.g1111)
    refused = c.post(reverse("category_edit", args=[category.pk]), {"delete": "1"}, follow=True)
    assert "retire it instead" in refused.text and Category.objects.filter(pk=category.pk).exists()
    created = c.post(
        reverse("response_template_create"),
        {"category": category.pk, "transition": "dispatch", "text": "请尽快处置", "is_active": "on"},
    )
    assert created.status_code == 302 and ResponseTemplate.objects.filter(text="请尽快处置").exists()
    worker = Client(headers={"accept-language": "en"})
    worker.force_login(cast.worker)
    assert worker.get(reverse("category_list")).status_code == 200
    assert worker.get(reverse("category_edit", args=[category.pk])).status_code == 403
