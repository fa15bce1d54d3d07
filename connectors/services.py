"""Writes to connectors (administrators who see every company) and starting a sync."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from connectors.models import Connector
from portal.access import Actor, Role, require_role
from portal.audit.services import record
from portal.writes import delete_row, save_changes, save_new

CONNECTOR_FIELDS = ("name", "kind", "base_url", "token_id", "token_secret", "enabled")


def _require_msp_admin(actor: Actor) -> None:
    require_role(actor, Role.ADMIN)
    if not actor.sees_all_companies:
        raise PermissionDenied("Connectors import into every company: they need an admin who sees all companies.")


@transaction.atomic
def create_connector(*, actor: Actor, name: str, base_url: str, token_id: str, token_secret: str,
                     **fields: Any) -> Connector:
    _require_msp_admin(actor)
    return save_new(actor=actor, instance=Connector(
        name=name, base_url=base_url, token_id=token_id, token_secret=token_secret,
        **{k: v for k, v in fields.items() if k in CONNECTOR_FIELDS}))


@transaction.atomic
def update_connector(*, actor: Actor, connector: Connector, **changes: Any) -> Connector:
    _require_msp_admin(actor)
    if changes.get("token_secret") == "":
        changes.pop("token_secret")  # empty keeps the stored secret
    return save_changes(actor=actor, instance=connector, changes=changes, editable=CONNECTOR_FIELDS)


@transaction.atomic
def delete_connector(*, actor: Actor, connector: Connector) -> None:
    _require_msp_admin(actor)
    delete_row(actor=actor, instance=connector)


def request_sync(*, actor: Actor, connector: Connector) -> None:
    """Queue a sync on the task cluster (it may take minutes); the connector page shows its progress."""
    from django_q.tasks import async_task

    _require_msp_admin(actor)
    record(actor=actor, action="connector.sync_requested", target=connector, company_id=None)
    async_task("connectors.tasks.sync_connector", connector.pk)
