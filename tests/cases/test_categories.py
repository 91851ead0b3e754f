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
