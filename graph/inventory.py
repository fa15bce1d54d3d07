"""GraphQL for devices: type, filters (text, status, OS, placement, last seen), ordering, mutations."""

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

from graph.common import MAX_PAGE, NodeInput, delete_node, sent_fields, words_matching
from graph.context import actor_from
from graph.custom_fields import CustomFieldCondition, custom_field_filter, values_of
from graph.dynamic_groups import dynamic_group_filter
from graph.errors import DeletePayload, Payload, attempt, id_filter, lookup
from graph.monitoring import EffectiveCheck, effective_checks_of
from graph.policies import AppliedPolicyType, applied_policies_of
from graph.scoping import Visible
from graph.tags import TagNode, tag_filter
from graph.tenancy import CompanyNode, GroupNode, SiteNode
from portal.inventory import selectors, services
from portal.inventory.models import (
    Device,
    DeviceInventory,
    DeviceService,
    InstalledSoftware,
    InventoryChange,
    MetricSample,
    PendingPatch,
)
from portal.tenancy.selectors import groups_for, sites_for

if TYPE_CHECKING:
    from graph.patching import DevicePatchStatusNode, PatchUpdateNode

PatchStatusRef = Annotated["DevicePatchStatusNode", strawberry.lazy("graph.patching")]
PatchUpdateRef = Annotated["PatchUpdateNode", strawberry.lazy("graph.patching")]


