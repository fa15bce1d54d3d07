"""Tags: the MSP's list of labels, put on devices, network devices and cameras in pages and in GraphQL, filtered
and searched by, counted and audited per object, and never a way to reach another company's objects."""

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.urls import reverse

from portal.access import system_actor
from portal.audit.models import AuditEvent
from portal.tags import services
from portal.tags.models import Tag
from portal.tags.selectors import tags_with_counts_for
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id
from tests.isolation_registry import TENANT_ROW_MAKERS

pytestmark = pytest.mark.django_db


@pytest.fixture
def msp_operator(tenant_a, tenant_b):
    return factories.UserFactory(username="msp-operator", role="operator", all_companies=True)


def _tag(name: str, colour: str = "blue") -> Tag:
    return services.create_tag(actor=system_actor(), name=name, colour=colour)


# Defining tags -------------------------------------------------------------------------------------------

def test_operators_who_see_every_company_define_tags(msp_operator, actor_of):
    tag = services.create_tag(actor=actor_of(msp_operator), name="  backup \n\t server ", colour="green")
    assert (tag.name, tag.colour) == ("backup server", "green")  # spaces tidied
    services.update_tag(actor=actor_of(msp_operator), tag=tag, name="Backup server", description="Nightly")
    tag.refresh_from_db()
    assert (tag.name, tag.description) == ("Backup server", "Nightly")
    assert AuditEvent.objects.filter(action="tag.updated", object_id=str(tag.pk)).exists()


@pytest.mark.parametrize("who", ["admin_a", "operator_a", "viewer_a"])
def test_scoped_users_and_viewers_cannot_define_tags(who, request, actor_of):
    actor = actor_of(request.getfixturevalue(who))
    with pytest.raises(PermissionDenied):
        services.create_tag(actor=actor, name="mine")
    tag = _tag("shared")
    with pytest.raises(PermissionDenied):
        services.update_tag(actor=actor, tag=tag, name="renamed")
    with pytest.raises(PermissionDenied):
        services.delete_tag(actor=actor, tag=tag)
    assert Tag.objects.get().name == "shared"


@pytest.mark.parametrize(("name", "colour"), [
    ("<b>bold</b>", "blue"), ("esc\x1b[31m", "blue"), ("bell\x07", "blue"), ("", "blue"), ("x" * 51, "blue"),
    ("comma,separated", "blue"), ('quote"d', "blue"), ("fine", "#ff0000"), ("fine", 'red" onclick="x'),
    ("nul\x00", "blue"),
])
def test_tag_names_and_colours_are_validated(name, colour):
    with pytest.raises(ValidationError):
        services.create_tag(actor=system_actor(), name=name, colour=colour)
    assert not Tag.objects.exists()


def test_tag_names_are_unique_whatever_the_case():
    _tag("VIP")
    with pytest.raises(ValidationError, match="exists already"):
        _tag("vip")


# Putting tags on objects ---------------------------------------------------------------------------------

def test_bulk_tagging_audits_and_announces_each_changed_device_only(tenant_a, operator_a, actor_of, published):
    vip, servers = _tag("vip"), _tag("servers")
    devices = [tenant_a.device, *(factories.DeviceFactory(site=tenant_a.site) for _ in range(2))]
    services.change_tags(actor=system_actor(), objects=devices[:1], add=[vip])
    published.clear()

    changed = services.change_tags(actor=actor_of(operator_a), objects=devices, add=[vip, servers])
    assert changed == 3
    assert all(set(d.tags.values_list("name", flat=True)) == {"vip", "servers"} for d in devices)
    audit = AuditEvent.objects.get(action="device.tags_changed", object_id=str(devices[0].pk), actor_label="operator-a")
    assert (audit.before, audit.after, audit.company_id) == ({"tags": ["vip"]}, {"tags": ["servers", "vip"]},
                                                             tenant_a.company.pk)
    assert sorted(m["id"] for m in published if m["event"] == "device.updated") == sorted(d.pk for d in devices)

    assert services.change_tags(actor=actor_of(operator_a), objects=devices, add=[vip]) == 0  # nothing new
    assert services.change_tags(actor=actor_of(operator_a), objects=devices, remove=[servers]) == 3
    assert not servers.devices.exists()
    assert AuditEvent.objects.filter(action="device.tags_changed").count() == 1 + 3 + 3


