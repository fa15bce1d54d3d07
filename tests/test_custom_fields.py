"""Custom fields: typed definitions by admins who see every company, values on companies, sites and devices
set on pages, in GraphQL and from a script's output, filtered by in lists and GraphQL, audited, and scoped."""

from datetime import date

import pytest
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.urls import reverse

from portal.access import system_actor
from portal.actions import delivery, library
from portal.actions.requests import queue_action
from portal.actions.specs import script_spec
from portal.audit.models import AuditEvent
from portal.custom_fields import services
from portal.custom_fields.models import CustomField
from portal.custom_fields.selectors import condition
from portal.inventory.models import Device
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db
ADMIN = system_actor("admin")


def _field(name="backup_age", kind="number", target="device", **rest) -> CustomField:
    return services.create_custom_field(actor=ADMIN, target=target, name=name, label=rest.pop("label", name.title()),
                                        kind=kind, **rest)


# What a value may be ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "choices", "given", "stored"), [
    ("number", [], "12", 12), ("number", [], " 1.5 ", 1.5), ("number", [], 7, 7), ("number", [], "", None),
    ("boolean", [], "Yes", True), ("boolean", [], "off", False), ("boolean", [], False, False),
    ("date", [], "2026-11-30", "2026-11-30"), ("date", [], date(2026, 1, 2), "2026-01-02"),
    ("choice", ["Bronze", "Gold"], "Gold", "Gold"),
    ("multi_choice", ["AV", "EDR", "Backup"], "Backup, AV", ["AV", "Backup"]),
    ("multi_choice", ["AV", "EDR"], ["EDR"], ["EDR"]), ("text", [], "  D:\\Backups ", "D:\\Backups"),
])
def test_values_are_stored_as_their_kind(kind, choices, given, stored):
    assert _field(kind=kind, choices=choices).coerce(given) == stored


@pytest.mark.parametrize(("kind", "choices", "given", "message"), [
    ("number", [], "abc", "Backup_Age must be a number, not “abc”."), ("number", [], "nan", "must be a number"),
    ("number", [], True, "must be a number"), ("number", [], "1e400", "must be a number"),
    ("boolean", [], "maybe", "is yes or no"), ("date", [], "30/11/2026", r"is a date \(YYYY-MM-DD\)"),
    ("choice", ["Bronze", "Gold"], "Platinum", "is one of Bronze, Gold"),
    ("multi_choice", ["AV"], "AV, Rootkit", "takes some of AV"), ("text", [], "bell\x07", "without control"),
    ("text", [], "x" * 1001, "at most 1000"), ("text", [], {"nested": 1}, "takes text"),
])
def test_values_a_field_cannot_take_are_refused_naming_the_field(kind, choices, given, message):
    with pytest.raises(ValidationError, match=message):
        _field(kind=kind, choices=choices).coerce(given)


@pytest.mark.parametrize(("rest", "error_field"), [
    ({"name": "Bad Name"}, "name"), ({"name": "x" * 51}, "name"), ({"kind": "choice"}, "choices"),
    ({"kind": "choice", "choices": ["a,b"]}, "choices"), ({"kind": "choice", "choices": ["a", "a"]}, "choices"),
    ({"kind": "text", "choices": ["a"]}, "choices"), ({"kind": "number", "default": "lots"}, "default"),
    ({"kind": "wrong"}, "kind"), ({"target": "contact"}, "target"),
])
def test_definitions_are_validated(rest, error_field):
    arguments = {"name": "field_x", "kind": "text", "target": "device", **rest}
    with pytest.raises(ValidationError) as refused:
        services.create_custom_field(actor=ADMIN, label="X", **arguments)
    assert error_field in refused.value.message_dict
    assert not CustomField.objects.exists()


