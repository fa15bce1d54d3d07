"""Writing the audit log; every service calls ``record`` inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.forms.models import model_to_dict

from portal.access import Actor
from portal.audit.models import AuditEvent
from portal.secrets import EncryptedTextField

# Never copied into the audit log, whatever model they appear on.
SECRET_FIELD_NAMES = frozenset({"password", "secret_digest", "token_digest", "credentials"})


def snapshot(instance: models.Model) -> dict[str, Any]:
    """A JSON-safe picture of a row's own fields, without secrets, for before/after in the log."""
    fields = [f.name for f in instance._meta.concrete_fields
              if f.name not in SECRET_FIELD_NAMES and not isinstance(f, EncryptedTextField)]
    data = {name: _json_safe(value) for name, value in model_to_dict(instance, fields=fields).items()}
    data["id"] = instance.pk
    return data


def snapshot_fields(instance: models.Model, names: tuple[str, ...]) -> dict[str, Any]:
    """``snapshot`` of the named (editable, non-secret) fields only: for records written by the thousand."""
    meta = instance._meta
    return {name: _json_safe(meta.get_field(name).value_from_object(instance)) for name in names}


def _json_safe(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | dict | list | type(None)) else str(value)


def record(
    *,
    actor: Actor,
    action: str,
    target: models.Model,
    company_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one audit event for ``action`` (``<noun>.<past_verb>``) on ``target``."""
    event = audit_event(actor=actor, action=action, target=target, company_id=company_id, before=before, after=after)
    event.save()
    return event


def audit_event(*, actor: Actor, action: str, target: models.Model, company_id: int | None,
                before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> AuditEvent:
    """An unsaved audit event, for writes that insert many rows at once (``bulk_create``)."""
    return AuditEvent(
        user_id=actor.user_id,
        actor_label=actor.label,
        via_token=actor.via_token,
        action=action,
        object_type=target._meta.label_lower,
        object_id=str(target.pk or ""),
        object_repr=str(target)[:300],
        company_id=company_id,
        before=before,
        after=after,
        ip_address=actor.ip_address,
    )
