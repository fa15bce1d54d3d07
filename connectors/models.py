"""Connectors to other tools (Pulseway first), the history of every sync, and which upstream record is
which Fleetwatch record. A connector imports into many companies, so it belongs to the MSP (admins who
see every company), not to one client."""

from __future__ import annotations

from django.db import models

from portal.secrets import EncryptedTextField
from portal.tenancy.models import Timestamped


class ConnectorKind(models.TextChoices):
    PULSEWAY = "pulseway", "Pulseway (REST API v3)"


class Connector(Timestamped):
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=ConnectorKind.choices, default=ConnectorKind.PULSEWAY)
    base_url = models.URLField(help_text="e.g. https://api.pulseway.com/v3/ or https://rmm.example.com/api/v3/")
    token_id = models.CharField(max_length=200, help_text="Pulseway API token id.")
    token_secret = EncryptedTextField(help_text="Pulseway API token secret (stored encrypted).")
    enabled = models.BooleanField(default=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with item errors"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    progress = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=500, blank=True)
    item_errors = models.JSONField(default=list, blank=True, help_text="The items that failed and why.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connector} sync {self.started_at:%Y-%m-%d %H:%M}"


class ExternalRecord(models.Model):
    """An upstream item and the Fleetwatch record it is: the key of every idempotent upsert."""

    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        SITE = "site", "Site"
        GROUP = "group", "Group"
        DEVICE = "device", "Device"

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_id = models.CharField(max_length=200)
    object_id = models.PositiveBigIntegerField(help_text="The Fleetwatch record's id.")
    label = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64, help_text="Of the upstream fields last applied.")
    stale = models.BooleanField(default=False, help_text="Gone upstream; the Fleetwatch record is kept.")
    last_seen_run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["kind", "label"]
        constraints = [models.UniqueConstraint(fields=["connector", "kind", "external_id"],
                                               name="external_record_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label} ({self.external_id})"
