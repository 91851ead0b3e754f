from django.urls import path

from . import party_views, views
from .open311 import key_views

urlpatterns = [
    path("", views.case_list, name="case_list"),
    path("report/", views.case_report, name="case_report"),
    path("report/nearby/", views.report_nearby, name="case_report_nearby"),
    path("mine/", views.my_cases, name="my_cases"),
    path("verify/", views.verify_queue, name="verify_queue"),
    path("triage/", views.triage, name="triage"),
    path("street/", views.street_queue, name="street_queue"),
    path("street/bulk/", views.street_bulk, name="street_bulk"),
    path("inbox/", views.inbox, name="inbox"),
    path("<int:pk>/", views.case_detail, name="case_detail"),
    path("<int:pk>/act/<slug:action>/", views.case_action, name="case_action"),
    path("<int:pk>/parties/search/", party_views.party_search, name="case_party_search"),
    path("<int:pk>/parties/add/", party_views.party_add, name="case_party_add"),
    path("parties/<int:pk>/remove/", party_views.party_remove, name="case_party_remove"),
    path("from-visit/<int:pk>/", party_views.case_from_visit, name="case_from_visit"),
    path("work-orders/<int:pk>/<slug:action>/", views.work_order_action, name="work_order_action"),
    path("attachments/<int:pk>/", views.attachment_download, name="attachment"),
    path("attachments/<int:pk>/thumb/", views.attachment_download, {"thumb": True}, name="attachment_thumb"),
    path("supervision/", views.supervision, name="supervision"),
    path("open311/keys/", key_views.key_list, name="open311_keys"),
    path("open311/keys/<int:pk>/revoke/", key_views.key_revoke, name="open311_key_revoke"),
    path("categories/", views.category_list, name="category_list"),
    path("categories/new/", views.category_edit, name="category_create"),
    path("categories/<int:pk>/", views.category_edit, name="category_edit"),
    path("templates/new/", views.response_template_edit, name="response_template_create"),
    path("templates/<int:pk>/", views.response_template_edit, name="response_template_edit"),
    path("calendar/", views.calendar_year, name="calendar"),
    path("calendar/new/", views.calendar_day_edit, name="calendar_day_create"),
    path("calendar/seed/", views.calendar_seed, name="calendar_seed"),
    path("calendar/<str:day>/", views.calendar_day_edit, name="calendar_day_edit"),
]
