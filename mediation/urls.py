from django.urls import include, path

from . import views

app_name = "mediation"

urlpatterns = [
    path("", views.ledger, name="ledger"),
    path("new/", views.dispute_new, name="new"),
    path("from-case/<int:pk>/", views.dispute_from_case, name="from_case"),
    path("from-visit/<int:pk>/", views.dispute_from_visit, name="from_visit"),
    path("<int:pk>/", views.dispute_detail, name="dispute"),
    path("<int:pk>/parties/search/", views.party_search, name="party_search"),
    path("<int:pk>/parties/add/", views.party_add, name="party_add"),
    path("parties/<int:pk>/remove/", views.party_remove, name="party_remove"),
    path("<int:pk>/mediators/", views.mediator_add, name="mediator_add"),
    path("<int:pk>/sessions/", views.session_add, name="session_add"),
    path("<int:pk>/agree/", views.agree, name="agree"),
    path("<int:pk>/end/", views.end, name="end"),
    path("<int:pk>/hand-over/", views.hand_over, name="hand_over"),
    path("agreements/<int:pk>/", views.agreement_print, name="agreement"),
    path("agreements/<int:pk>/scan/", views.scan_upload, name="scan_upload"),
    path("files/<int:pk>/", views.file_download, name="file"),
    path("follow-ups/<int:pk>/", views.follow_up, name="follow_up"),
    path("risk/", include("mediation.risk.urls")),  # 风险预警 and the weekly 研判 list
]
