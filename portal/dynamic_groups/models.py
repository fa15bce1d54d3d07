"""Dynamic groups: a named, stored filter over devices (saved views), evaluated whenever it is read, so a
device that gains a tag or a custom value belongs at once and one enrolled tomorrow belongs when it matches.

A group is one company's (its operators' to define) or, without a company, the whole MSP's (defined by those
who see every company). Either way a reader sees only the devices of the companies they may see.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.access import CompanyOrShared, TenantOwned
from portal.tenancy.models import Company, Timestamped, name_once_per_owner


def _rules_default() -> list:
    return []


class MatchMode(models.TextChoices):
    ALL = "all", "All rules hold"
    ANY = "any", "Any rule holds"


class DynamicGroup(TenantOwned, Timestamped):
    """Devices matching stored rules (company, site, group, OS, status, tag, custom field, software, pending
    patches, last seen), evaluated live."""

    company_path = "company_id"
    visibility = CompanyOrShared("company_id")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True,
                                related_name="dynamic_groups",
                                help_text="Empty: the whole MSP's group (each reader sees their companies' devices).")
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    match = models.CharField(max_length=8, choices=MatchMode.choices, default=MatchMode.ALL)
    rules = models.JSONField(default=_rules_default, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["name", "id"]
        constraints = name_once_per_owner(prefix="dynamic_group", message="A dynamic group of this name exists.")

    def __str__(self) -> str:
        return self.name
