"""The steps every write service shares: validate, save, audit, publish.

They serve company-owned rows and the MSP's own records alike (the library, connectors): a row without
a company is audited without one and published to nobody.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models

from portal.access import Actor
from portal.audit.services import record, snapshot
from portal.events.publish import publish

_M = TypeVar("_M", bound=models.Model)
SECRET_CHANGED = "(changed)"  # noqa: S105 (what the audit log shows instead of a secret)


def _noun(instance: models.Model) -> str:
    return instance._meta.model_name or instance.__class__.__name__.lower()


def _company_of(instance: models.Model) -> int | None:
    return getattr(instance, "owning_company_id", None)


def _stored(instance: models.Model) -> dict[str, Any]:
    """Every column as it would be saved, secrets included (the audit snapshot leaves those out)."""
    return {field.name: field.value_from_object(instance) for field in instance._meta.concrete_fields}


def validate(instance: models.Model) -> None:
    """``full_clean``, after refusing a NUL character anywhere in the row's text."""
    refuse_nul(instance)
    instance.full_clean()


def refuse_nul(instance: models.Model) -> None:
    """Refuse a NUL character anywhere in the row's text: PostgreSQL cannot store one (text or JSON) and
    would fail the write with a database error instead of saying which field."""
    with_nul = {field.name: ["May not contain a NUL character."] for field in instance._meta.concrete_fields
                if holds_nul(field.value_from_object(instance))}
    if with_nul:
        raise ValidationError(with_nul)


def holds_nul(value: Any) -> bool:
    """Whether a value (text, or JSON-like data holding text) has a NUL character anywhere in it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list | tuple):
        return any(holds_nul(item) for item in value)
    return False


def save_new(*, actor: Actor, instance: _M, announce: bool = True) -> _M:
    """Validate and insert ``instance``; audit ``<noun>.created`` and publish it (unless ``announce`` is
    False: a connector sync tells open pages what it wrote once, when it ends)."""
    validate(instance)
    instance.save()
    company_id = _company_of(instance)
    record(actor=actor, action=f"{_noun(instance)}.created", target=instance, company_id=company_id,
           after=snapshot(instance))
    if announce:
        publish(f"{_noun(instance)}.created", company_id=company_id, id=instance.pk)
    return instance


def save_changed_fields(*, actor: Actor, instance: models.Model, changes: dict[str, Any],
                        editable: Iterable[str], announce: bool = True) -> set[str]:
    """Apply ``changes`` (only names in ``editable``), validate, save when anything changed; audit and
    publish it (unless ``announce`` is False, as in ``save_new``). Returns the names of the fields that
    changed. A changed secret is saved and audited as changed, without its value."""
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    stored_before, before = _stored(instance), snapshot(instance)
    for name, value in changes.items():
        setattr(instance, name, value)
    validate(instance)
    stored_after, after = _stored(instance), snapshot(instance)
    changed = {name for name in stored_after if stored_before[name] != stored_after[name]}
    if not changed:
        return set()
    instance.save()
    company_id = _company_of(instance)
    shown = {name for name in changed if name in after}
    record(actor=actor, action=f"{_noun(instance)}.updated", target=instance, company_id=company_id,
           before={k: before[k] for k in shown},
           after={**{k: after[k] for k in shown}, **dict.fromkeys(changed - shown, SECRET_CHANGED)})
    if announce:
        publish(f"{_noun(instance)}.updated", company_id=company_id, id=instance.pk)
    return changed


def save_changes(*, actor: Actor, instance: _M, changes: dict[str, Any], editable: Iterable[str],
                 announce: bool = True) -> _M:
    """``save_changed_fields``, returning the instance."""
    save_changed_fields(actor=actor, instance=instance, changes=changes, editable=editable, announce=announce)
    return instance


def delete_row(*, actor: Actor, instance: models.Model) -> None:
    """Delete ``instance`` (and what cascades from it); audit ``<noun>.deleted`` with its last state."""
    before = snapshot(instance)
    company_id = _company_of(instance)
    pk = instance.pk
    record(actor=actor, action=f"{_noun(instance)}.deleted", target=instance, company_id=company_id, before=before)
    instance.delete()
    publish(f"{_noun(instance)}.deleted", company_id=company_id, id=pk)


def clear_retargeted_secrets(*, instance: models.Model, changes: dict[str, Any],
                             targets: dict[str, Callable[[Any], Any]], secrets: Iterable[str]) -> set[str]:
    """When ``changes`` move where the stored secrets are sent (a host, a port, a URL), clear the secrets not
    entered again, so nobody can point a stored password at a listener of their own and read it.

    ``targets`` maps each target field to how its value is compared (normalised; a value the normaliser
    refuses counts as a change). Returns the names of the secrets cleared. Empty secret values in
    ``changes`` mean "keep" and are dropped here when the target does not move."""
    def normal(name: str, value: Any) -> Any:
        try:
            return targets[name](value)
        except (ValidationError, ValueError, TypeError):
            return object()  # unparseable: certainly not the stored target

    moved = any(name in changes and normal(name, changes[name]) != normal(name, getattr(instance, name))
                for name in targets)
    cleared = set()
    for name in secrets:
        if changes.get(name):
            continue
        if moved and getattr(instance, name):
            changes[name] = ""
            cleared.add(name)
        else:
            changes.pop(name, None)  # empty means "keep the stored one"
    return cleared


def explain_cleared(error: ValidationError, cleared: set[str], *, moved: str) -> ValidationError:
    """The model says a secret is missing; say why it is: it was cleared because ``moved`` changed."""
    if not cleared or not hasattr(error, "error_dict"):
        return error
    messages = {name: [f"{moved} changed, so the stored value was cleared: enter it again."]
                if name in cleared else errors for name, errors in error.message_dict.items()}
    return ValidationError(messages)
