"""The floor the benchmarks measure pages against: what the framework costs for the same rows.

One hand-written SQL query for the street queue's first page (30 open cases of a street, oldest first, with their
category, grid, state and flags; the page's ids chosen in a subquery the database answers from the queue's index, as
the best plan at ten million cases is) and a minimal template that shows the same information. It is mounted only when
``GOVGRID_BENCH_FLOOR`` is set (bench_cases sets it for the server it starts); it reads without any access check,
so it never exists on a real installation.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from cases.selectors import STREET_STATES

SQL = """
SELECT c.id, c.number, c.title, c.state, c.level, c.urgency, c.created_at, c.due_at,
       cat.name, r.name, r.code,
       EXISTS (SELECT 1 FROM cases_workorder w WHERE w.case_id = c.id AND w.state = 'refused'),
       EXISTS (SELECT 1 FROM cases_workorder w WHERE w.case_id = c.id AND w.extension_state = 'pending')
FROM cases_case c
JOIN grids_region r ON r.id = c.region_id
JOIN cases_category cat ON cat.id = c.category_id
WHERE c.id IN (
    SELECT q.id FROM cases_case q JOIN grids_region g ON g.id = q.region_id
    WHERE g.path LIKE %s AND q.state = ANY(%s) AND q.level >= 2
    ORDER BY q.created_at, q.id
    LIMIT 30
)
ORDER BY c.created_at, c.id
"""


@login_required
def floor(request: HttpRequest) -> HttpResponse:
    path = request.GET.get("path", "")
    with connection.cursor() as cursor:
        cursor.execute(SQL, [path + "%", [str(s) for s in STREET_STATES]])
        rows = cursor.fetchall()
    return render(request, "bench/floor.html", {"rows": rows})
