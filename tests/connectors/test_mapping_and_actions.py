"""Mapping upstream records to Fleetwatch records, conflicts between two sources, Pulseway scripts run as
actions in our history, and the pages for all of it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import Connector, ExternalRecord
from connectors.pulseway_actions import follow_pulseway_script, queue_pulseway_script
from connectors.sync import run_sync
from portal.access import actor_for_user
from portal.actions.delivery import deliverable_actions
from portal.inventory.models import Device
from portal.tenancy.models import Company, Site
from tests.conftest import logged_in
from tests.connectors.datto_standin import API_KEY, API_SECRET, DattoStandIn
from tests.connectors.datto_standin import sample_data as datto_data
from tests.connectors.pulseway_standin import sample_data

pytestmark = pytest.mark.django_db


def test_an_organization_mapped_to_an_existing_company_brings_its_sites_there(pulseway, pulseway_connector,
                                                                              admin_user, tenant_a):
    pulseway.data = sample_data(organizations=1, sites_each=1, devices_each=1)
    pulseway.data.sites.append({"Id": 999, "Name": "Late site", "ParentId": 1})
    first = run_sync(connector=pulseway_connector)
    org = ExternalRecord.objects.get(kind="company", external_id="1")
    client = logged_in(admin_user)
    page = client.get(reverse("resource-detail", args=["connectors", pulseway_connector.pk])).content.decode()
    assert "Mapping" in page and "Org 1" in page and f'action="/connectors/records/{org.pk}/map/"' in page

    Site.objects.filter(pk=ExternalRecord.objects.get(kind="site", external_id="999").object_id).delete()
    ExternalRecord.objects.filter(kind="site", external_id="999").delete()  # as if it came later
    response = client.post(reverse("connector-record-map", args=[org.pk]), {"object_id": tenant_a.company.pk})
    assert response.status_code == 302
    org.refresh_from_db()
    assert org.mapped_by_user and org.object_id == tenant_a.company.pk
    second = run_sync(connector=pulseway_connector)
    assert second.created == 1 and Site.objects.get(name="Late site").company == tenant_a.company
    assert Company.objects.get(pk=tenant_a.company.pk).name == "Alpha Corp"  # a mapped record is not rewritten
    # The site imported before the mapping stays where it is, and the run says what to do about it.
    assert second.status == "partial" and "map this site to a site of the new company" in \
        second.item_errors[0]["error"]
    site = ExternalRecord.objects.get(kind="site", external_id="101")
    client.post(reverse("connector-record-map", args=[site.pk]), {"object_id": tenant_a.site.pk})
    third = run_sync(connector=pulseway_connector)
    # Now the site is in Alpha Corp; its device, imported into Org 1, is not moved across companies either.
    assert first.status == "succeeded" and [error["kind"] for error in third.item_errors] == ["device"]
    assert "move it by hand" in third.item_errors[0]["error"]


def test_two_sources_claiming_one_device_is_a_conflict_shown_not_overwritten(pulseway, pulseway_connector,
                                                                             admin_user):
    pulseway.data = sample_data(organizations=1, sites_each=1, devices_each=1)
    pulseway.data.organizations[0]["Name"] = "Client 1"
    run_sync(connector=pulseway_connector)
    device = Device.objects.get(hostname="pw-101-1")
    datto = DattoStandIn(datto_data(sites=1, devices_each=1))
    datto.data.devices[0]["hostname"] = "PW-101-1"  # the same machine, seen by Datto too
    datto.data.devices[0]["online"] = device.status != "online"
    datto.start()
    try:
        datto_connector = Connector.objects.create(name="Datto", kind="datto", base_url=datto.origin,
                                                   token_id=API_KEY, token_secret=API_SECRET)
        Site.objects.filter(pk=device.site_id).update(name="Client 1")
        run = run_sync(connector=datto_connector)
        assert run.conflicts == 1 and run.status == "succeeded", run.item_errors
        conflict = ExternalRecord.objects.get(connector=datto_connector, kind="device")
        assert conflict.object_id == device.pk and "connector “Pulseway”" in conflict.conflict
        assert Device.objects.get(pk=device.pk).status == device.status  # not overwritten

        client = logged_in(admin_user)
        page = client.get(reverse("resource-detail", args=["connectors", datto_connector.pk])).content.decode()
        assert "Conflicts (1)" in page and "This source writes it" in page
        client.post(reverse("connector-conflict-resolve", args=[conflict.pk]), {"choice": "take_over"})
        run_sync(connector=datto_connector)
        assert Device.objects.get(pk=device.pk).status != device.status  # Datto writes it now
        assert ExternalRecord.objects.get(connector=pulseway_connector, kind="device").conflict.startswith("Yielded")
    finally:
        datto.stop()


def test_a_pulseway_script_runs_as_an_action_with_its_output(pulseway, pulseway_connector, admin_user, settings):
    settings.FLEETWATCH_PULSEWAY_POLL_SECONDS = 0
    run_sync(connector=pulseway_connector)
    device = Device.objects.get(hostname="pw-101-1")  # online in the stand-in
    pulseway.scripts["42"] = [
        {"State": "Running", "Output": "checking disks\n", "ExitCode": None},
        {"State": "Running", "Output": "checking disks\nall good\n", "ExitCode": None},
        {"State": "Successful", "Output": "checking disks\nall good\n", "ExitCode": 0, "VariableOutputs": []},
    ]
    actor = actor_for_user(admin_user)
    action = queue_pulseway_script(actor=actor, device=device, script_id="42", variables=[{"Id": 1, "Value": "C:"}])
    assert action.action_type == "pulseway_script" and action.status == "queued"
    assert deliverable_actions(device_id=device.pk, already_sent=set()) == []  # never sent to our agent
    assert follow_pulseway_script(action_id=action.pk, sleep=lambda s: None) == "succeeded"
    action.refresh_from_db()
    assert action.exit_code == 0 and action.stdout == "checking disks\nall good\n"
    assert action.sent_at and action.started_at and action.finished_at
    assert pulseway.executions["1"]["body"] == {"DeviceIdentifier": device.external_ids["pulseway"],
                                                "Variables": [{"Id": 1, "Value": "C:"}]}
    page = logged_in(admin_user).get(reverse("resource-detail", args=["actions", action.pk])).content.decode()
    assert "Pulseway script 42" in page and "all good" in page


def test_a_pulseway_script_on_an_offline_device_fails_with_pulseways_reason(pulseway, pulseway_connector,
                                                                             admin_user):
    run_sync(connector=pulseway_connector)
    offline = Device.objects.get(hostname="pw-101-2")
    pulseway.scripts["42"] = [{"State": "Successful", "Output": "", "ExitCode": 0}]
    action = queue_pulseway_script(actor=actor_for_user(admin_user), device=offline, script_id="42")
    assert follow_pulseway_script(action_id=action.pk, sleep=lambda s: None) == "failed"
    action.refresh_from_db()
    assert "The device is offline" in action.error


def test_pulseway_scripts_need_a_pulseway_device_and_the_form_says_so(tenant_a, operator_a):
    client = logged_in(operator_a)
    response = client.post(reverse("pulseway-script-run", args=[tenant_a.device.pk]), {"script_id": "42"},
                           follow=True)
    assert "Pulseway does not manage this device" in response.content.decode()
