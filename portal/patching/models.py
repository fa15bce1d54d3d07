"""Patch management: how a policy approves updates, when they install (patch windows), how devices restart,
the technicians' decisions, each window's run on a device, and compliance over time.

Patching is a part of an automation policy (``PatchPolicy``, one per policy): a device takes the patching of
the most specific policy reaching it that has patching turned on, whole (rules, deny list, windows and restart
rules are not mixed from several policies).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils import timezone

from portal.access import CompanyOrShared, TenantOwned
from portal.inventory.models import Device, PatchUpdate
from portal.patching.rules import DEFAULT_RULES, clean_deny_list, clean_rules
from portal.policies.models import Policy
from portal.tenancy.models import Company, Timestamped


def _default_rules() -> list[dict]:
    return [dict(rule) for rule in DEFAULT_RULES]


def _empty_list() -> list:
    return []


class RebootMode(models.TextChoices):
    NEVER = "never", "Never"
    IF_REQUIRED = "if_required", "When an update needs it"
    ALWAYS = "always", "After every install"


class PatchPolicy(TenantOwned, Timestamped):
    """The patching part of an automation policy: what is approved by itself and after how long, what never
    installs, and how devices restart afterwards."""

    company_path = "policy__company_id"
    visibility = CompanyOrShared("policy__company_id")

    policy = models.OneToOneField(Policy, on_delete=models.CASCADE, related_name="patching")
    enabled = models.BooleanField(default=True, help_text="Off: this policy says nothing about patching.")
    rules = models.JSONField(default=_default_rules, blank=True,
                             help_text="Approval rules, first match wins: category (or *), minimum severity, action "
                                       "(approve, deny, manual) and days of deferral.")
    deny_list = models.JSONField(default=_empty_list, blank=True,
                                 help_text="Never installed: KB numbers, package names or globs (linux-image-*).")
    catch_up = models.BooleanField(default=False, help_text="A device offline during its window installs as soon as "
                                                            "it is back, instead of at its next window.")
    include_applications = models.BooleanField(
        default=False, verbose_name="third-party applications",
        help_text="Also update the software catalogue's applications (winget, Homebrew, the distribution's "
                  "packages), under the same rules and windows.")
    suppress_alerts = models.BooleanField(default=True, help_text="No new alerts for a device while its patch "
                                                                  "window is open.")
    reboot_mode = models.CharField(max_length=16, choices=RebootMode.choices, default=RebootMode.IF_REQUIRED,
                                   verbose_name="restart")
    reboot_warning_minutes = models.PositiveIntegerField(
        default=15, validators=[MaxValueValidator(240)], verbose_name="restart warning (minutes)",
        help_text="Logged-in users are warned this long before the restart (0: no warning).")
    reboot_max_postpone_minutes = models.PositiveIntegerField(
        default=240, validators=[MaxValueValidator(1440)], verbose_name="users may postpone by (minutes)",
        help_text="In all; devices nobody is logged in to (servers) restart at once.")
    reboot_message = models.CharField(max_length=300, blank=True, verbose_name="restart message")

    class Meta:
        verbose_name = "patch policy"
        verbose_name_plural = "patch policies"

    def __str__(self) -> str:
        return f"patching of {self.policy}"

    def clean(self) -> None:
        self.rules = clean_rules(self.rules)
        self.deny_list = clean_deny_list(self.deny_list)

    def reboot_payload(self) -> dict:
        """What the agent is told about restarting after this policy's installs."""
        return {"mode": self.reboot_mode, "warn_minutes": self.reboot_warning_minutes,
                "max_postpone_minutes": self.reboot_max_postpone_minutes, "message": self.reboot_message}


class Frequency(models.TextChoices):
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Weekly on chosen days"
    MONTHLY = "monthly", "Monthly on the nth weekday"


WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
WEEK_OF_MONTH = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "last"}


class PatchWindow(TenantOwned):
    """When a policy's approved updates install: a recurring time in each device's company's time zone."""

    company_path = "policy__company_id"
    visibility = CompanyOrShared("policy__company_id")

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="patch_windows")
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    weekdays = models.JSONField(default=_empty_list, blank=True, help_text="Weekly: days, 0 = Monday … 6 = Sunday.")
    week_of_month = models.PositiveSmallIntegerField(null=True, blank=True, choices=list(WEEK_OF_MONTH.items()),
                                                     help_text="Monthly: which one (5 = the last).")
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, choices=list(enumerate(WEEKDAYS)),
                                               help_text="Monthly: the day of the week.")
    starts_at = models.TimeField(help_text="Local time in the device's company's time zone.")
    duration_minutes = models.PositiveIntegerField(default=240, validators=[MinValueValidator(30),
                                                                            MaxValueValidator(1440)])

    class Meta:
        ordering = ["policy", "starts_at", "id"]

    def __str__(self) -> str:
        when = {Frequency.DAILY: "every day",
                Frequency.WEEKLY: "every " + ", ".join(WEEKDAYS[day] for day in sorted(self.weekdays or [])),
                Frequency.MONTHLY: f"the {WEEK_OF_MONTH.get(self.week_of_month, '?')} "
                                   f"{WEEKDAYS[self.weekday] if self.weekday is not None else '?'} of each month",
                }.get(self.frequency, self.frequency)
        return f"{when} at {self.starts_at:%H:%M} for {self.duration_minutes} min"

    def clean(self) -> None:
        if self.frequency == Frequency.WEEKLY:
            days = self.weekdays
            if not isinstance(days, list) or not days or not all(
                    isinstance(day, int) and not isinstance(day, bool) and 0 <= day <= 6 for day in days):
                raise ValidationError({"weekdays": "Choose the days of the week (0 = Monday … 6 = Sunday)."})
            self.weekdays = sorted(set(days))
        else:
            self.weekdays = []
        if self.frequency == Frequency.MONTHLY:
            if self.week_of_month not in WEEK_OF_MONTH or self.weekday is None or not 0 <= self.weekday <= 6:
                raise ValidationError("A monthly window needs which week (first … last) and which weekday.")
        else:
            self.week_of_month = self.weekday = None


