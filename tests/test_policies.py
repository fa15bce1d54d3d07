"""Automation policies: checks defined once and assigned at the MSP, company, site, group, dynamic group or
device level; the most specific assignment wins, exclusions keep a policy away, a device matching tomorrow is
watched tomorrow, and every door keeps to the tenancy rule."""

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.urls import reverse

from monitoring import evaluation
from monitoring.models import Alert, Check, CheckKind
from monitoring.policy_checks import effective_checks_of_device, watched_objects
from monitoring.services import create_check
from portal.access import system_actor
from portal.dynamic_groups.services import create_dynamic_group
from portal.inventory.models import Device
from portal.policies import services
from portal.policies.models import Level, Policy
from portal.tags.services import change_tags, create_tag
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture(autouse=True)
def no_default_checks(tenant_a, tenant_b):
    """Only the checks each test makes (every new company brings default ones)."""
    Check.objects.all().delete()


def _cpu(policy, name, threshold, **extra):
    return create_check(actor=ADMIN, policy=policy, name=name, kind=CheckKind.AGENT_CPU,
                        warning_threshold=threshold, failures_before_alert=1, **extra)


def _winner(device):
    return {e.check.kind: e.check.name for e in effective_checks_of_device(device.pk)}


LEVELS = ["msp", "company", "site", "group", "dynamic_group", "device"]


@pytest.mark.parametrize(("assigned", "expected"), [
    (["msp"], "msp"), (["msp", "company"], "company"), (["company", "site"], "site"),
    (["site", "group"], "group"), (["group", "dynamic_group"], "dynamic_group"),
    (["dynamic_group", "device"], "device"), (LEVELS, "device"), (["msp", "site", "company"], "site"),
])
def test_the_most_specific_level_wins(tenant_a, assigned, expected):
    vip = create_tag(actor=ADMIN, name="vip")
    change_tags(actor=ADMIN, objects=[tenant_a.device], add=[vip])
    group = create_dynamic_group(actor=ADMIN, name="VIPs", rules=[{"field": "tag", "op": "has", "value": vip.pk}])
    targets = {"company": tenant_a.company, "site": tenant_a.site, "group": tenant_a.group, "dynamic_group": group,
               "device": tenant_a.device}
    for level in assigned:
        policy = services.create_policy(actor=ADMIN, name=f"{level} policy")
        _cpu(policy, level, 50 + LEVELS.index(level))
        services.assign_policy(actor=ADMIN, policy=policy, level=level, target=targets.get(level))
    assert _winner(tenant_a.device) == {CheckKind.AGENT_CPU: expected}


def test_order_within_a_level_exclusions_and_different_checks(tenant_a, tenant_b):
    first = services.create_policy(actor=ADMIN, name="Baseline")
    second = services.create_policy(actor=ADMIN, name="Stricter")
    _cpu(first, "CPU 90", 90)
    create_check(actor=ADMIN, policy=first, name="Offline", kind=CheckKind.AGENT_OFFLINE, warning_threshold=10)
    _cpu(second, "CPU 70", 70)
    services.assign_policy(actor=ADMIN, policy=first, level=Level.COMPANY, target=tenant_a.company, order=1)
    services.assign_policy(actor=ADMIN, policy=second, level=Level.COMPANY, target=tenant_a.company, order=0)
    assert _winner(tenant_a.device) == {CheckKind.AGENT_CPU: "CPU 90", CheckKind.AGENT_OFFLINE: "Offline"}
    effective = {e.check.name: e for e in effective_checks_of_device(tenant_a.device.pk)}
    assert [check.name for check, _ in effective["CPU 90"].overrides] == ["CPU 70"]

    services.assign_policy(actor=ADMIN, policy=first, level=Level.DEVICE, target=tenant_a.device, exclude=True)
    assert _winner(tenant_a.device) == {CheckKind.AGENT_CPU: "CPU 70"}
    assert _winner(tenant_b.device) == {}  # assigned to company A only


