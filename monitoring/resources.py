"""Network gear, cameras, alerts, checks and maintenance windows as dashboard record types (registered in
``MonitoringConfig.ready``)."""

from __future__ import annotations

from typing import Any

from monitoring import alert_routing, services
from monitoring.forms import AlertRouteForm, CameraForm, CheckForm, MaintenanceWindowForm, NetworkDeviceForm
from monitoring.models import AlertStatus, CameraStatus, CheckKind, NetworkDeviceType, PollStatus, RouteKind, Severity
from monitoring.selectors import (
    alert_notifications_for,
    alert_routes_for,
    alerts_for,
    cameras_for,
    checks_for,
    maintenance_windows_for,
    network_devices_for,
    network_interfaces_for,
    network_samples_for,
)
from portal.access import Actor, Role
from portal.pages import TAG_FILTER, TAGS_COLUMN, Column, ListFilter, Resource, company_choices, static_choices


def _network_detail(actor: Actor, device: Any) -> dict[str, Any]:
    samples = list(reversed(network_samples_for(actor=actor).filter(device=device)[:20]))
    return {"interfaces": network_interfaces_for(actor=actor).filter(device=device), "samples": samples,
            "can_poll": actor.has_role(Role.OPERATOR)}


NETWORK = Resource(
    slug="network", noun="networkdevice", title="Network devices",
    rows_for=network_devices_for,
    columns=(Column("Name", "name", "name"), Column("Host", "host", "host"),
             Column("Type", "get_device_type_display", "device_type"),
             Column("Status", "get_status_display", "status"), Column("Company", "company.name", "company__name"),
             Column("Site", "site.name", "site__name"), TAGS_COLUMN,
             Column("Response ms", "response_ms", "response_ms"),
             Column("Last poll", "last_polled_at", "last_polled_at")),
    search_fields=("name", "host", "vendor", "sys_name", "sys_descr", "company__name", "site__name", "tags__name"),
    default_sort="name", form_class=NetworkDeviceForm, create=services.create_network_device,
    update=services.update_network_device, delete=services.delete_network_device, parent_fields=("site",),
    detail_context=_network_detail, taggable=True,
    hidden_fields=("community", "auth_key", "priv_key", "storage", "sys_descr", "status"),
    empty_hint="Add the switches, routers, firewalls, printers and access points you watch over SNMP.",
    filters=(ListFilter("status", "Status", "status", static_choices(list(PollStatus.choices))),
             ListFilter("type", "Type", "device_type", static_choices(list(NetworkDeviceType.choices))),
             ListFilter("company", "Company", "company_id", company_choices), TAG_FILTER),
)


CAMERAS = Resource(
    slug="cameras", noun="camera", title="Cameras",
    rows_for=cameras_for,
    columns=(Column("Name", "name", "name"), Column("Host", "host", "host"),
             Column("Status", "get_status_display", "status"), Column("Company", "company.name", "company__name"),
             Column("Site", "site.name", "site__name"), Column("Location", "location", "location"), TAGS_COLUMN,
             Column("Response ms", "response_ms", "response_ms"),
             Column("Last check", "last_checked_at", "last_checked_at")),
    search_fields=("name", "host", "location", "company__name", "site__name", "tags__name"), default_sort="name",
    form_class=CameraForm, create=services.create_camera, update=services.update_camera,
    delete=services.delete_camera, parent_fields=("site",), hidden_fields=("password",), taggable=True,
    detail_context=lambda actor, camera: {"can_check": actor.has_role(Role.OPERATOR)},
    empty_hint="Add IP cameras by their RTSP URL; each is checked with OPTIONS and DESCRIBE every 10 minutes.",
    filters=(ListFilter("status", "Status", "status", static_choices(list(CameraStatus.choices))),
             ListFilter("company", "Company", "company_id", company_choices), TAG_FILTER),
)


