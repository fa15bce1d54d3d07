"""Client companies and where their things are: sites, groups within sites, and contacts."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from portal.access import TenantOwned


class Timestamped(models.Model):
    """Creation and last-change times, shared by the fleet's records."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


def check_placement(instance: models.Model) -> None:
    """A record placed in a company, a site and maybe a group: the site must be the company's, the group
    the site's (devices, network devices, cameras)."""
    if instance.site_id and instance.company_id and instance.site.company_id != instance.company_id:
        raise ValidationError({"site": "This site belongs to another company."})
    if getattr(instance, "group_id", None) and instance.site_id and instance.group.site_id != instance.site_id:
        raise ValidationError({"group": "This group belongs to another site."})


def external_ids_default() -> dict[str, str]:
    return {}


def custom_values_default() -> dict:
    return {}


def name_once_per_owner(*, prefix: str, message: str) -> list[models.UniqueConstraint]:
    """A name used once per company, and once among the rows of the whole MSP (no company): two constraints,
    since a NULL company never collides with another in a plain unique constraint."""
    return [models.UniqueConstraint(fields=["company", "name"], name=f"{prefix}_name_once",
                                    violation_error_message=message),
            models.UniqueConstraint(fields=["name"], condition=models.Q(company__isnull=True),
                                    name=f"shared_{prefix}_name_once", violation_error_message=message)]


class Company(TenantOwned, Timestamped):
    """A client company of the MSP; everything else in the fleet belongs to one."""

    company_path = "id"

    name = models.CharField(max_length=200)
    account_number = models.CharField(
        max_length=64, unique=True, null=True, blank=True,
        help_text="The MSP's account number for this client; unique when set.",
    )
    notes = models.TextField(blank=True)
    # db_default: rows written by code of earlier versions (a migration's historical models) get one too.
    time_zone = models.CharField(max_length=64, blank=True, default="", db_default="",
                                 help_text="Where the company works, e.g. Europe/Berlin: patch windows start in this "
                                           "zone (empty: the server's).")
    # Remote sessions on this company's endpoints (portal/remote).
    remote_consent_required = models.BooleanField(
        verbose_name="Ask the signed-in user before a remote session", default=False, db_default=False,
        help_text="On a workstation with someone signed in at the desktop, the agent asks them to allow each shell "
                  "or file session; servers and machines nobody is signed in to are unattended.")
    remote_banner = models.CharField(
        verbose_name="Remote session banner", max_length=500, blank=True, default="", db_default="",
        help_text="Shown to the endpoint's signed-in users when a technician opens a session (empty: no notice).")
    # Ids of the same company in other systems, keyed by source ("pulseway", "freshservice", …).
    external_ids = models.JSONField(verbose_name="External IDs", default=external_ids_default, blank=True)
    # Values of the admins' custom fields (name → value), written only through portal.custom_fields.
    custom_fields = models.JSONField(default=custom_values_default, blank=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.name = self.name.strip()
        # Blank account numbers are stored as NULL so that many companies may lack one.
        self.account_number = (self.account_number or "").strip() or None
        self.time_zone = (self.time_zone or "").strip()
        if self.time_zone and self.time_zone not in zoneinfo.available_timezones():
            raise ValidationError({"time_zone": f"Unknown time zone {self.time_zone!r}; use a name like "
                                                "Europe/Berlin or America/New_York."})

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The company's time zone (the server's when none is set)."""
        return zoneinfo.ZoneInfo(self.time_zone or settings.TIME_ZONE)


class Site(TenantOwned, Timestamped):
    """A location of a company (an office, a data centre)."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    address = models.TextField(blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)
    contact_email = models.EmailField(blank=True)
    external_ids = models.JSONField(verbose_name="External IDs", default=external_ids_default, blank=True)
    # Values of the admins' custom fields (name → value), written only through portal.custom_fields.
    custom_fields = models.JSONField(default=custom_values_default, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="site_name_unique_in_company")]

    def __str__(self) -> str:
        return self.name


class Group(TenantOwned, Timestamped):
    """A set of devices within a site (a floor, a department, the servers)."""

    company_path = "site__company_id"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    external_ids = models.JSONField(verbose_name="External IDs", default=external_ids_default, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="group_name_unique_in_site")]

    def __str__(self) -> str:
        return self.name


class Contact(TenantOwned, Timestamped):
    """A person at a client company the technicians talk to."""

    company_path = "company_id"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    external_ids = models.JSONField(verbose_name="External IDs", default=external_ids_default, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.email and not self.phone:
            raise ValidationError("Give an email address or a phone number, so the contact can be reached.")
