"""Writes to connectors (administrators who see every company): the connectors themselves with their
sync schedule, starting a sync, mapping an upstream record to another Fleetwatch record, and resolving
conflicts between sources; and running a Pulseway script on a device Pulseway manages (operators of the
device), defined beside the Pulseway API it calls."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django_q.models import Schedule

from connectors.engine import UNLINKED
from connectors.models import Connector, ExternalRecord, connector_target
from connectors.pulseway_actions import queue_pulseway_script as queue_pulseway_script  # public here
from portal.access import Actor, require_msp_admin, rows_for_system
from portal.audit.services import record
from portal.inventory.models import Device
from portal.tenancy.models import Company, Contact, Group, Site
from portal.writes import clear_retargeted_secrets, delete_row, explain_cleared, save_changes, save_new

CONNECTOR_FIELDS = ("name", "kind", "base_url", "token_id", "token_secret", "enabled", "write_account_numbers",
                    "account_number_field")
SYNC_TASK = "connectors.tasks.sync_connector"
DEFAULT_SYNC_MINUTES = 60
TARGETS = {ExternalRecord.Kind.COMPANY: Company, ExternalRecord.Kind.SITE: Site, ExternalRecord.Kind.GROUP: Group,
           ExternalRecord.Kind.DEVICE: Device, ExternalRecord.Kind.CONTACT: Contact}


def _require(actor: Actor) -> None:
    require_msp_admin(actor, what="Connectors")


def _schedule_name(connector: Connector) -> str:
    return f"connectors: sync {connector.name} (#{connector.pk})"[:100]


def sync_schedule_of(connector: Connector) -> Schedule | None:
    return Schedule.objects.filter(func=SYNC_TASK, args=repr((connector.pk,))).first()


def _keep_schedule(connector: Connector) -> None:
    """Every connector syncs hourly on its own schedule (interval and on/off on the scheduler page); a
    disabled connector's schedule stops repeating."""
    schedule = sync_schedule_of(connector)
    if schedule is None:
        Schedule.objects.create(name=_schedule_name(connector), func=SYNC_TASK, args=repr((connector.pk,)),
                                schedule_type=Schedule.MINUTES, minutes=DEFAULT_SYNC_MINUTES,
                                repeats=-1 if connector.enabled else 0)
        return
    schedule.name = _schedule_name(connector)
    if not connector.enabled:
        schedule.repeats = 0
    schedule.save(update_fields=["name", "repeats"])


@transaction.atomic
def create_connector(*, actor: Actor, name: str, base_url: str, token_secret: str, token_id: str = "",
                     **fields: Any) -> Connector:
    _require(actor)
    connector = save_new(actor=actor, instance=Connector(
        name=name, base_url=base_url, token_id=token_id, token_secret=token_secret,
        **{k: v for k, v in fields.items() if k in CONNECTOR_FIELDS}))
    _keep_schedule(connector)
    return connector


@transaction.atomic
def update_connector(*, actor: Actor, connector: Connector, **changes: Any) -> Connector:
    _require(actor)
    # Empty keeps the stored secret, unless the connector now talks to another address.
    cleared = clear_retargeted_secrets(instance=connector, changes=changes,
                                       targets={"base_url": lambda url: connector_target(url).url},
                                       secrets=("token_secret",))
    try:
        connector = save_changes(actor=actor, instance=connector, changes=changes, editable=CONNECTOR_FIELDS)
    except ValidationError as error:
        raise explain_cleared(error, cleared, moved="The base URL") from error
    _keep_schedule(connector)
    return connector


@transaction.atomic
def delete_connector(*, actor: Actor, connector: Connector) -> None:
    """Delete the connector, its history and its links; the companies and devices it imported stay."""
    _require(actor)
    schedule = sync_schedule_of(connector)
    if schedule is not None:
        schedule.delete()
    delete_row(actor=actor, instance=connector)


def request_sync(*, actor: Actor, connector: Connector) -> None:
    """Queue a sync on the task cluster (it may take minutes); the connector page shows its progress."""
    from django_q.tasks import async_task

    _require(actor)
    if not connector.enabled:
        raise ValidationError("This connector is disabled: enable it first.")
    record(actor=actor, action="connector.sync_requested", target=connector, company_id=None)
    async_task("connectors.tasks.sync_connector", connector.pk, group=_schedule_name(connector))


@transaction.atomic
def remap_record(*, actor: Actor, external: ExternalRecord, object_id: int | None) -> ExternalRecord:
    """Point an upstream record at another Fleetwatch record of its kind (kept on later syncs, which then
    link to it without changing its fields), or with ``None`` give it back to the sync."""
    _require(actor)
    before = {"object_id": external.object_id, "mapped_by_user": external.mapped_by_user}
    if object_id is None:
        external.mapped_by_user = False
        external.content_hash = ""  # the next sync writes the upstream values again
    else:
        model = TARGETS[ExternalRecord.Kind(external.kind)]
        if not model.objects.filter(pk=object_id).exists():
            raise ValidationError({"object_id": f"No such {model._meta.verbose_name}."})
        external.object_id, external.mapped_by_user, external.conflict = object_id, True, ""
    external.save(update_fields=["object_id", "mapped_by_user", "content_hash", "conflict"])
    record(actor=actor, action="connector.record_mapped", target=external.connector, company_id=None, before=before,
           after={"object_id": external.object_id, "mapped_by_user": external.mapped_by_user,
                  "external_id": external.external_id})
    return external


@transaction.atomic
def resolve_conflict(*, actor: Actor, external: ExternalRecord, take_over: bool) -> ExternalRecord:
    """``take_over``: this source writes the record from now on and the other source yields (its record
    becomes the conflict). Otherwise the two stay apart: the next sync creates a record of its own."""
    _require(actor)
    if not external.conflict:
        raise ValidationError("This record has no conflict to resolve.")
    if take_over:
        others = (rows_for_system(ExternalRecord).select_for_update()
                  .filter(kind=external.kind, object_id=external.object_id, conflict="").exclude(pk=external.pk))
        others.update(conflict=f"Yielded to the connector “{external.connector.name}”, which now writes this record.")
    else:
        external.object_id = UNLINKED
    external.conflict, external.content_hash = "", ""
    external.save(update_fields=["object_id", "conflict", "content_hash"])
    record(actor=actor, action="connector.conflict_resolved", target=external.connector, company_id=None,
           after={"external_id": external.external_id, "take_over": take_over})
    return external
