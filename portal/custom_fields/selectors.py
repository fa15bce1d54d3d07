"""Reads of custom fields: their definitions (the same for everyone signed in), an object's values with the
defaults filled in, and the database condition behind a filter on one field (lists, GraphQL, dynamic groups)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from portal.access import Actor, visible_to
from portal.custom_fields.models import CustomField, CustomFieldKind

OPERATORS = ("eq", "ne", "lt", "gt", "contains", "empty")
ORDERED_KINDS = {CustomFieldKind.NUMBER, CustomFieldKind.DATE}


def custom_fields_for(*, actor: Actor) -> QuerySet[CustomField]:
    return visible_to(CustomField.objects.all(), actor)


def fields_of(*, actor: Actor, target: str) -> list[CustomField]:
    return list(custom_fields_for(actor=actor).filter(target=target))


@dataclass(frozen=True)
class ShownValue:
    field: CustomField
    value: Any
    is_default: bool

    @property
    def text(self) -> str:
        if self.value is None:
            return ""
        if isinstance(self.value, bool):
            return "Yes" if self.value else "No"
        if isinstance(self.value, list):
            return ", ".join(self.value)
        return str(self.value)


def shown_values(*, fields: list[CustomField], obj: Any) -> list[ShownValue]:
    """Each defined field with the object's value, or its default where none was set."""
    stored = obj.custom_fields or {}
    return [ShownValue(field=field, value=stored.get(field.name, field.default),
                       is_default=field.name not in stored and field.default is not None) for field in fields]


def effective_values(*, fields: list[CustomField], obj: Any) -> dict[str, Any]:
    """name → value (defaults included) of the defined fields that have one."""
    return {shown.field.name: shown.value for shown in shown_values(fields=fields, obj=obj) if shown.value is not None}


def condition(*, field: CustomField, op: str, value: Any = None, prefix: str = "") -> Q:
    """Objects whose value of ``field`` (its default where none is stored) satisfies ``op`` with ``value``:
    eq, ne, lt and gt (numbers and dates), contains (text; an option of a multi-choice field), empty. A value
    the field cannot take raises ValidationError."""
    if op not in OPERATORS:
        raise ValidationError(f"Compare with one of {', '.join(OPERATORS)}.")
    key = f"{prefix}custom_fields__{field.name}"
    has_value = Q(**{f"{prefix}custom_fields__has_key": field.name})
    if op == "empty":
        return ~has_value if field.default is None else Q(pk__in=[])
    if op in ("lt", "gt") and field.kind not in ORDERED_KINDS:
        raise ValidationError(f"{field.label} is not a number or a date: it cannot be compared with < or >.")
    if op == "contains":
        text = str(value or "").strip()
        if not text:
            raise ValidationError("Give the text to look for.")
        if field.kind == CustomFieldKind.MULTI_CHOICE:
            option = field.coerce(text)[0]
            return _with_default(Q(**{f"{key}__icontains": f'"{option}"'}), field, lambda d: option in d, has_value)
        return _with_default(Q(**{f"{key}__icontains": text}), field, lambda d: text.lower() in str(d).lower(),
                             has_value)
    wanted = field.coerce(value)
    if wanted is None:
        raise ValidationError(f"Give a value to compare {field.label} with.")
    if field.kind == CustomFieldKind.MULTI_CHOICE:
        equal = Q()
        for option in wanted:
            equal &= Q(**{f"{key}__icontains": f'"{option}"'})
        matches = lambda d: set(wanted) <= set(d)  # noqa: E731
    else:
        equal = Q(**{key: wanted})
        matches = lambda d: d == wanted  # noqa: E731
    if op == "eq":
        return _with_default(equal, field, matches, has_value)
    if op == "ne":
        return _with_default(has_value & ~equal, field, lambda d: not matches(d), has_value)
    ordered = Q(**{f"{key}__{op}": wanted})
    return _with_default(has_value & ordered, field, lambda d: d < wanted if op == "lt" else d > wanted, has_value)


def _with_default(stored: Q, field: CustomField, satisfied_by: Any, has_value: Q) -> Q:
    """Objects without a stored value hold the default: they match when the default does."""
    if field.default is not None and satisfied_by(field.default):
        return stored | ~has_value
    return stored


def definitions_of(*, target: str) -> list[CustomField]:
    """Every field of ``target`` (the MSP's library of definitions, the same for every reader): for code that
    reads definitions to interpret values it already scoped (filters, values with their defaults)."""
    return list(CustomField.objects.filter(target=target))
