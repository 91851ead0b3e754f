"""Each role's home is its work: the counts that need the person's action today, the role's own queue first, and
for a grid worker one big report button, the reports waiting on the phone, what to verify and the recent cases."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from grids import selectors as grid_selectors
from grids.models import Grant

from . import forms, selectors

# code → (label, page, role whose work it is)
QUEUES = {
    "to_verify": (_("To verify on site"), "verify_queue", "worker"),
    "to_triage": (_("Reported, to triage"), "triage", "community"),
    "to_accept": (_("Called, to accept"), "street_queue", "street"),
    "to_dispatch": (_("Accepted, to dispatch"), "street_queue", "street"),
    "refused_work": (_("Refused work to re-dispatch"), "street_queue", "street"),
    "to_close": (_("Verified, to close"), "street_queue", "street"),
    "rehandle_waiting": (_("Unsatisfied call-backs to decide"), "street_queue", "street"),
    "to_sign": (_("Work orders to sign"), "inbox", "department"),
    "in_progress": (_("Work orders in progress"), "inbox", "department"),
    "overdue": (_("Overdue cases"), "supervision", "supervisor"),
    "callbacks": (_("Call-backs due"), "callbacks", "hotline"),
}
QUERY = {"to_accept": "?state=called", "to_dispatch": "?state=accepted", "to_close": "?state=verified"}
MAIN_PAGE = {
    "admin": ("region_tree", _("Region tree")),
    "supervisor": ("supervision", _("Supervision")),
    "street": ("street_queue", _("Street queue")),
    "department": ("inbox", _("Inbox")),
    "community": ("triage", _("Triage")),
    "worker": ("case_report", _("Report a case")),
    "hotline": ("callbacks", _("Call-backs due")),
}


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    role = selectors.home_role(user)
    counts = selectors.home_counts(user=user)
    cards = [
        {
            "code": code,
            "label": QUEUES[code][0],
            "count": n,
            "capped": n >= selectors.HOME_CAP,
            "url": reverse(QUEUES[code][1]) + QUERY.get(code, ""),
            "mine": QUEUES[code][2] == role,
        }
        for code, n in counts.items()
    ]
    cards.sort(key=lambda c: (not c["mine"], c["count"] == 0))
    nav = selectors.navigation(user)
    context = {
        "role": role,
        "cards": cards,
        "main_page": MAIN_PAGE.get(role),
        "may_report": nav.get("report", False),
        "to_verify": list(selectors.to_verify(user=user).order_by("created_at")[:5]) if role == "worker" else [],
        "recent": list(selectors.my_cases(user=user).order_by("-created_at")[:5]) if nav.get("report") else [],
        "unstaffed": list(selectors.unstaffed_departments(user=user)[:10]) if role == "admin" else [],
        "roots": grid_selectors.region_roots(user=user),
        "grants": user.grants.select_related("region", "role", "permission"),
        "team_grants": Grant.objects.filter(group__user=user).select_related("region", "role", "permission", "group"),
        "departments": user.departments.select_related("region"),
    }
    return render(request, "cases/home.html", context)


@login_required
def callbacks(request: HttpRequest) -> HttpResponse:
    """回访: closed cases whose resident is still to be called back, the longest closed first."""
    from .views import _sorted_page

    rows = selectors.callbacks_due(user=request.user)
    form = forms.SortForm(request.GET or None, default_sort="oldest")
    page = _sorted_page(request, rows, form)
    return render(request, "cases/case_list.html", {"page": page, "title": _("Call-backs due"), "sort_form": form})
