from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from portal.admin_scoping import ScopedModelAdmin
from portal.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ScopedModelAdmin):
    """Read-only: the audit log is written by services, never edited."""

    list_display = ("created_at", "actor_label", "action", "object_repr", "ip_address")
    list_filter = ("action",)
    search_fields = ("actor_label", "object_repr")

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    has_add_permission = has_change_permission  # type: ignore[assignment]
    has_delete_permission = has_change_permission
