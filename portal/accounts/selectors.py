"""Reads of users and API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor
from portal.accounts.models import APIToken


def api_tokens_of(*, actor: Actor) -> QuerySet[APIToken]:
    """The acting user's own tokens (nobody lists anybody else's)."""
    if actor.user_id is None:
        return APIToken.objects.none()
    return APIToken.objects.filter(user_id=actor.user_id)
