"""Boundaries (GeoJSON) and locating a point to its grid.

Coordinates are GeoJSON order: [longitude, latitude], WGS-84 (or whatever single datum the city uses).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _
from shapely.geometry import Point, shape
from shapely.validation import explain_validity

from .codes import Level
from .models import Region

MAX_BOUNDARY_POINTS = 20_000


@dataclass(frozen=True)
class Boundary:
    geojson: dict
    min_lat: float
    max_lat: float
    min_lng: float
    max_lng: float
    centre_lat: float
    centre_lng: float


def parse_boundary(value: object) -> Boundary:
    """Check a GeoJSON Polygon/MultiPolygon (or a Feature holding one) and return it with its box and centre."""
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or value.get("type") not in ("Polygon", "MultiPolygon"):
        raise ValidationError(_("A boundary must be a GeoJSON Polygon or MultiPolygon."))
    try:
        geom = shape(value)
    except Exception as exc:  # shapely raises several types for malformed input
        raise ValidationError(_("The boundary is not valid GeoJSON: %(error)s") % {"error": exc}) from exc
    if geom.is_empty:
        raise ValidationError(_("The boundary is empty."))
    coords = value.get("coordinates")
    count = str(coords).count("[")
    if count > MAX_BOUNDARY_POINTS:
        raise ValidationError(_("The boundary has too many points (at most %(n)d).") % {"n": MAX_BOUNDARY_POINTS})
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    if not (-180 <= min_lng <= max_lng <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValidationError(_("The boundary's coordinates must be [longitude, latitude] within range."))
    if not geom.is_valid:
        raise ValidationError(
            _("The boundary polygon is not valid (%(why)s). Check that rings are closed and do not cross.")
            % {"why": explain_validity(geom)}
        )
    centre = geom.representative_point() if not geom.centroid.within(geom) else geom.centroid
    return Boundary(
        geojson={"type": value["type"], "coordinates": value["coordinates"]},
        min_lat=min_lat,
        max_lat=max_lat,
        min_lng=min_lng,
        max_lng=max_lng,
        centre_lat=round(centre.y, 7),
        centre_lng=round(centre.x, 7),
    )


def validate_point(lat: float, lng: float) -> None:
    if not (-90 <= lat <= 90) or not (-180 <= lng <= 180):
        raise ValidationError(_("Latitude must be within ±90 and longitude within ±180."))


def locate(lat: float, lng: float) -> Region | None:
    """The active grid whose boundary contains the point, or None.

    An indexed bounding-box query narrows 10,000 grids to the few whose box holds the point; only those
    polygons are tested.
    """
    validate_point(lat, lng)
    candidates = Region.objects.filter(
        depth=Level.GRID,
        is_active=True,
        min_lat__lte=lat,
        max_lat__gte=lat,
        min_lng__lte=lng,
        max_lng__gte=lng,
    ).order_by("code")
    if connection.vendor == "postgresql":
        # Matches the partial GiST index of migration 0002 (box containment), so no grid is scanned.
        candidates = candidates.extra(  # noqa: S610 - constant SQL, values passed as parameters
            where=[
                "min_lat IS NOT NULL",
                "box(point(min_lng, min_lat), point(max_lng, max_lat)) @> box(point(%s, %s), point(%s, %s))",
            ],
            params=[lng, lat, lng, lat],
        )
    point = Point(lng, lat)
    for grid in candidates:
        if grid.boundary and shape(grid.boundary).covers(point):
            return grid
    return None
