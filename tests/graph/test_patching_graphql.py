"""Patch management through GraphQL: the catalogue seen through the caller's devices (counts included), a
policy's patching and windows with errors naming the field, decisions, verdicts, compliance, scans and
installs now."""

from __future__ import annotations

import pytest

from portal.actions.models import Action, ActionType
from portal.patching.models import PatchApproval, PatchPolicy
from portal.patching.status import refresh_patch_status
from portal.policies.services import create_policy
from tests import factories
from tests.graphql_client import global_id
from tests.patching.helpers import SYSTEM, patch_policy, with_agent

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(tenant_a, tenant_b):
    with_agent(tenant_a.device)
    with_agent(tenant_b.device)
    factories.pending_patch(tenant_a.device, "openssl", category="security", version="3.0.15")
    factories.pending_patch(tenant_a.device, "nvidia-driver", category="driver")
    factories.pending_patch(tenant_b.device, "openssl", category="security", version="3.0.15")
    factories.pending_patch(tenant_b.device, "bravo-only", category="driver")
    patch_policy(name="Alpha patching", company=tenant_a.company)
    refresh_patch_status()
    return tenant_a, tenant_b


CATALOGUE = """query ($filters: PatchUpdateFilter) { patchUpdates(first: 50, filters: $filters) {
  totalCount edges { node { id identifier version category devicesNeedingCount devicesInstalledCount } } } }"""


def test_the_catalogue_is_seen_through_the_callers_devices(fleet, gql_as, operator_a, admin_user):
    _, tenant_b = fleet
    mine = gql_as(operator_a)(CATALOGUE)["data"]["patchUpdates"]
    found = {edge["node"]["identifier"]: edge["node"] for edge in mine["edges"]}
    assert set(found) == {"openssl", "nvidia-driver"} and found["openssl"]["devicesNeedingCount"] == 1
    everyone = gql_as(admin_user)(CATALOGUE, {"filters": {"search": "openssl"}})["data"]["patchUpdates"]
    assert everyone["edges"][0]["node"]["devicesNeedingCount"] == 2
    bravo_only = factories.catalogue_update("bravo-only")
    query = "query ($id: ID!) { node(id: $id) { id ... on PatchUpdate { identifier } } }"
    assert gql_as(operator_a)(query, {"id": global_id("PatchUpdate", bravo_only.pk)})["data"]["node"] is None
    assert gql_as(admin_user)(query, {"id": global_id("PatchUpdate", bravo_only.pk)})["data"]["node"]
    drivers = gql_as(operator_a)(CATALOGUE, {"filters": {"category": {"exact": "driver"}}})["data"]["patchUpdates"]
    assert [edge["node"]["identifier"] for edge in drivers["edges"]] == ["nvidia-driver"]
    device = gql_as(operator_a)("""query ($id: ID!) { node(id: $id) { ... on Device { patchStatus { pending approved
        awaiting fullyPatched } pendingPatches(first: 5) { edges { node { fromVersion update { identifier } } } }
        } } }""", {"id": global_id("Device", fleet[0].device.pk)})["data"]["node"]
    assert device["patchStatus"] == {"pending": 2, "approved": 1, "awaiting": 1, "fullyPatched": False}
    assert {edge["node"]["update"]["identifier"] for edge in device["pendingPatches"]["edges"]} == {
        "openssl", "nvidia-driver"}
    assert tenant_b  # Bravo's rows exist, and none of them came back to Alpha's operator