def test_tagging_refuses_other_companies_viewers_and_mixed_kinds(tenant_a, tenant_b, operator_a, viewer_a, actor_of):
    tag = _tag("vip")
    with pytest.raises(ObjectDoesNotExist):
        services.change_tags(actor=actor_of(operator_a), objects=[tenant_a.device, tenant_b.device], add=[tag])
    with pytest.raises(PermissionDenied):
        services.change_tags(actor=actor_of(viewer_a), objects=[tenant_a.device], add=[tag])
    with pytest.raises(ValueError, match="one kind"):
        services.change_tags(actor=system_actor(), objects=[tenant_a.device, tenant_a.site], add=[tag])
    with pytest.raises(ValidationError, match="added and removed"):
        services.change_tags(actor=system_actor(), objects=[tenant_a.device], add=[tag], remove=[tag])
    assert not tag.devices.exists()


def test_network_devices_and_cameras_carry_tags_too(tenant_a):
    tag = _tag("lobby")
    for model in ("NetworkDevice", "Camera"):
        obj = next(row for key, row in ((m.__name__, maker) for m, maker in TENANT_ROW_MAKERS.items())
                   if key == model)(tenant_a.company)
        assert services.set_tags(actor=system_actor(), obj=obj, tags=[tag]) is True
        assert services.set_tags(actor=system_actor(), obj=obj, tags=[tag]) is False
        assert list(obj.tags.all()) == [tag]
        assert AuditEvent.objects.filter(action=f"{obj._meta.model_name}.tags_changed").count() == 1


def test_counts_include_only_objects_the_actor_sees(tenant_a, tenant_b, operator_a, actor_of):
    tag = _tag("vip")
    services.change_tags(actor=system_actor(), objects=[tenant_a.device], add=[tag])
    services.change_tags(actor=system_actor(), objects=[tenant_b.device], add=[tag])
    assert tags_with_counts_for(actor=system_actor()).get().devices_count == 2
    scoped = tags_with_counts_for(actor=actor_of(operator_a)).get()
    assert (scoped.devices_count, scoped.network_devices_count, scoped.cameras_count) == (1, 0, 0)


def test_deleting_a_tag_takes_it_off_every_object(tenant_a, tenant_b, msp_operator, actor_of):
    tag = _tag("retired")
    services.change_tags(actor=system_actor(), objects=[tenant_a.device], add=[tag])
    services.delete_tag(actor=actor_of(msp_operator), tag=tag)
    assert not tenant_a.device.tags.exists()
    assert AuditEvent.objects.filter(action="tag.deleted").count() == 1


# Pages ---------------------------------------------------------------------------------------------------

def test_device_list_shows_filters_and_searches_by_tag(tenant_a, operator_a):
    backup, backup_old = _tag("backup", "green"), _tag("backup-old", "red")
    other = factories.DeviceFactory(site=tenant_a.site, hostname="plain-host")
    services.change_tags(actor=system_actor(), objects=[tenant_a.device], add=[backup, backup_old])
    client = logged_in(operator_a)

    listing = client.get(reverse("resource-list", args=["devices"])).content.decode()
    assert '<span class="tag tag-green">backup</span>' in listing
    filtered = client.get(reverse("resource-list", args=["devices"]), {"tag": backup.pk}).content.decode()
    assert tenant_a.device.hostname in filtered and other.hostname not in filtered
    searched = client.get(reverse("resource-list", args=["devices"]), {"q": "backup"}).content.decode()
    assert searched.count(f'id="device-row-{tenant_a.device.pk}"') == 1  # two matching tags, one row
    assert other.hostname not in searched


