"""Tags: the MSP's own labels (name and colour) put on devices, network devices and cameras.

A tag is MSP-wide: every signed-in user sees the same names. Which objects carry a tag follows the objects:
a technician scoped to one company sees (and counts) only that company's tagged objects.
"""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from portal.access import MspLibrary
from portal.tenancy.models import Timestamped


class TagColour(models.TextChoices):
    """A fixed palette: the pages draw a tag with a class of its colour, never with a style from the row."""

    SLATE = "slate", "Slate"
    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    AMBER = "amber", "Amber"
    GREEN = "green", "Green"
    TEAL = "teal", "Teal"
    BLUE = "blue", "Blue"
    INDIGO = "indigo", "Indigo"
    PURPLE = "purple", "Purple"
    PINK = "pink", "Pink"


# Letters (any script), digits, and a few joiners; no control characters, quotes, commas or angle brackets,
# so a tag name reads the same in a page, a CSV cell, a filter value and a script's output line.
TAG_NAME = RegexValidator(r"^[\w][\w .:/+#@&-]*$",
                          "Use letters, digits, spaces and . : / + # @ & - _ (starting with a letter or digit).")


class Tag(Timestamped):
    """A label technicians put on devices, network devices and cameras to find and target them together."""

    visibility = MspLibrary()

    name = models.CharField(max_length=50, validators=[TAG_NAME],
                            help_text="Unique, whatever the letter case (e.g. backup-server, VIP, Floor 2).")
    colour = models.CharField(max_length=16, choices=TagColour.choices, default=TagColour.SLATE)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_unique_whatever_the_case",
                                               violation_error_message="A tag with this name exists already.")]

    def __str__(self) -> str:
        return self.name
