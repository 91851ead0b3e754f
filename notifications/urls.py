from django.urls import path

from . import subscription_views, views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("<int:pk>/read/", views.mark_read, name="read"),
    path("read-all/", views.mark_all_read, name="read_all"),
    path("settings/", views.channel_settings, name="settings"),
    path("subscriptions/", subscription_views.subscription_list, name="subscriptions"),
    path("subscriptions/<int:pk>/", subscription_views.subscription_detail, name="subscription"),
    path("subscriptions/<int:pk>/delete/", subscription_views.subscription_delete, name="subscription_delete"),
    path("subscriptions/deliveries/<int:pk>/replay/", subscription_views.delivery_replay, name="delivery_replay"),
]