def test_ticked_devices_are_tagged_from_the_list_and_run_still_goes_to_the_action_form(tenant_a, tenant_b,
                                                                                     operator_a):
    tag = _tag("patch-friday")
    second = factories.DeviceFactory(site=tenant_a.site)
    client = logged_in(operator_a)
    picked = [tenant_a.device.pk, second.pk, tenant_b.device.pk]  # the other company's id is simply ignored
    response = client.post(reverse("device-selection"), {"device": picked, "op": "tag", "tag": tag.pk,
                                                         "next": "/devices/?q=alpha"}, follow=True)
    assert response.redirect_chain[-1][0] == "/devices/?q=alpha"
    assert "Tag patch-friday added to 2 devices." in response.content.decode()
    assert set(tag.devices.values_list("pk", flat=True)) == {tenant_a.device.pk, second.pk}

    untag = client.post(reverse("device-selection"), {"device": [second.pk], "op": "untag", "tag": tag.pk,
                                                      "next": "https://elsewhere.example/"}, follow=True)
    assert untag.redirect_chain[-1][0] == "/devices/"  # only back to a device list
    assert set(tag.devices.values_list("pk", flat=True)) == {tenant_a.device.pk}

    run = client.post(reverse("device-selection"), {"device": [tenant_a.device.pk, second.pk], "op": "run"})
    assert run.status_code == 302
    assert run["Location"] == f"{reverse('action-new')}?device={tenant_a.device.pk}&device={second.pk}"

    nothing = client.post(reverse("device-selection"), {"op": "tag", "tag": tag.pk}, follow=True)
    assert "Tick at least one device first." in nothing.content.decode()


def test_viewers_cannot_tag_from_the_list(tenant_a, viewer_a):
    tag = _tag("vip")
    response = logged_in(viewer_a).post(reverse("device-selection"),
                                        {"device": [tenant_a.device.pk], "op": "tag", "tag": tag.pk})
    assert response.status_code == 403
    assert not tag.devices.exists()


def test_the_device_page_edits_its_tags(tenant_a, operator_a, viewer_a):
    vip, lab = _tag("vip"), _tag("lab")
    page = reverse("resource-detail", args=["devices", tenant_a.device.pk])
    body = logged_in(operator_a).get(page).content.decode()
    assert "Edit tags" in body and 'name="tag"' in body
    response = logged_in(operator_a).post(reverse("resource-tags", args=["devices", tenant_a.device.pk]),
                                          {"tag": [vip.pk, lab.pk, "junk"]})
    assert response.status_code == 302
    assert set(tenant_a.device.tags.all()) == {vip, lab}
    logged_in(operator_a).post(reverse("resource-tags", args=["devices", tenant_a.device.pk]), {"tag": [lab.pk]})
    assert list(tenant_a.device.tags.all()) == [lab]

    viewer_page = logged_in(viewer_a).get(page).content.decode()
    assert '<span class="tag tag-blue">lab</span>' in viewer_page and "Edit tags" not in viewer_page
    refused = logged_in(viewer_a).post(reverse("resource-tags", args=["devices", tenant_a.device.pk]), {"tag": []})
    assert refused.status_code == 403
    assert list(tenant_a.device.tags.all()) == [lab]


def test_the_tag_pages_count_and_list_only_own_devices(tenant_a, tenant_b, operator_a, msp_operator):
    tag = _tag("vip")
    services.change_tags(actor=system_actor(), objects=[tenant_a.device], add=[tag])
    services.change_tags(actor=system_actor(), objects=[tenant_b.device], add=[tag])
    scoped = logged_in(operator_a)
    detail = scoped.get(reverse("resource-detail", args=["tags", tag.pk])).content.decode()
    assert "Devices with this tag (1)" in detail
    assert tenant_a.device.hostname in detail and tenant_b.device.hostname not in detail
    assert "New tag" not in scoped.get(reverse("resource-list", args=["tags"])).content.decode()
    assert scoped.get(reverse("resource-create", args=["tags"])).status_code == 403

    msp = logged_in(msp_operator)
    created = msp.post(reverse("resource-create", args=["tags"]), {"name": "new-tag", "colour": "pink"})
    assert created.status_code == 302
    assert Tag.objects.filter(name="new-tag", colour="pink").exists()
    duplicate = msp.post(reverse("resource-create", args=["tags"]), {"name": "NEW-TAG", "colour": "pink"})
    assert duplicate.status_code == 422 and "exists already" in duplicate.content.decode()


