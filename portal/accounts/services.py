"""Writes to users and API tokens, and the token check every bearer request goes through."""

from __future__ import annotations

import hmac
import secrets
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import Actor, Role, require_msp_admin, require_role, system_actor, visible_to
from portal.accounts.models import APIToken, SignInPolicy, TableColumns, User
from portal.accounts.tokens import digest_secret, format_token, new_token_parts, parse_token
from portal.audit.services import record, snapshot
from portal.events.publish import announce_rights_changed
from portal.tenancy.models import Company
from portal.writes import refuse_nul


class TokenRejected(Exception):
    """A presented API token cannot be used; the message is safe to show to the caller."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token row and its plaintext, which exists only in this object and is shown once."""

    token: APIToken
    plaintext: str


@transaction.atomic
def create_user(*, actor: Actor, username: str, role: Role, email: str = "", password: str | None = None,
                all_companies: bool = False, companies: Iterable[Company] = (),
                can_run_inline_scripts: bool = False, can_open_remote_sessions: bool = False, first_name: str = "",
                last_name: str = "") -> tuple[User, str]:
    """Create a user; returns the user and their password (generated when not given, shown once)."""
    require_role(actor, Role.ADMIN)
    company_list = list(companies)
    if actor.is_system:
        if any(not actor.may_see_company(company.pk) for company in company_list):
            raise ValidationError("You can only grant companies you can see yourself.")
    else:
        _grantable(actor, all_companies=all_companies, companies=company_list, role=role)
    password = password or secrets.token_urlsafe(15)
    user = User(username=username, email=email, role=role, all_companies=all_companies,
                is_staff=role == Role.ADMIN, can_run_inline_scripts=can_run_inline_scripts,
                can_open_remote_sessions=can_open_remote_sessions,
                first_name=first_name, last_name=last_name)
    user.set_password(password)
    user.full_clean()
    user.save()
    user.companies.set(company_list)
    after = snapshot(user) | {"companies": sorted(company.pk for company in company_list)}
    record(actor=actor, action="user.created", target=user, company_id=None, after=after)
    return user, password


def ensure_first_admin(*, username: str = "admin") -> tuple[User, str | None]:
    """Create the first administrator with a generated password, unless an administrator exists.

    Returns the administrator and the password when it was just generated (None otherwise): it is
    stored hashed only, so this is the one moment it can be shown.
    """
    existing = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if existing is not None:
        return existing, None
    password = secrets.token_urlsafe(15)
    with transaction.atomic():
        user = User.objects.create_superuser(username=username, email="", password=password, role=Role.ADMIN,
                                             all_companies=True)
        record(actor=system_actor("setup"), action="user.created", target=user, company_id=None,
               after=snapshot(user))
    return user, password


@transaction.atomic
def create_api_token(*, actor: Actor, name: str, expires_at: datetime | None = None) -> IssuedToken:
    """Issue an API token for the acting user; the plaintext is returned once and stored only as a digest."""
    if actor.user_id is None or not actor.is_authenticated:
        raise ValidationError("Only a signed-in user can create API tokens.")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, so you can tell it apart later."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    parts = new_token_parts()
    token = APIToken(user_id=actor.user_id, name=name[:100], key_id=parts.key_id,
                     secret_digest=digest_secret(parts.secret), expires_at=expires_at)
    refuse_nul(token)
    token.save(force_insert=True)
    record(actor=actor, action="apitoken.created", target=token, company_id=None, after=snapshot(token))
    return IssuedToken(token=token, plaintext=format_token(parts))


@transaction.atomic
def revoke_api_token(*, actor: Actor, token: APIToken) -> APIToken:
    """Revoke a token at once: its owner, or an admin who manages its owner."""
    if token.user_id != actor.user_id:
        require_role(actor, Role.ADMIN)
        if not visible_to(User.objects.filter(pk=token.user_id), actor).exists():
            raise APIToken.DoesNotExist("No such token.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record(actor=actor, action="apitoken.revoked", target=token, company_id=None,
               after={"revoked_at": token.revoked_at.isoformat()})
    return token


