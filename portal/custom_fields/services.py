"""Writes of custom fields: their definitions (admins who see every company) and their values on companies,
sites and devices (whoever may edit that object), including values a script's output sets.

A value is checked by its definition (``CustomField.coerce``): a number field refuses "abc" with an error
naming the field, and nothing of the request is saved. Each change is audited as an update of the object,
its custom values before and after.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from portal.access import Actor, Role, ensure_visible, require_msp_admin, require_role, system_actor
from portal.audit.services import record
from portal.custom_fields.models import CustomField, CustomFieldKind, CustomFieldTarget
from portal.events.publish import publish
from portal.inventory.models import Device
from portal.tenancy.models import Company, Site
from portal.writes import delete_row, save_changed_fields, save_new

DEFINITION_FIELDS = ("label", "choices", "required", "default", "description", "order")
TARGET_MODELS: dict[str, type[models.Model]] = {
    CustomFieldTarget.COMPANY: Company, CustomFieldTarget.SITE: Site, CustomFieldTarget.DEVICE: Device,
}
# Editing a company is an admin's; editing a site or a device, an operator's.
EDIT_ROLE = {CustomFieldTarget.COMPANY: Role.ADMIN, CustomFieldTarget.SITE: Role.OPERATOR,
             CustomFieldTarget.DEVICE: Role.OPERATOR}


def target_of(obj: models.Model) -> str:
    for target, model in TARGET_MODELS.items():
        if isinstance(obj, model):
            return target
    raise ValueError(f"{type(obj).__name__} has no custom fields.")


def _require_definer(actor: Actor) -> None:
    require_msp_admin(actor, what="Custom fields")


@transaction.atomic
def create_custom_field(*, actor: Actor, target: str, name: str, label: str, kind: str = CustomFieldKind.TEXT,
                        choices: list[str] | None = None, required: bool = False, default: Any = None,
                        description: str = "", order: int = 0) -> CustomField:
    """Add a field to every company, site or device. Its target, name and kind never change afterwards
    (values, filters and scripts refer to them)."""
    _require_definer(actor)
    return save_new(actor=actor, instance=CustomField(
        target=target, name=name, label=label, kind=kind, choices=choices or [], required=required,
        default=default, description=description, order=order))


@transaction.atomic
def update_custom_field(*, actor: Actor, customfield: CustomField, **changes: Any) -> CustomField:
    """Relabel a field, change its options, default, whether it is required, its help or its place. Values
    already stored stay as they are until edited."""
    _require_definer(actor)
    save_changed_fields(actor=actor, instance=customfield, changes=changes, editable=DEFINITION_FIELDS)
    return customfield


@transaction.atomic
def delete_custom_field(*, actor: Actor, customfield: CustomField) -> int:
    """Delete a field and its value on every object (so a later field of the same name starts empty).
    Returns how many objects held a value."""
    _require_definer(actor)
    model = TARGET_MODELS[customfield.target]
    holding = list(model._default_manager.filter(custom_fields__has_key=customfield.name).only("pk", "custom_fields"))
    for obj in holding:
        obj.custom_fields.pop(customfield.name, None)
    model._default_manager.bulk_update(holding, ["custom_fields"], batch_size=500)
    delete_row(actor=actor, instance=customfield)
    return len(holding)


@transaction.atomic
def set_custom_values(*, actor: Actor, obj: models.Model, values: dict[str, Any]) -> set[str]:
    """Set (or, with an empty value, clear) custom values of one company, site or device. Every value is
    checked first; one refused value saves none. Returns the names whose value changed."""
    target = target_of(obj)
    require_role(actor, EDIT_ROLE[target])
    ensure_visible(actor=actor, company_id=obj.owning_company_id)
    definitions = {field.name: field for field in CustomField.objects.filter(target=target)}
    stored = dict(obj.custom_fields or {})
    errors: dict[str, list[str]] = {}
    for name, raw in values.items():
        field = definitions.get(name)
        if field is None:
            errors[name] = [f"No custom field “{str(name)[:50]}” for {CustomFieldTarget(target).label.lower()}."]
            continue
        try:
            value = field.coerce(raw)
        except ValidationError as refused:
            errors[name] = refused.messages
            continue
        if value is None and field.required and field.default is None:
            errors[name] = [f"{field.label} is required."]
        elif value is None:
            stored.pop(name, None)
        else:
            stored[name] = value
    if errors:
        raise ValidationError(errors)
    before = dict(obj.custom_fields or {})
    changed = {name for name in set(before) | set(stored) if before.get(name) != stored.get(name)}
    if not changed:
        return changed
    # Only this column: a full save of a device would write back the status and heartbeat figures it was read
    # with over what its agent reported since.
    type(obj)._default_manager.filter(pk=obj.pk).update(custom_fields=stored)
    obj.custom_fields = stored
    company_id = obj.owning_company_id
    record(actor=actor, action=f"{obj._meta.model_name}.custom_fields_changed", target=obj, company_id=company_id,
           before={name: before.get(name) for name in sorted(changed)},
           after={name: stored.get(name) for name in sorted(changed)})
    publish(f"{obj._meta.model_name}.updated", company_id=company_id, id=obj.pk)
    return changed


def set_from_script_output(*, device: Device, field_name: str, stdout: str, script_label: str) -> dict[str, Any]:
    """A succeeded script declared that the last line of its output sets ``field_name`` on its device: set
    it, as the script (audited under its name). Returns what happened, for the action's result."""
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    outcome: dict[str, Any] = {"field": field_name}
    if not lines:
        return {**outcome, "error": "The script printed nothing to set the field from."}
    try:
        with transaction.atomic():
            set_custom_values(actor=system_actor(f"script {script_label}"[:150]), obj=device,
                              values={field_name: lines[-1][:2000]})
    except ValidationError as refused:
        return {**outcome, "error": " ".join(refused.messages)}
    return {**outcome, "value": (device.custom_fields or {}).get(field_name)}
