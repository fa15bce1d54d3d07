"""Devices of the fleet and what their agents report: inventory, its change history, metrics, tokens."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from portal.access import TenantOwned
from portal.tags.models import Tag
from portal.tenancy.models import (
    Company,
    Group,
    Site,
    Timestamped,
    check_placement,
    custom_values_default,
    external_ids_default,
)


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
    serial_number = models.CharField(max_length=100, blank=True, help_text="Hardware serial (the agent reports it).")
    # Every address the device reported (agent inventory or a connector), space-separated: what the
    # device list's search matches an IP against without reading the inventory JSON.
    ip_addresses = models.CharField(max_length=1000, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    last_seen = models.DateTimeField(null=True, blank=True)
    external_ids = models.JSONField(default=external_ids_default, blank=True)
    # Values of the admins' custom fields (name → value), written only through portal.custom_fields.
    custom_fields = models.JSONField(default=custom_values_default, blank=True)
    # Reported by the agent.
    agent_version = models.CharField(max_length=32, blank=True)
    cpu_percent = models.FloatField(null=True, blank=True)
    memory_percent = models.FloatField(null=True, blank=True)
    heartbeat_interval = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Seconds between agent heartbeats (1–3600, 30 is a good default); a connected agent is told at once.")
    # The agent connection currently holding the device online; a late disconnect of an older
    # connection must not mark a freshly reconnected device offline.
    agent_connection = models.CharField(max_length=64, blank=True, editable=False)
    tags = models.ManyToManyField(Tag, blank=True, related_name="devices")

    class Meta:
        ordering = ["hostname", "id"]
        indexes = [
            models.Index(fields=["company", "status"]),
            models.Index(fields=["hostname"]),
            models.Index(fields=["serial_number"]),
            models.Index(fields=["last_seen"]),
        ]

    def __str__(self) -> str:
        return self.display_name or self.hostname

    def clean(self) -> None:
        self.hostname = self.hostname.strip()
        check_placement(self)


class DeviceInventory(TenantOwned):
    """The latest full inventory an agent sent (hardware, disks, interfaces, users), and its hash."""

    company_path = "device__company_id"

    device = models.OneToOneField(Device, on_delete=models.CASCADE, related_name="inventory")
    content_hash = models.CharField(max_length=64)
    collected_at = models.DateTimeField()
    kernel = models.CharField(max_length=255, blank=True)
    cpu_model = models.CharField(max_length=255, blank=True)
    cpu_cores = models.PositiveIntegerField(null=True, blank=True)
    memory_total = models.BigIntegerField(null=True, blank=True)
    boot_time = models.DateTimeField(null=True, blank=True)
    disks = models.JSONField(default=list)
    interfaces = models.JSONField(default=list)
    users = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"inventory of {self.device_id}"


class InstalledSoftware(TenantOwned):
    """A package installed on a device, as its agent last reported."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="software")
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=32, blank=True, help_text="dpkg, rpm, registry, applications, …")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["device", "name", "source"], name="software_once_per_device")]

    def __str__(self) -> str:
        return f"{self.name} {self.version}".strip()


class DeviceService(TenantOwned):
    """A system service on a device (systemd unit, Windows service, launchd job) and its state."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=32, blank=True, help_text="running, stopped, failed, …")
    start_mode = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["device", "name"], name="service_once_per_device")]

    def __str__(self) -> str:
        return self.name


class PendingPatch(TenantOwned):
    """An OS update available but not installed on a device."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="pending_patches")
    patch_id = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True)
    severity = models.CharField(max_length=32, blank=True)
    source = models.CharField(max_length=32, blank=True, help_text="apt, dnf, windows_update, softwareupdate")

    class Meta:
        ordering = ["patch_id"]
        constraints = [models.UniqueConstraint(fields=["device", "patch_id"], name="patch_once_per_device")]

    def __str__(self) -> str:
        return self.patch_id


class InventoryChange(TenantOwned):
    """One change between two inventories: software installed/removed/updated, a service started/stopped."""

    company_path = "device__company_id"

    class Kind(models.TextChoices):
        SOFTWARE = "software"
        SERVICE = "service"
        PATCH = "patch"
        HARDWARE = "hardware"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="inventory_changes")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    change = models.CharField(max_length=16, help_text="installed, removed, updated, started, stopped, …")
    name = models.CharField(max_length=255)
    before = models.CharField(max_length=255, blank=True)
    after = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["device", "-at"])]

    def __str__(self) -> str:
        return f"{self.name} {self.change}"


class MetricSample(TenantOwned):
    """CPU and memory of a device at one heartbeat (the history behind the charts)."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="metric_samples")
    at = models.DateTimeField()
    cpu_percent = models.FloatField(null=True)
    memory_percent = models.FloatField(null=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["device", "-at"])]

    def __str__(self) -> str:
        return f"{self.device_id} @ {self.at:%H:%M:%S}"


class EnrollmentToken(TenantOwned):
    """Lets agents join the fleet into one company and site (the server decides, never the agent)."""

    company_path = "company_id"
    PREFIX = "fwe"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="enrollment_tokens")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="enrollment_tokens")
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=24, unique=True)
    secret_digest = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    max_uses = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: any number of devices.")
    use_count = models.PositiveIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.PREFIX}_{self.key_id}_…)"

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        if self.max_uses is not None and self.use_count >= self.max_uses:
            return "used up"
        return "active"


class AgentCredential(TenantOwned):
    """A device's agent token (digest only). Revoking it ends the agent's socket and its reconnects."""

    company_path = "device__company_id"
    PREFIX = "fwa"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="agent_credentials")
    key_id = models.CharField(max_length=24, unique=True)
    secret_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}_{self.key_id}_… of device {self.device_id}"