def test_a_device_matching_tomorrow_is_watched_tomorrow_and_alerts_in_its_company(tenant_a, tenant_b):
    policy = services.create_policy(actor=ADMIN, name="Linux servers")
    _cpu(policy, "Linux CPU", 80)
    linux = create_dynamic_group(actor=ADMIN, name="Linux", rules=[{"field": "os", "op": "eq", "value": "linux"}])
    services.assign_policy(actor=ADMIN, policy=policy, level=Level.DYNAMIC_GROUP, target=linux)
    new_a = factories.DeviceFactory(site=tenant_a.site, hostname="new-a", os_type="linux", status="online",
                                    cpu_percent=95)
    new_b = factories.DeviceFactory(site=tenant_b.site, hostname="new-b", os_type="linux", status="online",
                                    cpu_percent=97)
    windows = factories.DeviceFactory(site=tenant_a.site, hostname="win", os_type="windows", status="online",
                                      cpu_percent=99)
    check = Check.objects.get(name="Linux CPU")
    assert {new_a.pk, new_b.pk} <= watched_objects()[check.pk] and windows.pk not in watched_objects()[check.pk]
    evaluation.evaluate_all_checks()
    alerts = {alert.object_label: alert.company_id for alert in Alert.objects.filter(check_rule=check)}
    assert alerts == {"new-a": tenant_a.company.pk, "new-b": tenant_b.company.pk}


def test_a_company_policy_not_assigned_watches_nothing(tenant_a):
    policy = services.create_policy(actor=ADMIN, name="Draft", company=tenant_a.company)
    _cpu(policy, "Draft CPU", 1)
    Device.objects.filter(pk=tenant_a.device.pk).update(status="online", cpu_percent=50)
    evaluation.evaluate_all_checks()
    assert not Alert.objects.exists()
    services.assign_policy(actor=ADMIN, policy=policy, level=Level.SITE, target=tenant_a.site)
    evaluation.evaluate_all_checks()
    assert Alert.objects.get().object_label == tenant_a.device.hostname


def test_who_may_define_and_assign_what(tenant_a, tenant_b, admin_a, operator_a, actor_of):
    scoped = actor_of(admin_a)
    with pytest.raises(PermissionDenied):
        services.create_policy(actor=scoped, name="Everyone")
    with pytest.raises(PermissionDenied):
        services.create_policy(actor=actor_of(operator_a), name="Ours", company=tenant_a.company)
    with pytest.raises(ObjectDoesNotExist):
        services.create_policy(actor=scoped, name="Theirs", company=tenant_b.company)
    ours = services.create_policy(actor=scoped, name="Ours", company=tenant_a.company)
    shared = services.create_policy(actor=ADMIN, name="Shared")
    with pytest.raises(PermissionDenied):
        services.assign_policy(actor=scoped, policy=shared, level=Level.MSP)
    with pytest.raises(ObjectDoesNotExist):
        services.assign_policy(actor=scoped, policy=shared, level=Level.SITE, target=tenant_b.site)
    services.assign_policy(actor=scoped, policy=shared, level=Level.SITE, target=tenant_a.site)
    with pytest.raises(ValidationError, match="only inside that company"):
        services.assign_policy(actor=ADMIN, policy=ours, level=Level.SITE, target=tenant_b.site)
    with pytest.raises(ValidationError, match="excluded from a company, a site or a device"):
        services.assign_policy(actor=ADMIN, policy=shared, level=Level.GROUP, target=tenant_a.group, exclude=True)
    with pytest.raises(PermissionDenied):  # an MSP-wide policy's checks are for admins who see every company
        create_check(actor=scoped, policy=shared, name="x", kind=CheckKind.AGENT_CPU)


def test_checks_made_for_a_company_join_its_own_policy(tenant_a, operator_a, actor_of):
    check = create_check(actor=actor_of(operator_a), company=tenant_a.company, name="Spooler",
                         kind=CheckKind.SERVICE_NOT_RUNNING, parameter="spooler")
    own = Policy.objects.get(company=tenant_a.company, company_default=True)
    assert check.policy == own and check.company == tenant_a.company
    assert own.assignments.get().level == Level.COMPANY


