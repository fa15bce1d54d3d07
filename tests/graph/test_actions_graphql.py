"""GraphQL for remote actions: library management by role, running on devices and groups, OS checks,
cancel, schedules, and ``actionUpdated`` streaming status and output from the real agent."""

from __future__ import annotations

import asyncio

import pytest

from portal.access import actor_for_user, system_actor
from portal.accounts.services import create_api_token
from portal.actions import library
from portal.actions.models import Action
from portal.audit.models import AuditEvent
from portal.inventory.models import OsType
from tests import factories
from tests.actions.agent_harness import AgentHandle
from tests.graph.test_subscriptions import _next_payload, _subscribe
from tests.graphql_client import global_id, pk_of

ADMIN = system_actor("admin")
RUN = """mutation ($input: RunScriptInput!) { runScript(input: $input) {
    actions { id status title device { hostname } } batch { id summary } skipped { device { hostname } reason }
    errors { field code message } } }"""


@pytest.fixture
def script(db):
    return library.create_script(actor=ADMIN, name="Who", language="bash", content="whoami")


@pytest.mark.django_db
def test_library_is_managed_by_admins(gql_as, admin_user, admin_a, operator_a):
    create = """mutation ($input: ScriptCreateInput!) { createScript(input: $input) {
        node { id name version } errors { code message } } }"""
    variables = {"input": {"name": "Clean temp", "language": "bash", "content": "rm -rf /tmp/cache"}}
    for caller in (operator_a, admin_a):  # a company-scoped admin may not change what runs on every company
        refused = gql_as(caller)(create, variables)["data"]["createScript"]
        assert refused["node"] is None and refused["errors"][0]["code"] == "permission_denied"
    created = gql_as(admin_user)(create, variables)["data"]["createScript"]["node"]
    updated = gql_as(admin_user)("""mutation ($id: ID!) { updateScript(input: {id: $id, content: "true"}) {
        node { version versions(first: 5) { totalCount edges { node { number changedFields changedByLabel } } } }
        } }""", {"id": created["id"]})
    node = updated["data"]["updateScript"]["node"]
    assert node["version"] == 2 and node["versions"]["totalCount"] == 2
    assert node["versions"]["edges"][0]["node"] == {"number": 2, "changedFields": ["content"],
                                                    "changedByLabel": "root-admin"}
    listed = gql_as(operator_a)("{ scripts(filters: {search: \"clean\"}) { totalCount } }")
    assert listed["data"]["scripts"]["totalCount"] == 1


@pytest.mark.django_db
def test_run_on_one_device_a_group_and_refusals(gql_as, tenant_a, tenant_b, operator_a, script):
    factories.DeviceFactory(site=tenant_a.site, group=tenant_a.group, hostname="alpha-win", os_type=OsType.WINDOWS)
    gql = gql_as(operator_a)
    one = gql(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_a.device.pk)]},
                              "script": global_id("Script", script.pk)}})["data"]["runScript"]
    assert one["errors"] == [] and one["actions"][0]["status"] == "queued" and one["batch"] is None
    assert AuditEvent.objects.filter(action="action.requested", user=operator_a).count() == 1

    group = gql(RUN, {"input": {"target": {"group": global_id("Group", tenant_a.group.pk)},
                                "script": global_id("Script", script.pk)}})["data"]["runScript"]
    assert [a["device"]["hostname"] for a in group["actions"]] == ["alpha-host-1"]
    assert group["skipped"][0]["device"]["hostname"] == "alpha-win" and "Windows" in group["skipped"][0]["reason"]
    assert group["batch"]["summary"]["total"] == 1

    foreign = gql(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_b.device.pk)]},
                                  "script": global_id("Script", script.pk)}})["data"]["runScript"]
    assert foreign["errors"][0]["code"] == "not_found" and Action.objects.count() == 2
    inline = gql(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_a.device.pk)]},
                                 "inlineContent": "id", "inlineLanguage": "bash"}})["data"]["runScript"]
    assert inline["errors"][0]["code"] == "permission_denied"
    two_targets = gql(RUN, {"input": {"target": {"group": global_id("Group", tenant_a.group.pk),
                                                 "company": global_id("Company", tenant_a.company.pk)},
                                      "script": global_id("Script", script.pk)}})["data"]["runScript"]
    assert two_targets["errors"][0]["field"] == "target"


