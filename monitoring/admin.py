"""Checks and maintenance windows in the (scoped, audited) Django admin, beside their dashboard pages."""

from django.contrib import admin

from monitoring.models import Check, MaintenanceWindow
from portal.admin_scoping import ScopedModelAdmin


@admin.register(Check)
class CheckAdmin(ScopedModelAdmin):
    list_display = ("name", "company", "kind", "warning_threshold", "critical_threshold", "failures_before_alert",
                    "enabled")
    list_filter = ("kind", "enabled")
    list_select_related = ("company",)
    search_fields = ("name", "company__name")


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(ScopedModelAdmin):
    list_display = ("company", "site", "object_key", "starts_at", "ends_at", "reason")
    list_select_related = ("company", "site")
    search_fields = ("reason", "company__name")
