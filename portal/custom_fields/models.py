"""Custom fields: facts the MSP keeps about companies, sites and devices beyond what Fleetwatch collects
(account manager, backup path, BitLocker status), defined once by an admin who sees every company.

The values live on each object, in its ``custom_fields`` column (name → JSON value), so lists and dynamic
groups filter on them in the database on SQLite and PostgreSQL alike. What a value may be is decided by
its definition here: ``CustomField.coerce`` is the one place a typed or typed-in value becomes a stored one.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from portal.access import MspLibrary
from portal.tenancy.models import Timestamped


class CustomFieldTarget(models.TextChoices):
    COMPANY = "company", "Companies"
    SITE = "site", "Sites"
    DEVICE = "device", "Devices"


class CustomFieldKind(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    BOOLEAN = "boolean", "Yes / no"
    DATE = "date", "Date"
    CHOICE = "choice", "Choice"
    MULTI_CHOICE = "multi_choice", "Several choices"


CHOICE_KINDS = {CustomFieldKind.CHOICE, CustomFieldKind.MULTI_CHOICE}
MAX_TEXT = 1000
MAX_CHOICES = 100
# A name is how scripts, filters and templates ({{device.custom.backup_path}}) refer to the field.
FIELD_NAME = RegexValidator(r"^[a-z][a-z0-9_]{0,49}$", "Use lower-case letters, digits and _ (starting with a "
                                                       "letter), at most 50: e.g. backup_path.")
# Options are matched inside stored JSON and shown in selects: no quotes, commas or control characters.
_OPTION = re.compile(r'^[^",\\\x00-\x1f\x7f]{1,100}$')
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _choices_default() -> list:
    return []


class CustomField(Timestamped):
    """One field admins added to every company, site or device, with its kind and rules."""

    visibility = MspLibrary()

    target = models.CharField(max_length=16, choices=CustomFieldTarget.choices)
    name = models.CharField(max_length=50, validators=[FIELD_NAME])
    label = models.CharField(max_length=100, help_text="What people read, e.g. 'Backup path'.")
    kind = models.CharField(max_length=16, choices=CustomFieldKind.choices, default=CustomFieldKind.TEXT)
    choices = models.JSONField(default=_choices_default, blank=True,
                               help_text="The options of a choice field, e.g. [\"Bronze\", \"Silver\", \"Gold\"].")
    required = models.BooleanField(default=False, help_text="A value must be given (the default counts).")
    default = models.JSONField(null=True, blank=True, help_text="Shown and used where no value was set.")
    description = models.CharField(max_length=300, blank=True)
    order = models.PositiveIntegerField(default=0, help_text="Fields are shown in this order, then by label.")

    class Meta:
        ordering = ["target", "order", "label", "id"]
        constraints = [models.UniqueConstraint(fields=["target", "name"], name="custom_field_name_once_per_target",
                                               violation_error_message="This name is taken for these objects.")]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_target_display().lower()})"

    def clean(self) -> None:
        if self.kind in CHOICE_KINDS:
            options = self.choices
            if not isinstance(options, list) or not options or len(options) > MAX_CHOICES or not all(
                    isinstance(option, str) and _OPTION.match(option) for option in options):
                raise ValidationError({"choices": f"Give 1 to {MAX_CHOICES} options of at most 100 characters, "
                                                  "without quotes, commas or control characters."})
            if len(set(options)) != len(options):
                raise ValidationError({"choices": "Each option once."})
        elif self.choices:
            raise ValidationError({"choices": "Only choice fields have options."})
        if self.default is not None:
            try:
                self.default = self.coerce(self.default)
            except ValidationError as error:
                raise ValidationError({"default": error.messages}) from error

    def coerce(self, value: Any) -> Any:
        """The value as stored (None: no value), from a typed value or from text (a form, a script's output).
        Refuses anything the kind does not take, with a message naming the field."""
        if value is None or value == "" or value == []:
            return None
        kind = self.kind
        if kind == CustomFieldKind.TEXT:
            text = str(value).strip() if isinstance(value, str | int | float) and not isinstance(value, bool) else None
            if text is None or len(text) > MAX_TEXT or _CONTROL.search(text):
                raise ValidationError(f"{self.label} takes text of at most {MAX_TEXT} characters, without control "
                                      "characters.")
            return text or None
        if kind == CustomFieldKind.NUMBER:
            return self._number(value)
        if kind == CustomFieldKind.BOOLEAN:
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower() if isinstance(value, str) else ""
            if word in _TRUE | _FALSE:
                return word in _TRUE
            raise ValidationError(f"{self.label} is yes or no (true/false), not “{str(value)[:40]}”.")
        if kind == CustomFieldKind.DATE:
            try:
                return (value if isinstance(value, date) else date.fromisoformat(str(value).strip())).isoformat()
            except ValueError:
                raise ValidationError(f"{self.label} is a date (YYYY-MM-DD), not “{str(value)[:40]}”.") from None
        if kind == CustomFieldKind.CHOICE:
            if isinstance(value, str) and value.strip() in self.choices:
                return value.strip()
            raise ValidationError(f"{self.label} is one of {', '.join(self.choices)}; “{str(value)[:40]}” is not.")
        picked = [part.strip() for part in value.split(",")] if isinstance(value, str) else value
        if not isinstance(picked, list) or not all(isinstance(part, str) and part in self.choices for part in picked):
            raise ValidationError(f"{self.label} takes some of {', '.join(self.choices)}.")
        return [option for option in self.choices if option in picked] or None

    def _number(self, value: Any) -> int | float:
        if isinstance(value, bool):
            number: Any = None
        elif isinstance(value, int | float):
            number = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                number = None
        if number is None or not math.isfinite(number) or abs(number) > 1e15:
            raise ValidationError(f"{self.label} must be a number, not “{str(value)[:40]}”.")
        return int(number) if float(number).is_integer() else float(number)
