from django.urls import path

from . import views

app_name = "risk"
urlpatterns = [
    path("", views.warning_list, name="list"),
    path("export/", views.warning_export, name="export"),
    path("map/", views.warning_geojson, name="geojson"),
    path("rules/", views.rule_list, name="rules"),
    path("<int:pk>/", views.warning_detail, name="warning"),
]