# GraphQL -------------------------------------------------------------------------------------------------

TAG_FIELDS = "id name colour deviceCount networkDeviceCount cameraCount"


def test_graphql_defines_tags_for_msp_operators_only(gql_as, msp_operator, operator_a):
    create = "mutation ($input: TagCreateInput!) { createTag(input: $input) { node { name colour } " \
             "errors { field message code } } }"
    refused = gql_as(operator_a)(create, {"input": {"name": "mine"}})["data"]["createTag"]
    assert refused["node"] is None and refused["errors"][0]["code"] == "permission_denied"
    made = gql_as(msp_operator)(create, {"input": {"name": "vip", "colour": "red"}})["data"]["createTag"]
    assert made == {"node": {"name": "vip", "colour": "red"}, "errors": []}
    again = gql_as(msp_operator)(create, {"input": {"name": "VIP"}})["data"]["createTag"]
    assert again["errors"][0]["code"] == "invalid" and "exists already" in again["errors"][0]["message"]
    bad = gql_as(msp_operator)(create, {"input": {"name": "<script>"}})["data"]["createTag"]
    assert bad["errors"][0]["field"] == "name"


def test_graphql_tags_objects_filters_by_tag_and_counts_within_scope(gql_as, tenant_a, tenant_b, operator_a):
    tag = _tag("vip")
    network = TENANT_ROW_MAKERS[next(m for m in TENANT_ROW_MAKERS if m.__name__ == "NetworkDevice")](tenant_a.company)
    services.change_tags(actor=system_actor(), objects=[tenant_b.device], add=[tag])
    gql = gql_as(operator_a)
    change = "mutation ($input: ChangeTagsInput!) { changeTags(input: $input) { changed errors { field code } } }"
    done = gql(change, {"input": {"objects": [global_id("Device", tenant_a.device.pk)],
                                  "add": [global_id("Tag", tag.pk)]}})["data"]["changeTags"]
    assert done == {"changed": 1, "errors": []}
    gql(change, {"input": {"objects": [global_id("NetworkDevice", network.pk)], "add": [global_id("Tag", tag.pk)]}})

    devices = gql("query ($tag: ID!) { devices(filters: {tag: $tag}) { totalCount edges { node { hostname "
                  "tags { name } } } } }", {"tag": global_id("Tag", tag.pk)})["data"]["devices"]
    assert devices["totalCount"] == 1
    assert devices["edges"][0]["node"] == {"hostname": tenant_a.device.hostname, "tags": [{"name": "vip"}]}
    counts = gql(f"{{ tags {{ edges {{ node {{ {TAG_FIELDS} }} }} }} }}")["data"]["tags"]["edges"][0]["node"]
    assert (counts["deviceCount"], counts["networkDeviceCount"], counts["cameraCount"]) == (1, 1, 0)
    networks = gql("query ($tag: ID!) { networkDevices(filters: {tag: $tag}) { totalCount } }",
                   {"tag": global_id("Tag", tag.pk)})["data"]["networkDevices"]
    assert networks["totalCount"] == 1


