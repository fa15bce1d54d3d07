"""Dynamic groups: stored device filters evaluated live, scoped to the reader, used as a device-list view and as
the target of runs and schedules (a device that matches tomorrow is in tomorrow's run)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from portal.access import system_actor
from portal.actions import library, scheduling
from portal.actions.models import Action
from portal.actions.requests import Targets, run_on_targets
from portal.actions.specs import script_spec
from portal.custom_fields.services import create_custom_field, set_custom_values
from portal.dynamic_groups import services
from portal.dynamic_groups.models import DynamicGroup as DynamicGroupModel
from portal.dynamic_groups.selectors import members_of
from portal.inventory.models import Device, InstalledSoftware
from portal.tags.services import change_tags, create_tag
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


@pytest.fixture
def fleet(tenant_a):
    """Four devices of company A with different OS, status, tags, software, patches and last-seen times."""
    now = timezone.now()
    hosts = {
        "win": factories.DeviceFactory(site=tenant_a.site, hostname="win", os_type="windows", status="online",
                                       last_seen=now),
        "lin": factories.DeviceFactory(site=tenant_a.site, group=tenant_a.group, hostname="lin", os_type="linux",
                                       status="offline", last_seen=now - timedelta(days=3)),
        "mac": factories.DeviceFactory(site=tenant_a.site, hostname="mac", os_type="macos", status="online",
                                       last_seen=now - timedelta(hours=2)),
        "new": factories.DeviceFactory(site=tenant_a.site, hostname="new", os_type="linux", status="unknown",
                                       last_seen=None),
    }
    Device.objects.filter(pk=tenant_a.device.pk).delete()  # only these four in company A
    vip = create_tag(actor=ADMIN, name="vip")
    change_tags(actor=ADMIN, objects=[hosts["win"], hosts["mac"]], add=[vip])
    create_custom_field(actor=ADMIN, target="device", name="backup_age", label="Backup age", kind="number")
    set_custom_values(actor=ADMIN, obj=hosts["win"], values={"backup_age": 9})
    set_custom_values(actor=ADMIN, obj=hosts["lin"], values={"backup_age": 2})
    InstalledSoftware.objects.create(device=hosts["win"], name="Mozilla Firefox", version="128.0", source="registry")
    InstalledSoftware.objects.create(device=hosts["lin"], name="firefox-esr", version="115.9", source="dpkg")
    factories.pending_patch(hosts["lin"], "openssl", title="OpenSSL security update")
    return {"hosts": hosts, "vip": vip, "tenant": tenant_a}


def _members(rules, *, match="all", company=None, actor=ADMIN):
    group = services.create_dynamic_group(actor=ADMIN, name=f"g{Device.objects.count()}-{len(str(rules))}-{match}",
                                          company=company, rules=rules, match=match)
    return set(members_of(actor=actor, group=group).values_list("hostname", flat=True))


@pytest.mark.parametrize(("rules", "match", "expected"), [
    ([{"field": "os", "op": "eq", "value": "linux"}], "all", {"lin", "new"}),
    ([{"field": "os", "op": "ne", "value": "linux"}], "all", {"win", "mac"}),
    ([{"field": "status", "op": "eq", "value": "online"}], "all", {"win", "mac"}),
    ([{"field": "tag", "op": "has", "value": "VIP"}], "all", {"win", "mac"}),
    ([{"field": "tag", "op": "lacks", "value": "VIP"}], "all", {"lin", "new"}),
    ([{"field": "custom.backup_age", "op": "gt", "value": 7}], "all", {"win"}),
    ([{"field": "custom.backup_age", "op": "empty"}], "all", {"mac", "new"}),
    ([{"field": "software", "op": "installed", "value": "firefox"}], "all", {"win", "lin"}),
    ([{"field": "software", "op": "installed", "value": "firefox", "version": "115.9"}], "all", {"lin"}),
    ([{"field": "software", "op": "missing", "value": "firefox"}], "all", {"mac", "new"}),
    ([{"field": "patches", "op": "any"}], "all", {"lin"}), ([{"field": "patches", "op": "none"}], "all",
                                                             {"win", "mac", "new"}),
    ([{"field": "patches", "op": "contains", "value": "security"}], "all", {"lin"}),
    ([{"field": "last_seen", "op": "within_hours", "value": 24}], "all", {"win", "mac"}),
    ([{"field": "last_seen", "op": "older_than_hours", "value": 24}], "all", {"lin", "new"}),
    ([{"field": "last_seen", "op": "never"}], "all", {"new"}),
    ([{"field": "group", "op": "eq", "value": "GROUP"}], "all", {"lin"}),
    ([{"field": "os", "op": "eq", "value": "windows"}, {"field": "os", "op": "eq", "value": "macos"}], "any",
     {"win", "mac"}),
    ([{"field": "os", "op": "eq", "value": "linux"}, {"field": "patches", "op": "any"}], "all", {"lin"}),
    ([], "all", {"win", "lin", "mac", "new"}),
])
def test_each_rule_kind_matches_what_it_says(fleet, rules, match, expected):
    values = {"VIP": fleet["vip"].pk, "GROUP": fleet["tenant"].group.pk}
    rules = [{**rule, "value": values.get(rule.get("value"), rule.get("value"))} if "value" in rule else rule
             for rule in rules]
    assert _members(rules, match=match, company=fleet["tenant"].company) == expected


@pytest.mark.parametrize(("rules", "message"), [
    ([{"field": "colour", "op": "eq", "value": "red"}], "Rule 1: “colour” is not a field to match on"),
    ([{"field": "os", "op": "gt", "value": "linux"}], "Rule 1: os compares with eq, ne"),
    ([{"field": "os", "op": "eq", "value": "beos"}], "Rule 1: os takes one of windows"),
    ([{"field": "tag", "op": "has", "value": "vip"}], "Rule 1: tag takes the id of one"),
    ([{"field": "last_seen", "op": "within_hours", "value": -1}], "takes a number of hours"),
    ([{"field": "custom.nope", "op": "eq", "value": 1}], "no device custom field is named “nope”"),
    ([{"field": "custom.backup_age", "op": "eq", "value": "abc"}], "Backup age must be a number"),
    ([{"field": "os", "op": "eq", "value": "linux"}, "junk"], "Rule 2: give {"),
    ({"field": "os"}, "Give a list of at most 30 rules"),
])
def test_rules_are_checked_with_a_clear_error(fleet, rules, message):
    with pytest.raises(ValidationError) as refused:
        services.create_dynamic_group(actor=ADMIN, name="bad", rules=rules)
    assert message in " ".join(refused.value.message_dict["rules"])


def test_membership_is_live_and_includes_devices_enrolled_later(fleet):
    group = services.create_dynamic_group(actor=ADMIN, name="VIPs", rules=[
        {"field": "tag", "op": "has", "value": fleet["vip"].pk}])
    assert members_of(actor=ADMIN, group=group).count() == 2
    change_tags(actor=ADMIN, objects=[fleet["hosts"]["lin"]], add=[fleet["vip"]])
    assert members_of(actor=ADMIN, group=group).count() == 3  # at once, no job to run
    tomorrow = factories.DeviceFactory(site=fleet["tenant"].site, hostname="tomorrow")
    change_tags(actor=ADMIN, objects=[tomorrow], add=[fleet["vip"]])
    assert "tomorrow" in set(members_of(actor=ADMIN, group=group).values_list("hostname", flat=True))


def test_an_msp_wide_group_shows_each_technician_their_devices(fleet, tenant_b, operator_a, actor_of):
    b_linux = factories.DeviceFactory(site=tenant_b.site, hostname="b-linux", os_type="linux")
    group = services.create_dynamic_group(actor=ADMIN, name="Linux", rules=[
        {"field": "os", "op": "eq", "value": "linux"}])
    assert b_linux in members_of(actor=ADMIN, group=group)
    scoped = set(members_of(actor=actor_of(operator_a), group=group).values_list("hostname", flat=True))
    assert scoped == {"lin", "new"}


def test_who_may_define_which_groups(fleet, tenant_b, operator_a, viewer_a, actor_of):
    with pytest.raises(PermissionDenied, match="whole MSP"):
        services.create_dynamic_group(actor=actor_of(operator_a), name="Mine", rules=[])
    with pytest.raises(ObjectDoesNotExist):
        services.create_dynamic_group(actor=actor_of(operator_a), name="Theirs", company=tenant_b.company)
    with pytest.raises(PermissionDenied):
        services.create_dynamic_group(actor=actor_of(viewer_a), name="Ours", company=fleet["tenant"].company)
    with pytest.raises(ValidationError, match="names a site that does not exist"):
        services.create_dynamic_group(actor=actor_of(operator_a), name="Sneaky", company=fleet["tenant"].company,
                                      rules=[{"field": "site", "op": "eq", "value": tenant_b.site.pk}])
    ours = services.create_dynamic_group(actor=actor_of(operator_a), name="Ours", company=fleet["tenant"].company)
    assert ours.company == fleet["tenant"].company


def test_runs_and_schedules_target_the_group_as_it_matches_then(fleet, operator_a, actor_of):
    script = library.create_script(actor=ADMIN, name="Patch report", language="bash", content="true")
    group = services.create_dynamic_group(actor=ADMIN, name="Linux", rules=[
        {"field": "os", "op": "eq", "value": "linux"}])
    actor = actor_of(operator_a)
    result = run_on_targets(actor=actor, targets=Targets(dynamic_group=group),
                            spec=script_spec(actor=actor, script=script))
    assert result.queued == 2
    assert set(Action.objects.values_list("device__hostname", flat=True)) == {"lin", "new"}

    schedule = scheduling.create_schedule(actor=actor, company=fleet["tenant"].company, name="Nightly",
                                          script=script, kind="minutes", every=60, dynamic_group=group)
    factories.DeviceFactory(site=fleet["tenant"].site, hostname="joined-later", os_type="linux")
    Action.objects.all().delete()
    scheduling.run_schedule(schedule_id=schedule.pk)
    assert set(Action.objects.values_list("device__hostname", flat=True)) == {"lin", "new", "joined-later"}

    with pytest.raises(ValidationError, match="target of"):
        services.delete_dynamic_group(actor=ADMIN, dynamicgroup=group)


def test_a_schedule_refuses_another_companys_group(fleet, tenant_b):
    script = library.create_script(actor=ADMIN, name="S", language="bash", content="true")
    theirs = services.create_dynamic_group(actor=ADMIN, name="B only", company=tenant_b.company)
    with pytest.raises(ValidationError, match="another company"):
        scheduling.create_schedule(actor=ADMIN, company=fleet["tenant"].company, name="Mixed", script=script,
                                   kind="minutes", every=60, dynamic_group=theirs)


# Pages and GraphQL ----------------------------------------------------------------------------------------

def test_the_device_list_is_filtered_by_a_group_and_saves_its_filters_as_one(fleet, operator_a, admin_user):
    group = services.create_dynamic_group(actor=ADMIN, name="Linux", rules=[
        {"field": "os", "op": "eq", "value": "linux"}])
    client = logged_in(operator_a)
    listing = client.get(reverse("resource-list", args=["devices"])).content.decode()
    assert "Linux (2)" in listing  # picked like a bookmark, its count shown
    filtered = client.get(reverse("resource-list", args=["devices"]), {"dynamic": group.pk}).content.decode()
    assert ">lin<" in filtered and ">win<" not in filtered

    form = logged_in(admin_user).get(reverse("resource-create", args=["dynamic-groups"]),
                                     {"os": "windows", "tag": fleet["vip"].pk}).content.decode()
    assert "&quot;field&quot;: &quot;os&quot;" in form and "&quot;field&quot;: &quot;tag&quot;" in form
    created = client.post(reverse("resource-create", args=["dynamic-groups"]), {
        "name": "Windows VIPs", "company": fleet["tenant"].company.pk, "match": "all",
        "rules": f'[{{"field": "os", "op": "eq", "value": "windows"}}, '
                 f'{{"field": "tag", "op": "has", "value": {fleet["vip"].pk}}}]'})
    assert created.status_code == 302
    detail = client.get(created["Location"]).content.decode()
    assert "Devices now (1)" in detail and ">win<" in detail
    bad = client.post(reverse("resource-create", args=["dynamic-groups"]), {
        "name": "Bad", "company": fleet["tenant"].company.pk, "match": "all",
        "rules": '[{"field": "colour", "op": "eq", "value": 1}]'})
    assert bad.status_code == 422 and "Rule 1: “colour” is not a field to match on" in bad.content.decode()


def test_graphql_lists_members_and_counts_within_scope(fleet, tenant_b, gql_as, operator_a):
    factories.DeviceFactory(site=tenant_b.site, hostname="b-linux", os_type="linux")
    group = services.create_dynamic_group(actor=ADMIN, name="Linux", rules=[
        {"field": "os", "op": "eq", "value": "linux"}])
    theirs = services.create_dynamic_group(actor=ADMIN, name="B", company=tenant_b.company)
    gql = gql_as(operator_a)
    listed = gql("{ dynamicGroups { edges { node { name deviceCount companyId } } } }")["data"]["dynamicGroups"]
    assert [e["node"] for e in listed["edges"]] == [{"name": "Linux", "deviceCount": 2, "companyId": None}]
    members = gql("query ($g: ID!) { devices(filters: {dynamicGroup: $g}) { totalCount } }",
                  {"g": global_id("DynamicGroup", group.pk)})["data"]["devices"]
    assert members["totalCount"] == 2
    hidden = gql("query ($g: ID!) { devices(filters: {dynamicGroup: $g}) { totalCount } }",
                 {"g": global_id("DynamicGroup", theirs.pk)})["data"]["devices"]
    assert hidden["totalCount"] == 0
    create = "mutation ($input: DynamicGroupCreateInput!) { createDynamicGroup(input: $input) { node { name } " \
             "errors { field message code } } }"
    refused = gql(create, {"input": {"name": "x", "rules": [{"field": "os", "op": "eq", "value": "beos"}]}})
    assert refused["data"]["createDynamicGroup"]["errors"][0]["code"] in ("permission_denied", "invalid")
    made = gql(create, {"input": {"name": "Mine", "company": global_id("Company", fleet["tenant"].company.pk),
                                  "rules": [{"field": "status", "op": "eq", "value": "online"}]}})
    assert made["data"]["createDynamicGroup"] == {"node": {"name": "Mine"}, "errors": []}


def test_a_scoped_reader_sees_an_msp_groups_members_not_its_rules(fleet, tenant_b, gql_as, operator_a):
    services.create_dynamic_group(actor=ADMIN, name="B's site", rules=[
        {"field": "site", "op": "ne", "value": tenant_b.site.pk}])
    node = gql_as(operator_a)("{ dynamicGroups { edges { node { name rules deviceCount } } } }")[
        "data"]["dynamicGroups"]["edges"][0]["node"]
    assert node == {"name": "B's site", "rules": None, "deviceCount": 4}
    group = DynamicGroupModel.objects.get(name="B's site")
    page = logged_in(operator_a).get(reverse("resource-detail", args=["dynamic-groups", group.pk])).content.decode()
    assert "site ne" not in page and "shown to those who see every company" in page