def test_patching_and_windows_of_a_policy(tenant_a, gql_as, admin_a, operator_a):
    policy = create_policy(actor=SYSTEM, name="Alpha workstations", company=tenant_a.company)
    gql = gql_as(admin_a)
    mutation = """mutation ($input: SetPatchingInput!) { setPatching(input: $input) {
      node { id rebootMode denyList rules windows { id } } errors { field code message } } }"""
    bad = gql(mutation, {"input": {"policy": global_id("Policy", policy.pk),
                                   "rules": [{"category": "security", "action": "approve"},
                                             {"category": "everything", "action": "approve"}]}})
    assert bad["data"]["setPatching"]["errors"][0]["field"] == "rules"
    assert "Rule 2" in bad["data"]["setPatching"]["errors"][0]["message"]
    done = gql(mutation, {"input": {"policy": global_id("Policy", policy.pk), "rebootMode": "ALWAYS",
                                    "denyList": ["KB5034441"], "rules": [{"category": "*", "action": "manual"}]}})
    assert done["data"]["setPatching"]["errors"] == []
    assert done["data"]["setPatching"]["node"]["rebootMode"] == "always"
    assert PatchPolicy.objects.get().rules == [{"category": "*", "min_severity": "", "action": "manual",
                                                "defer_days": 0}]
    window = gql("""mutation ($input: AddPatchWindowInput!) { addPatchWindow(input: $input) {
        node { id description } errors { field message } } }""",
                 {"input": {"policy": global_id("Policy", policy.pk), "frequency": "monthly", "weekOfMonth": 2,
                            "weekday": 1, "startsAt": "02:00:00", "durationMinutes": 120}})
    assert window["data"]["addPatchWindow"]["node"]["description"] == \
        "the second Tuesday of each month at 02:00 for 120 min"
    refused = gql_as(operator_a)(mutation, {"input": {"policy": global_id("Policy", policy.pk),
                                                      "rebootMode": "NEVER"}})
    assert refused["data"]["setPatching"]["errors"][0]["code"] == "permission_denied"


def test_decisions_verdicts_scans_installs_and_compliance(fleet, gql_as, operator_a):
    tenant_a, tenant_b = fleet
    gql = gql_as(operator_a)
    driver = factories.catalogue_update("nvidia-driver")
    decide = """mutation ($input: DecidePatchesInput!) { decidePatches(input: $input) {
        changed errors { field code } } }"""
    bravo_only = global_id("PatchUpdate", factories.catalogue_update("bravo-only").pk)
    foreign = gql(decide, {"input": {"company": global_id("Company", tenant_a.company.pk), "decision": "approved",
                                     "updates": [bravo_only]}})
    assert foreign["data"]["decidePatches"]["errors"] == [{"field": "updates", "code": "not_found"}]
    done = gql(decide, {"input": {"company": global_id("Company", tenant_a.company.pk), "decision": "approved",
                                  "updates": [global_id("PatchUpdate", driver.pk)], "note": "tested in the lab"}})
    assert done["data"]["decidePatches"] == {"changed": 1, "errors": []}
    assert PatchApproval.objects.get().note == "tested in the lab"
    verdicts = gql("""query ($id: ID!) { devicePatchVerdicts(device: $id) { state reason update { identifier } } }""",
                   {"id": global_id("Device", tenant_a.device.pk)})["data"]["devicePatchVerdicts"]
    assert {v["update"]["identifier"]: v["state"] for v in verdicts} == {"openssl": "approved",
                                                                         "nvidia-driver": "approved"}
    hidden = gql("""query ($id: ID!) { devicePatchVerdicts(device: $id) { state } }""",
                 {"id": global_id("Device", tenant_b.device.pk)})
    assert hidden["data"] is None
    assert hidden["errors"][0]["message"] == "Argument 'device' names no Device you may see."
    scan = gql("""mutation ($input: ScanForUpdatesInput!) { scanForUpdates(input: $input) {
        queued errors { field } } }""", {"input": {"devices": [global_id("Device", tenant_a.device.pk)]}})
    assert scan["data"]["scanForUpdates"] == {"queued": 1, "errors": []}
    install = gql("""mutation ($input: NodeInput!) { installApprovedUpdates(input: $input) {
        node { id title } errors { field message } } }""", {"input": {"id": global_id("Device", tenant_a.device.pk)}})
    assert install["data"]["installApprovedUpdates"]["node"]["title"] == "Install 2 approved update(s) now"
    assert Action.objects.filter(action_type=ActionType.INSTALL_PATCHES).count() == 1
    compliance = gql("""{ patchCompliance { total { devices fullyPatched missingCritical }
        companies { company { name } figures { devices } } history { day } } }""")["data"]["patchCompliance"]
    assert compliance["total"] == {"devices": 1, "fullyPatched": 0, "missingCritical": 1}
    assert [entry["company"]["name"] for entry in compliance["companies"]] == ["Alpha Corp"]
