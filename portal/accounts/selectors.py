"""Reads of users and API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, Role
from portal.accounts.models import APIToken, User


def api_tokens_of(*, actor: Actor) -> QuerySet[APIToken]:
    """The acting user's own tokens (nobody lists anybody else's)."""
    if actor.user_id is None:
        return APIToken.objects.none()
    return APIToken.objects.filter(user_id=actor.user_id)


def users_for(*, actor: Actor) -> QuerySet[User]:
    """All users for an administrator who sees every company; otherwise only oneself."""
    if actor.has_role(Role.ADMIN) and actor.sees_all_companies:
        return User.objects.all()
    if actor.user_id is None:
        return User.objects.none()
    return User.objects.filter(pk=actor.user_id)
