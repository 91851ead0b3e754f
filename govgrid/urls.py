from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from cases.home_views import home
from govgrid import pwa

# Uploaded files are never served from MEDIA_URL: attachments go through cases.views, which checks who asks.
urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("", home, name="home"),  # each role's home is its work (cases.home_views)
    path("sw.js", pwa.service_worker, name="service_worker"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("offline/", pwa.offline, name="offline"),
    path("api/", include("govgrid.api.urls")),
    path("open311/v2/", include("cases.open311.urls")),
    path("cases/", include("cases.urls")),
    path("map/", include("casemap.urls")),
    path("notifications/", include("notifications.urls")),
    path("dashboard/", include("dashboard.urls")),
    path("parties/", include("parties.urls")),
    path("mediation/", include("mediation.urls")),
    path("", include("grids.urls")),
]

if settings.GOVGRID_BENCH_FLOOR:  # only in the server that bench_cases starts (bench/views.py)
    from bench.views import floor

    urlpatterns.insert(0, path("bench/floor/", floor, name="bench_floor"))

handler403 = "grids.views.handler403"
handler404 = "govgrid.api.errors.not_found"
