"""Writes to users and API tokens, and the token check every bearer request goes through."""

from __future__ import annotations

import hmac
import secrets
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from portal.access import Actor, Role, require_role, system_actor
from portal.accounts.models import APIToken, User
from portal.accounts.tokens import digest_secret, format_token, new_token_parts, parse_token
from portal.audit.services import record, snapshot
from portal.tenancy.models import Company


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
                can_run_inline_scripts: bool = False) -> tuple[User, str]:
    """Create a user; returns the user and their password (generated when not given, shown once)."""
    require_role(actor, Role.ADMIN)
    company_list = list(companies)
    if all_companies and not actor.sees_all_companies:
        raise ValidationError("You can only grant companies you can see yourself.")
    if any(not actor.may_see_company(company.pk) for company in company_list):
        raise ValidationError("You can only grant companies you can see yourself.")
    password = password or secrets.token_urlsafe(15)
    user = User(username=username, email=email, role=role, all_companies=all_companies,
                is_staff=role == Role.ADMIN, can_run_inline_scripts=can_run_inline_scripts)
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
    token = APIToken.objects.create(
        user_id=actor.user_id, name=name[:100], key_id=parts.key_id,
        secret_digest=digest_secret(parts.secret), expires_at=expires_at,
    )
    record(actor=actor, action="apitoken.created", target=token, company_id=None, after=snapshot(token))
    return IssuedToken(token=token, plaintext=format_token(parts))


@transaction.atomic
def revoke_api_token(*, actor: Actor, token: APIToken) -> APIToken:
    """Revoke a token at once; the owner can revoke their own, an all-company admin anyone's."""
    if token.user_id != actor.user_id:
        require_role(actor, Role.ADMIN)
        if not actor.sees_all_companies:
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
