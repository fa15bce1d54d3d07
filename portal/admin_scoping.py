"""Django admin that obeys the tenancy rule and the roles, and audits what it writes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, Model, QuerySet
from django.http import HttpRequest

from portal.access import Actor, Role, TenantOwned, actor_for_user, visible_to
from portal.audit.services import record, snapshot


def admin_actor(request: HttpRequest) -> Actor:
    return getattr(request, "actor", None) or actor_for_user(request.user)


class AuditedAdminMixin:
    """Writes made through the admin land in the audit log like every other write."""

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else None
        super().save_model(request, obj, form, change)
        record(actor=admin_actor(request), action=f"{obj._meta.model_name}.{'updated' if change else 'created'}",
               target=obj, company_id=getattr(obj, "owning_company_id", None), before=before, after=snapshot(obj))

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        record(actor=admin_actor(request), action=f"{obj._meta.model_name}.deleted", target=obj,
               company_id=getattr(obj, "owning_company_id", None), before=snapshot(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


class ScopedModelAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """Rows, choices and permissions follow the actor's scope and role; every save is audited."""

    edit_role = Role.OPERATOR

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return visible_to(super().get_queryset(request), admin_actor(request))

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        """Connectors alone write ``external_ids`` (a Pulseway run goes where they point)."""
        fields = tuple(super().get_readonly_fields(request, obj))
        names = {field.name for field in self.model._meta.get_fields()}
        return (*fields, "external_ids") if "external_ids" in names else fields

    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if isinstance(related, type) and issubclass(related, TenantOwned):
            kwargs["queryset"] = visible_to(related._default_manager.all(), admin_actor(request))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and admin_actor(request).has_role(Role.VIEWER)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return self.has_module_permission(request) and admin_actor(request).has_role(self.edit_role)

    has_add_permission = has_change_permission  # type: ignore[assignment]
    has_delete_permission = has_change_permission
