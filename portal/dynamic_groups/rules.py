"""The rules of a dynamic group: what each may say, checked when saved, and the database condition they
compile to (one query whatever the rules, on SQLite and PostgreSQL alike).

A rule is ``{"field": …, "op": …, "value": …}``:

- ``company``, ``site``, ``group``: ``eq`` / ``ne`` an id;
- ``os``, ``status``: ``eq`` / ``ne`` a value (``windows``, ``online``…);
- ``os_version``: ``contains`` / ``lacks`` a text (``Server``: servers apart from workstations);
- ``reboot_pending``: ``yes`` / ``no`` (an update waits for a restart);
- ``tag``: ``has`` / ``lacks`` a tag id;
- ``custom.<name>``: a device custom field, with its operators (``eq ne lt gt contains empty``);
- ``software``: ``installed`` / ``missing`` a name (part of it), optionally ``"version"``;
- ``patches``: ``any`` / ``none`` pending, or ``contains`` a patch id or title (part of it);
- ``last_seen``: ``within_hours`` / ``older_than_hours`` a number (never seen counts as older), or ``never``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from portal.custom_fields.models import CustomFieldTarget
from portal.custom_fields.selectors import OPERATORS as CUSTOM_OPERATORS
from portal.custom_fields.selectors import condition as custom_condition
from portal.custom_fields.selectors import definitions_of
from portal.inventory.models import DeviceStatus, OsType

MAX_RULES = 30


@dataclass(frozen=True)
class RuleKind:
    operators: tuple[str, ...]
    # Turns the rule's value into what is stored (raises ValidationError for a value it cannot take).
    clean_value: Callable[[dict[str, Any]], Any]


def _positive_id(rule: dict[str, Any]) -> int:
    value = rule.get("value")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 2**63:
        raise ValidationError("takes the id of one (a whole number).")
    return value


def _one_of(choices: list[str]) -> Callable[[dict[str, Any]], str]:
    def clean(rule: dict[str, Any]) -> str:
        if rule.get("value") not in choices:
            raise ValidationError(f"takes one of {', '.join(choices)}.")
        return rule["value"]
    return clean


def _text(rule: dict[str, Any]) -> str:
    value = rule.get("value")
    if not isinstance(value, str) or not value.strip() or len(value) > 200 or "\x00" in value:
        raise ValidationError("takes a text of 1 to 200 characters.")
    return value.strip()


def _hours(rule: dict[str, Any]) -> float | None:
    if rule.get("op") == "never":
        return None
    value = rule.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 24 * 3650:
        raise ValidationError("takes a number of hours (more than 0, at most ten years).")
    return value


def _patches(rule: dict[str, Any]) -> str | None:
    return _text(rule) if rule.get("op") == "contains" else None


KINDS: dict[str, RuleKind] = {
    "company": RuleKind(("eq", "ne"), _positive_id),
    "site": RuleKind(("eq", "ne"), _positive_id),
    "group": RuleKind(("eq", "ne"), _positive_id),
    "os": RuleKind(("eq", "ne"), _one_of(list(OsType.values))),
    "status": RuleKind(("eq", "ne"), _one_of(list(DeviceStatus.values))),
    "os_version": RuleKind(("contains", "lacks"), _text),
    "reboot_pending": RuleKind(("yes", "no"), lambda rule: None),
    "tag": RuleKind(("has", "lacks"), _positive_id),
    "software": RuleKind(("installed", "missing"), _text),
    "patches": RuleKind(("any", "none", "contains"), _patches),
    "last_seen": RuleKind(("within_hours", "older_than_hours", "never"), _hours),
}


def clean_rules(rules: Any) -> list[dict[str, Any]]:
    """The rules as stored, or a ValidationError saying which rule is wrong and why."""
    if not isinstance(rules, list) or len(rules) > MAX_RULES:
        raise ValidationError({"rules": f"Give a list of at most {MAX_RULES} rules."})
    cleaned, errors = [], []
    custom = {field.name: field for field in definitions_of(target=CustomFieldTarget.DEVICE)}
    for number, rule in enumerate(rules, start=1):
        try:
            cleaned.append(_clean_rule(rule, custom))
        except ValidationError as error:
            errors.append(f"Rule {number}: {' '.join(error.messages)}")
    if errors:
        raise ValidationError({"rules": errors})
    return cleaned


def _clean_rule(rule: Any, custom: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(rule, dict) or not isinstance(rule.get("field"), str) or not isinstance(rule.get("op"), str):
        raise ValidationError('give {"field": …, "op": …, "value": …}.')
    field, op = rule["field"], rule["op"]
    if field.startswith("custom."):
        definition = custom.get(field.removeprefix("custom."))
        if definition is None:
            raise ValidationError(f"no device custom field is named “{field.removeprefix('custom.')[:50]}”.")
        if op not in CUSTOM_OPERATORS:
            raise ValidationError(f"{definition.label} compares with {', '.join(CUSTOM_OPERATORS)}.")
        custom_condition(field=definition, op=op, value=rule.get("value"))  # refuses what it cannot compare
        return {"field": field, "op": op, "value": rule.get("value")}
    kind = KINDS.get(field)
    if kind is None:
        raise ValidationError(f"“{field[:50]}” is not a field to match on; use one of {', '.join(KINDS)} or "
                              "custom.<name>.")
    if op not in kind.operators:
        raise ValidationError(f"{field} compares with {', '.join(kind.operators)}.")
    try:
        value = kind.clean_value(rule)
    except ValidationError as error:
        raise ValidationError(f"{field} {' '.join(error.messages)}") from None
    cleaned = {"field": field, "op": op, "value": value}
    if field == "software" and rule.get("version") not in (None, ""):
        cleaned["version"] = _text({"value": rule["version"]})
    return cleaned


def referenced_ids(rules: list[dict[str, Any]], field: str) -> set[int]:
    """The ids of companies, sites, groups or tags the rules name (checked against the writer's scope)."""
    return {rule["value"] for rule in rules if rule["field"] == field}


def rule_condition(rule: dict[str, Any], *, narrowing: Callable[[str, dict[str, Any]], Q]) -> Q:
    """One rule's condition over devices. ``narrowing`` builds the subquery conditions (tags, software,
    patches), which read other tables of already-scoped devices."""
    field, op, value = rule["field"], rule["op"], rule.get("value")
    if field.startswith("custom."):
        definition = next((f for f in definitions_of(target=CustomFieldTarget.DEVICE)
                           if f.name == field.removeprefix("custom.")), None)
        return Q(pk__in=[]) if definition is None else custom_condition(field=definition, op=op, value=value)
    if field in ("company", "site", "group", "os", "status"):
        column = {"company": "company_id", "site": "site_id", "group": "group_id", "os": "os_type",
                  "status": "status"}[field]
        equal = Q(**{column: value})
        return equal if op == "eq" else ~equal
    if field == "os_version":
        found = Q(os_version__icontains=value)
        return found if op == "contains" else ~found
    if field == "reboot_pending":
        return Q(reboot_pending_since__isnull=op == "no")
    if field == "last_seen":
        if op == "never":
            return Q(last_seen__isnull=True)
        since = timezone.now() - timedelta(hours=value)
        return Q(last_seen__gte=since) if op == "within_hours" else Q(last_seen__lt=since) | Q(last_seen__isnull=True)
    return narrowing(field, rule)


def combine(conditions: list[Q], *, match: str) -> Q:
    """All (or any) of the conditions; no rules at all match every device."""
    if not conditions:
        return Q()
    combined = conditions[0]
    for more in conditions[1:]:
        combined = combined & more if match == "all" else combined | more
    return combined
