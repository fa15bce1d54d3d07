"""Reads of devices, always scoped to the actor."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.access import Actor, visible_to
from portal.inventory.models import Device, EnrollmentToken


def devices_for(*, actor: Actor) -> QuerySet[Device]:
    return visible_to(Device.objects.select_related("company", "site", "group"), actor)


def enrollment_tokens_for(*, actor: Actor) -> QuerySet[EnrollmentToken]:
    return visible_to(EnrollmentToken.objects.select_related("company", "site", "group"), actor)
