"""Automation policies: work defined once (checks today; the features hang their items on a policy) and
assigned where it applies — the whole MSP, companies, sites, groups, dynamic groups or single devices, several
per level and ordered — with exclusions. A device's effective policy is computed when read, so a device enrolled
tomorrow has its policies at once, with no job to run.

Precedence: where two policies set the same item, the more specific level wins (device > dynamic group >
group > site > company > MSP-wide); within a level, the later in order wins.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from portal.access import CompanyOrShared, TenantOwned
from portal.dynamic_groups.models import DynamicGroup
from portal.inventory.models import Device
from portal.tenancy.models import Company, Group, Site, Timestamped, name_once_per_owner


class Policy(TenantOwned, Timestamped):
    """A named bundle of checks (and, as features add them, more), one company's or the whole MSP's."""

    company_path = "company_id"
    visibility = CompanyOrShared("company_id")

    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="policies",
                                help_text="Empty: the whole MSP's policy (admins who see every company change it).")
    name = models.CharField(max_length=150)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    # The company's own policy, assigned to it: where checks made for the company (and its defaults) go.
    company_default = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "policies"
        constraints = [
            models.UniqueConstraint(fields=["company"], condition=models.Q(company_default=True),
                                    name="one_own_policy_per_company"),
            *name_once_per_owner(prefix="policy", message="A policy of this name exists."),
        ]

    def __str__(self) -> str:
        return self.name


class Level(models.TextChoices):
    """Where a policy is assigned, from the most general to the most specific."""

    MSP = "msp", "The whole MSP"
    COMPANY = "company", "Company"
    SITE = "site", "Site"
    GROUP = "group", "Group"
    DYNAMIC_GROUP = "dynamic_group", "Dynamic group"
    DEVICE = "device", "Device"


LEVEL_RANK = {level: rank for rank, level in enumerate(Level.values)}
TARGET_FIELDS = {Level.COMPANY: "company", Level.SITE: "site", Level.GROUP: "group",
                 Level.DYNAMIC_GROUP: "dynamic_group", Level.DEVICE: "device"}
# Where a policy may be excluded: a company, a site or one device.
EXCLUDABLE = (Level.COMPANY, Level.SITE, Level.DEVICE)


class PolicyAssignment(TenantOwned):
    """A policy applied at (or, with ``exclude``, kept away from) one place."""

    company_path = "company_id"
    visibility = CompanyOrShared("company_id")

    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="assignments")
    level = models.CharField(max_length=16, choices=Level.choices)
    # The company the target belongs to (empty only for the MSP level): what decides who sees the assignment.
    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    group = models.ForeignKey(Group, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    dynamic_group = models.ForeignKey(DynamicGroup, on_delete=models.CASCADE, null=True, blank=True,
                                      related_name="policy_assignments")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    order = models.IntegerField(default=0, help_text="Within a level, a later (higher) order wins.")
    exclude = models.BooleanField(default=False, help_text="Keep the policy away from this company, site or "
                                                           "device, wherever else it is assigned.")

    class Meta:
        ordering = ["policy", "exclude", "level", "order", "id"]

    def __str__(self) -> str:
        verb = "not on" if self.exclude else "on"
        return f"{self.policy} {verb} {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.level == Level.MSP:
            return "every company"
        target = getattr(self, TARGET_FIELDS[self.level])
        return f"{Level(self.level).label.lower()} {target}"

    def clean(self) -> None:
        given = [name for name in TARGET_FIELDS.values() if getattr(self, f"{name}_id") is not None
                 and not (name == "company" and self.level != Level.COMPANY)]
        wanted = TARGET_FIELDS.get(self.level)
        if (wanted is None and given) or (wanted is not None and given != [wanted]):
            raise ValidationError(f"Name exactly the {Level(self.level).label.lower()} it applies to.")
        if self.exclude and self.level not in EXCLUDABLE:
            raise ValidationError("A policy is excluded from a company, a site or a device.")
        if self.policy.company_id is not None and self.company_id != self.policy.company_id:
            raise ValidationError("A company's policy applies only inside that company.")
