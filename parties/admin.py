"""The Django admin (superusers only) edits the tags; everything else has its own pages, which audit and log."""

from django.contrib import admin

from .models import Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "kind", "is_active", "sort_order")
    list_filter = ("kind", "is_active")
    list_editable = ("is_active", "sort_order")
    search_fields = ("name", "code")
