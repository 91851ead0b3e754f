"""The installable app: the web app manifest, the service worker and the page shown offline.

The service worker (templates/sw.js) precaches the static files the field pages need, each URL with a revision
(the hashed name in production, a hash of the content in development), so a new static release installs a new
worker that replaces the cached copies; it keeps the last copy of the pages a grid worker needs offline (home,
report, my cases) and answers every other page with "needs the network". Workbox does the plumbing, imported from
our own static files. Reports queued offline are sent by static/js/outbox.js, from the pages or from the worker's
Background Sync.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control

WORKBOX = ["core", "routing", "strategies", "precaching"]  # the order their builds expect
# Static files the report, home and "my cases" pages need with no network.
PRECACHE = [
    "vendor/bootstrap/bootstrap.min.css",
    "vendor/bootstrap/bootstrap.bundle.min.js",
    "vendor/htmx/htmx.min.js",
    "css/app.css",
    "js/app.js",
    "js/cases.js",
    "js/outbox.js",
    "js/field.js",
    "favicon.svg",
    "icons/icon-192.png",
]
OFFLINE_PAGES = ("home", "case_report", "my_cases")
ICONS = [("icons/icon-192.png", "192x192", "any"), ("icons/icon-512.png", "512x512", "any maskable")]


@lru_cache(maxsize=256)
def revision(name: str) -> str:
    """A short hash of a static file's content (read once per process: a release restarts the processes)."""
    path = finders.find(name)
    digest = hashlib.sha256()
    if path:
        with open(path, "rb") as fh:
            digest.update(fh.read())
    else:
        with staticfiles_storage.open(name) as fh:
            digest.update(fh.read())
    return digest.hexdigest()[:16]


def _offline_revision() -> str:
    from django.template.loader import get_template

    template = get_template("offline.html").template
    return hashlib.sha256(template.source.encode()).hexdigest()[:16]


def worker_config() -> dict:
    precache = [{"url": static(name), "revision": revision(name)} for name in PRECACHE]
    precache.append({"url": reverse("offline"), "revision": _offline_revision()})
    return {
        "workbox": [static(f"vendor/workbox/workbox-{m}.prod.js") for m in WORKBOX],
        "outbox": static("js/outbox.js"),
        "precache": precache,
        "pages": [reverse(name) for name in OFFLINE_PAGES],
        "offline": reverse("offline"),
        # Changes with every static release, so the browser sees a new worker and installs it.
        "release": hashlib.sha256(json.dumps(precache).encode()).hexdigest()[:16],
    }


@cache_control(no_cache=True, max_age=0)
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, at the root so that it serves every page of the app."""
    response = render(request, "sw.js", {"config": json.dumps(worker_config())}, content_type="application/javascript")
    response["Service-Worker-Allowed"] = "/"
    return response


@cache_control(max_age=3600)
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": _("GovGrid"),
        "short_name": _("GovGrid"),
        "description": _("Grid governance: report and follow cases."),
        "start_url": reverse("home"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0d6efd",
        "icons": [{"src": static(src), "sizes": sizes, "type": "image/png", "purpose": p} for src, sizes, p in ICONS],
    }
    return JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})


def offline(request: HttpRequest) -> HttpResponse:
    """What the worker shows for a page it has no copy of while the network is gone (the same for everyone)."""
    return render(request, "offline.html")
