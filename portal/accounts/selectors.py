"""Reads of users and API tokens."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, rows_for_system, visible_to
from portal.accounts.models import APIToken, SignInPolicy, TableColumns, User


def api_tokens_of(*, actor: Actor) -> QuerySet[APIToken]:
    """The acting user's own tokens (the API tokens page)."""
    return visible_to(APIToken.objects.all(), actor).filter(user_id=actor.user_id)


def tokens_for(*, actor: Actor) -> QuerySet[APIToken]:
    """Tokens the actor may see: their own, and those of the users they manage (an admin's users page)."""
    return visible_to(APIToken.objects.select_related("user"), actor)


def users_for(*, actor: Actor) -> QuerySet[User]:
    """Oneself, and for admins the users they manage (every user, for an admin who sees every company)."""
    return visible_to(User.objects.all(), actor)


def second_factor_roles() -> list[str]:
    """The roles that must sign in with a second factor (shown on the users page to every admin)."""
    policy = rows_for_system(SignInPolicy).first()
    return list(policy.second_factor_roles) if policy else []


def table_columns_of(*, actor: Actor, table: str) -> list[str] | None:
    """The columns the actor chose for a list, in order (None: they never chose)."""
    if actor.user_id is None:
        return None
    return visible_to(TableColumns.objects.filter(user_id=actor.user_id, table=table), actor).values_list(
        "columns", flat=True).first()
