"""Connectors as a dashboard record type, for administrators who see every company (registered in
``ConnectorsConfig.ready``)."""

from __future__ import annotations

from typing import Any

from connectors import services
from connectors.forms import ConnectorForm
from connectors.selectors import conflicts_for, connectors_for, external_records_for, sync_runs_for
from connectors.services import sync_schedule_of
from portal.access import Actor, Role, is_msp_admin
from portal.listing import search
from portal.pages import Column, Resource
from portal.tenancy.selectors import companies_for, sites_for

RECORDS_SHOWN = 200


def _connector_detail(actor: Actor, connector: Any, params: Any) -> dict[str, Any]:
    records = external_records_for(actor=actor).filter(connector=connector)
    query = params.get("records", "").strip()[:200]
    shown = search(records, query=query, fields=("label", "external_id")) if query else records
    runs = sync_runs_for(actor=actor).filter(connector=connector)
    return {"runs": runs[:20], "latest_run": runs.first(), "record_query": query,
            "records": shown.order_by("-stale", "kind", "label")[:RECORDS_SHOWN], "record_count": shown.count(),
            "stale_count": records.filter(stale=True).count(),
            "conflicts": list(conflicts_for(actor=actor).filter(connector=connector)[:500]),
            "company_choices": companies_for(actor=actor).only("pk", "name"),
            "site_choices": sites_for(actor=actor).select_related("company").only("pk", "name", "company__name"),
            "schedule": sync_schedule_of(connector)}


CONNECTORS = Resource(
    slug="connectors", noun="connector", title="Connectors",
    rows_for=connectors_for,
    columns=(Column("Name", "name", "name"), Column("Kind", "get_kind_display", "kind"),
             Column("Enabled", "enabled", "enabled"), Column("Last sync", "last_sync_at", "last_sync_at"),
             Column("Status", "last_status", "last_status")),
    search_fields=("name", "base_url"), default_sort="name", form_class=ConnectorForm,
    create=services.create_connector, update=services.update_connector, delete=services.delete_connector,
    create_role=Role.ADMIN, edit_role=Role.ADMIN, shared=True, writers=is_msp_admin,
    hidden_fields=("token_secret",), detail_context=_connector_detail, detail_reads_query=True,
    empty_hint="Import companies, sites, groups, devices and contacts from Pulseway, Datto RMM or Freshservice: "
               "add a connector with its API credentials.",
)
