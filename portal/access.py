"""The one tenancy rule: who is acting, and which rows that actor may see.

Every entry point (page, GraphQL field, mutation, socket, export, task) resolves an ``Actor`` once
and reads tenant-owned rows only through ``visible_to``. The rule fails closed: an anonymous actor
sees nothing, and a model that never declared how it belongs to a company cannot be queried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import models

if TYPE_CHECKING:
    from portal.accounts.models import User


class Role(models.TextChoices):
    """What a user may do; each role includes the ones below it."""

    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


ROLE_RANK = {Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}


@dataclass(frozen=True)
class Actor:
    """Someone (or something) acting on the fleet, resolved once per request, socket or task."""

    user_id: int | None
    label: str
    role: Role | None
    # None means every company; an empty set means none at all.
    company_ids: frozenset[int] | None = field(default_factory=frozenset)
    ip_address: str | None = None
    is_system: bool = False
    via_token: bool = False
    # Ad-hoc (inline) scripts: admins always; others only when an admin granted it.
    may_run_inline_scripts: bool = False

    @property
    def is_authenticated(self) -> bool:
        return self.role is not None

    @property
    def sees_all_companies(self) -> bool:
        return self.is_authenticated and self.company_ids is None

    def has_role(self, role: Role) -> bool:
        """True when this actor's role is ``role`` or above."""
        return self.role is not None and ROLE_RANK[self.role] >= ROLE_RANK[role]

    def may_see_company(self, company_id: int | None) -> bool:
        if not self.is_authenticated or company_id is None:
            return False
        return self.company_ids is None or company_id in self.company_ids


ANONYMOUS = Actor(user_id=None, label="anonymous", role=None)


def system_actor(label: str = "system") -> Actor:
    """The actor for schedules, syncs and other work nobody clicked: all companies, admin rights."""
    return Actor(user_id=None, label=label, role=Role.ADMIN, company_ids=None, is_system=True,
                 may_run_inline_scripts=True)


def actor_for_user(user: User | Any, *, ip_address: str | None = None, via_token: bool = False) -> Actor:
    """Resolve the actor for a Django user (anonymous and inactive users become ANONYMOUS)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return Actor(user_id=None, label="anonymous", role=None, ip_address=ip_address)
    if user.is_superuser:
        role, company_ids = Role.ADMIN, None
    else:
        role = Role(user.role)
        company_ids = None if user.all_companies else frozenset(
            user.companies.through.objects.filter(user_id=user.pk).values_list("company_id", flat=True))
    return Actor(
        user_id=user.pk,
        label=user.get_username(),
        role=role,
        company_ids=company_ids,
        ip_address=ip_address,
        via_token=via_token,
        may_run_inline_scripts=role == Role.ADMIN or bool(getattr(user, "can_run_inline_scripts", False)),
    )


def require_role(actor: Actor, role: Role) -> None:
    """Refuse the action unless the actor holds ``role`` (or above)."""
    if not actor.has_role(role):
        raise PermissionDenied(f"This needs the {role.label.lower()} role.")


def is_msp_admin(actor: Actor | None) -> bool:
    """An administrator who sees every company: the one who may touch what spans companies (connectors,
    the product's scheduled jobs)."""
    return actor is not None and actor.sees_all_companies and actor.has_role(Role.ADMIN)


def require_msp_admin(actor: Actor, *, what: str) -> None:
    require_role(actor, Role.ADMIN)
    if not actor.sees_all_companies:
        raise PermissionDenied(f"{what} span every company: they need an admin who sees all companies.")


class TenantQuerySet(models.QuerySet):
    """QuerySet of a tenant-owned model; the model names its path to the company in ``company_path``."""

    def visible_to(self, actor: Actor) -> TenantQuerySet:
        return visible_to(self, actor)


_T = TypeVar("_T", bound=models.QuerySet)


class TenantOwned(models.Model):
    """Base for every model that belongs to one company."""

    # The lookup from this model to the owning company's id, e.g. "company_id" or "site__company_id".
    company_path: ClassVar[str]

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def owning_company_id(self) -> int | None:
        """Follow ``company_path`` on this instance (used by audit and realtime events)."""
        value: Any = self
        for part in self.company_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value


def company_path_of(model: type[models.Model]) -> str:
    """The company lookup a tenant-owned model declared; refuses models that declared none."""
    path = getattr(model, "company_path", None)
    if not issubclass(model, TenantOwned) or not path:
        raise ImproperlyConfigured(f"{model.__name__} is not tenant-owned; it cannot be scoped.")
    return path


def visible_to(queryset: _T, actor: Actor | None) -> _T:
    """The rows of ``queryset`` the actor may see. The only scoping filter; fails closed."""
    path = company_path_of(queryset.model)
    if actor is None or not actor.is_authenticated:
        return queryset.none()
    if actor.company_ids is None:
        return queryset
    return queryset.filter(**{f"{path}__in": actor.company_ids})


def tenant_owned_models() -> list[type[TenantOwned]]:
    """Every concrete tenant-owned model installed (the isolation tests iterate this registry)."""
    from django.apps import apps

    return [model for model in apps.get_models() if issubclass(model, TenantOwned)]