def authenticate_api_token(*, raw: str) -> User:
    """The user behind a presented token, or ``TokenRejected`` with the reason the caller may see."""
    return authenticate_api_token_row(raw=raw).user


def authenticate_api_token_row(*, raw: str) -> APIToken:
    """The presented token's row (with its user), or ``TokenRejected`` with the reason the caller may see."""
    parts = parse_token(raw)
    if parts is None:
        raise TokenRejected("The token is malformed.")
    token = APIToken.objects.select_related("user").filter(key_id=parts.key_id).first()
    if token is None or not hmac.compare_digest(token.secret_digest, digest_secret(parts.secret)):
        raise TokenRejected("The token is not valid.")
    if token.revoked_at is not None:
        raise TokenRejected("The token has been revoked.")
    if token.is_expired:
        raise TokenRejected("The token has expired.")
    if not token.user.is_active:
        raise TokenRejected("The token's user is disabled.")
    _touch_last_used(token)
    return token


def _touch_last_used(token: APIToken) -> None:
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.FLEETWATCH_TOKEN_TOUCH_SECONDS)
    if token.last_used_at is None or token.last_used_at < stale_before:
        APIToken.objects.filter(pk=token.pk).update(last_used_at=now)


@transaction.atomic
def set_own_time_zone(*, actor: Actor, time_zone: str) -> User:
    """A user chooses the zone the dashboard shows times in (empty: the server's)."""
    if actor.user_id is None:
        raise PermissionDenied("Sign in first.")
    if time_zone and time_zone not in zoneinfo.available_timezones():
        raise ValidationError({"time_zone": f"Unknown time zone {time_zone!r}."})
    user = User.objects.get(pk=actor.user_id)
    if user.time_zone != time_zone:
        record(actor=actor, action="user.updated", target=user, company_id=None,
               before={"time_zone": user.time_zone}, after={"time_zone": time_zone})
        user.time_zone = time_zone
        user.save(update_fields=["time_zone"])
    return user


# --- users and teams, managed by admins ---------------------------------------------------------------------

USER_FIELDS = ("email", "first_name", "last_name", "role", "can_run_inline_scripts", "can_open_remote_sessions",
               "is_active")


def _managed(actor: Actor, user: User) -> User:
    """The user, when the actor administers them (refused as missing otherwise); never oneself."""
    require_role(actor, Role.ADMIN)
    if not visible_to(User.objects.filter(pk=user.pk), actor).exists() or (
            user.is_superuser and not actor.sees_all_companies):
        raise User.DoesNotExist("No such user.")
    if user.pk == actor.user_id:
        raise PermissionDenied("Change your own role, companies or access through another administrator.")
    return user


def _grantable(actor: Actor, *, all_companies: bool, companies: list[Company], role: str) -> None:
    """An admin grants no more than they hold: companies they see, all companies only when they do."""
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of {', '.join(Role.values)}."})
    if all_companies and not actor.sees_all_companies:
        raise ValidationError({"all_companies": "Only an admin who sees every company grants every company."})
    if any(not actor.may_see_company(company.pk) for company in companies):
        raise ValidationError({"companies": "You can only grant companies you see yourself."})
    if not all_companies and not companies:
        raise ValidationError({"companies": "Choose the companies this user sees (or every company)."})


