"""Remote actions and what they are made from: the script library, the software catalogue,
deployment profiles, bulk runs and schedules.

Scripts, software items and profiles are the MSP's shared library (not owned by a client company);
actions, bulk runs' actions and schedules belong to the company of the device they act on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from portal.access import CompanyOrShared, MspLibrary, TenantOwned, Through
from portal.actions.parameters import Parameter, ad_hoc_environment, declared_parameters, fill
from portal.dynamic_groups.models import DynamicGroup
from portal.inventory.models import Device, OsType
from portal.policies.models import Policy
from portal.tenancy.models import Company, Group, Site, Timestamped

MAX_OUTPUT_CHARS = 64 * 1024
MAX_TIMEOUT_SECONDS = 24 * 3600


class ScriptLanguage(models.TextChoices):
    POWERSHELL = "powershell", "PowerShell"
    BATCH = "batch", "Batch"
    BASH = "bash", "Bash"
    SH = "sh", "sh"
    PYTHON = "python", "Python"


# Which operating systems can run each language at all (PowerShell 7 runs everywhere).
LANGUAGE_OS = {
    ScriptLanguage.POWERSHELL: {OsType.WINDOWS, OsType.LINUX, OsType.MACOS},
    ScriptLanguage.BATCH: {OsType.WINDOWS},
    ScriptLanguage.BASH: {OsType.LINUX, OsType.MACOS},
    ScriptLanguage.SH: {OsType.LINUX, OsType.MACOS},
    ScriptLanguage.PYTHON: {OsType.WINDOWS, OsType.LINUX, OsType.MACOS},
}


def _string_list_default() -> list[str]:
    return []


def _dict_default() -> dict[str, str]:
    return {}


class Script(Timestamped):
    """A library script. Every saved change is kept as a ScriptVersion."""

    visibility = MspLibrary()

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    language = models.CharField(max_length=16, choices=ScriptLanguage.choices, default=ScriptLanguage.BASH)
    content = models.TextField()
    default_timeout = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(1), MaxValueValidator(MAX_TIMEOUT_SECONDS)],
        help_text="Seconds before the run is stopped (its whole process tree is killed).")
    arguments = models.JSONField(default=_string_list_default, blank=True,
                                 help_text="Default command-line arguments, one list item each.")
    environment = models.JSONField(default=_dict_default, blank=True,
                                   help_text="Environment variables set for every run (name → value).")
    parameters = models.JSONField(
        default=_string_list_default, blank=True,
        help_text='What a caller may fill in, e.g. [{"name": "days", "type": "number", "default": 7, '
                  '"required": false, "description": "Keep logs this many days", "via": "env"}]. Types: text, '
                  'number, bool, choice (with "choices"); via: env (a variable of that name) or argument '
                  '(after the default arguments, in this order).')
    target_os = models.CharField(verbose_name="Target OS", max_length=16, choices=OsType.choices, blank=True,
                                 help_text="Leave empty when the script runs on any OS its language supports.")
    sets_field = models.CharField(
        max_length=50, blank=True, verbose_name="output sets custom field",
        help_text="The name of a device custom field: when a run succeeds, the last line of its output becomes the "
                  "device's value (e.g. a script printing the BitLocker status).")
    sets_tags = models.JSONField(
        default=_string_list_default, blank=True, verbose_name="output sets tags",
        help_text="Ids of the tags a run's output may put on or take off its device, with lines "
                  "'fleetwatch-tag: +name' or 'fleetwatch-tag: -name'.")
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.arguments, list) or not all(
                isinstance(a, str) and "\x00" not in a for a in self.arguments):
            raise ValidationError({"arguments": "Arguments are a list of strings."})
        self.environment = ad_hoc_environment(self.environment)
        if self.language not in ScriptLanguage.values:
            raise ValidationError({"language": f"Choose one of {', '.join(ScriptLanguage.values)}."})
        self.parameters = [p.as_dict() for p in declared_parameters(self.parameters, language=self.language)]
        if self.target_os and self.target_os not in LANGUAGE_OS[self.language]:
            raise ValidationError({"target_os": f"{self.get_language_display()} does not run on "
                                                f"{OsType(self.target_os).label}."})

    def runs_on(self, os_type: str) -> bool:
        if self.target_os:
            return os_type == self.target_os
        return os_type in LANGUAGE_OS[self.language]

    def declared(self) -> list[Parameter]:
        return declared_parameters(self.parameters, language=self.language)


class ScriptVersion(models.Model):
    """One saved state of a script: who changed it, when, and what it ran as it was. Kept when the script
    is deleted, so the history of what ran on a device never loses the content behind it."""

    visibility = MspLibrary()

    script = models.ForeignKey(Script, on_delete=models.SET_NULL, null=True, blank=True, related_name="versions")
    number = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=16, choices=ScriptLanguage.choices)
    content = models.TextField()
    arguments = models.JSONField(default=_string_list_default, blank=True)
    environment = models.JSONField(default=_dict_default, blank=True)
    parameters = models.JSONField(default=_string_list_default, blank=True)
    sets_field = models.CharField(max_length=50, blank=True)
    sets_tags = models.JSONField(default=_string_list_default, blank=True)
    changed_fields = models.JSONField(default=_string_list_default)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    changed_by_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]
        constraints = [models.UniqueConstraint(fields=["script", "number"], name="script_version_once")]

    def __str__(self) -> str:
        return f"{self.name} v{self.number}"


class SoftwareItem(Timestamped):
    """A package technicians may install, with its id in each platform's package manager."""

    visibility = MspLibrary()

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    winget_id = models.CharField(verbose_name="winget ID", max_length=200, blank=True, help_text="e.g. Mozilla.Firefox")
    choco_id = models.CharField(verbose_name="Chocolatey ID",
                                max_length=200, blank=True, help_text="e.g. firefox (used when winget is absent)")
    apt_name = models.CharField(max_length=200, blank=True, help_text="Debian/Ubuntu package, e.g. firefox-esr")
    dnf_name = models.CharField(max_length=200, blank=True, help_text="Fedora/RHEL package")
    brew_name = models.CharField(max_length=200, blank=True, help_text="Homebrew formula or cask")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def packages(self) -> dict[str, str]:
        names = {"winget": self.winget_id, "choco": self.choco_id, "apt": self.apt_name, "dnf": self.dnf_name,
                 "brew": self.brew_name}
        return {manager: name for manager, name in names.items() if name}

    def runs_on(self, os_type: str) -> bool:
        managers = set(self.packages())
        return bool(managers & {OsType.WINDOWS: {"winget", "choco"}, OsType.LINUX: {"apt", "dnf"},
                                OsType.MACOS: {"brew"}}.get(os_type, set()))


