"""Connectors, sync runs and mappings over GraphQL: all-company administrators only."""

import pytest

from connectors.models import Connector, ExternalRecord, SyncRun
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db

QUERY = """{ connectors { edges { node { name kind lastStatus
  runs { edges { node { status created conflicts percent itemErrors } } }
  records(filters: {hasConflict: true}) { edges { node { id kind label objectId conflict } } } } } } }"""


@pytest.fixture
def connector(tenant_a):
    connector = Connector.objects.create(name="Pulseway", base_url="https://pulseway.example/v3/", token_id="id",
                                         token_secret="secret", last_status="partial")
    SyncRun.objects.create(connector=connector, status="partial", created=5, conflicts=1, phase_done=1,
                           phase_total=4, item_errors=[{"kind": "device", "error": "x"}])
    ExternalRecord.objects.create(connector=connector, kind="device", external_id="g-1", label="pw-1",
                                  object_id=tenant_a.device.pk, content_hash="h", conflict="Already held by …")
    ExternalRecord.objects.create(connector=connector, kind="company", external_id="1", label="Org 1",
                                  object_id=tenant_a.company.pk, content_hash="h")
    return connector


def test_all_company_admins_read_connectors_runs_and_conflicts(gql_as, admin_user, connector, tenant_a):
    data = gql_as(admin_user)(QUERY)["data"]["connectors"]["edges"][0]["node"]
    assert data["name"] == "Pulseway" and data["lastStatus"] == "partial"
    assert data["runs"]["edges"][0]["node"] == {"status": "partial", "created": 5, "conflicts": 1, "percent": 25,
                                                "itemErrors": [{"kind": "device", "error": "x"}]}
    records = [edge["node"] for edge in data["records"]["edges"]]
    assert [(r["label"], r["objectId"]) for r in records] == [("pw-1", tenant_a.device.pk)]


def test_others_see_no_connector_and_cannot_sync_or_map(gql_as, admin_a, operator_a, connector):
    record = ExternalRecord.objects.get(kind="company")
    for user in (admin_a, operator_a):
        gql = gql_as(user)
        assert gql(QUERY)["data"]["connectors"]["edges"] == []
        synced = gql("mutation ($id: ID!) { syncNow(input: {id: $id}) { ok errors { message } } }",
                     {"id": global_id("Connector", connector.pk)})["data"]["syncNow"]
        assert synced["ok"] is False and synced["errors"]
        mapped = gql("mutation ($id: ID!) { mapExternalRecord(input: {id: $id, objectId: 1}) { errors { message } } }",
                     {"id": global_id("ExternalRecord", record.pk)})["data"]["mapExternalRecord"]
        assert mapped["errors"]
    assert ExternalRecord.objects.get(pk=record.pk).mapped_by_user is False


def test_map_and_resolve_over_graphql(gql_as, admin_user, connector, tenant_b):
    gql = gql_as(admin_user)
    record = ExternalRecord.objects.get(kind="company")
    result = gql("mutation ($id: ID!, $to: Int) { mapExternalRecord(input: {id: $id, objectId: $to}) "
                 "{ node { objectId mappedByUser } errors { message } } }",
                 {"id": global_id("ExternalRecord", record.pk), "to": tenant_b.company.pk})["data"]["mapExternalRecord"]
    assert result == {"node": {"objectId": tenant_b.company.pk, "mappedByUser": True}, "errors": []}
    conflict = ExternalRecord.objects.get(kind="device")
    resolved = gql("mutation ($id: ID!) { resolveConflict(input: {id: $id, takeOver: false}) "
                   "{ node { objectId conflict } } }", {"id": global_id("ExternalRecord", conflict.pk)})
    assert resolved["data"]["resolveConflict"]["node"] == {"objectId": 0, "conflict": ""}


def test_run_pulseway_script_refuses_a_device_pulseway_does_not_manage(gql_as, operator_a, tenant_a, tenant_b):
    gql = gql_as(operator_a)
    query = ("mutation ($d: ID!) { runPulsewayScript(input: {device: $d, scriptId: \"42\"}) "
             "{ node { id } errors { field message } } }")
    own = gql(query, {"d": global_id("Device", tenant_a.device.pk)})["data"]["runPulsewayScript"]
    assert own["node"] is None and "Pulseway does not manage this device" in own["errors"][0]["message"]
    other = gql(query, {"d": global_id("Device", tenant_b.device.pk)})["data"]["runPulsewayScript"]
    assert other["node"] is None and other["errors"][0]["field"] == "device"
