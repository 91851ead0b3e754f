"""Values kept in the shared cache (Redis in production) until the data they come from changes.

Each kind of value has a version in the cache; whoever changes the underlying rows calls ``changed(kind)`` inside
the transaction, and the version is raised once it commits, so every process's next read builds the value anew.
Keys name the database, so two installations (or two test databases) on one Redis never share values. Nothing is
cached from inside a transaction, where it could hold rows that are never committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

SECONDS = 3600


def _prefix(kind: str) -> str:
    return f"govgrid:{kind}:{settings.DATABASES['default']['NAME']}"


def raise_version(kind: str) -> None:
    """Make every cached value of ``kind`` stale now."""
    try:
        cache.incr(f"{_prefix(kind)}:version")
    except ValueError:  # no version yet
        cache.set(f"{_prefix(kind)}:version", 1, None)


def changed(kind: str) -> None:
    """The rows behind ``kind`` changed: its cached values go stale when the current transaction commits."""
    transaction.on_commit(lambda: raise_version(kind))


def key(kind: str, part: Any = "") -> str:
    version = cache.get(f"{_prefix(kind)}:version")
    if version is None:
        cache.add(f"{_prefix(kind)}:version", 1, None)
        version = cache.get(f"{_prefix(kind)}:version", 1)
    return f"{_prefix(kind)}:{version}:{part}"


def get_or_build[T](kind: str, part: Any, build: Callable[[], T]) -> T:
    name = key(kind, part)
    value = cache.get(name)
    if value is None:
        value = build()
        if not transaction.get_connection().in_atomic_block:
            cache.set(name, value, SECONDS)
    return value
