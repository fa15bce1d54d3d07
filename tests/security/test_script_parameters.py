"""Callers of a library script fill only the parameters it declares, typed and validated; free arguments
and environment variables are the inline-script permission's. Before, any operator could hand a library
script ``BASH_ENV``, ``LD_PRELOAD`` or ``PYTHONSTARTUP`` and so run code of their choosing as root."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from portal.access import actor_for_user, system_actor
from portal.actions import library, scheduling
from portal.actions.models import Action, ActionStatus, ScheduleKind
from portal.actions.parameters import declared_parameters, fill, from_text
from portal.actions.requests import queue_action
from portal.actions.specs import script_spec
from tests.actions.agent_harness import AgentHandle, wait_for_status
from tests.conftest import logged_in
from tests.graphql_client import global_id

MSP = system_actor("msp admin")
RUN = """mutation ($input: RunScriptInput!) { runScript(input: $input) {
    actions { id payload } errors { field code message } } }"""
CLEANUP = [{"name": "days", "type": "number", "default": 7, "description": "Keep this many days"},
           {"name": "target", "type": "text", "required": True, "via": "argument"},
           {"name": "mode", "type": "choice", "choices": ["fast", "thorough"], "default": "fast"},
           {"name": "dry_run", "type": "bool", "default": False}]


@pytest.fixture
def cleanup(db):
    return library.create_script(actor=MSP, name="Clean up", language="bash", parameters=CLEANUP,
                                 content='echo "days=$days mode=$mode dry=$dry_run target=$1 env=${BASH_ENV:-none}"')


@pytest.mark.django_db
@pytest.mark.parametrize("environment", [{"BASH_ENV": "/tmp/payload"}, {"LD_PRELOAD": "/tmp/evil.so"},
                                         {"PYTHONSTARTUP": "/tmp/x.py"}, {"PATH": "/tmp"}, {"GREETING": "hi"}])
def test_operators_cannot_set_environment_variables_of_a_library_script(gql_as, operator_a, tenant_a, cleanup,
                                                                        environment):
    """Before: the mutation queued the run with the caller's variables merged in."""
    answer = gql_as(operator_a)(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_a.device.pk)]},
                                                "script": global_id("Script", cleanup.pk),
                                                "parameters": {"target": "/var/tmp"},
                                                "environment": environment}})["data"]["runScript"]
    assert answer["actions"] == [] and answer["errors"][0]["code"] == "permission_denied"
    assert not Action.objects.exists()


@pytest.mark.django_db
def test_operators_cannot_pass_free_arguments(operator_a, actor_of, cleanup):
    with pytest.raises(PermissionDenied, match="declared parameters"):
        script_spec(actor=actor_of(operator_a), script=cleanup, arguments=["; rm -rf /"])


@pytest.mark.django_db
def test_declared_parameters_reach_the_script_typed(operator_a, actor_of, cleanup):
    spec = script_spec(actor=actor_of(operator_a), script=cleanup,
                       parameters={"target": "/var/tmp", "days": 3, "dry_run": True})
    assert spec.payload["arguments"] == ["/var/tmp"]
    assert spec.payload["environment"] == {"days": "3", "mode": "fast", "dry_run": "true"}
    assert spec.payload["parameters"] == {"days": 3, "target": "/var/tmp", "mode": "fast", "dry_run": True}


@pytest.mark.django_db
@pytest.mark.parametrize(("values", "message"), [
    ({"target": "/x", "days": "abc"}, "'days' must be a number, not 'abc'"),
    ({"target": "/x", "days": True}, "'days' must be a number"),
    ({"target": "/x", "mode": "reckless"}, "'mode' must be one of fast, thorough"),
    ({"target": "/x", "dry_run": "yes"}, "'dry_run' must be true or false"),
    ({}, "'target' is required"),
    ({"target": "-rf"}, "may not start with '-'"),
    ({"target": "/x", "BASH_ENV": "/tmp/payload"}, "declares no parameter 'BASH_ENV'"),
    ({"target": "/x", "days": float("nan")}, "'days' must be a number"),
])
def test_values_are_checked_with_errors_naming_the_parameter(operator_a, actor_of, cleanup, values, message):
    with pytest.raises(ValidationError) as refused:
        script_spec(actor=actor_of(operator_a), script=cleanup, parameters=values)
    assert message in " ".join(refused.value.message_dict["parameters"])


@pytest.mark.django_db
def test_graphql_names_the_parameter_at_fault(gql_as, operator_a, tenant_a, cleanup):
    answer = gql_as(operator_a)(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_a.device.pk)]},
                                                "script": global_id("Script", cleanup.pk),
                                                "parameters": {"target": "/x", "days": "abc"}}})["data"]["runScript"]
    assert answer["errors"] == [{"field": "parameters", "code": "invalid",
                                 "message": "'days' must be a number, not 'abc'."}]
    ok = gql_as(operator_a)(RUN, {"input": {"target": {"devices": [global_id("Device", tenant_a.device.pk)]},
                                            "script": global_id("Script", cleanup.pk),
                                            "parameters": {"target": "/x", "days": 2}}})["data"]["runScript"]
    assert ok["errors"] == [] and ok["actions"][0]["payload"]["environment"]["days"] == "2"


