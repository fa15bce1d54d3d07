"""Turning mutation inputs into service keyword arguments."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from strawberry import UNSET


def changes_from(data: Any, *, exclude: set[str] = frozenset()) -> dict[str, Any]:
    """The fields the caller actually sent (UNSET ones are left out), without ``id`` and ``exclude``.

    A null sent for a text field means "empty".
    """
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(data):
        name = field.name
        if name == "id" or name in exclude:
            continue
        value = getattr(data, name)
        if value is UNSET:
            continue
        if value is None and name != "account_number":
            value = ""
        changes[name] = value
    return changes


def sent_fields(data: Any, names: Iterable[str], *, keep_nulls: bool = False) -> dict[str, Any]:
    """The named input fields the caller sent: UNSET ones left out, and nulls too unless ``keep_nulls``
    (for fields where null means "clear", like a threshold)."""
    values = {}
    for name in names:
        value = getattr(data, name, UNSET)
        if value is UNSET or (value is None and not keep_nulls):
            continue
        values[name] = value
    return values