ALERTS = Resource(
    slug="alerts", noun="alert", title="Alerts",
    rows_for=alerts_for,
    columns=(Column("Alert", "message", "message"), Column("Severity", "get_severity_display", "severity"),
             Column("Status", "get_status_display", "status"), Column("Company", "company.name", "company__name"),
             Column("Type", "get_kind_display", "kind"), Column("Opened", "opened_at", "opened_at"),
             Column("Acknowledged by", "acknowledged_by_label")),
    search_fields=("message", "object_label", "company__name"), default_sort="-opened_at",
    hidden_fields=("check_rule", "object_key"),
    detail_context=lambda actor, alert: {
        "can_acknowledge": actor.has_role(Role.OPERATOR) and alert.resolved_at is None,
        "notifications": alert_notifications_for(actor=actor).filter(alert=alert)[:100]},
    empty_hint="No alerts. Checks run every minute on agents, network devices and cameras.",
    filters=(ListFilter("severity", "Severity", "severity", static_choices(list(Severity.choices))),
             ListFilter("status", "Status", "status", static_choices(list(AlertStatus.choices))),
             ListFilter("company", "Company", "company_id", company_choices),
             ListFilter("type", "Type", "kind", static_choices(list(CheckKind.choices)))),
)


CHECKS = Resource(
    slug="checks", noun="check", title="Checks",
    rows_for=checks_for,
    columns=(Column("Name", "name", "name"), Column("Policy", "policy.name", "policy__name"),
             Column("Watches", "get_kind_display", "kind"), Column("Warning at", "warning_threshold"),
             Column("Critical at", "critical_threshold"), Column("Failures in a row", "failures_before_alert"),
             Column("Enabled", "enabled", "enabled")),
    search_fields=("name", "parameter", "policy__name", "company__name"), default_sort="name", form_class=CheckForm,
    create=services.create_check, update=services.update_check, delete=services.delete_check,
    parent_fields=("company", "policy"),
    empty_hint="Every company gets default checks; add your own (a service that must run, tighter CPU "
               "limits) here.",
    filters=(ListFilter("company", "Company", "company_id", company_choices),
             ListFilter("kind", "Watches", "kind", static_choices(list(CheckKind.choices)))),
)


ALERT_ROUTES = Resource(
    slug="alert-routes", noun="alertroute", title="Alert routes",
    rows_for=alert_routes_for,
    columns=(Column("Name", "name", "name"), Column("Policy", "policy.name", "policy__name"),
             Column("Kind", "get_kind_display", "kind"), Column("From", "get_min_severity_display", "min_severity"),
             Column("Enabled", "enabled", "enabled")),
    search_fields=("name", "policy__name"), default_sort="name", form_class=AlertRouteForm,
    create=alert_routing.create_route, update=alert_routing.update_route, delete=alert_routing.delete_route,
    create_role=Role.ADMIN, edit_role=Role.ADMIN, parent_fields=("policy",), hidden_fields=("url", "emails"),
    empty_hint="Routes send a policy's alerts by email, to Slack or a webhook, or run a script on the device "
               "(restart the service); add one from a policy's page.",
    filters=(ListFilter("kind", "Kind", "kind", static_choices(list(RouteKind.choices))),),
)


MAINTENANCE = Resource(
    slug="maintenance", noun="maintenancewindow", title="Maintenance windows",
    rows_for=maintenance_windows_for,
    columns=(Column("Reason", "reason", "reason"), Column("Company", "company.name", "company__name"),
             Column("Site", "site.name"), Column("Object", "object_key"),
             Column("Starts", "starts_at", "starts_at"), Column("Ends", "ends_at", "ends_at")),
    search_fields=("reason", "object_key", "company__name"), default_sort="-starts_at",
    form_class=MaintenanceWindowForm, create=services.create_maintenance_window,
    update=services.update_maintenance_window, delete=services.delete_maintenance_window,
    parent_fields=("company", "site", "object_key", "reason"),
    empty_hint="While a window is open, no new alerts are raised for its company, site or object.",
    filters=(ListFilter("company", "Company", "company_id", company_choices),),
)

MONITORING_RESOURCES = (NETWORK, CAMERAS, ALERTS, CHECKS, ALERT_ROUTES, MAINTENANCE)
