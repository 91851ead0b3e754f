"""Boundaries drawn at a zoom: simplified (Douglas–Peucker) to about a pixel and rounded to what a pixel shows.

Pure functions, no database: the selectors cache what they return per region and zoom.
"""

from __future__ import annotations

import math
from typing import Any

from shapely.geometry import mapping, shape

MIN_ZOOM = 5
MAX_ZOOM = 18
# Web Mercator: 256 px tiles, 360 degrees of longitude at zoom 0.
_DEGREES_PER_PIXEL_AT_0 = 360.0 / 256.0


def clamp_zoom(zoom: int) -> int:
    return max(MIN_ZOOM, min(MAX_ZOOM, int(zoom)))


def tolerance(zoom: int, pixels: float = 1.0) -> float:
    """Degrees that ``pixels`` screen pixels span at ``zoom`` (along the equator; less further north, which only
    keeps a little more detail than needed)."""
    return pixels * _DEGREES_PER_PIXEL_AT_0 / (2 ** clamp_zoom(zoom))


def digits(zoom: int) -> int:
    """Decimals that still tell a tenth of a pixel apart at ``zoom`` (6 at most: about 0.1 m)."""
    return max(3, min(6, math.ceil(-math.log10(tolerance(zoom) / 10))))


def _round(coords: Any, places: int) -> Any:
    if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], (int, float)):
        return [round(float(c), places) for c in coords[:2]]
    return [_round(c, places) for c in coords]


def simplify(boundary: dict | None, zoom: int) -> dict | None:
    """A GeoJSON Polygon/MultiPolygon simplified for ``zoom`` (topology kept, so it stays a valid polygon), or None
    when there is no usable boundary."""
    if not boundary or boundary.get("type") not in ("Polygon", "MultiPolygon"):
        return None
    try:
        geom = shape(boundary)
    except Exception:  # a stored boundary was checked on the way in; an odd one is simply not drawn
        return None
    simpler = geom.simplify(tolerance(zoom), preserve_topology=True)
    if simpler.is_empty:
        simpler = geom.envelope
    out = mapping(simpler)
    return {"type": out["type"], "coordinates": _round(out["coordinates"], digits(zoom))}


def vertex_count(geometry: dict | None) -> int:
    """Number of positions in a GeoJSON geometry (to check the bounds in tests and docs)."""
    if not geometry:
        return 0

    def count(c: Any) -> int:
        if isinstance(c, list) and c and isinstance(c[0], (int, float)):
            return 1
        return sum(count(x) for x in c)

    return count(geometry["coordinates"])