def test_names_are_unique_per_target_and_only_all_company_admins_define(admin_a, operator_a, actor_of):
    _field("owner", "text")
    _field("owner", "text", target="company")  # another target may reuse it
    with pytest.raises(ValidationError, match="taken"):
        _field("owner", "text")
    for user in (admin_a, operator_a):
        with pytest.raises(PermissionDenied):
            services.create_custom_field(actor=actor_of(user), target="device", name="mine", label="Mine")


# Setting values -----------------------------------------------------------------------------------------

def test_setting_values_checks_every_one_audits_and_announces(tenant_a, operator_a, actor_of, published):
    _field("backup_age", "number", label="Backup age")
    _field("tier", "choice", choices=["Bronze", "Gold"], label="Tier")
    device = tenant_a.device
    with pytest.raises(ValidationError) as refused:
        services.set_custom_values(actor=actor_of(operator_a), obj=device,
                                   values={"backup_age": "abc", "tier": "Gold", "nope": 1})
    assert refused.value.message_dict == {"backup_age": ["Backup age must be a number, not “abc”."],
                                          "nope": ["No custom field “nope” for devices."]}
    device.refresh_from_db()
    assert device.custom_fields == {}  # one refused value saves none

    changed = services.set_custom_values(actor=actor_of(operator_a), obj=device, values={"backup_age": "3",
                                                                                         "tier": "Gold"})
    assert changed == {"backup_age", "tier"}
    device.refresh_from_db()
    assert device.custom_fields == {"backup_age": 3, "tier": "Gold"}
    event = AuditEvent.objects.get(action="device.custom_fields_changed")
    assert (event.before, event.after, event.actor_label) == ({"backup_age": None, "tier": None},
                                                              {"backup_age": 3, "tier": "Gold"}, "operator-a")
    assert any(m["event"] == "device.updated" and m["id"] == device.pk for m in published)

    services.set_custom_values(actor=actor_of(operator_a), obj=device, values={"tier": ""})
    device.refresh_from_db()
    assert device.custom_fields == {"backup_age": 3}


def test_a_value_write_does_not_overwrite_what_the_agent_reported_meanwhile(tenant_a):
    _field()
    device = Device.objects.get(pk=tenant_a.device.pk)
    Device.objects.filter(pk=device.pk).update(status="online", cpu_percent=42.0)  # the heartbeat writer
    services.set_custom_values(actor=ADMIN, obj=device, values={"backup_age": 1})
    device.refresh_from_db()
    assert (device.status, device.cpu_percent, device.custom_fields) == ("online", 42.0, {"backup_age": 1})


def test_required_fields_and_who_may_set_what(tenant_a, tenant_b, admin_a, operator_a, viewer_a, actor_of):
    _field("owner", "text", required=True)
    _field("account_manager", "text", target="company")
    with pytest.raises(ValidationError, match="is required"):
        services.set_custom_values(actor=actor_of(operator_a), obj=tenant_a.device, values={"owner": ""})
    with pytest.raises(PermissionDenied):
        services.set_custom_values(actor=actor_of(viewer_a), obj=tenant_a.device, values={"owner": "x"})
    with pytest.raises(ObjectDoesNotExist):
        services.set_custom_values(actor=actor_of(operator_a), obj=tenant_b.device, values={"owner": "x"})
    with pytest.raises(PermissionDenied):  # a company's fields are its admins'
        services.set_custom_values(actor=actor_of(operator_a), obj=tenant_a.company,
                                   values={"account_manager": "Kim"})
    services.set_custom_values(actor=actor_of(admin_a), obj=tenant_a.company, values={"account_manager": "Kim"})
    tenant_b.device.refresh_from_db()
    assert tenant_b.device.custom_fields == {}


def test_deleting_a_definition_clears_its_values_everywhere(tenant_a, tenant_b):
    field = _field()
    for device in (tenant_a.device, tenant_b.device):
        services.set_custom_values(actor=ADMIN, obj=device, values={"backup_age": 2})
    assert services.delete_custom_field(actor=ADMIN, customfield=field) == 2
    assert all(values == {} for values in Device.objects.values_list("custom_fields", flat=True))


