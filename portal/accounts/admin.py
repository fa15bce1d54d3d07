from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from portal.access import Role
from portal.accounts.models import APIToken, User
from portal.admin_scoping import AuditedAdminMixin, admin_actor


class AdminsOnly:
    """Users and tokens are managed by administrators who see every company."""

    def _allowed(self, request: HttpRequest) -> bool:
        actor = admin_actor(request)
        return request.user.is_staff and actor.has_role(Role.ADMIN) and actor.sees_all_companies

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self._allowed(request)

    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)


@admin.register(User)
class UserAdmin(AuditedAdminMixin, AdminsOnly, DjangoUserAdmin):
    list_display = ("username", "email", "role", "all_companies", "is_active", "last_login")
    list_filter = ("role", "all_companies", "is_active")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        ("Fleetwatch access", {"fields": ("role", "all_companies", "companies", "can_run_inline_scripts",
                                                 "can_open_remote_sessions")}),
    )
    filter_horizontal = ("companies", "groups", "user_permissions")


@admin.register(APIToken)
class APITokenAdmin(AuditedAdminMixin, AdminsOnly, admin.ModelAdmin):
    """Tokens can be looked at and revoked here; they are created by their owner on the tokens page."""

    list_display = ("name", "user", "key_id", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "name", "key_id", "secret_digest", "created_at", "last_used_at")
    exclude = ()

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