class ActionType(models.TextChoices):
    RUN_SCRIPT = "run_script", "Run script"
    REBOOT = "reboot", "Reboot"
    INSTALL_PATCHES = "install_patches", "Install patches"
    INSTALL_SOFTWARE = "install_software", "Install software"
    SCAN_UPDATES = "scan_updates", "Scan for updates"
    # Run by Pulseway on a device it manages (connectors/pulseway_actions.py), never sent to our agent.
    PULSEWAY_SCRIPT = "pulseway_script", "Pulseway script"


class ActionStatus(models.TextChoices):
    WAITING = "waiting", "Waiting for the previous task"
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


DELIVERABLE = (ActionStatus.QUEUED, ActionStatus.SENT)
UNFINISHED = (ActionStatus.WAITING, ActionStatus.QUEUED, ActionStatus.SENT, ActionStatus.RUNNING)
FINISHED = (ActionStatus.SUCCEEDED, ActionStatus.FAILED, ActionStatus.TIMED_OUT, ActionStatus.CANCELLED,
            ActionStatus.EXPIRED)


class ActionBatch(models.Model):
    """Actions requested together (a bulk run or a profile roll-out); summarised as results arrive."""

    visibility = Through("actions.Action", "batch_id")

    title = models.CharField(max_length=255)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_by_label = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title