# Filtering ----------------------------------------------------------------------------------------------

@pytest.fixture
def measured(tenant_a):
    """Four devices: backup age 1, 10, none stored (the default 5 applies) and tier options."""
    age = _field("backup_age", "number", default=5)
    stack = _field("stack", "multi_choice", choices=["AV", "EDR", "Backup"])
    note = _field("note", "text")
    devices = {name: factories.DeviceFactory(site=tenant_a.site, hostname=name) for name in ("one", "ten", "dflt")}
    services.set_custom_values(actor=ADMIN, obj=devices["one"], values={"backup_age": 1, "stack": "AV,EDR",
                                                                        "note": "Front desk"})
    services.set_custom_values(actor=ADMIN, obj=devices["ten"], values={"backup_age": 10, "stack": "EDR"})
    return {"age": age, "stack": stack, "note": note, "hosts": set(devices)}


@pytest.mark.parametrize(("field", "op", "value", "expected"), [
    ("age", "eq", "10", {"ten"}), ("age", "eq", 5, {"dflt"}), ("age", "ne", 10, {"one", "dflt"}),
    ("age", "gt", 4, {"ten", "dflt"}), ("age", "lt", 5, {"one"}), ("age", "empty", None, set()),
    ("stack", "eq", "EDR", {"one", "ten"}), ("stack", "eq", "AV,EDR", {"one"}), ("stack", "contains", "AV", {"one"}),
    ("stack", "empty", None, {"dflt"}), ("note", "contains", "front", {"one"}), ("note", "empty", None,
                                                                                {"ten", "dflt"}),
])
def test_conditions_match_stored_values_and_defaults(measured, field, op, value, expected):
    rows = Device.objects.filter(hostname__in=measured["hosts"])
    matched = rows.filter(condition(field=measured[field], op=op, value=value))
    assert set(matched.values_list("hostname", flat=True)) == expected


def test_conditions_refuse_what_cannot_be_compared(measured):
    with pytest.raises(ValidationError, match="cannot be compared"):
        condition(field=measured["note"], op="gt", value="a")
    with pytest.raises(ValidationError, match="must be a number"):
        condition(field=measured["age"], op="eq", value="abc")
    with pytest.raises(ValidationError, match="Compare with one of"):
        condition(field=measured["age"], op="like", value=1)


# A script's output sets a device field ------------------------------------------------------------------

def _run(device, script, stdout, result=None, status="succeeded"):
    action = queue_action(actor=ADMIN, device=device, spec=script_spec(actor=ADMIN, script=script))
    delivery.store_result(device_id=device.pk, action_id=action.pk, status=status, exit_code=0, stdout=stdout,
                          stderr="", stdout_truncated=False, stderr_truncated=False, started_at=None,
                          finished_at=None, result=result or {})
    action.refresh_from_db()
    return action


def test_the_last_line_of_a_succeeded_run_sets_the_declared_field(tenant_a):
    _field("bitlocker", "choice", choices=["On", "Off"], label="BitLocker")
    script = library.create_script(actor=ADMIN, name="BitLocker status", language="bash",
                                   content="echo checking; echo On", sets_field="bitlocker")
    device = tenant_a.device
    action = _run(device, script, "checking\nOn\n\n", result={"custom_field": {"field": "x", "value": "forged"}})
    assert action.result["custom_field"] == {"field": "bitlocker", "value": "On"}
    device.refresh_from_db()
    assert device.custom_fields == {"bitlocker": "On"}
    assert AuditEvent.objects.get(action="device.custom_fields_changed").actor_label.startswith("script Run")

    refused = _run(device, script, "Maybe")
    assert refused.status == "succeeded"
    assert "BitLocker is one of On, Off" in refused.result["custom_field"]["error"]
    failed = _run(device, script, "Off", status="failed")
    assert "custom_field" not in failed.result
    device.refresh_from_db()
    assert device.custom_fields == {"bitlocker": "On"}

    page = logged_in(factories.UserFactory(username="root", role="admin", all_companies=True)).get(
        reverse("resource-detail", args=["actions", action.pk])).content.decode()
    assert "The output set the device's custom field <code>bitlocker</code> to <strong>On</strong>." in page


