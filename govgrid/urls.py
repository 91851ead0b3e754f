from django.conf import settings
from django.contrib import admin
from django.urls import include, path

# Uploaded files are never served from MEDIA_URL: attachments go through cases.views, which checks who asks.
urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("api/", include("govgrid.api.urls")),
    path("open311/v2/", include("cases.open311.urls")),
    path("cases/", include("cases.urls")),
    path("notifications/", include("notifications.urls")),
    path("parties/", include("parties.urls")),
    path("", include("grids.urls")),
]

if settings.GOVGRID_BENCH_FLOOR:  # only in the server that bench_cases starts (bench/views.py)
    from bench.views import floor

    urlpatterns.insert(0, path("bench/floor/", floor, name="bench_floor"))

handler403 = "grids.views.handler403"
handler404 = "govgrid.api.errors.not_found"