class Action(TenantOwned):
    """One thing to do on one device, from request to result. Never deleted with its history."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="actions")
    # SET_NULL: the history of what ran on a device outlives the device (shown as deleted, by its name).
    device = models.ForeignKey(Device, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    device_label = models.CharField(max_length=255, blank=True, help_text="The device's hostname when requested.")
    action_type = models.CharField(max_length=32, choices=ActionType.choices)
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.QUEUED)
    title = models.CharField(max_length=255)
    # What the agent is told to do; signed (as a digest) into the envelope at delivery.
    payload = models.JSONField(default=_dict_default)
    script = models.ForeignKey(Script, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    script_version = models.PositiveIntegerField(null=True, blank=True)
    batch = models.ForeignKey(ActionBatch, on_delete=models.SET_NULL, null=True, blank=True, related_name="actions")
    # Profile roll-outs: the action that must finish first, and whether a failure stops what follows.
    after = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="followers")
    continue_on_error = models.BooleanField(default=False)
    schedule = models.ForeignKey("ActionSchedule", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="actions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    requested_by_label = models.CharField(max_length=150)
    timeout_seconds = models.PositiveIntegerField(default=300)
    queued_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    delivery_count = models.PositiveIntegerField(default=0)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True)
    stderr = models.TextField(blank=True)
    stdout_truncated = models.BooleanField(default=False)
    stderr_truncated = models.BooleanField(default=False)
    result = models.JSONField(default=_dict_default, blank=True, help_text="Per-patch results and similar.")
    error = models.TextField(blank=True, help_text="Why the action failed, expired or was refused.")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [
            models.Index(fields=["device", "status", "id"]),
            models.Index(fields=["company", "queued_at"]),
            models.Index(fields=["status", "expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.title} on {self.device_name}"

    @property
    def device_name(self) -> str:
        """The device as a person reads it; a deleted device is named and marked so."""
        if self.device_id is None:
            return f"{self.device_label or 'a device'} (deleted)"
        return self.device_label or str(self.device_id)

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class DeploymentProfile(Timestamped):
    """Ordered tasks applied to devices together, e.g. a new-laptop setup; templates are copied."""

    visibility = MspLibrary()

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    target_os = models.CharField(verbose_name="Target OS", max_length=16, choices=OsType.choices, blank=True)
    is_template = models.BooleanField(default=False, help_text="Templates are copied into profiles, not applied.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProfileTask(models.Model):
    """One step of a deployment profile: what it runs, in which order, and whether a failure stops the rest."""

    visibility = MspLibrary()
    profile = models.ForeignKey(DeploymentProfile, on_delete=models.CASCADE, related_name="tasks")
    name = models.CharField(max_length=200)
    order_index = models.PositiveIntegerField()
    action_type = models.CharField(max_length=32, choices=ActionType.choices)
    script = models.ForeignKey(Script, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    software = models.ForeignKey(SoftwareItem, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    # Type-specific options: arguments for scripts, patch_ids/reboot_after, delay_seconds for reboots.
    options = models.JSONField(default=_dict_default, blank=True)
    continue_on_error = models.BooleanField(default=False)

    class Meta:
        ordering = ["order_index", "id"]
        constraints = [models.UniqueConstraint(fields=["profile", "order_index"], name="profile_task_order_once")]

    def __str__(self) -> str:
        return f"{self.order_index}. {self.name}"

    def clean(self) -> None:
        if self.action_type == ActionType.RUN_SCRIPT and self.script_id is None:
            raise ValidationError({"script": "A run-script task needs a library script."})
        if self.action_type == ActionType.INSTALL_SOFTWARE and self.software_id is None:
            raise ValidationError({"software": "An install-software task needs a catalogue item."})
        if not isinstance(self.options, dict):
            raise ValidationError({"options": "Task options are an object."})
        allowed = TASK_OPTIONS.get(self.action_type, set())
        unknown = set(self.options) - allowed
        if unknown:
            raise ValidationError({"options": f"Unknown option(s) {', '.join(sorted(map(str, unknown)))[:200]}"
                                              f" for this task; it takes {', '.join(sorted(allowed)) or 'none'}."})
        if self.action_type == ActionType.RUN_SCRIPT and self.script_id is not None:
            filled = fill(self.script.declared(), self.options.get("parameters"), language=self.script.language)
            if filled.values or "parameters" in self.options:
                self.options = {**self.options, "parameters": filled.values}


# What each kind of profile task may carry in its options (admins of the library write them).
TASK_OPTIONS = {ActionType.RUN_SCRIPT: {"arguments", "parameters"}, ActionType.REBOOT: {"delay_seconds", "message"},
                ActionType.INSTALL_PATCHES: {"patch_ids", "reboot_after"}, ActionType.INSTALL_SOFTWARE: set(),
                ActionType.SCAN_UPDATES: set()}


class ScheduleKind(models.TextChoices):
    ONCE = "once", "Once, at a time"
    MINUTES = "minutes", "Every N minutes"
    HOURS = "hours", "Every N hours"
    DAILY = "daily", "Daily at a time"
    WEEKLY = "weekly", "Weekly on a day at a time"


class ActionSchedule(TenantOwned, Timestamped):
    """A script or profile run on a schedule against a company, site, group or device, or on every device a
    policy reaches (django-q2 runs it)."""

    company_path = "company_id"
    visibility = CompanyOrShared("company_id")

    name = models.CharField(max_length=200)
    # Empty only for a schedule of an MSP-wide policy (its devices are in any company).
    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="action_schedules")
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, null=True, blank=True, related_name="schedules",
                               help_text="Run on every device this policy reaches (evaluated at each run).")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # PROTECT: a group a schedule targets is not deleted from under it (the service says which schedules).
    dynamic_group = models.ForeignKey(DynamicGroup, on_delete=models.PROTECT, null=True, blank=True,
                                      related_name="schedules",
                                      help_text="Only the company's devices in this dynamic group (evaluated at each "
                                                "run).")
    os_type = models.CharField(verbose_name="OS type", max_length=16, choices=OsType.choices, blank=True,
                               help_text="Only devices with this OS (empty: all).")
    # PROTECT: a library entry in use is never deleted from under a schedule (library.delete_* say where).
    script = models.ForeignKey(Script, on_delete=models.PROTECT, null=True, blank=True, related_name="schedules")
    profile = models.ForeignKey(DeploymentProfile, on_delete=models.PROTECT, null=True, blank=True,
                                related_name="schedules")
    parameters = models.JSONField(default=_dict_default, blank=True,
                                  help_text="Values for the script's declared parameters (name → value).")
    kind = models.CharField(max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.DAILY)
    run_at = models.DateTimeField(null=True, blank=True, help_text="First (or only) run.")
    every = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1)],
                                        help_text="N for 'every N minutes/hours'.")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    last_run_at = models.DateTimeField(null=True, blank=True)
    q_schedule_id = models.IntegerField(verbose_name="Task schedule ID", null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.script_id is None) == (self.profile_id is None):
            raise ValidationError("Choose either a script or a profile.")
        if self.kind in (ScheduleKind.MINUTES, ScheduleKind.HOURS) and not self.every:
            raise ValidationError({"every": "Say how many minutes or hours apart the runs are."})
        if self.kind != ScheduleKind.MINUTES and self.kind != ScheduleKind.HOURS and self.run_at is None:
            raise ValidationError({"run_at": "Say when the (first) run is."})
        if self.policy_id is not None:
            if self.policy.company_id != self.company_id:
                raise ValidationError({"policy": "A policy's schedule belongs to the policy's company."})
            if any(getattr(self, f"{name}_id") for name in ("site", "group", "device", "dynamic_group")):
                raise ValidationError("A policy's schedule runs where the policy is assigned: no site, group, "
                                      "device or dynamic group of its own.")
        elif self.company_id is None:
            raise ValidationError({"company": "Choose the company (or a policy) the schedule runs for."})
        for placement in ("site", "group", "device"):
            target = getattr(self, placement)
            if target is not None and target.owning_company_id != self.company_id:
                raise ValidationError({placement: f"This {placement} belongs to another company."})
        if self.dynamic_group is not None and self.dynamic_group.company_id not in (None, self.company_id):
            raise ValidationError({"dynamic_group": "This dynamic group belongs to another company."})
        if self.script_id is not None:
            self.parameters = fill(self.script.declared(), self.parameters, language=self.script.language).values
        elif self.parameters:
            raise ValidationError({"parameters": "A profile brings its own task parameters; a schedule of a profile "
                                                 "takes none."})
