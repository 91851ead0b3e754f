from django.urls import path

from . import views

app_name = "casemap"
urlpatterns = [
    path("", views.map_page, name="page"),
    path("data/", views.map_data, name="data"),
]
