"""Connectors to other tools (Pulseway, Datto RMM, Freshservice), the history of every sync, and which
upstream record is which Fleetwatch record. A connector imports into many companies, so it belongs to
the MSP (admins who see every company), not to one client."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from portal.access import MspAdminsOnly
from portal.secrets import EncryptedTextField
from portal.targets import TargetUrl, parse_url
from portal.tenancy.models import Timestamped


def connector_target(url: str) -> TargetUrl:
    """A vendor API's base URL: https (plain http only for a stand-in on this machine), strictly parsed."""
    return parse_url(url, schemes={"https": 443, "http": 80}, what="base URL", plain_http_only_on_loopback=True)


class ConnectorKind(models.TextChoices):
    PULSEWAY = "pulseway", "Pulseway (REST API v3)"
    DATTO = "datto", "Datto RMM (API v2)"
    FRESHSERVICE = "freshservice", "Freshservice (API v2)"


class Connector(Timestamped):

    visibility = MspAdminsOnly()
    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=ConnectorKind.choices, default=ConnectorKind.PULSEWAY)
    base_url = models.URLField(verbose_name="Base URL",
                               help_text="Pulseway: https://api.pulseway.com/v3/ (self-hosted: "
                                         "https://<server>/api/v3/). Datto RMM: your platform, e.g. "
                                         "https://pinotage-api.centrastage.net. Freshservice: "
                                         "https://<domain>.freshservice.com/api/v2/.")
    token_id = models.CharField(verbose_name="Token ID", max_length=200, blank=True,
                                help_text="Pulseway: the API token id. Datto RMM: the API key. "
                                          "Freshservice: leave empty.")
    token_secret = EncryptedTextField(help_text="Pulseway: the token secret. Datto RMM: the API secret. Freshservice: "
                                                "the API key. Stored encrypted.")
    enabled = models.BooleanField(default=True)
    write_account_numbers = models.BooleanField(
        default=False, help_text="Datto RMM: write each company's account number into a device UDF. Freshservice: "
                                 "give departments without an account number their company's. Off by default.")
    account_number_field = models.CharField(
        max_length=100, blank=True,
        help_text="Where the account number goes: a Datto UDF (udf1…udf30) or a Freshservice department custom "
                  "field key.")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def vendor_name(self) -> str:
        """The tool's name alone ("Pulseway"), without the API version the kind's label adds."""
        return self.get_kind_display().split(" (")[0]

    def clean(self) -> None:
        try:
            self.base_url = connector_target(self.base_url).url
        except ValidationError as error:
            raise ValidationError({"base_url": error}) from error


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with item errors"
    FAILED = "failed", "Failed"


class SyncRun(models.Model):

    visibility = MspAdminsOnly()
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Upstream items Fleetwatch has no place for.")
    conflicts = models.PositiveIntegerField(default=0, help_text="Items another source already holds.")
    written_upstream = models.PositiveIntegerField(default=0, help_text="Account numbers written to the vendor.")
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    progress = models.CharField(max_length=200, blank=True)
    phase_done = models.PositiveIntegerField(default=0)
    phase_total = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    item_errors = models.JSONField(default=list, blank=True, help_text="The items that failed and why.")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connector} sync {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def percent(self) -> int | None:
        """How far the current phase is (None when its size is not known)."""
        if not self.phase_total:
            return None
        return min(100, round(100 * self.phase_done / self.phase_total))


class ExternalRecord(models.Model):
    """An upstream item and the Fleetwatch record it is: the key of every idempotent upsert."""

    visibility = MspAdminsOnly()

    class Kind(models.TextChoices):
        COMPANY = "company", "Company"
        SITE = "site", "Site"
        GROUP = "group", "Group"
        DEVICE = "device", "Device"
        CONTACT = "contact", "Contact"

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_id = models.CharField(verbose_name="External ID", max_length=200)
    object_id = models.PositiveBigIntegerField(verbose_name="Object ID", help_text="The Fleetwatch record's id.")
    label = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64, help_text="Of the upstream fields last applied.")
    stale = models.BooleanField(default=False, help_text="Gone upstream; the Fleetwatch record is kept.")
    mapped_by_user = models.BooleanField(
        default=False, help_text="A person chose the Fleetwatch record: syncs link to it and leave its fields alone.")
    conflict = models.CharField(
        max_length=300, blank=True,
        help_text="Another source already holds the Fleetwatch record; this source does not write it until resolved.")
    last_seen_run = models.ForeignKey(SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["kind", "label"]
        constraints = [models.UniqueConstraint(fields=["connector", "kind", "external_id"],
                                               name="external_record_once")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label} ({self.external_id})"
