"""What a succeeded library script's output sets on its device, as the script version that ran declared it:
a custom field from the last line, and tags from lines ``fleetwatch-tag: +name`` / ``fleetwatch-tag: -name``
(only the tags the script declared; an endpoint's output never reaches any other tag).

The outcome goes into the action's result under keys only the server writes (an agent's own are dropped)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from portal.access import system_actor
from portal.actions.models import Action, ScriptVersion
from portal.custom_fields.services import set_from_script_output
from portal.tags.models import Tag
from portal.tags.services import change_tags

SERVER_RESULT_KEYS = ("custom_field", "tags")
TAG_LINE = re.compile(r"^\s*fleetwatch-tag:\s*([+-])\s*(\S.*?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class OutputDeclaration:
    field: str
    tag_ids: tuple[int, ...]


def declarations_of(actions: list[Action]) -> dict[int, OutputDeclaration]:
    """action id → what its script version's output sets (one query; none when no script ran)."""
    ran = [action for action in actions if action.script_id is not None and action.script_version is not None]
    if not ran:
        return {}
    declared = {(script, number): OutputDeclaration(field=field, tag_ids=tuple(tags or ()))
                for script, number, field, tags in ScriptVersion.objects.filter(
                    script_id__in={action.script_id for action in ran}).values_list(
                    "script_id", "number", "sets_field", "sets_tags")
                if field or tags}
    return {action.pk: declared[(action.script_id, action.script_version)] for action in ran
            if (action.script_id, action.script_version) in declared}


def apply_output(action: Action, declaration: OutputDeclaration) -> dict[str, Any]:
    """Set what the output says on the action's device; returns the result entries saying what happened."""
    outcome: dict[str, Any] = {}
    if declaration.field:
        outcome["custom_field"] = set_from_script_output(device=action.device, field_name=declaration.field,
                                                         stdout=action.stdout, script_label=action.title)
    if declaration.tag_ids:
        outcome["tags"] = _apply_tags(action, declaration.tag_ids)
    return outcome


def _apply_tags(action: Action, tag_ids: tuple[int, ...]) -> dict[str, list[str]]:
    allowed = {tag.name.lower(): tag for tag in Tag.objects.filter(pk__in=tag_ids)}
    add, remove, refused = {}, {}, []
    for sign, name in TAG_LINE.findall(action.stdout):
        tag = allowed.get(name.lower())
        if tag is None:
            refused.append(name[:50])
            continue
        (add if sign == "+" else remove)[tag.pk] = tag
        (remove if sign == "+" else add).pop(tag.pk, None)  # the last line about a tag wins
    if add or remove:
        change_tags(actor=system_actor(f"script {action.title}"[:150]), objects=[action.device],
                    add=list(add.values()), remove=list(remove.values()))
    return {"added": sorted(tag.name for tag in add.values()), "removed": sorted(tag.name for tag in remove.values()),
            "refused": refused[:20]}