@strawberry_django.filter_type(Device, lookups=True)
class DeviceFilter:
    hostname: auto
    status: auto
    os_type: auto
    last_seen: auto

    serial_number: auto

    @strawberry_django.filter_field
    def search(self, value: str, prefix: str) -> Q:
        """Every word appears in the hostname, display name, OS version, serial number or an IP address."""
        return words_matching(value, "hostname", "display_name", "os_version", "serial_number", "ip_addresses",
                      prefix=prefix)

    @strawberry_django.filter_field
    def company(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Company", column="company_id", prefix=prefix)

    @strawberry_django.filter_field
    def site(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Site", column="site_id", prefix=prefix)

    @strawberry_django.filter_field
    def group(self, value: relay.GlobalID, prefix: str) -> Q:
        return id_filter(value, type_name="Group", column="group_id", prefix=prefix)

    @strawberry_django.filter_field
    def tag(self, value: relay.GlobalID, prefix: str) -> Q:
        """Devices carrying this tag."""
        return tag_filter(Device, value, prefix)

    @strawberry_django.filter_field
    def custom_field(self, value: CustomFieldCondition, prefix: str) -> Q:
        """Devices whose custom field satisfies the condition (combine several with AND / OR)."""
        return custom_field_filter("device", value, prefix)

    @strawberry_django.filter_field
    def dynamic_group(self, value: relay.GlobalID, prefix: str, info: Info) -> Q:
        """The devices of a dynamic group, evaluated now."""
        return dynamic_group_filter(value, prefix, info)


@strawberry_django.order_type(Device)
class DeviceOrder:
    hostname: auto
    status: auto
    os_type: auto
    last_seen: auto
    created_at: auto


@strawberry_django.type(DeviceInventory, name="DeviceInventory")
class DeviceInventoryNode(Visible, relay.Node):
    """Hardware and system facts from the agent's latest full inventory."""

    collected_at: datetime
    kernel: auto
    cpu_model: auto
    cpu_cores: auto
    memory_total: float | None = strawberry_django.field(description="Bytes.")
    boot_time: datetime | None
    disks: JSON
    interfaces: JSON
    users: JSON


@strawberry_django.filter_type(InstalledSoftware, lookups=True)
class SoftwareFilter:
    name: auto
    source: auto


@strawberry_django.type(InstalledSoftware, name="InstalledSoftware", filters=SoftwareFilter)
class InstalledSoftwareNode(Visible, relay.Node):
    name: auto
    version: auto
    source: auto


@strawberry_django.type(DeviceService, name="DeviceService")
class DeviceServiceNode(Visible, relay.Node):
    name: auto
    display_name: auto
    status: auto
    start_mode: auto


@strawberry_django.type(PendingPatch, name="PendingPatch")
class PendingPatchNode(Visible, relay.Node):
    """An update a device needs; what it is lives in the patch catalogue (``update``)."""

    from_version: auto
    first_seen_at: datetime

    @strawberry_django.field(only=["update__identifier"], select_related=["update"],
                             description="What the installer takes: a KB, a package, a label.")
    def patch_id(self, root: PendingPatch) -> str:
        return root.update.identifier

    @strawberry_django.field(only=["update__title"], select_related=["update"])
    def title(self, root: PendingPatch) -> str:
        return root.update.title

    @strawberry_django.field(only=["update__severity"], select_related=["update"])
    def severity(self, root: PendingPatch) -> str:
        return root.update.severity

    @strawberry_django.field(only=["update__source"], select_related=["update"])
    def source(self, root: PendingPatch) -> str:
        return root.update.source

    @strawberry_django.field(select_related=["update"], description="The update in the patch catalogue.")
    def update(self, root: PendingPatch) -> PatchUpdateRef:
        return root.update


@strawberry_django.type(InventoryChange, name="InventoryChange")
class InventoryChangeNode(Visible, relay.Node):
    at: datetime
    kind: auto
    change: auto
    name: auto
    before: auto
    after: auto


@strawberry_django.filter_type(MetricSample, lookups=True)
class MetricSampleFilter:
    at: auto


@strawberry_django.type(MetricSample, name="MetricSample", filters=MetricSampleFilter)
class MetricSampleNode(Visible, relay.Node):
    at: datetime
    cpu_percent: float | None
    memory_percent: float | None


@strawberry_django.type(Device, name="Device", filters=DeviceFilter, ordering=DeviceOrder)
class DeviceNode(Visible, relay.Node):
    """An endpoint of a client company."""

    agent_version: auto
    cpu_percent: float | None
    memory_percent: float | None
    heartbeat_interval: auto
    inventory: DeviceInventoryNode | None
    software: DjangoListConnection[InstalledSoftwareNode] = strawberry_django.connection(max_results=MAX_PAGE)
    services: DjangoListConnection[DeviceServiceNode] = strawberry_django.connection(max_results=MAX_PAGE)
    pending_patches: DjangoListConnection[PendingPatchNode] = strawberry_django.connection(max_results=MAX_PAGE)
    inventory_changes: DjangoListConnection[InventoryChangeNode] = strawberry_django.connection(
        max_results=MAX_PAGE)
    metric_samples: DjangoListConnection[MetricSampleNode] = strawberry_django.connection(max_results=MAX_PAGE)

    hostname: auto
    display_name: auto
    os_type: auto
    os_version: auto
    serial_number: auto
    ip_addresses: list[str] = strawberry_django.field(
        description="Every address the device reported (agent inventory or a connector).",
        resolver=lambda root: root.ip_addresses.split(), only=["ip_addresses"])
    status: auto
    last_seen: datetime | None
    external_ids: JSON = strawberry_django.field(description="Ids of this record in other systems, written by "
                                                            "connectors only (read-only here).")
    created_at: datetime
    updated_at: datetime
    company: CompanyNode
    site: SiteNode
    group: GroupNode | None
    tags: list[TagNode]
    updates_scanned_at: datetime | None = strawberry_django.field(description="The agent's last successful look "
                                                                             "for updates.")
    updates_scan_error: str = strawberry_django.field(description="Why its last look failed (empty: it worked).")
    reboot_pending_since: datetime | None = strawberry_django.field(description="Since when an update waits for a "
                                                                               "restart (null: none).")

    @strawberry_django.field(select_related=["patch_status"], description="Its patch summary (null until the "
                                                                           "approval evaluation has run).")
    def patch_status(self) -> PatchStatusRef | None:
        return getattr(self, "patch_status", None)

    @strawberry_django.field(only=["custom_fields"], description="Custom values by field name, defaults included.")
    def custom_fields(self, info: Info) -> JSON:
        return values_of(info, self, "device")

    @strawberry_django.field(description="The checks watching this device by its policies, and where each comes "
                                         "from (computed now).")
    def effective_checks(self) -> list[EffectiveCheck]:
        return effective_checks_of(self.pk)

    @strawberry_django.field(description="The policies reaching this device, most general first (a later one wins "
                                         "where two set the same check); their schedules run here too.")
    def applied_policies(self, info: Info) -> list[AppliedPolicyType]:
        return applied_policies_of(self.pk, info)


@strawberry.type
class InventoryQuery:
    devices: DjangoListConnection[DeviceNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry_django.input(Device)
class DeviceCreateInput:
    site: relay.GlobalID
    hostname: auto
    group: relay.GlobalID | None = None
    display_name: auto = ""
    os_type: auto = "other"
    os_version: auto = ""
    serial_number: auto = ""


@strawberry_django.partial(Device)
class DeviceUpdateInput:
    id: relay.GlobalID
    site: relay.GlobalID | None = UNSET
    group: relay.GlobalID | None = UNSET
    hostname: auto
    display_name: auto
    os_type: auto
    os_version: auto
    serial_number: auto
    heartbeat_interval: auto


def _placement(actor, data, *, partial: bool) -> dict:
    """Look the site and group up through the caller's scope (an unseen id is simply not found)."""
    placement = {}
    if data.site is not UNSET and data.site is not None:
        placement["site"] = lookup(sites_for(actor=actor), data.site, type_name="Site", field="site")
    if data.group is not UNSET:
        placement["group"] = None if data.group is None else lookup(
            groups_for(actor=actor), data.group, type_name="Group", field="group")
    if partial and data.group is UNSET and "site" in placement:
        placement["group"] = None  # moving to another site leaves the old site's group behind
    return placement


@strawberry.type
class InventoryMutation:
    @strawberry.mutation(description="Add a device record to a site (operators).")
    def create_device(self, info: Info, input: DeviceCreateInput) -> Payload[DeviceNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.create_device(
            actor=actor, **_placement(actor, input, partial=False),
            **sent_fields(input, ("hostname", "display_name", "os_type", "os_version", "serial_number"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Move or rename a device; omitted fields keep their value (operators).")
    def update_device(self, info: Info, input: DeviceUpdateInput) -> Payload[DeviceNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.update_device(
            actor=actor, device=lookup(selectors.devices_for(actor=actor), input.id, type_name="Device"),
            **_placement(actor, input, partial=True),
            **sent_fields(input, ("hostname", "display_name", "os_type", "os_version", "serial_number",
                              "heartbeat_interval"))))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Delete a device record and its history (operators).")
    def delete_device(self, info: Info, input: NodeInput) -> DeletePayload:
        return delete_node(info, rows_for=selectors.devices_for, type_name="Device",
                           delete=services.delete_device, noun="device", global_id=input.id)