@pytest.mark.parametrize(("declaration", "message"), [
    ({"name": "BASH_ENV", "type": "text"}, "changes how shells"),
    ({"name": "ld_preload", "type": "text"}, "changes how shells"),
    ({"name": "PYTHONPATH", "type": "text"}, "changes how shells"),
    ({"name": "Path", "type": "text"}, "changes how shells"),
    ({"name": "x", "type": "text", "secret": True}, "unknown key"),
    ({"name": "1x", "type": "text"}, "the name is letters"),
    ({"name": "x", "type": "date"}, "the type of 'x'"),
    ({"name": "x", "type": "choice"}, "needs 1–100 choices"),
    ({"name": "x", "type": "number", "default": "seven"}, "must be a number"),
    ({"name": "x", "type": "text", "via": "stdin"}, "is passed as 'env'"),
])
def test_declarations_are_checked(declaration, message):
    with pytest.raises(ValidationError) as refused:
        declared_parameters([declaration], language="bash")
    assert message in " ".join(refused.value.message_dict["parameters"])


def test_a_reserved_name_is_fine_as_an_argument_and_names_are_unique():
    declared_parameters([{"name": "PATH", "type": "text", "via": "argument"}], language="bash")
    with pytest.raises(ValidationError, match="declared twice"):
        declared_parameters([{"name": "a", "type": "text"}, {"name": "A", "type": "text"}], language="bash")


def test_batch_values_cannot_carry_cmd_metacharacters():
    declared = declared_parameters([{"name": "name", "type": "text"}], language="batch")
    with pytest.raises(ValidationError, match=r"cmd\.exe"):
        fill(declared, {"name": "x & calc.exe"}, language="batch")
    assert fill(declared, {"name": "plain value"}, language="batch").environment == {"name": "plain value"}


def test_values_typed_into_a_form_are_converted():
    declared = declared_parameters(CLEANUP, language="bash")
    assert from_text(declared, {"days": "3", "dry_run": "yes", "target": " /tmp ", "mode": ""}) == \
        {"days": 3, "dry_run": True, "target": " /tmp "}
    with pytest.raises(ValidationError, match="'days' must be a number"):
        from_text(declared, {"days": "three"})


@pytest.mark.django_db
def test_inline_permission_holders_keep_free_environment(admin_a, actor_of, cleanup):
    spec = script_spec(actor=actor_of(admin_a), script=cleanup, parameters={"target": "/x"},
                       environment={"GREETING": "hi"}, arguments=["/y"])
    assert spec.payload["environment"]["GREETING"] == "hi" and spec.payload["arguments"] == ["/y", "/x"]
    with pytest.raises(ValidationError, match="not a valid variable name"):
        script_spec(actor=actor_of(admin_a), script=cleanup, parameters={"target": "/x"}, environment={"A B": "x"})


@pytest.mark.django_db
def test_schedules_fill_parameters_and_refuse_wrong_ones(tenant_a, operator_a, actor_of, cleanup):
    actor = actor_of(operator_a)
    with pytest.raises(ValidationError, match="'days' must be a number"):
        scheduling.create_schedule(actor=actor, company=tenant_a.company, name="Nightly", script=cleanup,
                                   kind=ScheduleKind.MINUTES, every=60, parameters={"target": "/x", "days": "abc"})
    schedule = scheduling.create_schedule(actor=actor, company=tenant_a.company, name="Nightly", script=cleanup,
                                          kind=ScheduleKind.MINUTES, every=60,
                                          parameters={"target": "/srv/logs", "days": 30})
    scheduling.run_schedule(schedule_id=schedule.pk)
    action = Action.objects.get()
    assert action.payload["arguments"] == ["/srv/logs"] and action.payload["environment"]["days"] == "30"


@pytest.mark.django_db
def test_the_run_form_offers_typed_parameter_inputs(operator_a, tenant_a, cleanup):
    client = logged_in(operator_a)
    page = client.get(reverse("action-new") + f"?kind=script&script={cleanup.pk}&device={tenant_a.device.pk}")
    html = page.content.decode()
    assert 'name="param_days"' in html and 'type="number"' in html and 'name="param_mode"' in html
    assert 'name="environment"' not in html and 'name="arguments"' not in html  # not this operator's to set
    partial = client.get(reverse("action-parameters") + f"?script={cleanup.pk}", headers={"HX-Request": "true"})
    assert 'name="param_target"' in partial.content.decode() and "<html" not in partial.content.decode()
    missing = client.post(reverse("action-new"), {"kind": "script", "script": cleanup.pk,
                                                  "device": [tenant_a.device.pk], "environment": "BASH_ENV=/tmp/x"})
    assert "&#x27;target&#x27; is required" in missing.content.decode() and not Action.objects.exists()
    queued = client.post(reverse("action-new"), {
        "kind": "script", "script": cleanup.pk, "device": [tenant_a.device.pk], "param_target": "/var/log",
        "param_days": "14", "param_dry_run": "true", "environment": "BASH_ENV=/tmp/x"})
    assert queued.status_code == 302
    payload = Action.objects.get().payload
    assert payload["environment"] == {"days": "14", "mode": "fast", "dry_run": "true"}
    assert payload["arguments"] == ["/var/log"]


@pytest.mark.django_db(transaction=True)
def test_the_real_agent_runs_with_the_declared_parameters_only(live_daphne, tenant_a, operator_a, tmp_path):
    agent = AgentHandle(directory=tmp_path, server_url=live_daphne.url, site=tenant_a.site)
    script = library.create_script(actor=MSP, name="Clean up", language="bash", parameters=CLEANUP,
                                   content='echo "days=$days mode=$mode target=$1 env=${BASH_ENV:-none}"')
    agent.start()
    try:
        actor = actor_for_user(operator_a)
        action = queue_action(actor=actor, device=agent.device, spec=script_spec(
            actor=actor, script=script, parameters={"target": "/srv/a b", "days": 3, "mode": "thorough"}))
        done = wait_for_status(action, ActionStatus.SUCCEEDED)
        assert done.stdout == "days=3 mode=thorough target=/srv/a b env=none\n"
    finally:
        agent.process.kill()
        agent.process.wait(timeout=10)
