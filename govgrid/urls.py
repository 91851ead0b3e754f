from django.contrib import admin
from django.urls import include, path

# Uploaded files are never served from MEDIA_URL: attachments go through cases.views, which checks who asks.
urlpatterns = [
    path("django-admin/", admin.site.urls),
    path("cases/", include("cases.urls")),
    path("notifications/", include("notifications.urls")),
    path("parties/", include("parties.urls")),
    path("", include("grids.urls")),
]

handler403 = "grids.views.handler403"
