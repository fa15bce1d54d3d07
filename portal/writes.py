"""The steps every write service shares: validate, save, audit, publish."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.db import models

from portal.access import Actor, TenantOwned
from portal.audit.services import record, snapshot
from realtime import publish

_M = TypeVar("_M", bound=TenantOwned)


def _noun(instance: models.Model) -> str:
    return instance._meta.model_name or instance.__class__.__name__.lower()


def save_new(*, actor: Actor, instance: _M) -> _M:
    """Validate and insert ``instance``; audit ``<noun>.created`` and publish it."""
    instance.full_clean()
    instance.save()
    company_id = instance.owning_company_id
    record(actor=actor, action=f"{_noun(instance)}.created", target=instance, company_id=company_id,
           after=snapshot(instance))
    publish(f"{_noun(instance)}.created", company_id=company_id, id=instance.pk)
    return instance


def save_changes(*, actor: Actor, instance: _M, changes: dict[str, Any], editable: Iterable[str]) -> _M:
    """Apply ``changes`` (only names in ``editable``), validate, save; audit and publish what changed."""
    allowed = set(editable)
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    before = snapshot(instance)
    for name, value in changes.items():
        setattr(instance, name, value)
    instance.full_clean()
    after = snapshot(instance)
    changed = {name for name in after if before.get(name) != after.get(name)}
    if not changed:
        return instance
    instance.save()
    company_id = instance.owning_company_id
    record(actor=actor, action=f"{_noun(instance)}.updated", target=instance, company_id=company_id,
           before={k: before[k] for k in changed}, after={k: after[k] for k in changed})
    publish(f"{_noun(instance)}.updated", company_id=company_id, id=instance.pk)
    return instance


def delete_row(*, actor: Actor, instance: TenantOwned) -> None:
    """Delete ``instance`` (and what cascades from it); audit ``<noun>.deleted`` with its last state."""
    before = snapshot(instance)
    company_id = instance.owning_company_id
    pk = instance.pk
    record(actor=actor, action=f"{_noun(instance)}.deleted", target=instance, company_id=company_id, before=before)
    instance.delete()
    publish(f"{_noun(instance)}.deleted", company_id=company_id, id=pk)
