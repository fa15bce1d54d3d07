"""Devices of the fleet: endpoints that run the agent (enriched by the agent and inventory issues)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from portal.access import TenantOwned
from portal.tenancy.models import Company, Group, Site, Timestamped, external_ids_default


class OsType(models.TextChoices):
    WINDOWS = "windows", "Windows"
    LINUX = "linux", "Linux"
    MACOS = "macos", "macOS"
    OTHER = "other", "Other"


class DeviceStatus(models.TextChoices):
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"
    UNKNOWN = "unknown", "Unknown"


class Device(TenantOwned, Timestamped):
    """An endpoint of a client company, placed in one of its sites and optionally a group."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="devices")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="devices")
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="devices")
    hostname = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    os_type = models.CharField(max_length=16, choices=OsType.choices, default=OsType.OTHER)
    os_version = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    last_seen = models.DateTimeField(null=True, blank=True)
    external_ids = models.JSONField(default=external_ids_default, blank=True)

    class Meta:
        ordering = ["hostname", "id"]
        indexes = [
            models.Index(fields=["company", "status"]),
            models.Index(fields=["hostname"]),
            models.Index(fields=["last_seen"]),
        ]

    def __str__(self) -> str:
        return self.display_name or self.hostname

    def clean(self) -> None:
        self.hostname = self.hostname.strip()
        if self.site_id and self.company_id and self.site.company_id != self.company_id:
            raise ValidationError({"site": "This site belongs to another company."})
        if self.group_id and self.site_id and self.group.site_id != self.site_id:
            raise ValidationError({"group": "This group belongs to another site."})
