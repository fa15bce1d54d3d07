"""Technicians and integrators: users with a role and a company scope, and their API tokens."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from portal.access import OwnedByUser, Role


class User(AbstractUser):
    """A person who signs in: a role (viewer/operator/admin) and the companies they may see."""

    visibility = OwnedByUser("pk", msp_admins_see_all=True)

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    all_companies = models.BooleanField(
        default=False, help_text="Sees every company, present and future; otherwise only those chosen."
    )
    companies = models.ManyToManyField("tenancy.Company", blank=True, related_name="members")
    time_zone = models.CharField(max_length=64, blank=True,
                                 help_text="Times on the dashboard are shown in this zone (empty: the server's).")
    can_run_inline_scripts = models.BooleanField(
        default=False, help_text="May run ad-hoc scripts that are not in the library (admins always may).")

    class Meta:
        ordering = ["username"]


class APIToken(models.Model):
    """A bearer token for integrators; only its SHA-256 digest is stored, the token is shown once."""

    visibility = OwnedByUser("user_id")

    PREFIX = "fwt"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The public half of the token: lets a lookup find the row without scanning digests.
    key_id = models.CharField(max_length=24, unique=True)
    secret_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def masked(self) -> str:
        return f"{self.PREFIX}_{self.key_id}_…"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired
