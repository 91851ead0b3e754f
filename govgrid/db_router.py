"""Reads that scale out: the GETs of people read from a PostgreSQL streaming replica, everything else from the
primary.

``DATABASE_REPLICA_URLS`` names the replicas (settings.py adds them as ``replica1``, ``replica2``, …). The router
sends a read to a replica only while ``ReplicaReadMiddleware`` allows it for the request: a GET or HEAD of a person
who has not written anything in the last ``GOVGRID_REPLICA_PIN_SECONDS`` (after a POST the browser carries a short
cookie that keeps that person on the primary, so a report they just sent never "vanishes" from their list while the
replica catches up). Every write, every read inside a transaction, and everything outside a request (Celery tasks,
management commands) uses the primary.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import connections

_replica: ContextVar[str] = ContextVar("govgrid_replica", default="")


def replicas() -> list[str]:
    return list(getattr(settings, "GOVGRID_REPLICAS", []))


@contextmanager
def reads_from(alias: str):
    """Let the reads of this block go to ``alias`` (a replica), outside transactions."""
    token = _replica.set(alias)
    try:
        yield
    finally:
        _replica.reset(token)


# Read from the primary whatever the request: a session written a moment ago must be found (or the person is
# signed out), and the login lockout counts must be exact.
PRIMARY_ONLY = frozenset({"sessions", "axes"})


class ReplicaRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        alias = _replica.get()
        if not alias or connections["default"].in_atomic_block or model._meta.app_label in PRIMARY_ONLY:
            return None  # the primary
        return alias

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the same data on every database

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return None


PIN_COOKIE = "govgrid_primary"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class ReplicaReadMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        names = replicas()
        if not names:
            return self.get_response(request)
        if request.method in SAFE_METHODS and not request.COOKIES.get(PIN_COOKIE):
            with reads_from(random.choice(names)):  # noqa: S311 - spreading load, not security
                return self.get_response(request)
        response = self.get_response(request)
        if request.method not in SAFE_METHODS:
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.GOVGRID_REPLICA_PIN_SECONDS,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
