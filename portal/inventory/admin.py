from django.contrib import admin

from portal.admin_scoping import ScopedModelAdmin
from portal.inventory.models import Device


@admin.register(Device)
class DeviceAdmin(ScopedModelAdmin):
    list_display = ("hostname", "company", "site", "status", "last_seen")
    list_filter = ("status", "os_type")
    list_select_related = ("company", "site")
    search_fields = ("hostname", "display_name")