def test_a_script_may_only_declare_an_existing_device_field():
    _field("owner", "text", target="company")
    with pytest.raises(ValidationError, match="No device custom field"):
        library.create_script(actor=ADMIN, name="S", language="bash", content="true", sets_field="owner")


# Pages --------------------------------------------------------------------------------------------------

def test_device_page_shows_and_edits_values_with_clear_errors(tenant_a, operator_a, viewer_a):
    _field("backup_age", "number", label="Backup age", default=7)
    _field("tier", "choice", choices=["Bronze", "Gold"], label="Tier")
    page = reverse("resource-detail", args=["devices", tenant_a.device.pk])
    shown = logged_in(viewer_a).get(page).content.decode()
    assert "Backup age" in shown and "(default)" in shown and "Edit custom fields" not in shown
    client = logged_in(operator_a)
    assert "Edit custom fields" in client.get(page).content.decode()
    edit = reverse("resource-custom-fields", args=["devices", tenant_a.device.pk])
    bad = client.post(edit, {"backup_age": "abc", "tier": "Gold"})
    assert bad.status_code == 422 and "Backup age must be a number, not “abc”." in bad.content.decode()
    assert client.post(edit, {"backup_age": "2", "tier": "Gold"}).status_code == 302
    tenant_a.device.refresh_from_db()
    assert tenant_a.device.custom_fields == {"backup_age": 2, "tier": "Gold"}
    assert logged_in(viewer_a).post(edit, {"backup_age": "9"}).status_code == 403


def test_lists_filter_by_choice_and_yes_no_fields(tenant_a, operator_a):
    _field("tier", "choice", choices=["Bronze", "Gold"], label="Tier")
    _field("managed", "boolean", label="Managed")
    gold = factories.DeviceFactory(site=tenant_a.site, hostname="gold-host")
    services.set_custom_values(actor=ADMIN, obj=gold, values={"tier": "Gold", "managed": True})
    client = logged_in(operator_a)
    listing = client.get(reverse("resource-list", args=["devices"])).content.decode()
    assert 'name="cf_tier"' in listing and 'name="cf_managed"' in listing
    only_gold = client.get(reverse("resource-list", args=["devices"]), {"cf_tier": "Gold"}).content.decode()
    assert "gold-host" in only_gold and tenant_a.device.hostname not in only_gold
    unmanaged = client.get(reverse("resource-list", args=["devices"]), {"cf_managed": "false"}).content.decode()
    assert "gold-host" not in unmanaged
    ignored = client.get(reverse("resource-list", args=["devices"]), {"cf_tier": "<bogus>"}).content.decode()
    assert "gold-host" in ignored and tenant_a.device.hostname in ignored  # not a choice: not applied


def test_definition_pages_are_for_all_company_admins(admin_a, admin_user):
    assert logged_in(admin_a).get(reverse("resource-create", args=["custom-fields"])).status_code == 403
    client = logged_in(admin_user)
    created = client.post(reverse("resource-create", args=["custom-fields"]), {
        "target": "device", "name": "av_version", "label": "AV version", "kind": "text", "order": 0})
    assert created.status_code == 302
    bad = client.post(reverse("resource-create", args=["custom-fields"]), {
        "target": "device", "name": "days", "label": "Days", "kind": "number", "default": "many", "order": 0})
    assert bad.status_code == 422 and "Days must be a number" in bad.content.decode()
    field = CustomField.objects.get(name="av_version")
    edit = client.get(reverse("resource-edit", args=["custom-fields", field.pk])).content.decode()
    assert 'name="name"' not in edit and 'name="label"' in edit  # the name is chosen once


# GraphQL ------------------------------------------------------------------------------------------------

SET = "mutation ($input: SetCustomFieldsInput!) { setCustomFields(input: $input) { customFields " \
      "errors { field message code } } }"