def test_pages_show_the_effective_policy_and_assign(tenant_a, tenant_b, admin_a, admin_user):
    shared = services.create_policy(actor=ADMIN, name="Baseline")
    _cpu(shared, "Baseline CPU", 90)
    ours = services.create_policy(actor=ADMIN, name="Alpha strict", company=tenant_a.company)
    _cpu(ours, "Alpha CPU", 60)
    services.assign_policy(actor=ADMIN, policy=shared, level=Level.MSP)
    client = logged_in(admin_a)
    response = client.post(reverse("policy-assign", args=[ours.pk]), {"level": "site", "site": tenant_a.site.pk})
    assert response.status_code == 302
    device_page = client.get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    assert "Alpha CPU" in device_page and "Baseline CPU" in device_page  # the winner, and what it wins over
    assert "Alpha strict" in device_page and f"site {tenant_a.site.name}" in device_page
    listing = client.get(reverse("resource-list", args=["policies"])).content.decode()
    assert "Baseline" in listing and "Alpha strict" in listing
    refused = client.post(reverse("policy-assign", args=[shared.pk]), {"level": "site", "site": tenant_b.site.pk},
                          follow=True)
    assert "Choose where to assign" in refused.content.decode()
    assert not shared.assignments.filter(site=tenant_b.site).exists()
    other_policy = services.create_policy(actor=ADMIN, name="Bravo only", company=tenant_b.company)
    assert client.post(reverse("policy-assign", args=[other_policy.pk]), {"level": "msp"}).status_code == 404


def test_graphql_assigns_and_shows_effective_checks(gql_as, tenant_a, tenant_b, admin_a, admin_user):
    shared = services.create_policy(actor=ADMIN, name="Baseline")
    _cpu(shared, "Baseline CPU", 90)
    assign = "mutation ($input: AssignPolicyInput!) { assignPolicy(input: $input) { node { level target } " \
             "errors { field code } } }"
    refused = gql_as(admin_a)(assign, {"input": {"policy": global_id("Policy", shared.pk)}})
    assert refused["data"]["assignPolicy"]["errors"][0]["code"] == "permission_denied"
    foreign = gql_as(admin_a)(assign, {"input": {"policy": global_id("Policy", shared.pk),
                                                 "target": global_id("Site", tenant_b.site.pk)}})
    assert foreign["data"]["assignPolicy"]["errors"] == [{"field": "target", "code": "not_found"}]
    done = gql_as(admin_a)(assign, {"input": {"policy": global_id("Policy", shared.pk),
                                              "target": global_id("Company", tenant_a.company.pk)}})
    assert done["data"]["assignPolicy"] == {"node": {"level": "company", "target": f"company {tenant_a.company}"},
                                            "errors": []}
    effective = gql_as(admin_a)("query ($id: ID!) { node(id: $id) { ... on Device { effectiveChecks { "
                                "check { name } policy level target overrides } } } }",
                                {"id": global_id("Device", tenant_a.device.pk)})["data"]["node"]["effectiveChecks"]
    assert effective == [{"check": {"name": "Baseline CPU"}, "policy": "Baseline", "level": "company",
                          "target": f"company {tenant_a.company}", "overrides": []}]
    policies = gql_as(admin_a)("{ policies { edges { node { name assignments { level } } } } }")["data"]
    assert {e["node"]["name"] for e in policies["policies"]["edges"]} >= {"Baseline"}


