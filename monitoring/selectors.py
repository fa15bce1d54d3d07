"""Reads of network gear, scoped to the actor's companies."""

from __future__ import annotations

from django.db.models import QuerySet

from monitoring.models import (
    Alert,
    AlertNotification,
    AlertRoute,
    Camera,
    Check,
    MaintenanceWindow,
    NetworkDevice,
    NetworkInterface,
    NetworkPollSample,
)
from portal.access import Actor, visible_to


def network_devices_for(*, actor: Actor) -> QuerySet[NetworkDevice]:
    return visible_to(NetworkDevice.objects.select_related("company", "site", "group"), actor)


def network_interfaces_for(*, actor: Actor) -> QuerySet[NetworkInterface]:
    return visible_to(NetworkInterface.objects.all(), actor)


def network_samples_for(*, actor: Actor) -> QuerySet[NetworkPollSample]:
    return visible_to(NetworkPollSample.objects.all(), actor)


def cameras_for(*, actor: Actor) -> QuerySet[Camera]:
    return visible_to(Camera.objects.select_related("company", "site"), actor)


def alerts_for(*, actor: Actor) -> QuerySet[Alert]:
    return visible_to(Alert.objects.select_related("company", "check_rule"), actor)


def checks_for(*, actor: Actor) -> QuerySet[Check]:
    return visible_to(Check.objects.select_related("company"), actor)


def maintenance_windows_for(*, actor: Actor) -> QuerySet[MaintenanceWindow]:
    return visible_to(MaintenanceWindow.objects.select_related("company", "site"), actor)


def alert_routes_for(*, actor: Actor) -> QuerySet[AlertRoute]:
    return visible_to(AlertRoute.objects.select_related("policy", "script"), actor)


def alert_notifications_for(*, actor: Actor) -> QuerySet[AlertNotification]:
    return visible_to(AlertNotification.objects.select_related("action"), actor)
