"""Boundaries simplified for a zoom: fewer points when zoomed out, still a valid polygon, rounded to the pixel."""

import math

from shapely.geometry import shape

from casemap import geometry


def circle(n: int = 400, r: float = 0.05) -> dict:
    ring = [[104.0 + r * math.cos(2 * math.pi * i / n), 30.0 + r * math.sin(2 * math.pi * i / n)] for i in range(n)]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def test_fewer_points_when_zoomed_out_and_still_valid():
    boundary = circle()
    counts = {z: geometry.vertex_count(geometry.simplify(boundary, z)) for z in (8, 12, 16)}
    assert counts[8] < counts[12] <= counts[16] <= 401
    assert counts[8] >= 4  # a ring is kept
    for z in (8, 12, 16):
        assert shape(geometry.simplify(boundary, z)).is_valid


def test_rounding_follows_the_zoom_and_zoom_is_clamped():
    assert geometry.digits(8) < geometry.digits(16) <= 6
    assert geometry.clamp_zoom(0) == geometry.MIN_ZOOM
    assert geometry.clamp_zoom(30) == geometry.MAX_ZOOM
    assert geometry.tolerance(12) == geometry.tolerance(12, pixels=2) / 2
    ring = geometry.simplify(circle(), 8)["coordinates"][0]
    assert all(len(str(c).split(".")[-1]) <= geometry.digits(8) for point in ring for c in point)


def test_no_boundary_or_a_bad_one_is_not_drawn():
    assert geometry.simplify(None, 12) is None
    assert geometry.simplify({"type": "Point", "coordinates": [104, 30]}, 12) is None
    assert geometry.simplify({"type": "Polygon", "coordinates": "nonsense"}, 12) is None


def test_multipolygons_stay_multipolygons():
    a = circle()["coordinates"]
    b = [[[x + 1, y] for x, y in a[0]]]
    out = geometry.simplify({"type": "MultiPolygon", "coordinates": [a, b]}, 10)
    assert out["type"] == "MultiPolygon" and len(out["coordinates"]) == 2
