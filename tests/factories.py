"""Test data built through the services, as the app builds it."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import factory
from django.contrib.auth.models import Group
from django.db import connection

from grids import services
from grids.models import Region, Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    password = factory.PostGenerationMethodCall("set_password", "pass-12345")

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def superuser(username: str = "root") -> User:
    return UserFactory(username=username, is_superuser=True, is_staff=True)


def box(lng0: float, lat0: float, lng1: float, lat1: float) -> dict:
    """A rectangle as a GeoJSON Polygon."""
    return {"type": "Polygon", "coordinates": [[[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]]}


def build_city(actor: User | None = None) -> SimpleNamespace:
    """A small city: 云川市 (519900) → 2 districts → 2 streets → 2 communities → 2 grids (rectangles).

    Names: d1, d2; s11, s12, s21, s22; c111 …; g1111 … (digits follow the path).
    """
    actor = actor or superuser()
    nodes: dict[str, Region] = {}
    city = services.region_add(
        actor=actor, parent=None, name="云川市", code="519900", boundary=box(104.0, 30.0, 104.16, 30.16)
    )
    nodes["city"] = city
    size = 0.16
    for d in (1, 2):
        dw = size / 2
        d_lng = 104.0 + (d - 1) * dw
        dist = services.region_add(
            actor=actor, parent=city, name=f"区{d}", code=f"5199{d:02d}", boundary=box(d_lng, 30.0, d_lng + dw, 30.16)
        )
        nodes[f"d{d}"] = dist
        for s in (1, 2):
            sh = 0.16 / 2
            s_lat = 30.0 + (s - 1) * sh
            street = services.region_add(
                actor=actor,
                parent=dist,
                name=f"街道{d}{s}",
                code=f"{dist.code}{s:03d}",
                boundary=box(d_lng, s_lat, d_lng + dw, s_lat + sh),
            )
            nodes[f"s{d}{s}"] = street
            for c in (1, 2):
                cw = dw / 2
                c_lng = d_lng + (c - 1) * cw
                comm = services.region_add(
                    actor=actor,
                    parent=street,
                    name=f"社区{d}{s}{c}",
                    code=f"{street.code}{c:03d}",
                    boundary=box(c_lng, s_lat, c_lng + cw, s_lat + sh),
                )
                nodes[f"c{d}{s}{c}"] = comm
                for g in (1, 2):
                    gh = sh / 2
                    g_lat = s_lat + (g - 1) * gh
                    grid = services.region_add(
                        actor=actor,
                        parent=comm,
                        name=f"网格{d}{s}{c}{g}",
                        code=f"{comm.code}{g:03d}",
                        boundary=box(c_lng, g_lat, c_lng + cw, g_lat + gh),
                    )
                    nodes[f"g{d}{s}{c}{g}"] = grid
    return SimpleNamespace(actor=actor, **nodes)


def grant_role(user_or_group, role_code: str, region: Region, actor: User | None = None):
    actor = actor or superuser()
    role = Role.objects.get(code=role_code)
    if isinstance(user_or_group, Group):
        return services.grant_create(actor=actor, region=region, group=user_or_group, role=role)
    return services.grant_create(actor=actor, region=region, user=user_or_group, role=role)


def staff(username: str, role: str | None = None, where: Region | None = None, *, actor: User | None = None) -> User:
    """A person of the test city: a user, with ``role`` granted at ``where`` when a role is given."""
    user = UserFactory(username=username)
    if role:
        grant_role(user, role, where, actor=actor)
    return user


def run_in_threads(n: int, target) -> list:
    """Start ``target(i)`` in ``n`` threads at once (each with its own database connection); results or errors."""
    results: list = []
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # noqa: BLE001 - handed to the test to assert
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def page_queries(client, url: str, params=None) -> int:
    """Queries one GET of a list page makes; fails if the page answers other than 200 or counts rows."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200
    assert not any("COUNT(" in q["sql"].upper() for q in ctx.captured_queries), "lists must not count rows"
    return len(ctx.captured_queries)
