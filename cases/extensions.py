"""Places where apps above cases (mediation) add to the case page, so that cases imports none of their code.

- ``case_panels``: callables ``(request, case) -> str`` (HTML) shown on a case's page, e.g. the dispute opened
  from it or the button that opens one.

They are filled in the other apps' ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

case_panels: list[Callable[[Any, Any], str]] = []


def render_panels(request: Any, case: Any) -> list[str]:
    return [html for html in (panel(request, case) for panel in case_panels) if html]
