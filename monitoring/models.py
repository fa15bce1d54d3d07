"""Network gear polled over SNMP (switches, routers, firewalls, printers, access points): what it is,
how to reach it (secrets encrypted at rest), and what the last poll found, with a history."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils import timezone

from monitoring.rtsp import check_username, rtsp_target
from portal.access import CompanyOrShared, TenantOwned
from portal.policies.models import Policy
from portal.secrets import EncryptedTextField
from portal.tags.models import Tag
from portal.targets import TargetUrl, parse_host, parse_url
from portal.tenancy.models import Company, Group, Site, Timestamped, check_placement


class NetworkDeviceType(models.TextChoices):
    SWITCH = "switch", "Switch"
    ROUTER = "router", "Router"
    FIREWALL = "firewall", "Firewall"
    PRINTER = "printer", "Printer"
    ACCESS_POINT = "access_point", "Access point"
    OTHER = "other", "Other"


class SnmpVersion(models.TextChoices):
    V1 = "1", "SNMP v1"
    V2C = "2c", "SNMP v2c"
    V3 = "3", "SNMP v3"


class AuthProtocol(models.TextChoices):
    NONE = "", "None"
    MD5 = "md5", "MD5"
    SHA = "sha", "SHA-1"
    SHA256 = "sha256", "SHA-256"
    SHA512 = "sha512", "SHA-512"


class PrivProtocol(models.TextChoices):
    NONE = "", "None"
    DES = "des", "DES"
    AES = "aes", "AES-128"
    AES256 = "aes256", "AES-256"


class PollStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not polled yet"
    UP = "up", "Up"
    TIMEOUT = "timeout", "No answer (timeout or wrong credentials)"
    UNREACHABLE = "unreachable", "Unreachable"
    ERROR = "error", "SNMP error"


class NetworkDevice(TenantOwned, Timestamped):
    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="network_devices")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="network_devices")
    group = models.ForeignKey(Group, on_delete=models.SET_NULL, null=True, blank=True, related_name="network_devices")
    name = models.CharField(max_length=200)
    host = models.CharField(max_length=255, help_text="IP address or host name.")
    port = models.PositiveIntegerField(default=161, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    vendor = models.CharField(max_length=100, blank=True)
    device_type = models.CharField(max_length=16, choices=NetworkDeviceType.choices, default=NetworkDeviceType.SWITCH)
    snmp_version = models.CharField(verbose_name="SNMP version",
                                    max_length=2, choices=SnmpVersion.choices, default=SnmpVersion.V2C)
    community = EncryptedTextField(blank=True, help_text="v1/v2c community (stored encrypted).")
    v3_user = models.CharField(verbose_name="SNMPv3 user", max_length=100, blank=True)
    auth_protocol = models.CharField(max_length=8, choices=AuthProtocol.choices, blank=True)
    auth_key = EncryptedTextField(blank=True, help_text="v3 authentication key (stored encrypted).")
    priv_protocol = models.CharField(max_length=8, choices=PrivProtocol.choices, blank=True)
    priv_key = EncryptedTextField(blank=True, help_text="v3 privacy key (stored encrypted).")
    poll_interval_minutes = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1),
                                                                               MaxValueValidator(1440)])
    # What the last poll found.
    status = models.CharField(max_length=16, choices=PollStatus.choices, default=PollStatus.UNKNOWN)
    status_detail = models.CharField(max_length=300, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        help_text="Due for polling from this time (empty: at once).")
    poll_claim = models.CharField(max_length=32, blank=True, editable=False,
                                  help_text="The cycle chunk polling this device now: only its result is stored.")
    response_ms = models.FloatField(null=True, blank=True)
    sys_descr = models.TextField(verbose_name="System description", blank=True)
    sys_object_id = models.CharField(verbose_name="System object ID", max_length=255, blank=True)
    sys_uptime_seconds = models.BigIntegerField(verbose_name="Uptime (seconds)", null=True, blank=True)
    sys_contact = models.CharField(verbose_name="System contact", max_length=255, blank=True)
    sys_name = models.CharField(verbose_name="System name", max_length=255, blank=True)
    sys_location = models.CharField(verbose_name="System location", max_length=255, blank=True)
    cpu_percent = models.FloatField(verbose_name="CPU %", null=True, blank=True, help_text="Mean hrProcessorLoad.")
    storage = models.JSONField(default=list, blank=True, help_text="hrStorage entries: descr, size and used bytes.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="network_devices")

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["company", "status"]), models.Index(fields=["next_poll_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        check_placement(self)
        try:
            self.host = parse_host(self.host)
        except ValidationError as error:
            raise ValidationError({"host": error}) from error
        if self.snmp_version == SnmpVersion.V3:
            if not self.v3_user:
                raise ValidationError({"v3_user": "SNMP v3 needs a user name."})
            if self.priv_protocol and not self.auth_protocol:
                raise ValidationError({"priv_protocol": "Privacy needs authentication too."})
            for protocol, key, name in ((self.auth_protocol, self.auth_key, "auth_key"),
                                        (self.priv_protocol, self.priv_key, "priv_key")):
                if protocol and len(key or "") < 8:
                    raise ValidationError({name: "SNMP v3 keys are at least 8 characters."})
        elif not self.community:
            raise ValidationError({"community": "SNMP v1/v2c needs a community."})


class NetworkInterface(TenantOwned):
    """One row of ifTable/ifXTable as last polled, with rates from the previous poll's counters."""

    company_path = "device__company_id"

    device = models.ForeignKey(NetworkDevice, on_delete=models.CASCADE, related_name="interfaces")
    if_index = models.PositiveIntegerField(verbose_name="Interface index", )
    name = models.CharField(max_length=255, blank=True)
    alias = models.CharField(max_length=255, blank=True)
    if_type = models.PositiveIntegerField(verbose_name="Interface type", null=True, blank=True)
    speed_bps = models.BigIntegerField(verbose_name="Speed (bit/s)", null=True, blank=True)
    admin_status = models.CharField(max_length=16, blank=True)
    oper_status = models.CharField(max_length=16, blank=True)
    in_octets = models.DecimalField(max_digits=20, decimal_places=0, null=True, blank=True)
    out_octets = models.DecimalField(max_digits=20, decimal_places=0, null=True, blank=True)
    counter_bits = models.PositiveSmallIntegerField(default=32, help_text="64 when ifXTable HC counters are used.")
    in_bps = models.FloatField(verbose_name="In (bit/s)", null=True, blank=True)
    out_bps = models.FloatField(verbose_name="Out (bit/s)", null=True, blank=True)
    sampled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["if_index"]
        constraints = [models.UniqueConstraint(fields=["device", "if_index"], name="interface_once_per_device")]

    def __str__(self) -> str:
        return self.name or f"if{self.if_index}"