@pytest.mark.django_db
def test_cancel_and_history_filters(gql_as, tenant_a, operator_a, viewer_a, script):
    gql = gql_as(operator_a)
    reboot = gql("""mutation ($d: ID!) { reboot(input: {target: {devices: [$d]}, delaySeconds: 60}) {
        actions { id } } }""", {"d": global_id("Device", tenant_a.device.pk)})
    action_id = reboot["data"]["reboot"]["actions"][0]["id"]
    cancel = "mutation ($id: ID!) { cancelAction(input: {id: $id}) { node { status error } errors { code } } }"
    assert gql_as(viewer_a)(cancel, {"id": action_id})["data"]["cancelAction"]["errors"][0]["code"] == \
        "permission_denied"
    assert gql(cancel, {"id": action_id})["data"]["cancelAction"]["node"]["status"] == "cancelled"
    history = gql("""{ actions(filters: {status: {exact: "cancelled"}, actionType: {exact: "reboot"}}) {
        totalCount edges { node { id requestedByLabel cancelRequestedAt finishedAt } } } }""")
    assert history["data"]["actions"]["totalCount"] == 1 and pk_of(
        history["data"]["actions"]["edges"][0]["node"]["id"]) == pk_of(action_id)


@pytest.mark.django_db
def test_profiles_templates_and_schedules(gql_as, admin_user, tenant_a, script):
    gql = gql_as(admin_user)
    template = gql("""mutation { createDeploymentProfile(input: {name: "Baseline", isTemplate: true}) {
        node { id } } }""")["data"]["createDeploymentProfile"]["node"]["id"]
    task = gql("""mutation ($p: ID!, $s: ID!) { addProfileTask(input: {profile: $p, name: "who",
        actionType: "run_script", script: $s}) { node { orderIndex } errors { message } } }""",
               {"p": template, "s": global_id("Script", script.pk)})
    assert task["data"]["addProfileTask"]["node"]["orderIndex"] == 0
    copy = gql("""mutation ($t: ID!) { instantiateTemplate(input: {template: $t, name: "Acme baseline"}) {
        node { id isTemplate tasks { name } } } }""", {"t": template})["data"]["instantiateTemplate"]["node"]
    assert copy["isTemplate"] is False and copy["tasks"] == [{"name": "who"}]
    applied = gql("""mutation ($p: ID!, $c: ID!) { applyProfile(input: {target: {company: $c}, profile: $p}) {
        actions { status } batch { summary } errors { message } } }""",
                  {"p": copy["id"], "c": global_id("Company", tenant_a.company.pk)})["data"]["applyProfile"]
    assert applied["errors"] == [] and applied["actions"] == [{"status": "queued"}]
    schedule = gql("""mutation ($c: ID!, $s: ID!) { createActionSchedule(input: {company: $c, name: "Hourly",
        kind: "minutes", every: 60, script: $s}) { node { id kind every enabled } errors { message } } }""",
                   {"c": global_id("Company", tenant_a.company.pk), "s": global_id("Script", script.pk)})
    node = schedule["data"]["createActionSchedule"]["node"]
    assert node["every"] == 60 and node["enabled"] is True
    off = gql("""mutation ($id: ID!) { updateActionSchedule(input: {id: $id, enabled: false}) {
        node { enabled } } }""", {"id": node["id"]})
    assert off["data"]["updateActionSchedule"]["node"]["enabled"] is False


@pytest.mark.django_db(transaction=True)
def test_action_updated_streams_status_and_output(live_daphne, tenant_a, operator_a, tmp_path):
    agent = AgentHandle(directory=tmp_path, server_url=live_daphne.url, site=tenant_a.site)
    operator_a.can_run_inline_scripts = True
    operator_a.save()
    token = create_api_token(actor=actor_for_user(operator_a), name="watcher").plaintext
    from portal.actions.requests import queue_action
    from portal.actions.specs import script_spec

    actor = actor_for_user(operator_a)
    action = queue_action(actor=actor, device=agent.device, spec=script_spec(
        actor=actor, inline_content="echo first; sleep 1.5; echo second", inline_language="bash"))
    query = "subscription ($id: ID!) { actionUpdated(id: $id) { status stdout exitCode } }"

    async def scenario() -> list[dict]:
        socket = await _subscribe(live_daphne, token, query, {"id": global_id("Action", action.pk)})
        seen = []
        try:
            await asyncio.to_thread(agent.start)
            while not seen or seen[-1]["status"] != "succeeded":
                seen.append((await _next_payload(socket, timeout=20))["data"]["actionUpdated"])
            return seen
        finally:
            await socket.close()

    try:
        seen = asyncio.run(scenario())
    finally:
        if agent.process is not None:
            agent.process.kill()
    statuses = [update["status"] for update in seen]
    assert "running" in statuses and statuses[-1] == "succeeded"
    assert any(u["status"] == "running" and u["stdout"] == "first\n" for u in seen)  # output while it ran
    assert seen[-1]["stdout"] == "first\nsecond\n" and seen[-1]["exitCode"] == 0
