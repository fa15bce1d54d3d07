"""Connectors in the dashboard's resource registry (administrators who see every company)."""

from __future__ import annotations

from typing import Any

from portal.access import Actor


def _connector_detail(actor: Actor, connector: Any) -> dict[str, Any]:
    from connectors.selectors import external_records_for, sync_runs_for

    records = external_records_for(actor=actor).filter(connector=connector)
    return {"runs": sync_runs_for(actor=actor).filter(connector=connector)[:20],
            "records": records.order_by("-stale", "kind", "label")[:200], "record_count": records.count(),
            "stale_count": records.filter(stale=True).count()}


def connector_resource() -> Any:
    from connectors import services
    from connectors.forms import ConnectorForm
    from connectors.selectors import connectors_for
    from portal.access import Role
    from portal.web.resources import Column, Resource

    return Resource(
        slug="connectors", noun="connector", title="Connectors",
        rows_for=connectors_for,
        columns=(Column("Name", "name", "name"), Column("Kind", "get_kind_display", "kind"),
                 Column("Enabled", "enabled", "enabled"), Column("Last sync", "last_sync_at", "last_sync_at"),
                 Column("Status", "last_status", "last_status")),
        search_fields=("name", "base_url"), default_sort="name", form_class=ConnectorForm,
        create=services.create_connector, update=services.update_connector, delete=services.delete_connector,
        create_role=Role.ADMIN, edit_role=Role.ADMIN, shared=True, hidden_fields=("token_secret",),
        detail_context=_connector_detail,
        empty_hint="Import companies, sites, groups and devices from Pulseway: add a connector with an API token.",
    )