@transaction.atomic
def update_user(*, actor: Actor, user: User, companies: Iterable[Company] | None = None,
                all_companies: bool | None = None, **changes: Any) -> User:
    """Change a user's role, company scope, details, inline-script permission or active state (their open
    sockets close at once when their rights change)."""
    user = _managed(actor, user)
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    company_list = list(companies) if companies is not None else list(user.companies.all())
    scope = user.all_companies if all_companies is None else all_companies
    _grantable(actor, all_companies=scope, companies=company_list, role=changes.get("role", user.role))
    before = snapshot(user) | {"companies": sorted(user.companies.values_list("pk", flat=True))}
    for name, value in changes.items():
        setattr(user, name, value)
    user.all_companies = scope
    user.is_staff = user.role == Role.ADMIN
    user.full_clean()
    user.save()
    user.companies.set([] if scope else company_list)
    after = snapshot(user) | {"companies": sorted(company.pk for company in ([] if scope else company_list))}
    changed = {key for key in after if before.get(key) != after.get(key)}
    if changed:
        record(actor=actor, action="user.updated", target=user, company_id=None,
               before={key: before.get(key) for key in changed}, after={key: after[key] for key in changed})
    return user


@transaction.atomic
def reset_password(*, actor: Actor, user: User) -> str:
    """Give a user a new generated password (shown once); their sessions and sockets end."""
    user = _managed(actor, user)
    password = secrets.token_urlsafe(15)
    user.set_password(password)
    user.save(update_fields=["password"])
    for session in UserSession.objects.filter(user=user):
        session.end()
    record(actor=actor, action="user.password_reset", target=user, company_id=None)
    return password


@transaction.atomic
def end_session(*, actor: Actor, session: UserSession) -> None:
    """Sign a session out (an admin of its user, or the user); the user's sockets reconnect, and that one is
    refused."""
    if session.user_id != actor.user_id:
        _managed(actor, session.user)
    user, where = session.user, f"{session.ip} ({session.user_agent[:80]})"
    session.end()
    record(actor=actor, action="user.session_ended", target=user, company_id=None, after={"session": where})
    announce_rights_changed(user_ids=[user.pk])


@transaction.atomic
def remove_second_factors(*, actor: Actor, user: User) -> int:
    """A user lost their phone or key: remove their second factors (they set new ones up at the next sign-in
    if their role requires one)."""
    user = _managed(actor, user)
    removed, _ = Authenticator.objects.filter(user=user).delete()
    if removed:
        record(actor=actor, action="user.second_factors_removed", target=user, company_id=None)
    return removed


@transaction.atomic
def set_second_factor_roles(*, actor: Actor, roles: Iterable[str]) -> SignInPolicy:
    """The roles that must sign in with a second factor (admins who see every company)."""
    require_msp_admin(actor, what="Sign-in rules")
    chosen = sorted(set(roles))
    if any(role not in Role.values for role in chosen):
        raise ValidationError({"roles": f"Roles are {', '.join(Role.values)}."})
    policy = SignInPolicy.objects.first() or SignInPolicy()
    before = list(policy.second_factor_roles or [])
    policy.second_factor_roles = chosen
    policy.save()
    if before != chosen:
        record(actor=actor, action="signinpolicy.updated", target=policy, company_id=None,
               before={"second_factor_roles": before}, after={"second_factor_roles": chosen})
    return policy


def second_factor_required(user: User) -> bool:
    """Whether the user's role must sign in with a second factor."""
    policy = SignInPolicy.objects.first()
    role = Role.ADMIN if user.is_superuser else user.role
    return bool(policy and role in (policy.second_factor_roles or []))


def has_second_factor(user: User) -> bool:
    return Authenticator.objects.filter(user=user, type__in=(Authenticator.Type.TOTP,
                                                             Authenticator.Type.WEBAUTHN)).exists()


@transaction.atomic
def set_table_columns(*, actor: Actor, table: str, columns: list[str], allowed: list[str]) -> list[str]:
    """Keep the columns (labels among ``allowed``, in order) the actor shows in a list; none given: all, as
    the list first came."""
    if actor.user_id is None:
        raise PermissionDenied("Sign in first.")
    chosen = list(dict.fromkeys(column for column in columns if column in allowed))
    if not chosen or chosen == allowed:
        TableColumns.objects.filter(user_id=actor.user_id, table=table).delete()
        return allowed
    TableColumns.objects.update_or_create(user_id=actor.user_id, table=table[:50], defaults={"columns": chosen})
    return chosen
