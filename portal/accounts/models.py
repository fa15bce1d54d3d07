"""Technicians and integrators: users with a role and a company scope, and their API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from portal.access import Actor, MspAdminsOnly, Role, Visibility, is_msp_admin


@dataclass(frozen=True)
class ManagedUsers(Visibility):
    """Users (and what is theirs, ``path`` leading to the user's id): everyone sees themselves, an admin who
    sees every company sees everyone, and an admin of some companies also sees the users they manage — those
    who see only companies of theirs (never one who sees every company)."""

    path: str = "pk"

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        if is_msp_admin(actor):
            return queryset
        if actor.user_id is None:
            return queryset.none()
        own = models.Q(**{self.path: actor.user_id})
        if actor.has_role(Role.ADMIN) and actor.company_ids:
            return queryset.filter(own | models.Q(**{f"{self.path}__in": managed_user_ids(actor)}))
        return queryset.filter(own)


def managed_user_ids(actor: Actor) -> models.QuerySet:
    """Ids of the users a company-scoped admin manages: each sees at least one of the admin's companies and
    none other (a subquery)."""
    memberships = User.companies.through.objects
    outside = memberships.exclude(company_id__in=actor.company_ids).values("user_id")
    return (User.objects.filter(all_companies=False, is_superuser=False, companies__in=actor.company_ids)
            .exclude(pk__in=outside).values("pk"))


class User(AbstractUser):
    """A person who signs in: a role (viewer/operator/admin) and the companies they may see."""

    visibility = ManagedUsers("pk")

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    all_companies = models.BooleanField(
        default=False, help_text="Sees every company, present and future; otherwise only those chosen."
    )
    companies = models.ManyToManyField("tenancy.Company", blank=True, related_name="members")
    time_zone = models.CharField(max_length=64, blank=True,
                                 help_text="Times on the dashboard are shown in this zone (empty: the server's).")
    can_run_inline_scripts = models.BooleanField(
        default=False, help_text="May run ad-hoc scripts that are not in the library (admins always may).")
    can_open_remote_sessions = models.BooleanField(
        verbose_name="May open remote sessions", default=False,
        help_text="May open a shell or browse files on the endpoints of their companies (admins always may).")

    class Meta:
        ordering = ["username"]


class APIToken(models.Model):
    """A bearer token for integrators; only its SHA-256 digest is stored, the token is shown once. Seen by its
    user and by the admins who manage that user (to revoke it)."""

    visibility = ManagedUsers("user_id")

    PREFIX = "fwt"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The public half of the token: lets a lookup find the row without scanning digests.
    key_id = models.CharField(verbose_name="Key ID", max_length=24, unique=True)
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


class SignInPolicy(models.Model):
    """How users sign in, for the whole MSP (one row): the roles that must use a second factor."""

    visibility = MspAdminsOnly()

    second_factor_roles = models.JSONField(default=list, blank=True,
                                           help_text="Roles (viewer, operator, admin) that must sign in with a "
                                                     "second factor; users of them without one set it up first.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "sign-in policy"


class TableColumns(models.Model):
    """The columns a user shows in one list, in their order (their choice, kept across sessions)."""

    visibility = ManagedUsers("user_id")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="table_columns")
    table = models.CharField(max_length=50, help_text="The list (its page's slug).")
    columns = models.JSONField(default=list, help_text="Column labels, in the order shown.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "table"], name="table_columns_once_per_user")]

    def __str__(self) -> str:
        return f"{self.table} columns of {self.user_id}"
