"""Domain errors every app may raise, mapped to HTTP in one place (pages and the API).

``Conflict`` (HTTP 409): the thing changed under the caller, or the action does not apply to it as it is now.
``current`` carries what the caller needs to try again (e.g. the case's state and version).
"""

from __future__ import annotations

from typing import Any


class Conflict(Exception):
    """HTTP 409, with the current state of the thing in ``current`` when known."""

    def __init__(self, message: str = "", *, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.current = current
