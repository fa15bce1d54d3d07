"""Devices of the fleet and what their agents report: inventory, its change history, metrics, tokens."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from portal.access import TenantOwned, ThroughAny
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
    os_type = models.CharField(verbose_name="OS type", max_length=16, choices=OsType.choices, default=OsType.OTHER)
    os_version = models.CharField(verbose_name="OS version", max_length=255, blank=True)
    serial_number = models.CharField(max_length=100, blank=True, help_text="Hardware serial (the agent reports it).")
    # Every address the device reported (agent inventory or a connector), space-separated: what the
    # device list's search matches an IP against without reading the inventory JSON.
    ip_addresses = models.CharField(verbose_name="IP addresses", max_length=1000, blank=True, editable=False)
    status = models.CharField(max_length=16, choices=DeviceStatus.choices, default=DeviceStatus.UNKNOWN)
    last_seen = models.DateTimeField(null=True, blank=True)
    external_ids = models.JSONField(verbose_name="External IDs", default=external_ids_default, blank=True)
    # Values of the admins' custom fields (name → value), written only through portal.custom_fields.
    custom_fields = models.JSONField(default=custom_values_default, blank=True)
    # Reported by the agent.
    agent_version = models.CharField(max_length=32, blank=True)
    cpu_percent = models.FloatField(verbose_name="CPU %", null=True, blank=True)
    memory_percent = models.FloatField(null=True, blank=True)
    heartbeat_interval = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text="Seconds between agent heartbeats (1–3600, 30 is a good default); a connected agent is told at once.")
    # The agent connection currently holding the device online; a late disconnect of an older
    # connection must not mark a freshly reconnected device offline.
    agent_connection = models.CharField(max_length=64, blank=True, editable=False)
    # The channel of the socket that holds the device (a remote session's messages go straight to it, in
    # whichever server process it is).
    agent_channel = models.CharField(max_length=200, blank=True, editable=False, default="", db_default="")
    tags = models.ManyToManyField(Tag, blank=True, related_name="devices")
    # The agent's last look for updates (after each inventory collection) and whether a restart is pending.
    updates_scanned_at = models.DateTimeField(null=True, blank=True, editable=False)
    updates_scan_error = models.CharField(max_length=500, blank=True, editable=False, default="", db_default="")
    reboot_pending_since = models.DateTimeField(null=True, blank=True, editable=False)

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
    cpu_model = models.CharField(verbose_name="CPU model", max_length=255, blank=True)
    cpu_cores = models.PositiveIntegerField(verbose_name="CPU cores", null=True, blank=True)
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


class UpdateSource(models.TextChoices):
    """The tool an update comes from (and is installed with)."""

    WINDOWS_UPDATE = "windows_update", "Windows Update"
    APT = "apt", "apt"
    DNF = "dnf", "dnf"
    SOFTWAREUPDATE = "softwareupdate", "macOS softwareupdate"
    WINGET = "winget", "winget"
    BREW = "brew", "Homebrew"


SOURCE_OS = {UpdateSource.WINDOWS_UPDATE: OsType.WINDOWS, UpdateSource.WINGET: OsType.WINDOWS,
             UpdateSource.APT: OsType.LINUX, UpdateSource.DNF: OsType.LINUX,
             UpdateSource.SOFTWAREUPDATE: OsType.MACOS, UpdateSource.BREW: OsType.MACOS}


class UpdateCategory(models.TextChoices):
    """What an update is, across platforms (Windows' classifications; security or not elsewhere)."""

    SECURITY = "security", "Security"
    CRITICAL = "critical", "Critical"
    DEFINITION = "definition", "Definitions"
    UPDATE = "update", "Updates"
    FEATURE = "feature", "Features and upgrades"
    DRIVER = "driver", "Drivers"
    APPLICATION = "application", "Applications"


class UpdateSeverity(models.TextChoices):
    """The vendor's severity (Microsoft's MSRC rating, a distribution's advisory severity); often unknown."""

    CRITICAL = "critical", "Critical"
    IMPORTANT = "important", "Important"
    MODERATE = "moderate", "Moderate"
    LOW = "low", "Low"
    UNSPECIFIED = "", "Unspecified"


SEVERITY_RANK = {UpdateSeverity.UNSPECIFIED: 0, UpdateSeverity.LOW: 1, UpdateSeverity.MODERATE: 2,
                 UpdateSeverity.IMPORTANT: 3, UpdateSeverity.CRITICAL: 4}


class PatchUpdate(models.Model):
    """One update across the fleet (a KB, a package at a version, a macOS label): the patch catalogue. A row
    exists once whatever number of devices report it; who sees it follows the devices that need or had it."""

    visibility = ThroughAny((("inventory.PendingPatch", "update_id"), ("inventory.PatchOutcome", "update_id")))

    source = models.CharField(max_length=16, choices=UpdateSource.choices)
    identifier = models.CharField(max_length=255, help_text="What the installer takes: a KB, a package, a label.")
    version = models.CharField(max_length=128, blank=True, help_text="The version the update brings.")
    title = models.CharField(max_length=500, blank=True)
    category = models.CharField(max_length=16, choices=UpdateCategory.choices, default=UpdateCategory.UPDATE)
    severity = models.CharField(max_length=16, choices=UpdateSeverity.choices, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    reboot_required = models.BooleanField(null=True, blank=True, help_text="Empty: the platform does not say.")
    released_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    # Across the whole fleet, counted by the patch status job (a reader who sees some companies gets their
    # own counts, computed when read).
    devices_needing = models.PositiveIntegerField(default=0, editable=False)
    devices_installed = models.PositiveIntegerField(default=0, editable=False)
    devices_failed = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["source", "identifier", "version"]
        constraints = [models.UniqueConstraint(fields=["source", "identifier", "version"], name="update_once")]
        indexes = [models.Index(fields=["category", "severity"])]

    def __str__(self) -> str:
        return self.title or f"{self.identifier} {self.version}".strip()

    @property
    def os_type(self) -> str:
        return SOURCE_OS.get(self.source, OsType.OTHER)

    @property
    def age_reference(self) -> datetime:
        """Where deferral days count from: the vendor's release when known, else when the fleet first saw it."""
        return self.released_at or self.first_seen_at


class PendingPatch(TenantOwned):
    """An update available but not installed on a device (as its agent last reported)."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="pending_patches")
    update = models.ForeignKey(PatchUpdate, on_delete=models.CASCADE, related_name="pending")
    from_version = models.CharField(max_length=128, blank=True, default="", db_default="")
    first_seen_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        ordering = ["update__identifier"]
        constraints = [models.UniqueConstraint(fields=["device", "update"], name="patch_once_per_device")]
        indexes = [models.Index(fields=["update", "device"])]

    def __str__(self) -> str:
        return self.patch_id

    @property
    def patch_id(self) -> str:
        return self.update.identifier

    @property
    def title(self) -> str:
        return self.update.title

    @property
    def severity(self) -> str:
        return self.update.severity

    @property
    def source(self) -> str:
        return self.update.source


class OutcomeState(models.TextChoices):
    INSTALLED = "installed", "Installed"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded by a newer version"


class PatchOutcome(TenantOwned):
    """What became of an update on a device: installed (by an install, or no longer offered by the device's
    scan), failed (the last install said so and the device still needs it), or superseded by a newer version."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="patch_outcomes")
    update = models.ForeignKey(PatchUpdate, on_delete=models.CASCADE, related_name="outcomes")
    state = models.CharField(max_length=16, choices=OutcomeState.choices)
    at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="Installs tried by Fleetwatch.")
    result_code = models.IntegerField(null=True, blank=True)
    detail = models.TextField(blank=True, help_text="The end of the installer's output, or how it was seen.")
    # The install action that decided this (kept as a number: the history outlives the action).
    action_number = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        constraints = [models.UniqueConstraint(fields=["device", "update"], name="outcome_once_per_device")]
        indexes = [models.Index(fields=["update", "state"])]

    def __str__(self) -> str:
        return f"{self.update} {self.state} on {self.device_id}"


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
    cpu_percent = models.FloatField(verbose_name="CPU %", null=True)
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
    key_id = models.CharField(verbose_name="Key ID", max_length=24, unique=True)
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
    key_id = models.CharField(verbose_name="Key ID", max_length=24, unique=True)
    secret_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.PREFIX}_{self.key_id}_… of device {self.device_id}"
