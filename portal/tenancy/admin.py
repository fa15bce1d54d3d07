from django.contrib import admin

from portal.access import Role
from portal.admin_scoping import ScopedModelAdmin
from portal.tenancy.models import Company, Contact, Group, Site


@admin.register(Company)
class CompanyAdmin(ScopedModelAdmin):
    edit_role = Role.ADMIN
    list_display = ("name", "account_number", "created_at")
    search_fields = ("name", "account_number")


@admin.register(Site)
class SiteAdmin(ScopedModelAdmin):
    list_display = ("name", "company", "contact_email")
    list_select_related = ("company",)
    search_fields = ("name", "company__name")


@admin.register(Group)
class GroupAdmin(ScopedModelAdmin):
    list_display = ("name", "site")
    list_select_related = ("site",)
    search_fields = ("name", "site__name")


@admin.register(Contact)
class ContactAdmin(ScopedModelAdmin):
    list_display = ("name", "company", "email", "phone")
    list_select_related = ("company",)
    search_fields = ("name", "email")
