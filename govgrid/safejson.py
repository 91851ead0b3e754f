"""JSON from outside, bounded: nesting depth and size are checked before the parser runs.

Python's parser recurses once per level, so a few hundred kilobytes of ``[[[[…`` end in ``RecursionError`` (a 500)
instead of a clear refusal. Every JSON the app reads from a person or a client (boundaries, imports, API bodies)
goes through ``loads``, which raises ``ValueError`` with a message a person can act on.
"""

from __future__ import annotations

import json
from typing import Any

from django.utils.translation import gettext as _

MAX_DEPTH = 64
MAX_BYTES = 20 * 1024 * 1024


class JSONTooDeep(ValueError):
    pass


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (strings and escapes are skipped)."""
    deepest = level = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            level += 1
            deepest = max(deepest, level)
        elif char in "]}":
            level -= 1
    return deepest


def loads(data: str | bytes, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES) -> Any:
    """``json.loads`` that refuses bodies larger than ``max_bytes`` or nested deeper than ``max_depth``, and NUL
    characters anywhere (PostgreSQL text cannot hold them). Raises ``ValueError`` with a readable message."""
    if isinstance(data, bytes | bytearray):
        if len(data) > max_bytes:
            raise ValueError(_("The JSON is larger than %(mb)d MB.") % {"mb": max_bytes // (1024 * 1024)})
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(_("The JSON is not UTF-8 text.")) from exc
    elif len(data) > max_bytes:
        raise ValueError(_("The JSON is larger than %(mb)d MB.") % {"mb": max_bytes // (1024 * 1024)})
    if depth(data) > max_depth:
        raise JSONTooDeep(_("The JSON is nested deeper than %(n)d levels.") % {"n": max_depth})
    try:
        value = json.loads(data)
    except RecursionError as exc:  # pragma: no cover - the depth check comes first
        raise JSONTooDeep(_("The JSON is nested too deeply.")) from exc
    except json.JSONDecodeError as exc:
        raise ValueError(_("This is not valid JSON: %(error)s") % {"error": exc.msg}) from exc
    if ("\\u0000" in data or "\x00" in data) and _has_nul(value):
        raise ValueError(_("The JSON contains a NUL character, which is not allowed in text."))
    return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
