from django.urls import re_path

from . import views

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    re_path(r"^discovery" + FMT, views.discovery, name="open311_discovery"),
    re_path(r"^services" + FMT, views.service_list, name="open311_services"),
    re_path(r"^services/(?P<code>[A-Za-z0-9_\-]{1,40})" + FMT, views.service_definition, name="open311_service"),
    re_path(r"^requests" + FMT, views.request_list, name="open311_requests"),
    re_path(r"^requests/(?P<number>[A-Za-z0-9_\-]{1,40})" + FMT, views.request_detail, name="open311_request"),
    re_path(r"^tokens/(?P<token>[A-Za-z0-9]{1,64})" + FMT, views.token_detail, name="open311_token"),
]
