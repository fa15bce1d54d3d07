"""A sync writes through the services people use: every record it creates or changes is validated and
audited as the run ("via Pulseway sync, run N"), and the link to the upstream record is written by syncs
only."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from connectors.models import Connector, ExternalRecord
from connectors.sync import run_sync
from portal.access import Actor, Role, system_actor
from portal.audit.models import AuditEvent
from portal.inventory.models import Device
from portal.inventory.services import create_device, update_device
from portal.tenancy.models import Company, Contact, Site
from portal.tenancy.services import create_company, update_company
from portal.upstream import Upstream
from tests.connectors.freshservice_standin import API_KEY, FreshserviceStandIn
from tests.connectors.freshservice_standin import sample_data as freshservice_data

pytestmark = pytest.mark.django_db


def test_every_record_a_sync_writes_is_audited_as_that_run(pulseway_connector, pulseway):
    run = run_sync(connector=pulseway_connector)
    assert run.status == "succeeded", run.item_errors
    label = f"via Pulseway sync, run {run.pk}"
    created = AuditEvent.objects.filter(actor_label=label, action__endswith=".created")
    assert created.filter(action="company.created").count() == 2
    assert created.filter(action="site.created").count() == 4
    assert created.filter(action="group.created").count() == 4
    assert created.filter(action="device.created").count() == 12
    device = Device.objects.get(hostname="pw-101-1")
    event = created.get(action="device.created", object_id=str(device.pk))
    assert event.company_id == device.company_id and event.user_id is None
    assert event.after["hostname"] == "pw-101-1" and event.after["status"] == "online"

    pulseway.data.devices[0]["Name"] = "pw-101-1-renamed"
    pulseway.data.devices[0]["IsOnline"] = False
    second = run_sync(connector=pulseway_connector)
    changed = AuditEvent.objects.get(actor_label=f"via Pulseway sync, run {second.pk}", action="device.updated")
    assert changed.object_id == str(device.pk)
    assert changed.before["hostname"] == "pw-101-1" and changed.after["hostname"] == "pw-101-1-renamed"
    assert (changed.before["status"], changed.after["status"]) == ("online", "offline")
    # Unchanged records are not written again, so they leave no audit event.
    assert AuditEvent.objects.filter(actor_label=f"via Pulseway sync, run {second.pk}").count() == 1


def test_a_value_the_model_refuses_is_an_item_error_not_a_saved_row():
    stand_in = FreshserviceStandIn(freshservice_data(departments=1, requesters_each=2))
    stand_in.data.requesters[0]["primary_email"] = "not an address"
    stand_in.start()
    try:
        connector = Connector.objects.create(name="Freshservice", kind="freshservice",
                                             base_url=f"{stand_in.origin}/api/v2/", token_secret=API_KEY)
        run = run_sync(connector=connector)
    finally:
        stand_in.stop()
    assert run.status == "partial" and run.failed == 1
    assert "valid email" in run.item_errors[0]["error"]
    assert not Contact.objects.filter(email="not an address").exists()
    assert Contact.objects.count() == 1
    assert not ExternalRecord.objects.filter(kind="contact", external_id=str(stand_in.data.requesters[0]["id"]))


def test_only_a_sync_links_a_record_to_another_tool():
    admin = Actor(user_id=None, label="admin", role=Role.ADMIN, company_ids=None)
    link = Upstream(source="pulseway", external_id="42")
    with pytest.raises(PermissionDenied):
        create_company(actor=admin, name="Acme", upstream=link)
    company = create_company(actor=admin, name="Acme")
    with pytest.raises(PermissionDenied):
        update_company(actor=admin, company=company, upstream=link)
    site = Site.objects.create(company=company, name="HQ")
    with pytest.raises(PermissionDenied):
        create_device(actor=admin, site=site, hostname="pc-1", upstream=link, status="online")
    with pytest.raises(ValueError, match="status"):
        create_device(actor=admin, site=site, hostname="pc-1", status="online")  # observed state: syncs only
    device = create_device(actor=admin, site=site, hostname="pc-1")
    with pytest.raises(ValueError, match="status"):
        update_device(actor=admin, device=device, status="online")

    sync = system_actor("via Pulseway sync, run 1")
    linked = update_company(actor=sync, company=company, upstream=link)
    assert Company.objects.get(pk=linked.pk).external_ids == {"pulseway": "42"}
    device = update_device(actor=sync, device=device, status="online", upstream=Upstream(
        source="pulseway", external_id="abc", facts={"Uptime": "3 days"}))
    assert device.external_ids == {"pulseway": "abc", "pulseway_facts": {"Uptime": "3 days"}}
    assert Device.objects.get(pk=device.pk).status == "online"
