"""Announce every change to what a user or an API token may do, so their open sockets close.

Receivers rather than services on purpose: users are also changed by Django's admin, its auth views
(passwords) and management commands, and deleted by cascades; each of those must end the sockets that
carry the old rights (see realtime/rights.py).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from portal.accounts.models import APIToken, User
from portal.events.publish import announce_rights_changed
from portal.tenancy.models import Company

RIGHTS_FIELDS = ("is_active", "is_superuser", "is_staff", "role", "all_companies", "can_run_inline_scripts",
                 "can_open_remote_sessions", "password")


def _rights_of(user: User) -> tuple[Any, ...]:
    return tuple(getattr(user, name) for name in RIGHTS_FIELDS)


def remember_rights(sender: type, instance: User, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        return
    stored = User.objects.filter(pk=instance.pk).only(*RIGHTS_FIELDS).first()
    instance._rights_before = _rights_of(stored) if stored is not None else None


def user_saved(sender: type, instance: User, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not raw and not created and getattr(instance, "_rights_before", None) != _rights_of(instance):
        announce_rights_changed(user_ids=[instance.pk])


def user_deleted(sender: type, instance: User, **kwargs: Any) -> None:
    announce_rights_changed(user_ids=[instance.pk])


def companies_changed(sender: type, instance: Any, action: str, reverse: bool, pk_set: set[int] | None,
                      **kwargs: Any) -> None:
    """A user's companies changed, from either side of the relation."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if not reverse:
        announce_rights_changed(user_ids=[instance.pk])
    elif action == "pre_clear":
        announce_rights_changed(user_ids=instance.members.values_list("pk", flat=True))
    else:
        announce_rights_changed(user_ids=pk_set or ())


def company_deleted(sender: type, instance: Company, **kwargs: Any) -> None:
    announce_rights_changed(user_ids=instance.members.values_list("pk", flat=True))


def token_saved(sender: type, instance: APIToken, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if not raw and not created and (instance.revoked_at is not None or instance.is_expired):
        announce_rights_changed(api_token_ids=[instance.pk])


def token_deleted(sender: type, instance: APIToken, **kwargs: Any) -> None:
    announce_rights_changed(api_token_ids=[instance.pk])


def connect() -> None:
    pre_save.connect(remember_rights, sender=User, dispatch_uid="rights-remember")
    post_save.connect(user_saved, sender=User, dispatch_uid="rights-user-saved")
    post_delete.connect(user_deleted, sender=User, dispatch_uid="rights-user-deleted")
    m2m_changed.connect(companies_changed, sender=User.companies.through, dispatch_uid="rights-companies")
    pre_delete.connect(company_deleted, sender=Company, dispatch_uid="rights-company-deleted")
    post_save.connect(token_saved, sender=APIToken, dispatch_uid="rights-token-saved")
    post_delete.connect(token_deleted, sender=APIToken, dispatch_uid="rights-token-deleted")