class Decision(models.TextChoices):
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"


class PatchApproval(TenantOwned):
    """A technician's decision on an update: for a whole company, or (an override) for one device."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="patch_approvals")
    update = models.ForeignKey(PatchUpdate, on_delete=models.CASCADE, related_name="approvals")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="patch_approvals",
                               help_text="Empty: the whole company.")
    decision = models.CharField(max_length=16, choices=Decision.choices)
    note = models.CharField(max_length=300, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    decided_by_label = models.CharField(max_length=150)
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "update"], condition=models.Q(device__isnull=True),
                                    name="one_company_decision_per_update"),
            models.UniqueConstraint(fields=["device", "update"], condition=models.Q(device__isnull=False),
                                    name="one_device_decision_per_update"),
        ]

    def __str__(self) -> str:
        where = f"device {self.device_id}" if self.device_id else f"company {self.company_id}"
        return f"{self.update} {self.decision} for {where}"


class PatchRun(TenantOwned):
    """A device's installs in one occurrence of its patch window (one at most: the window job never queues
    twice for the same occurrence)."""

    company_path = "device__company_id"

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="patch_runs")
    policy = models.ForeignKey(Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    updates = models.PositiveIntegerField(default=0)
    action_number = models.PositiveIntegerField(null=True, blank=True)
    suppress_alerts = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-window_start", "-id"]
        constraints = [models.UniqueConstraint(fields=["device", "window_start"], name="one_run_per_window")]
        indexes = [models.Index(fields=["window_end", "window_start"])]

    def __str__(self) -> str:
        return f"patch window {self.window_start:%Y-%m-%d %H:%M} on {self.device_id}"


class DevicePatchStatus(TenantOwned):
    """A device's patch summary as the approval evaluation last found it: what compliance counts."""

    company_path = "device__company_id"

    device = models.OneToOneField(Device, on_delete=models.CASCADE, primary_key=True, related_name="patch_status")
    policy = models.ForeignKey(Policy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               help_text="The policy whose patching applies (empty: none).")
    pending = models.PositiveIntegerField(default=0)
    approved = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(default=0)
    awaiting = models.PositiveIntegerField(default=0)
    denied = models.PositiveIntegerField(default=0)
    unmanaged = models.PositiveIntegerField(default=0, help_text="Needed, with no patch policy to install it.")
    missing_critical = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    next_window_at = models.DateTimeField(null=True, blank=True)
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "device patch statuses"

    def __str__(self) -> str:
        return f"patch status of {self.device_id}"

    @property
    def needed(self) -> int:
        """Updates the device still needs (everything pending but what is denied or left out)."""
        return self.approved + self.deferred + self.awaiting + self.unmanaged

    @property
    def fully_patched(self) -> bool:
        return self.needed == 0


class PatchQueueEntry(TenantOwned):
    """An update waiting for a technician's decision in a company: how many of its devices need it (refreshed
    by the patch status job, and at once for a company whose decisions change)."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="patch_queue")
    update = models.ForeignKey(PatchUpdate, on_delete=models.CASCADE, related_name="queued_in")
    devices = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["company", "-devices", "update"]
        constraints = [models.UniqueConstraint(fields=["company", "update"], name="queued_once_per_company")]

    def __str__(self) -> str:
        return f"{self.update} awaiting in {self.company_id}"


class ComplianceSnapshot(TenantOwned):
    """One company's compliance on one day (taken daily: the history behind the 90-day chart)."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="compliance_snapshots")
    day = models.DateField()
    devices = models.PositiveIntegerField(default=0)
    fully_patched = models.PositiveIntegerField(default=0)
    missing_critical = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    reboot_pending = models.PositiveIntegerField(default=0)
    scanned_recently = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["company", "day"], name="one_snapshot_per_company_day")]

    def __str__(self) -> str:
        return f"{self.company_id} on {self.day}"


class ComplianceReportSchedule(TenantOwned):
    """A company's monthly compliance report, mailed (PDF and CSV attached) to the client."""

    company_path = "company_id"

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="compliance_report")
    recipients = models.JSONField(default=_empty_list, help_text="Email addresses.")
    day_of_month = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1),
                                                                           MaxValueValidator(28)])
    enabled = models.BooleanField(default=True)
    last_sent_on = models.DateField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"monthly report of {self.company}"

    def clean(self) -> None:
        if not isinstance(self.recipients, list) or not 1 <= len(self.recipients) <= 20:
            raise ValidationError({"recipients": "Give 1 to 20 email addresses."})
        cleaned = []
        for address in self.recipients:
            if not isinstance(address, str):
                raise ValidationError({"recipients": "Email addresses are text."})
            try:
                validate_email(address.strip())
            except ValidationError as error:
                raise ValidationError({"recipients": f"{address.strip()[:100]!r} is not an email address."}) from error
            cleaned.append(address.strip())
        self.recipients = cleaned