def test_a_policy_schedule_runs_on_every_device_the_policy_reaches_then(tenant_a, tenant_b, admin_a, actor_of):
    from portal.actions import library, scheduling
    from portal.actions.models import Action

    script = library.create_script(actor=ADMIN, name="Inventory report", language="bash", content="true")
    linux = create_dynamic_group(actor=ADMIN, name="Linux", rules=[{"field": "os", "op": "eq", "value": "linux"}])
    shared = services.create_policy(actor=ADMIN, name="Linux upkeep")
    services.assign_policy(actor=ADMIN, policy=shared, level=Level.DYNAMIC_GROUP, target=linux)
    services.assign_policy(actor=ADMIN, policy=shared, level=Level.DEVICE, target=tenant_b.device, exclude=True)
    with pytest.raises(PermissionDenied):  # an MSP-wide policy's schedules are its writers'
        scheduling.create_schedule(actor=actor_of(admin_a), policy=shared, name="Mine", script=script,
                                   kind="minutes", every=60)
    schedule = scheduling.create_schedule(actor=ADMIN, policy=shared, name="Hourly report", script=script,
                                          kind="minutes", every=60)
    assert schedule.company is None
    Device.objects.filter(pk__in=[tenant_a.device.pk, tenant_b.device.pk]).update(os_type="linux")
    factories.DeviceFactory(site=tenant_b.site, hostname="joined", os_type="linux")
    factories.DeviceFactory(site=tenant_a.site, hostname="windows-box", os_type="windows")
    scheduling.run_schedule(schedule_id=schedule.pk)
    ran = set(Action.objects.values_list("device__hostname", flat=True))
    assert ran == {tenant_a.device.hostname, "joined"}  # B's excluded device and the Windows box are not reached
    with pytest.raises(ValidationError, match="no site, group, device"):
        scheduling.create_schedule(actor=ADMIN, policy=shared, name="Placed", script=script, kind="minutes",
                                   every=60, site=tenant_a.site)
    page = logged_in(admin_a).get(reverse("resource-detail", args=["policies", shared.pk])).content.decode()
    assert "Hourly report" in page


def test_a_policy_schedule_is_made_on_the_pages_and_in_graphql(tenant_a, admin_user, gql_as):
    from portal.actions import library
    from portal.actions.models import ActionSchedule

    script = library.create_script(actor=ADMIN, name="Cleanup", language="bash", content="true")
    ours = services.create_policy(actor=ADMIN, name="Alpha upkeep", company=tenant_a.company)
    client = logged_in(admin_user)
    assert client.get(reverse("resource-create", args=["schedules"]), {"policy": ours.pk}).status_code == 200
    created = client.post(reverse("resource-create", args=["schedules"]), {
        "name": "Nightly cleanup", "policy": ours.pk, "script": script.pk, "kind": "minutes", "every": 60,
        "enabled": "on"})
    assert created.status_code == 302, [line for line in created.content.decode().splitlines() if "error" in line]
    made = ActionSchedule.objects.get(name="Nightly cleanup")
    assert (made.policy, made.company) == (ours, tenant_a.company)
    mutation = "mutation ($input: ScheduleCreateInput!) { createActionSchedule(input: $input) { node { name " \
               "company { name } policy { name } } errors { field message } } }"
    result = gql_as(admin_user)(mutation, {"input": {"name": "Hourly", "policy": global_id("Policy", ours.pk),
                                                     "script": global_id("Script", script.pk), "kind": "minutes",
                                                     "every": 60}})
    assert result["data"]["createActionSchedule"] == {"node": {"name": "Hourly", "company": {"name": "Alpha Corp"},
                                                               "policy": {"name": "Alpha upkeep"}}, "errors": []}


def test_a_device_lists_the_policies_reaching_it_in_order(tenant_a, admin_a, gql_as):
    shared = services.create_policy(actor=ADMIN, name="Baseline")
    services.assign_policy(actor=ADMIN, policy=shared, level=Level.MSP)
    ours = services.create_policy(actor=ADMIN, name="Alpha servers", company=tenant_a.company)
    services.assign_policy(actor=ADMIN, policy=ours, level=Level.GROUP, target=tenant_a.group)
    result = gql_as(admin_a)("query ($id: ID!) { node(id: $id) { ... on Device { appliedPolicies { policy { name } "
                             "level target } } } }", {"id": global_id("Device", tenant_a.device.pk)})
    applied = [(a["policy"]["name"], a["level"]) for a in result["data"]["node"]["appliedPolicies"]]
    assert applied == [("Baseline", "msp"), (f"{tenant_a.company.name} policy", "company"),
                       ("Alpha servers", "group")]
    filtered = gql_as(admin_a)("query ($c: ID!) { policies(filters: {company: $c}) { edges { node { name } } } }",
                               {"c": global_id("Company", tenant_a.company.pk)})["data"]["policies"]["edges"]
    assert {e["node"]["name"] for e in filtered} == {"Alpha servers", f"{tenant_a.company.name} policy"}
    page = logged_in(admin_a).get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    assert "Policies reaching this device" in page and "Alpha servers" in page
