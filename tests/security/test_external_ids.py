"""External ids say which upstream record a row is; connectors alone write them. A Pulseway script goes to
the upstream device the connector's own record names. Before, an operator could write any Pulseway device
id into ``updateDevice(externalIds:)`` and then run any Pulseway script on another tenant's endpoint."""

from __future__ import annotations

import pytest

from connectors.models import ExternalRecord
from connectors.pulseway_actions import follow_pulseway_script, queue_pulseway_script
from connectors.sync import run_sync
from portal.access import actor_for_user
from portal.inventory import services as device_services
from portal.inventory.models import Device
from portal.tenancy import services as tenancy_services
from tests.connectors.conftest import pulseway, pulseway_connector  # noqa: F401  (fixtures)
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db


def test_graphql_has_no_external_ids_input(gql_as, operator_a, tenant_a):
    answer = gql_as(operator_a)("""mutation ($id: ID!) { updateDevice(input: {id: $id,
        externalIds: {pulseway: "victim-device"}}) { node { externalIds } errors { code } } }""",
                                {"id": global_id("Device", tenant_a.device.pk)})
    assert "errors" in answer and "externalIds" in answer["errors"][0]["message"]
    assert Device.objects.get(pk=tenant_a.device.pk).external_ids == {}
    for mutation, kind in (("updateCompany", "Company"), ("updateSite", "Site"), ("updateGroup", "Group"),
                           ("updateContact", "Contact")):
        answer = gql_as(operator_a)(f"""mutation ($id: ID!) {{ {mutation}(input: {{id: $id, externalIds: {{}}}})
            {{ errors {{ code }} }} }}""", {"id": global_id(kind, 1)})
        assert "errors" in answer and "externalIds" in answer["errors"][0]["message"], mutation


def test_services_refuse_to_write_external_ids(operator_a, admin_a, actor_of, tenant_a):
    with pytest.raises(ValueError, match="Not editable here: external_ids"):
        device_services.update_device(actor=actor_of(operator_a), device=tenant_a.device,
                                      external_ids={"pulseway": "victim"})
    with pytest.raises(ValueError, match="Not editable here: external_ids"):
        tenancy_services.update_company(actor=actor_of(admin_a), company=tenant_a.company,
                                        external_ids={"datto": "x"})


def test_a_pulseway_run_goes_to_the_device_the_connector_synced(pulseway, pulseway_connector, admin_user,  # noqa: F811
                                                                settings):
    settings.FLEETWATCH_PULSEWAY_POLL_SECONDS = 0
    run_sync(connector=pulseway_connector)
    device = Device.objects.get(hostname="pw-101-1")
    synced = ExternalRecord.objects.get(kind="device", object_id=device.pk).external_id
    # Whatever the row says (written around the services, or by an older version), the record decides.
    Device.objects.filter(pk=device.pk).update(external_ids={"pulseway": "another-tenants-device"})
    pulseway.scripts["42"] = [{"State": "Successful", "Output": "ok\n", "ExitCode": 0, "VariableOutputs": []}]
    action = queue_pulseway_script(actor=actor_for_user(admin_user), device=Device.objects.get(pk=device.pk),
                                   script_id="42")
    assert action.payload["device_identifier"] == synced
    assert follow_pulseway_script(action_id=action.pk, sleep=lambda s: None) == "succeeded"
    assert pulseway.executions["1"]["body"]["DeviceIdentifier"] == synced != "another-tenants-device"


def test_a_device_pulseway_does_not_manage_runs_nothing_whatever_its_external_ids(tenant_a, operator_a, actor_of):
    from django.core.exceptions import ValidationError

    Device.objects.filter(pk=tenant_a.device.pk).update(external_ids={"pulseway": "victim-device"})
    with pytest.raises(ValidationError, match="Pulseway does not manage this device"):
        queue_pulseway_script(actor=actor_of(operator_a), device=Device.objects.get(pk=tenant_a.device.pk),
                              script_id="42")
