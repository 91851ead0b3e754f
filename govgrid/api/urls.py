"""/api/v1/ (each app's viewsets), the OpenAPI schema at /api/schema/ and its Swagger UI and Redoc at /api/docs/,
served from the app's own static files (no request leaves the machine)."""

from django.conf import settings
from django.urls import include, path
from django.utils.csp import CSP
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from cases.api import views as cases_api
from grids.api import views as grids_api
from notifications.api import views as notifications_api
from parties.api import views as parties_api

router = DefaultRouter()
router.include_root_view = False
router.register("regions", grids_api.RegionViewSet, basename="api-region")
router.register("departments", grids_api.DepartmentViewSet, basename="api-department")
router.register("tokens", grids_api.MyTokenViewSet, basename="api-token")
router.register("categories", cases_api.CategoryViewSet, basename="api-category")
router.register("cases", cases_api.CaseViewSet, basename="api-case")
router.register("work-orders", cases_api.WorkOrderViewSet, basename="api-work-order")
router.register("attachments", cases_api.AttachmentViewSet, basename="api-attachment")
router.register("notifications", notifications_api.NotificationViewSet, basename="api-notification")
router.register("households", parties_api.HouseholdViewSet, basename="api-household")
router.register("residents", parties_api.ResidentViewSet, basename="api-resident")
router.register("organisations", parties_api.OrganisationViewSet, basename="api-organisation")


def docs(view):
    """Swagger UI and Redoc set styles inline: allowed on these two pages only (scripts stay our own files)."""
    policy = {**settings.SECURE_CSP, "style-src": [CSP.SELF, CSP.UNSAFE_INLINE], "img-src": [CSP.SELF, "data:"]}
    return csp_override(policy)(view)


urlpatterns = [
    path("v1/auth/token/", grids_api.TokenObtainView.as_view(), name="api-token-obtain"),
    path("v1/", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", docs(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("docs/redoc/", docs(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
]