def test_graphql_sets_values_typed_and_filters_by_them(gql_as, tenant_a, tenant_b, operator_a):
    _field("backup_age", "number", label="Backup age", default=0)
    gql = gql_as(operator_a)
    refused = gql(SET, {"input": {"id": global_id("Device", tenant_a.device.pk), "values": {"backup_age": "abc"}}})
    assert refused["data"]["setCustomFields"] == {"customFields": None, "errors": [
        {"field": "values.backup_age", "message": "Backup age must be a number, not “abc”.", "code": "invalid"}]}
    done = gql(SET, {"input": {"id": global_id("Device", tenant_a.device.pk), "values": {"backup_age": 9}}})
    assert done["data"]["setCustomFields"] == {"customFields": {"backup_age": 9}, "errors": []}
    foreign = gql(SET, {"input": {"id": global_id("Device", tenant_b.device.pk), "values": {"backup_age": 9}}})
    assert foreign["data"]["setCustomFields"]["errors"][0] == {"field": "id", "message": "No such object.",
                                                               "code": "not_found"}

    query = "query ($c: CustomFieldCondition!) { devices(filters: {customField: $c}) { edges { node { hostname " \
            "customFields } } } }"
    old = gql(query, {"c": {"name": "backup_age", "op": "GT", "value": 7}})["data"]["devices"]["edges"]
    assert [e["node"] for e in old] == [{"hostname": tenant_a.device.hostname, "customFields": {"backup_age": 9}}]
    unknown = gql(query, {"c": {"name": "nope"}})
    assert unknown["errors"][0]["message"] == "No custom field “nope” for devices."
    wrong = gql(query, {"c": {"name": "backup_age", "value": "abc"}})
    assert "must be a number" in wrong["errors"][0]["message"]


def test_graphql_defines_fields_for_all_company_admins_only(gql_as, admin_a, admin_user):
    create = "mutation ($input: CustomFieldCreateInput!) { createCustomField(input: $input) { node { name kind " \
             "choices } errors { field code } } }"
    data = {"target": "company", "name": "tier", "label": "Tier", "kind": "choice", "choices": ["A", "B"]}
    assert gql_as(admin_a)(create, {"input": data})["data"]["createCustomField"]["errors"][0]["code"] == \
        "permission_denied"
    made = gql_as(admin_user)(create, {"input": data})["data"]["createCustomField"]
    assert made == {"node": {"name": "tier", "kind": "choice", "choices": ["A", "B"]}, "errors": []}
    listed = gql_as(admin_a)('{ customFields(filters: {target: {exact: "company"}}) { edges { node { name } } } }')
    assert listed["data"]["customFields"]["edges"] == [{"node": {"name": "tier"}}]


def test_lists_filter_by_text_number_and_date_fields_typed_in(tenant_a, operator_a):
    _field("backup_path", "text", label="Backup path")
    _field("backup_age", "number", label="Backup age")
    nas = factories.DeviceFactory(site=tenant_a.site, hostname="nas-host")
    services.set_custom_values(actor=ADMIN, obj=nas, values={"backup_path": "\\\\NAS01\\backups", "backup_age": 3})
    client = logged_in(operator_a)
    devices = reverse("resource-list", args=["devices"])
    listing = client.get(devices).content.decode()
    assert 'name="cf_backup_path"' in listing and 'name="cf_backup_age"' in listing
    by_text = client.get(devices, {"cf_backup_path": "nas01"}).content.decode()
    assert "nas-host" in by_text and tenant_a.device.hostname not in by_text
    assert "nas-host" in client.get(devices, {"cf_backup_age": "3"}).content.decode()
    assert "nas-host" not in client.get(devices, {"cf_backup_age": "4"}).content.decode()
    refused = client.get(devices, {"cf_backup_age": "abc"}).content.decode()
    assert "Backup age must be a number" in refused and "nas-host" in refused  # not applied, and said why
