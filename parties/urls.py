from django.urls import path

from . import party_views, transfer_views, views, visit_views

app_name = "parties"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("regions/<int:pk>/", views.households, name="households"),
    path("regions/<int:pk>/filter/", views.household_filter, name="household_filter"),
    path("regions/<int:pk>/buildings/", views.buildings, name="buildings"),
    path("regions/<int:pk>/households/new/", views.household_create, name="household_create"),
    path("regions/<int:pk>/organisations/", views.organisations, name="organisations"),
    path("regions/<int:pk>/organisations/new/", views.organisation_create, name="organisation_create"),
    path("regions/<int:pk>/visits/", visit_views.region_visits, name="visits"),
    path("regions/<int:pk>/coverage/", party_views.coverage_page, name="coverage"),
    path("regions/<int:pk>/party/", party_views.party_tree, name="party"),
    path("regions/<int:pk>/party/new/", party_views.party_org_create, name="party_org_create"),
    path("regions/<int:pk>/export/<slug:kind>.<slug:fmt>", transfer_views.export, name="export"),
    path("buildings/<int:pk>/", views.building_edit, name="building_edit"),
    path("households/<int:pk>/", views.household_detail, name="household"),
    path("households/<int:pk>/edit/", views.household_edit, name="household_edit"),
    path("households/<int:pk>/residents/new/", views.resident_create, name="resident_create"),
    path("residents/<int:pk>/", views.resident_detail, name="resident"),
    path("residents/<int:pk>/edit/", views.resident_edit, name="resident_edit"),
    path("residents/<int:pk>/move/", views.resident_move, name="resident_move"),
    path("residents/<int:pk>/deceased/", views.resident_deceased, name="resident_deceased"),
    path("organisations/<int:pk>/", views.organisation_detail, name="organisation"),
    path("organisations/<int:pk>/edit/", views.organisation_edit, name="organisation_edit"),
    path("reveal/<slug:kind>/<int:pk>/<slug:field>/", views.reveal, name="reveal"),
    path("party/<int:pk>/", party_views.party_org_detail, name="party_org"),
    path("party/<int:pk>/members/new/", party_views.member_create, name="member_create"),
    path("members/<int:pk>/", party_views.member_detail, name="member"),
    path("keepings/assign/", party_views.keeping_assign, name="keeping_assign"),
    path("keepings/<int:pk>/remove/", party_views.keeping_remove, name="keeping_remove"),
    path("visits/new/", visit_views.visit_create, name="visit_create"),
    path("visits/<int:pk>/", visit_views.visit_detail, name="visit"),
    path("visit-photos/<int:pk>/", visit_views.visit_photo, name="visit_photo"),
    path("access-log/", visit_views.access_log, name="access_log"),
    path("import/", transfer_views.import_page, name="import"),
    path("import/<int:pk>/", transfer_views.import_job, name="import_job"),
    path("import/template/<slug:kind>.<slug:fmt>", transfer_views.import_template, name="import_template"),
]
