"""Reads of users and API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.accounts.models import APIToken, User


def api_tokens_of(*, actor: Actor) -> QuerySet[APIToken]:
    """The acting user's own tokens (nobody lists anybody else's)."""
    return visible_to(APIToken.objects.all(), actor)


def users_for(*, actor: Actor) -> QuerySet[User]:
    """All users for an administrator who sees every company; otherwise only oneself."""
    return visible_to(User.objects.all(), actor)