def test_graphql_tagging_another_companys_object_changes_nothing(gql_as, tenant_a, tenant_b, operator_a):
    tag = _tag("vip")
    gql = gql_as(operator_a)
    change = "mutation ($input: ChangeTagsInput!) { changeTags(input: $input) { changed errors { field code } } }"
    mixed = {"objects": [global_id("Device", tenant_a.device.pk), global_id("Device", tenant_b.device.pk)],
             "add": [global_id("Tag", tag.pk)]}
    assert gql(change, {"input": mixed})["data"]["changeTags"] == {
        "changed": 0, "errors": [{"field": "objects", "code": "not_found"}]}
    wrong_type = {"objects": [global_id("Site", tenant_a.site.pk)], "add": [global_id("Tag", tag.pk)]}
    assert gql(change, {"input": wrong_type})["data"]["changeTags"]["errors"] == [
        {"field": "objects", "code": "not_found"}]
    unknown_tag = {"objects": [global_id("Device", tenant_a.device.pk)], "add": [global_id("Tag", 999999)]}
    assert gql(change, {"input": unknown_tag})["data"]["changeTags"]["errors"] == [
        {"field": "add", "code": "not_found"}]
    set_tags = "mutation ($input: SetTagsInput!) { setTags(input: $input) { changed errors { field code } } }"
    assert gql(set_tags, {"input": {"id": global_id("Device", tenant_b.device.pk), "tags": [
        global_id("Tag", tag.pk)]}})["data"]["setTags"]["errors"] == [{"field": "objects", "code": "not_found"}]
    assert not tag.devices.exists()
    assert gql(set_tags, {"input": {"id": global_id("Device", tenant_a.device.pk), "tags": [
        global_id("Tag", tag.pk)]}})["data"]["setTags"] == {"changed": 1, "errors": []}


# Tags set by a script's output ---------------------------------------------------------------------------

def _finished_run(device, script, stdout, status="succeeded"):
    from portal.actions import delivery
    from portal.actions.requests import queue_action
    from portal.actions.specs import script_spec

    action = queue_action(actor=system_actor(), device=device, spec=script_spec(actor=system_actor(), script=script))
    delivery.store_result(device_id=device.pk, action_id=action.pk, status=status, exit_code=0, stdout=stdout,
                          stderr="", stdout_truncated=False, stderr_truncated=False, started_at=None,
                          finished_at=None, result={"tags": {"added": ["forged"]}})
    action.refresh_from_db()
    return action


def test_a_script_output_puts_on_and_takes_off_only_the_tags_it_declared(tenant_a):
    from portal.actions import library

    stale, fresh = _tag("backup-stale"), _tag("backup-fresh")
    _tag("vip")  # exists, but is not the script's to set
    script = library.create_script(actor=system_actor(), name="Backup age", language="bash", content="true",
                                   sets_tags=[stale.pk, fresh.pk])
    device = tenant_a.device
    services.change_tags(actor=system_actor(), objects=[device], add=[stale])
    action = _finished_run(device, script, "checking\nfleetwatch-tag: +Backup-Fresh\nFLEETWATCH-TAG: -backup-stale\n"
                                           "fleetwatch-tag: +vip\n")
    assert set(device.tags.values_list("name", flat=True)) == {"backup-fresh"}
    assert action.result["tags"] == {"added": ["backup-fresh"], "removed": ["backup-stale"], "refused": ["vip"]}
    audit = AuditEvent.objects.filter(action="device.tags_changed").latest("pk")
    assert audit.actor_label == "script Run Backup age" and audit.after == {"tags": ["backup-fresh"]}

    failed = _finished_run(device, script, "fleetwatch-tag: -backup-fresh", status="failed")
    assert "tags" not in failed.result  # an agent's own claim is dropped; a failed run sets nothing
    assert set(device.tags.values_list("name", flat=True)) == {"backup-fresh"}


def test_a_script_may_declare_only_existing_tags():
    from portal.actions import library

    with pytest.raises(ValidationError, match="existing tags"):
        library.create_script(actor=system_actor(), name="S", language="bash", content="true", sets_tags=[999])


def test_graphql_declares_the_tags_a_script_output_sets(gql_as, admin_user):
    tag = _tag("backup-fresh")
    create = "mutation ($input: ScriptCreateInput!) { createScript(input: $input) { node { setsTags { name } } " \
             "errors { field code } } }"
    made = gql_as(admin_user)(create, {"input": {"name": "Backup", "content": "true", "language": "bash",
                                                 "setsTags": [global_id("Tag", tag.pk)]}})["data"]["createScript"]
    assert made == {"node": {"setsTags": [{"name": "backup-fresh"}]}, "errors": []}
    bad = gql_as(admin_user)(create, {"input": {"name": "Other", "content": "true", "language": "bash",
                                                "setsTags": [global_id("Site", 1)]}})["data"]["createScript"]
    assert bad["errors"] == [{"field": "setsTags", "code": "invalid"}]
