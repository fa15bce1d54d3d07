"""The audit log: one row for every write, by whom, on what, from where."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from portal.access import TenantOwned


class AuditEvent(TenantOwned):
    """A write to the fleet: who did what to which object of which company, with before and after."""

    company_path = "company_id"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The user is kept as a label too, so the row still says who it was after the user is deleted.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    actor_label = models.CharField(max_length=150)
    via_token = models.BooleanField(default=False)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(verbose_name="Object ID", max_length=64, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    # No database constraint: the event must outlive the company it speaks of.
    company = models.ForeignKey(
        "tenancy.Company", on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True,
        related_name="+",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(verbose_name="IP address", null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["company", "-created_at"]), models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"
