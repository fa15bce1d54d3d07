"""Custom-field references in a library script's parameter values (``{{device.custom.backup_path}}``,
``{{site.custom.…}}``, ``{{company.custom.…}}``), resolved for each device when its action is delivered.

Resolution happens once, at the first delivery: the action's payload is rewritten with the values as sent,
so its history shows exactly what the agent ran, and a redelivery signs the same payload again. A value the
parameter cannot take (a custom text where a number is declared) fails that action with why, instead of
sending it.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from portal.actions.models import Action, ActionType, ScriptVersion
from portal.actions.parameters import as_text, declared_parameters, holds_references, resolve
from portal.custom_fields.models import CustomFieldTarget
from portal.custom_fields.selectors import definitions_of, effective_values
from portal.inventory.models import Device


def needs_resolving(action: Action) -> bool:
    payload = action.payload or {}
    return action.action_type == ActionType.RUN_SCRIPT and holds_references(payload.get("parameters") or {})


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return as_text(value)


def resolve_payloads(actions: list[Action]) -> dict[int, str]:
    """Rewrite each action's payload with its device's custom values (in memory; the caller saves them).
    Returns action id → why it cannot be sent, for those whose values do not fit."""
    declarations = {(version.script_id, version.number): version for version in ScriptVersion.objects.filter(
        script_id__in={action.script_id for action in actions if action.script_id is not None})}
    devices = {device.pk: device for device in Device.objects.select_related("site", "company").filter(
        pk__in={action.device_id for action in actions})}
    definitions = {target: definitions_of(target=target) for target in CustomFieldTarget.values}
    refused: dict[int, str] = {}
    for action in actions:
        version = declarations.get((action.script_id, action.script_version))
        device = devices.get(action.device_id)
        if version is None or device is None:
            refused[action.pk] = "The script version or the device behind this action no longer exists."
            continue
        owners = {"device": device, "site": device.site, "company": device.company}

        def lookup(scope: str, name: str, owners: dict[str, Any] = owners) -> str:
            values = effective_values(fields=definitions[scope], obj=owners[scope])
            return _text(values.get(name))

        try:
            declared = declared_parameters(version.parameters, language=version.language)
            filled = resolve(declared, action.payload.get("parameters") or {}, language=version.language,
                             lookup=lookup)
        except ValidationError as error:
            refused[action.pk] = f"A parameter's custom-field value does not fit: {' '.join(error.messages)}"
            continue
        action.payload = _rebuilt(action.payload, declared, filled)
    return refused


def _rebuilt(payload: dict[str, Any], declared: list[Any], filled: Any) -> dict[str, Any]:
    """The payload with the resolved values: the arguments after the script's own, and the variables of the
    declared parameters, replaced."""
    positional = sum(1 for parameter in declared if parameter.via == "argument")
    arguments = list(payload.get("arguments") or [])
    own = arguments[:len(arguments) - positional] if positional else arguments
    environment = {name: value for name, value in (payload.get("environment") or {}).items()
                   if name not in {parameter.name for parameter in declared if parameter.via == "env"}}
    return {**payload, "parameters": filled.values, "arguments": [*own, *filled.arguments],
            "environment": {**environment, **filled.environment}}
