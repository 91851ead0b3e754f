import pytest
from django.contrib.auth.models import Group

from cases.models import Category
from grids import services as grid_services
from tests.factories import UserFactory, grant_role


@pytest.fixture
def cast(city):
    """People around the small test city, one per role, and departments of district 1."""
    actor = city.actor
    depts = {
        kind: grid_services.department_save(actor=actor, name=name, code=f"d1-{kind}", region=city.d1, kind=kind)
        for kind, name in [("cgzf", "城管执法局"), ("zj", "住建局"), ("scjg", "市场监管局")]
    }
    depts["pcs"] = grid_services.department_save(
        actor=actor, name="派出所", code="s11-pcs", region=city.s11, kind="pcs"
    )

    def person(username, role=None, where=None, departments=()):
        user = UserFactory(username=username)
        if role:
            grant_role(user, role, where, actor=actor)
        for d in departments:
            d.members.add(user)
        return user

    people = {
        "worker": person("worker", "grid_worker", city.g1111),
        "worker2": person("worker2", "grid_worker", city.g1112),
        "community": person("community", "community_staff", city.c111),
        "dispatcher": person("dispatcher", "street_dispatcher", city.s11),
        "other_dispatcher": person("other-dispatcher", "street_dispatcher", city.s12),
        "supervisor": person("supervisor", "supervisor", city.d1),
        "city_supervisor": person("city-supervisor", "supervisor", city.city),
        "hotline": person("hotline", "hotline_operator", city.city),
        "cg": person("cg", "department_handler", city.d1, [depts["cgzf"]]),
        "zj": person("zj", "department_handler", city.d1, [depts["zj"]]),
        "scjg": person("scjg", "department_handler", city.d1, [depts["scjg"]]),
        "outsider": person("outsider", "grid_worker", city.g2111),
    }
    team = Group.objects.create(name="街道11调度组")
    return type("Cast", (), {"city": city, "people": people, "depts": depts, "team": team, **people, "d": depts})


@pytest.fixture
def category(db):
    return Category.objects.get(code="csgl-zdjy")
