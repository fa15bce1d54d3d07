"""GraphQL for connectors (administrators who see every company): connectors, their sync runs and the
mapping of upstream records, with mutations to sync now, map a record, resolve a conflict, and run a
Pulseway script on a Pulseway-managed device."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.types import Info
from strawberry_django.relay import DjangoListConnection

from connectors import services
from connectors.models import Connector, ExternalRecord, SyncRun
from connectors.selectors import connectors_for, external_records_for
from connectors.services import queue_pulseway_script
from graph.actions import ActionNode
from graph.common import MAX_PAGE, NodeInput
from graph.context import actor_from
from graph.errors import MutationError, Payload, attempt, lookup
from graph.scoping import Visible
from portal.inventory.selectors import devices_for


@strawberry_django.filter_type(ExternalRecord, lookups=True)
class ExternalRecordFilter:
    kind: auto
    stale: auto
    external_id: auto

    @strawberry_django.filter_field
    def has_conflict(self, value: bool, prefix: str) -> Any:
        from django.db.models import Q

        return ~Q(**{f"{prefix}conflict": ""}) if value else Q(**{f"{prefix}conflict": ""})


@strawberry_django.type(SyncRun, name="SyncRun")
class SyncRunNode(Visible, relay.Node):
    status: auto
    started_at: datetime
    finished_at: datetime | None
    created: auto
    updated: auto
    unchanged: auto
    stale: auto
    failed: auto
    skipped: auto
    conflicts: auto
    written_upstream: auto
    requests: auto
    retries: auto
    progress: auto
    phase_done: auto
    phase_total: auto
    error: auto
    item_errors: JSON

    @strawberry_django.field(description="Percent of the current phase done (null when its size is unknown).",
                             only=["phase_done", "phase_total"])
    def percent(self, root: SyncRun) -> int | None:
        return root.percent


@strawberry_django.type(ExternalRecord, name="ExternalRecord", filters=ExternalRecordFilter)
class ExternalRecordNode(Visible, relay.Node):
    """One upstream item and the Fleetwatch record it is (its id in ``objectId``; kind says which type)."""

    kind: auto
    external_id: auto
    label: auto
    object_id: int = strawberry_django.field(description="Primary key of the Fleetwatch record (0: a new one "
                                                         "is made on the next sync).")
    stale: auto
    mapped_by_user: auto
    conflict: auto


@strawberry_django.type(Connector, name="Connector")
class ConnectorNode(Visible, relay.Node):
    name: auto
    kind: auto
    base_url: auto
    token_id: auto
    enabled: auto
    write_account_numbers: auto
    account_number_field: auto
    last_sync_at: datetime | None
    last_status: auto
    last_error: auto
    runs: DjangoListConnection[SyncRunNode] = strawberry_django.connection(max_results=MAX_PAGE)
    records: DjangoListConnection[ExternalRecordNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.type
class ConnectorsQuery:
    connectors: DjangoListConnection[ConnectorNode] = strawberry_django.connection(max_results=MAX_PAGE)


@strawberry.input
class MapRecordInput:
    id: relay.GlobalID = strawberry.field(description="The ExternalRecord.")
    object_id: int | None = strawberry.field(description="The Fleetwatch record's primary key; null gives the "
                                                         "record back to the sync.")


@strawberry.input
class ResolveConflictInput:
    id: relay.GlobalID
    take_over: bool = strawberry.field(description="True: this source writes the record from now on. False: keep "
                                                   "the two apart (the next sync makes a record of its own).")


@strawberry.input
class PulsewayScriptInput:
    device: relay.GlobalID
    script_id: str
    variables: JSON | None = strawberry.field(default=None, description='[{"Id": 1, "Value": "x"}, …]')
    timeout_seconds: int = 900


@strawberry.type
class SyncNowPayload:
    ok: bool
    errors: list[MutationError]


@strawberry.type
class ConnectorsMutation:
    @strawberry.mutation(description="Queue a sync of the connector now; follow it in its runs.")
    def sync_now(self, info: Info, input: NodeInput) -> SyncNowPayload:
        actor = actor_from(info)
        _, errors = attempt(lambda: services.request_sync(
            actor=actor, connector=lookup(connectors_for(actor=actor), input.id, type_name="Connector")))
        return SyncNowPayload(ok=not errors, errors=errors)

    @strawberry.mutation(description="Map an upstream record to a Fleetwatch record of its kind.")
    def map_external_record(self, info: Info, input: MapRecordInput) -> Payload[ExternalRecordNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.remap_record(
            actor=actor, external=lookup(external_records_for(actor=actor), input.id, type_name="ExternalRecord"),
            object_id=input.object_id))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Resolve a conflict between two sources holding one record.")
    def resolve_conflict(self, info: Info, input: ResolveConflictInput) -> Payload[ExternalRecordNode]:
        actor = actor_from(info)
        node, errors = attempt(lambda: services.resolve_conflict(
            actor=actor, external=lookup(external_records_for(actor=actor), input.id, type_name="ExternalRecord"),
            take_over=input.take_over))
        return Payload(node=node, errors=errors)

    @strawberry.mutation(description="Run a Pulseway automation script on a Pulseway-managed device (operators); "
                                     "it is followed as an action.")
    def run_pulseway_script(self, info: Info, input: PulsewayScriptInput) -> Payload[ActionNode]:
        actor = actor_from(info)
        variables = input.variables if isinstance(input.variables, list) else []
        node, errors = attempt(lambda: queue_pulseway_script(
            actor=actor, device=lookup(devices_for(actor=actor), input.device, type_name="Device", field="device"),
            script_id=input.script_id, variables=variables, timeout_seconds=input.timeout_seconds))
        return Payload(node=node, errors=errors)
