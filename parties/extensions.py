"""Places where apps above parties (cases) add to its pages, so that parties imports none of their code.

- ``visit_panels``: callables ``(request, visit) -> str`` (HTML) shown on a visit's page, e.g. the case opened
  from it or the button that opens one.
- ``resident_panels``: callables ``(request, resident) -> str`` shown on a resident's page, e.g. the cases that
  name the resident.
- ``revealers``: record kind → callable ``(user, pk, field) -> str`` that returns a whole personal value (after
  its own scope check and one access log row), for masked values of records that live in other apps.

They are filled in the other apps' ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

visit_panels: list[Callable[[Any, Any], str]] = []
resident_panels: list[Callable[[Any, Any], str]] = []
revealers: dict[str, Callable[[Any, int, str], str]] = {}


def render_panels(panels: list[Callable[[Any, Any], str]], request: Any, obj: Any) -> list[str]:
    return [html for html in (panel(request, obj) for panel in panels) if html]


# Models of other apps with encrypted numbers (model, [(token field, hash field, kind)]), for the key rotation.
encrypted_fields: list[tuple[Any, list[tuple[str, str, str]]]] = []
