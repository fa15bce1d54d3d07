"""GraphQL for network gear: devices (secrets are write-only), interfaces, poll history; manage, poll now."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
import strawberry_django
from django.db.models import Q
from strawberry import UNSET, auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from graph.alert_routes import AlertNotificationNode
from graph.common import MAX_PAGE, NodeInput, delete_node, sent_fields, words_matching
from graph.context import actor_from
from graph.errors import DeletePayload, Payload, attempt, id_filter, lookup
from graph.policies import PolicyNode
from graph.scoping import Visible
from graph.tags import TagNode, tag_filter
from graph.tenancy import CompanyNode, GroupNode, SiteNode
from monitoring import selectors, services
from monitoring.models import (
    Alert,
    Camera,
    Check,
    MaintenanceWindow,
    NetworkDevice,
    NetworkInterface,
    NetworkPollSample,
)
from monitoring.policy_checks import effective_checks_of_device
from portal.actions.selectors import scripts_for
from portal.policies.selectors import policies_for
from portal.tenancy.selectors import companies_for, groups_for, sites_for

if TYPE_CHECKING:
    from graph.actions import ScriptNode

ScriptRef = Annotated["ScriptNode", strawberry.lazy("graph.actions")]


@strawberry_django.type(NetworkInterface, name="NetworkInterface")
class NetworkInterfaceNode(Visible, relay.Node):
    if_index: auto
    name: auto
    alias: auto
    if_type: auto
    speed_bps: float | None
    admin_status: auto
    oper_status: auto
    counter_bits: auto
    in_bps: float | None = strawberry_django.field(description="Bits per second since the previous poll.")
    out_bps: float | None
    sampled_at: datetime | None


@strawberry_django.type(NetworkPollSample, name="NetworkPollSample")
class NetworkPollSampleNode(Visible, relay.Node):
    at: datetime
    status: auto
    response_ms: float | None
    cpu_percent: float | None
    in_bps: float | None
    out_bps: float | None


@strawberry_django.filter_type(NetworkDevice, lookups=True)
class NetworkDeviceFilter:
    status: auto
    device_type: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "name", "host", "vendor", "sys_name", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def tag(self, value: relay.GlobalID, prefix: str) -> Q:
        """Network devices carrying this tag."""
        return tag_filter(NetworkDevice, value, prefix)


@strawberry_django.type(NetworkDevice, name="NetworkDevice", filters=NetworkDeviceFilter)
class NetworkDeviceNode(Visible, relay.Node):
    """A switch, router, firewall, printer or access point polled over SNMP. Secrets are never returned."""

    name: auto
    host: auto
    port: auto
    vendor: auto
    device_type: auto
    snmp_version: auto
    v3_user: auto
    auth_protocol: auto
    priv_protocol: auto
    poll_interval_minutes: auto
    status: auto
    status_detail: auto
    last_polled_at: datetime | None
    response_ms: float | None
    sys_descr: auto
    sys_object_id: auto
    sys_uptime_seconds: float | None
    sys_contact: auto
    sys_name: auto
    sys_location: auto
    cpu_percent: float | None
    storage: JSON
    company: CompanyNode
    site: SiteNode
    group: GroupNode | None
    tags: list[TagNode]
    interfaces: DjangoListConnection[NetworkInterfaceNode] = strawberry_django.connection(max_results=MAX_PAGE)
    samples: DjangoListConnection[NetworkPollSampleNode] = strawberry_django.connection(max_results=MAX_PAGE)

    @strawberry_django.field(description="Whether a v1/v2c community is stored (its value is never shown).")
    def has_community(self) -> bool:
        return bool(self.community)


@strawberry_django.filter_type(Camera, lookups=True)
class CameraFilter:
    status: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        return words_matching(value, "name", "host", "location", prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def tag(self, value: relay.GlobalID, prefix: str) -> Q:
        """Cameras carrying this tag."""
        return tag_filter(Camera, value, prefix)


@strawberry_django.type(Camera, name="Camera", filters=CameraFilter)
class CameraNode(Visible, relay.Node):
    """An IP camera checked over RTSP. The password is never returned."""

    name: auto
    host: auto
    rtsp_url: auto
    username: auto
    location: auto
    check_interval_minutes: auto
    status: auto
    status_detail: auto
    last_checked_at: datetime | None
    response_ms: float | None
    company: CompanyNode
    site: SiteNode
    tags: list[TagNode]


@strawberry_django.type(Check, name="Check")
class CheckNode(Visible, relay.Node):
    name: auto
    kind: auto
    warning_threshold: float | None
    critical_threshold: float | None
    failures_before_alert: auto
    parameter: auto
    warning_severity: auto
    critical_severity: auto
    enabled: auto
    script: ScriptRef | None = strawberry_django.field(description="Script checks: the library script.")
    interval_minutes: auto
    warning_exit_codes: auto
    event_source: auto
    event_id: auto
    event_level: auto
    restart_service: auto
    company: CompanyNode | None = strawberry_django.field(description="The policy's company; null: an MSP-wide "
                                                                      "policy's check.")
    policy: PolicyNode


@strawberry.type(description="A check watching a device, the policy assignment it comes from, and what it "
                             "overrides.")
class EffectiveCheck:
    check: CheckNode
    policy: str
    level: str
    target: str
    overrides: list[str] = strawberry.field(description="Checks of the same kind it wins over, with their policy.")


def effective_checks_of(device_id: int) -> list[EffectiveCheck]:
    return [EffectiveCheck(check=effective.check, policy=effective.source.policy_name, level=effective.source.level,
                           target=effective.source.target,
                           overrides=[f"{check.name} ({source.policy_name}, {source.target})"
                                      for check, source in effective.overrides])
            for effective in effective_checks_of_device(device_id)]


@strawberry_django.filter_type(Alert, lookups=True)
class AlertFilter:
    severity: auto
    status: auto
    kind: auto
    opened_at: auto

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)


@strawberry_django.type(Alert, name="Alert", filters=AlertFilter)
class AlertNode(Visible, relay.Node):
    """One problem on one object; at most one unresolved per check and object."""

    object_key: auto
    object_label: auto
    kind: auto
    severity: auto
    status: auto
    message: auto
    value: float | None
    opened_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    acknowledged_by_label: auto
    acknowledged_at: datetime | None
    acknowledgement_note: auto
    company: CompanyNode
    check_rule: CheckNode
    notifications: DjangoListConnection[AlertNotificationNode] = strawberry_django.connection(
        max_results=MAX_PAGE, description="What its policy's routes sent (or are retrying), newest first.")


@strawberry_django.type(MaintenanceWindow, name="MaintenanceWindow")
class MaintenanceWindowNode(Visible, relay.Node):
    company: CompanyNode
    site: SiteNode | None
    object_key: auto
    starts_at: datetime
    ends_at: datetime
    reason: auto


@strawberry.type
class MonitoringQuery:
    alerts: DjangoListConnection[AlertNode] = strawberry_django.connection(max_results=MAX_PAGE)
    checks: DjangoListConnection[CheckNode] = strawberry_django.connection(max_results=MAX_PAGE)
    maintenance_windows: DjangoListConnection[MaintenanceWindowNode] = strawberry_django.connection(
        max_results=MAX_PAGE)
    network_devices: DjangoListConnection[NetworkDeviceNode] = strawberry_django.connection(max_results=MAX_PAGE)
    cameras: DjangoListConnection[CameraNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.input(Check)
class CheckCreateInput:
    name: auto
    policy: relay.GlobalID | None = strawberry.field(default=None, description="The policy that holds the check…")
    company: relay.GlobalID | None = strawberry.field(default=None, description="…or a company: its own policy.")
    kind: auto
    warning_threshold: auto = None
    critical_threshold: auto = None
    failures_before_alert: auto = 3
    parameter: auto = ""
    warning_severity: auto = "medium"
    critical_severity: auto = "critical"
    enabled: auto = True
    script: relay.GlobalID | None = strawberry.field(default=None, description="Script checks: the library script.")
    interval_minutes: auto = 15
    warning_exit_codes: auto = "1"
    event_source: auto = ""
    event_id: auto = None
    event_level: auto = None
    restart_service: auto = True


@strawberry_django.partial(Check)
class CheckUpdateInput:
    id: relay.GlobalID
    name: auto
    warning_threshold: auto
    critical_threshold: auto
    failures_before_alert: auto
    parameter: auto
    warning_severity: auto
    critical_severity: auto
    enabled: auto
    interval_minutes: auto
    warning_exit_codes: auto
    event_source: auto
    event_id: auto
    event_level: auto
    restart_service: auto


@strawberry_django.input(MaintenanceWindow)
class MaintenanceWindowCreateInput:
    company: relay.GlobalID
    starts_at: auto
    ends_at: auto
    site: relay.GlobalID | None = None
    object_key: auto = ""
    reason: auto = ""


@strawberry_django.partial(Camera)
class CameraUpdateInput:
    id: relay.GlobalID
    name: auto
    host: auto
    rtsp_url: auto
    username: auto
    password: str | None = strawberry.field(default=UNSET, description="Write-only; empty or omitted keeps it.")
    location: auto
    check_interval_minutes: auto


@strawberry.input
class AcknowledgeAlertInput:
    id: relay.GlobalID
    note: str = ""


@strawberry_django.input(Camera)
class CameraCreateInput:
    site: relay.GlobalID
    name: auto
    host: auto
    rtsp_url: auto
    username: auto = ""
    password: str = strawberry.field(default="", description="Write-only: stored encrypted, never read back.")
    location: auto = ""
    check_interval_minutes: auto = 10


@strawberry_django.input(NetworkDevice)
class NetworkDeviceCreateInput:
    site: relay.GlobalID
    name: auto
    host: auto
    group: relay.GlobalID | None = None
    port: auto = 161
    vendor: auto = ""
    device_type: auto = "switch"
    snmp_version: auto = "2c"
    community: str = strawberry.field(default="", description="Write-only: stored encrypted, never read back.")
    v3_user: auto = ""
    auth_protocol: auto = ""
    auth_key: str = strawberry.field(default="", description="Write-only: stored encrypted, never read back.")
    priv_protocol: auto = ""
    priv_key: str = strawberry.field(default="", description="Write-only: stored encrypted, never read back.")
    poll_interval_minutes: auto = 5


@strawberry_django.partial(NetworkDevice)
class NetworkDeviceUpdateInput:
    id: relay.GlobalID
    name: auto
    host: auto
    port: auto
    vendor: auto
    device_type: auto
    snmp_version: auto
    community: str | None = strawberry.field(default=UNSET, description="Write-only; empty or omitted keeps it.")
    v3_user: auto
    auth_protocol: auto
    auth_key: str | None = strawberry.field(default=UNSET, description="Write-only; empty or omitted keeps it.")
    priv_protocol: auto
    priv_key: str | None = strawberry.field(default=UNSET, description="Write-only; empty or omitted keeps it.")
    poll_interval_minutes: auto


CREATE_FIELDS = ("port", "vendor", "device_type", "snmp_version", "community", "v3_user", "auth_protocol", "auth_key",
                 "priv_protocol", "priv_key", "poll_interval_minutes")


@strawberry.type
class MonitoringMutation:
    @strawberry.mutation(description="Add a network device to a site (operators).")
    def create_network_device(self, info: Info, input: NetworkDeviceCreateInput) -> Payload[NetworkDeviceNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_network_device(
            actor=actor, site=lookup(sites_for(actor=actor), input.site, type_name="Site", field="site"),
            group=lookup(groups_for(actor=actor), input.group, type_name="Group", field="group") if input.group
            else None, name=input.name, host=input.host,
            **sent_fields(input, CREATE_FIELDS)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a network device; omitted fields (and secrets) stay (operators).")
    def update_network_device(self, info: Info, input: NetworkDeviceUpdateInput) -> Payload[NetworkDeviceNode]:
        actor = actor_from(info)
        changes = sent_fields(input, ("name", "host", *CREATE_FIELDS))
        node, errors = attempt(lambda: services.update_network_device(
            actor=actor, networkdevice=lookup(selectors.network_devices_for(actor=actor), input.id,
                                              type_name="NetworkDevice"), **changes))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a network device and its history (operators).")
    def delete_network_device(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.network_devices_for, type_name="NetworkDevice",
                           delete=services.delete_network_device, noun="networkdevice", global_id=input.id)

    @strawberry.mutation(description="Queue a poll of a network device now (operators). It runs on the task cluster; "
                                  "read the device again, or watch the dashboard, for its result.")
    def poll_network_device(self, info: Info, input: NodeInput) -> Payload[NetworkDeviceNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.poll_now(
            actor=actor, networkdevice=lookup(selectors.network_devices_for(actor=actor), input.id,
                                              type_name="NetworkDevice")))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Add an IP camera to a site (operators).")
    def create_camera(self, info: Info, input: CameraCreateInput) -> Payload[CameraNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_camera(
            actor=actor, site=lookup(sites_for(actor=actor), input.site, type_name="Site", field="site"),
            name=input.name, host=input.host, rtsp_url=input.rtsp_url,
            **sent_fields(input, ("username", "password", "location", "check_interval_minutes"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a camera (operators).")
    def delete_camera(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.cameras_for, type_name="Camera",
                           delete=services.delete_camera, noun="camera", global_id=input.id)

    @strawberry.mutation(description="Queue an RTSP check of a camera now (operators). It runs on the task cluster; "
                                  "read the camera again for its result.")
    def check_camera(self, info: Info, input: NodeInput) -> Payload[CameraNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.check_now(
            actor=actor, camera=lookup(selectors.cameras_for(actor=actor), input.id, type_name="Camera")))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Acknowledge an alert with a note: who and when are recorded (operators).")
    def acknowledge_alert(self, info: Info, input: AcknowledgeAlertInput) -> Payload[AlertNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.acknowledge_alert(
            actor=actor, alert=lookup(selectors.alerts_for(actor=actor), input.id, type_name="Alert"),
            note=input.note))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a camera; omitted fields (and an empty password) stay (operators).")
    def update_camera(self, info: Info, input: CameraUpdateInput) -> Payload[CameraNode]:
        actor = actor_from(info)
        changes = sent_fields(input, ("name", "host", "rtsp_url", "username", "password", "location",
                                      "check_interval_minutes"))
        node, errors = attempt(lambda: services.update_camera(
            actor=actor, camera=lookup(selectors.cameras_for(actor=actor), input.id, type_name="Camera"), **changes))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Add a check to a company (operators).")
    def create_check(self, info: Info, input: CheckCreateInput) -> Payload[CheckNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_check(
            actor=actor, company=lookup(companies_for(actor=actor), input.company, type_name="Company",
                                        field="company") if input.company else None,
            policy=lookup(policies_for(actor=actor), input.policy, type_name="Policy", field="policy")
            if input.policy else None,
            script=lookup(scripts_for(actor=actor), input.script, type_name="Script", field="script")
            if input.script else None,
            **sent_fields(input, [name for name in services.CHECK_FIELDS if name != "script"], keep_nulls=True)))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Change a check's thresholds, severities or failures in a row (operators).")
    def update_check(self, info: Info, input: CheckUpdateInput) -> Payload[CheckNode]:
        actor = actor_from(info)
        changes = sent_fields(input, [name for name in services.CHECK_FIELDS if name != "script"], keep_nulls=True)
        node, errors = attempt(lambda: services.update_check(
            actor=actor, check=lookup(selectors.checks_for(actor=actor), input.id, type_name="Check"), **changes))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a check and its alerts (operators).")
    def delete_check(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.checks_for, type_name="Check",
                           delete=services.delete_check, noun="check", global_id=input.id)

    @strawberry.mutation(description="Open a maintenance window for a company, a site or one object (operators).")
    def create_maintenance_window(self, info: Info,
                                  input: MaintenanceWindowCreateInput) -> Payload[MaintenanceWindowNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_maintenance_window(
            actor=actor, company=lookup(companies_for(actor=actor), input.company, type_name="Company",
                                        field="company"),
            site=lookup(sites_for(actor=actor), input.site, type_name="Site", field="site") if input.site else None,
            starts_at=input.starts_at, ends_at=input.ends_at, **sent_fields(input, ("object_key", "reason"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a maintenance window (operators).")
    def delete_maintenance_window(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.maintenance_windows_for, type_name="MaintenanceWindow",
                           delete=services.delete_maintenance_window, noun="maintenancewindow", global_id=input.id)
