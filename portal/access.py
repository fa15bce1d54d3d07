"""The one tenancy rule: who is acting, and which rows that actor may see.

Every entry point (page, GraphQL field, mutation, socket, export, task) resolves an ``Actor`` once
and reads tenant-owned rows only through ``visible_to``. The rule fails closed: an anonymous actor
sees nothing, and a model that never declared how it belongs to a company cannot be queried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, ObjectDoesNotExist, PermissionDenied
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
    # A live shell and file access on endpoints: admins always; others only when an admin granted it.
    may_open_remote_sessions: bool = False

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
        may_open_remote_sessions=role == Role.ADMIN or bool(getattr(user, "can_open_remote_sessions", False)),
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


class Visibility:
    """How a model's rows are seen: every model declares one (``visibility = …``), and ``visible_to`` reads
    only that declaration."""

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        raise NotImplementedError


@dataclass(frozen=True)
class ThroughCompany(Visibility):
    """Belongs to one company, reached by ``path`` (``company_id``, ``site__company_id``, …)."""

    path: str

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        if actor.company_ids is None:
            return queryset
        return queryset.filter(**{f"{self.path}__in": actor.company_ids})


@dataclass(frozen=True)
class CompanyOrShared(ThroughCompany):
    """Either one company's (``path`` leads to it) or, with no company, the whole MSP's: a shared row is read by
    everyone signed in (and written by those who see every company); a company's row as ``ThroughCompany``."""

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        if actor.company_ids is None:
            return queryset
        return queryset.filter(models.Q(**{f"{self.path}__in": actor.company_ids})
                               | models.Q(**{f"{self.path}__isnull": True}))


@dataclass(frozen=True)
class MspLibrary(Visibility):
    """The MSP's shared library: read by everyone signed in, written by admins who see all companies (the
    services check ``require_msp_admin``)."""

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        return queryset


@dataclass(frozen=True)
class MspAdminsOnly(Visibility):
    """What spans every company (connectors and their records): admins who see all companies only."""

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        return queryset if is_msp_admin(actor) else queryset.none()


@dataclass(frozen=True)
class Through(Visibility):
    """Seen when a visible row of ``model`` points at it through ``field`` (an action batch through its
    actions: whoever sees one of its actions sees the batch, and counts only what they may see)."""

    model: str  # "app_label.ModelName"
    field: str

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        related = apps.get_model(self.model)
        return queryset.filter(pk__in=visible_to(related._default_manager.all(), actor).values(self.field))


@dataclass(frozen=True)
class ThroughAny(Visibility):
    """Seen when a visible row of any of several models points at it (an update of the patch catalogue: through
    the devices that need it or had it)."""

    paths: tuple[tuple[str, str], ...]  # ("app_label.ModelName", field)

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        if actor.company_ids is None:
            return queryset
        condition = models.Q(pk__in=[])
        for model, field_name in self.paths:
            related = apps.get_model(model)
            condition |= models.Q(pk__in=visible_to(related._default_manager.all(), actor).values(field_name))
        return queryset.filter(condition)


@dataclass(frozen=True)
class SystemOnly(Visibility):
    """Plumbing (the event table): read by system code only."""

    def restrict(self, queryset: models.QuerySet, actor: Actor) -> models.QuerySet:
        return queryset.none()


class TenantQuerySet(models.QuerySet):
    """QuerySet of a tenant-owned model; the model names its path to the company in ``company_path``."""

    def visible_to(self, actor: Actor) -> TenantQuerySet:
        return visible_to(self, actor)


_T = TypeVar("_T", bound=models.QuerySet)
_M = TypeVar("_M", bound=models.Model)


class TenantOwned(models.Model):
    """Base for every model that belongs to one company: its ``company_path`` is its visibility."""

    # The lookup from this model to the owning company's id, e.g. "company_id" or "site__company_id".
    company_path: ClassVar[str]
    visibility: ClassVar[Visibility]

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        path = cls.__dict__.get("company_path")
        if path and "visibility" not in cls.__dict__:
            cls.visibility = ThroughCompany(path)

    @property
    def owning_company_id(self) -> int | None:
        """Follow ``company_path`` on this instance (used by audit and realtime events)."""
        value: Any = self
        for part in self.company_path.split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value


def visibility_of(model: type[models.Model]) -> Visibility:
    """The visibility a model declared; refuses (fails closed) a model that declared none."""
    declared = getattr(model, "visibility", None)
    if not isinstance(declared, Visibility):
        raise ImproperlyConfigured(f"{model.__name__} declares no visibility; it cannot be read.")
    return declared


def company_path_of(model: type[models.Model]) -> str:
    """The company lookup a tenant-owned model declared; refuses models that declared none."""
    declared = visibility_of(model)
    if not isinstance(declared, ThroughCompany):
        raise ImproperlyConfigured(f"{model.__name__} is not tenant-owned; it has no company path.")
    return declared.path


def visible_to(queryset: _T, actor: Actor | None) -> _T:
    """The rows of ``queryset`` the actor may see, by the model's declared visibility. The only scoping
    filter; fails closed (no actor, or a model without a declaration, sees nothing)."""
    declared = visibility_of(queryset.model)
    if actor is None or not actor.is_authenticated:
        return queryset.none()
    if actor.is_system:
        return queryset
    return declared.restrict(queryset, actor)


def rows_for_system(model: type[_M]) -> models.QuerySet[_M]:
    """Every row of ``model``, for system and agent code (polls, syncs, the agent channel, jobs): the named,
    explicit way around the tenancy rule, so a search for it finds every place that reads unscoped."""
    visibility_of(model)
    return model._default_manager.all()


def ensure_visible(*, actor: Actor, company_id: int | None) -> None:
    """Refuse to write into a company the actor may not see, exactly as if it did not exist."""
    if not actor.may_see_company(company_id):
        raise ObjectDoesNotExist("No such company.")


def tenant_owned_models() -> list[type[TenantOwned]]:
    """Every concrete tenant-owned model installed (the isolation tests iterate this registry)."""
    return [model for model in apps.get_models() if issubclass(model, TenantOwned)]