class NetworkPollSample(TenantOwned):
    """One poll's outcome, kept for FLEETWATCH_NETWORK_RETENTION_DAYS."""

    company_path = "device__company_id"

    device = models.ForeignKey(NetworkDevice, on_delete=models.CASCADE, related_name="samples")
    at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=PollStatus.choices)
    response_ms = models.FloatField(null=True, blank=True)
    cpu_percent = models.FloatField(verbose_name="CPU %", null=True, blank=True)
    in_bps = models.FloatField(verbose_name="In (bit/s)", null=True, blank=True, help_text="All interfaces together.")
    out_bps = models.FloatField(verbose_name="Out (bit/s)", null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["device", "-at"])]


class CameraStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    UP = "up", "Up"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    DOWN = "down", "Down"


class Camera(TenantOwned, Timestamped):
    """An IP camera checked over RTSP (OPTIONS, then DESCRIBE with its credentials)."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="cameras")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="cameras")
    name = models.CharField(max_length=200)
    host = models.CharField(max_length=255, help_text="IP address or host name.")
    rtsp_url = models.CharField(verbose_name="RTSP URL",
                                max_length=500, help_text="e.g. rtsp://192.0.2.10:554/stream1 (no credentials in it).")
    username = models.CharField(max_length=100, blank=True)
    password = EncryptedTextField(blank=True, help_text="Stored encrypted.")
    location = models.CharField(max_length=255, blank=True, help_text="Where it hangs, e.g. 'Loading dock, north'.")
    check_interval_minutes = models.PositiveIntegerField(default=10, validators=[MinValueValidator(1),
                                                                                 MaxValueValidator(1440)])
    status = models.CharField(max_length=16, choices=CameraStatus.choices, default=CameraStatus.UNKNOWN)
    status_detail = models.CharField(max_length=300, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    next_check_at = models.DateTimeField(null=True, blank=True, editable=False)
    response_ms = models.FloatField(null=True, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="cameras")

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["company", "status"]), models.Index(fields=["next_check_at"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        check_placement(self)
        errors: dict[str, ValidationError] = {}
        host = url = None
        try:
            host = parse_host(self.host)
            self.host = host
        except ValidationError as error:
            errors["host"] = error
        try:
            url = rtsp_target(self.rtsp_url)
            self.rtsp_url = url.url
        except ValidationError as error:
            errors["rtsp_url"] = error
        if host and url and url.host != host:
            # The check connects where the URL points; the host shown everywhere must be that place.
            errors["rtsp_url"] = ValidationError(f"The RTSP URL points at {url.host}, not at the camera's host "
                                                 f"{host}: make them the same.")
        try:
            check_username(self.username)
        except ValidationError as error:
            errors["username"] = error
        if errors:
            raise ValidationError(errors)



class Severity(models.TextChoices):
    INFO = "info", "Info"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class CheckKind(models.TextChoices):
    AGENT_OFFLINE = "agent_offline", "Agent offline longer than N minutes"
    AGENT_CPU = "agent_cpu", "Agent device CPU above X %"
    AGENT_MEMORY = "agent_memory", "Agent device memory above X %"
    AGENT_DISK_FREE = "agent_disk_free", "Agent device disk free below Z %"
    SERVICE_NOT_RUNNING = "service_not_running", "A service is not running"
    CRITICAL_PATCHES = "critical_patches", "Critical patches pending"
    NETWORK_UNREACHABLE = "network_unreachable", "Network device unreachable"
    INTERFACE_DOWN = "interface_down", "Interface down (admin up)"
    NETWORK_CPU = "network_cpu", "Network device CPU above X %"
    NETWORK_STORAGE = "network_storage", "Network device storage above X % used"
    CAMERA_DOWN = "camera_down", "Camera down"
    CAMERA_AUTH_FAILED = "camera_auth_failed", "Camera authentication failed"
    SCRIPT = "script", "A library script's exit code"
    EVENT_LOG = "event_log", "Windows event log entries in the last N minutes"


# A service name as the restart command takes it, and the fields of a Windows event-log check: nothing a
# generated PowerShell or shell line could read as syntax.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9_.@:-]{1,200}$")
EVENT_LOG_NAME = re.compile(r"^[A-Za-z0-9 /_.-]{1,100}$")


class Check(TenantOwned, Timestamped):
    """A condition a policy watches on every matching object it reaches, alerting after N failures in a row."""

    company_path = "company_id"
    visibility = CompanyOrShared("company_id")

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="checks")
    # The policy's company (empty: an MSP-wide policy's check), kept with the check for the tenancy rule.
    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="checks")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=CheckKind.choices)
    warning_threshold = models.FloatField(null=True, blank=True, help_text="Minutes, percent or count by kind.")
    critical_threshold = models.FloatField(null=True, blank=True)
    failures_before_alert = models.PositiveIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="Consecutive failing evaluations (one a minute) before an alert opens.")
    parameter = models.CharField(max_length=200, blank=True, help_text="The service name, for service checks.")
    warning_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MEDIUM)
    critical_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.CRITICAL)
    enabled = models.BooleanField(default=True)
    # Script checks: the library script, how often it runs, and which exit codes are a warning (any other
    # non-zero exit, a timeout or a failure is critical).
    script = models.ForeignKey("actions.Script", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               help_text="Script checks: the library script to run.")
    interval_minutes = models.PositiveIntegerField(default=15, validators=[MinValueValidator(1),
                                                                          MaxValueValidator(1440)],
                                                   help_text="Script and event-log checks: run every N minutes.")
    warning_exit_codes = models.CharField(max_length=100, blank=True, default="1",
                                          help_text="Script checks: exit codes that are a warning, e.g. 1 or 1,3.")
    event_source = models.CharField(max_length=100, blank=True, help_text="Event-log checks: the source (provider).")
    event_id = models.PositiveIntegerField(verbose_name="Event ID",
                                           null=True, blank=True, help_text="Event-log checks: the event id.")
    event_level = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="Event-log checks: 1 critical, 2 error, 3 warning, 4 information (empty: any).")
    restart_service = models.BooleanField(default=True, help_text="Service checks: restart the service when the "
                                                                  "alert opens (self-healing).")

    class Meta:
        ordering = ["company", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.kind == CheckKind.SERVICE_NOT_RUNNING and not SERVICE_NAME.match(self.parameter or ""):
            raise ValidationError({"parameter": "The service's name: letters, digits and _ . @ : - only."})
        if self.kind == CheckKind.SCRIPT:
            if self.script_id is None:
                raise ValidationError({"script": "Choose the library script the check runs."})
            codes = [code.strip() for code in self.warning_exit_codes.split(",") if code.strip()]
            if not all(code.lstrip("-").isdigit() for code in codes):
                raise ValidationError({"warning_exit_codes": "Exit codes are whole numbers, separated by commas."})
        if self.kind == CheckKind.EVENT_LOG:
            if not EVENT_LOG_NAME.match(self.parameter or ""):
                raise ValidationError({"parameter": "The event log's name (e.g. System or Application): letters, "
                                                    "digits, spaces and / _ . - only."})
            if self.event_source and not EVENT_LOG_NAME.match(self.event_source):
                raise ValidationError({"event_source": "Letters, digits, spaces and / _ . - only."})

    def warning_codes(self) -> set[int]:
        return {int(code) for code in self.warning_exit_codes.split(",") if code.strip()}


class CheckRun(TenantOwned):
    """One run a script or event-log check queued on one device, and the action that carried it."""

    company_path = "device__company_id"

    check_rule = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="runs")
    device = models.ForeignKey("inventory.Device", on_delete=models.CASCADE, related_name="+")
    action = models.ForeignKey("actions.Action", on_delete=models.SET_NULL, null=True, related_name="+")
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["check_rule", "device", "-queued_at"])]

    def __str__(self) -> str:
        return f"{self.check_rule} on {self.device_id} at {self.queued_at:%H:%M}"


class CheckState(TenantOwned):
    """How many evaluations in a row one object has failed one check."""

    company_path = "check_rule__company_id"

    check_rule = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="states")
    object_key = models.CharField(max_length=64)
    consecutive_failures = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["check_rule", "object_key"], name="check_state_once")]


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(TenantOwned):
    """One problem on one object: at most one unresolved alert per check and object."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="alerts")
    check_rule = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="alerts")
    object_key = models.CharField(max_length=64, help_text="e.g. device:12, network:3, camera:5, interface:9")
    object_label = models.CharField(max_length=255)
    kind = models.CharField(max_length=32, choices=CheckKind.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    message = models.CharField(max_length=500)
    value = models.FloatField(null=True, blank=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="+")
    acknowledged_by_label = models.CharField(max_length=150, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledgement_note = models.TextField(blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["company", "status", "severity"])]
        constraints = [models.UniqueConstraint(fields=["check_rule", "object_key"],
                                               condition=models.Q(resolved_at__isnull=True),
                                               name="one_unresolved_alert_per_check_and_object")]

    def __str__(self) -> str:
        return f"{self.get_severity_display()}: {self.message}"


class MaintenanceWindow(TenantOwned):
    """No new alerts for a company, one of its sites, or one device while the window is open."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="maintenance_windows")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    object_key = models.CharField(max_length=64, blank=True, help_text="One object (device:12, network:3); empty: "
                                                                       "the whole site or company.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return self.reason or f"maintenance from {self.starts_at:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.ends_at and self.starts_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The window must end after it starts."})


def route_target(url: str) -> TargetUrl:
    """Where a Slack or webhook route posts: https (plain http only to this machine), a real host and port."""
    return parse_url(url, schemes={"https": 443, "http": 80}, what="Webhook URL", plain_http_only_on_loopback=True)


class RouteKind(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack webhook"
    WEBHOOK = "webhook", "Webhook (JSON POST)"
    SCRIPT = "script", "Run a script on the device"
    FRESHSERVICE = "freshservice", "Open a Freshservice ticket"


SEVERITY_RANK = {severity: rank for rank, severity in enumerate(Severity.values)}


class AlertRoute(TenantOwned, Timestamped):
    """Where a policy's alerts go, from a severity up: email addresses, a Slack or generic webhook, or a library
    script run on the alert's device (self-healing, e.g. restart the service) when it opens or resolves."""

    company_path = "policy__company_id"
    visibility = CompanyOrShared("policy__company_id")

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="alert_routes")
    name = models.CharField(max_length=150)
    kind = models.CharField(max_length=16, choices=RouteKind.choices)
    min_severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.HIGH,
                                    help_text="Alerts of this severity and above.")
    emails = models.JSONField(default=list, blank=True, help_text="Email: the addresses.")
    # A webhook's URL holds its secret (Slack's does): stored encrypted, never shown again.
    url = EncryptedTextField(verbose_name="URL",
                             blank=True, help_text="Slack or webhook: the https URL (stored encrypted).")
    script = models.ForeignKey("actions.Script", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                               help_text="Script: the library script run on the alert's device.")
    connector = models.ForeignKey("connectors.Connector", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+", help_text="Freshservice: the connector whose account gets the "
                                                              "ticket (the first email address is its requester).")
    on_open = models.BooleanField(default=True, help_text="Notify (or run the script) when the alert opens.")
    on_resolve = models.BooleanField(default=False, help_text="Notify (or run the script) when it resolves.")
    renotify_minutes = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(5)],
                                                   help_text="Notify again every N minutes while it stays open "
                                                             "(empty: once).")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["policy", "name", "id"]

    def __str__(self) -> str:
        return self.name

    def takes(self, severity: str) -> bool:
        return self.enabled and SEVERITY_RANK[severity] >= SEVERITY_RANK[self.min_severity]

    def clean(self) -> None:
        if self.kind == RouteKind.EMAIL:
            addresses = self.emails
            if not isinstance(addresses, list) or not 1 <= len(addresses) <= 20:
                raise ValidationError({"emails": "Give 1 to 20 email addresses."})
            for address in addresses:
                try:
                    validate_email(address)
                except (ValidationError, TypeError):
                    raise ValidationError({"emails": f"“{str(address)[:80]}” is not an email address."}) from None
        elif self.kind in (RouteKind.SLACK, RouteKind.WEBHOOK):
            try:
                self.url = route_target(self.url or "").url
            except ValidationError as error:
                raise ValidationError({"url": error.messages}) from None
        elif self.kind == RouteKind.SCRIPT and self.script_id is None:
            raise ValidationError({"script": "Choose the library script to run on the alert's device."})
        elif self.kind == RouteKind.FRESHSERVICE:
            if self.connector_id is None or self.connector.kind != "freshservice":
                raise ValidationError({"connector": "Choose a Freshservice connector."})
            if not isinstance(self.emails, list) or len(self.emails) != 1:
                raise ValidationError({"emails": "Give the one email address the tickets are requested by."})
            validate_email(self.emails[0])
        if not (self.on_open or self.on_resolve):
            raise ValidationError("Notify when the alert opens, when it resolves, or both.")


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class AlertNotification(TenantOwned):
    """One delivery of an alert event through one route, with its attempts: the alert's timeline."""

    company_path = "alert__company_id"

    class Event(models.TextChoices):
        OPENED = "opened", "Opened"
        REMINDER = "reminder", "Still open"
        RESOLVED = "resolved", "Resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="notifications")
    route = models.ForeignKey(AlertRoute, on_delete=models.SET_NULL, null=True, related_name="notifications")
    route_label = models.CharField(max_length=200)
    event = models.CharField(max_length=16, choices=Event.choices)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    action = models.ForeignKey("actions.Action", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               help_text="The script run this notification queued.")
    external_ref = models.CharField(max_length=100, blank=True, help_text="What it made elsewhere, e.g. a ticket.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_event_display()} via {self.route_label}: {self.get_status_display().lower()}"
