from django.urls import include, path

app_name = "mediation"
urlpatterns = [
    path("risk/", include("mediation.risk.urls")),
]
