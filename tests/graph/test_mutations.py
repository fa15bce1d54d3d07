"""GraphQL mutations call the same services as the dashboard: audited, validated, typed errors."""

import pytest

from portal.audit.models import AuditEvent
from portal.tenancy.models import Company, Contact, Group, Site
from tests.graphql_client import global_id, pk_of

pytestmark = pytest.mark.django_db

CREATE_SITE = """mutation ($input: SiteCreateInput!) {
  createSite(input: $input) { node { id name company { name } } errors { field message code } } }"""
UPDATE_SITE = """mutation ($input: SiteUpdateInput!) {
  updateSite(input: $input) { node { id name address contactEmail } errors { field message code } } }"""
DELETE_SITE = """mutation ($id: ID!) { deleteSite(input: {id: $id}) { deletedId errors { field message code } } }"""


def test_create_update_delete_a_site(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)
    created = gql(CREATE_SITE, {"input": {"company": global_id("Company", tenant_a.company.pk),
                                          "name": "Warehouse"}})["data"]["createSite"]
    assert created["errors"] == [] and created["node"]["company"]["name"] == "Alpha Corp"
    site_id = created["node"]["id"]
    updated = gql(UPDATE_SITE, {"input": {"id": site_id, "address": "2 Dock Rd"}})["data"]["updateSite"]
    assert updated["node"]["address"] == "2 Dock Rd" and updated["node"]["name"] == "Warehouse"
    deleted = gql(DELETE_SITE, {"id": site_id})["data"]["deleteSite"]
    assert deleted == {"deletedId": site_id, "errors": []}
    assert not Site.objects.filter(pk=pk_of(site_id)).exists()
    actions = list(AuditEvent.objects.filter(object_id=str(pk_of(site_id))).values_list("action", "via_token"))
    assert sorted(actions) == [("site.created", True), ("site.deleted", True), ("site.updated", True)]


def test_validation_errors_come_back_typed(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)
    result = gql(UPDATE_SITE, {"input": {"id": global_id("Site", tenant_a.site.pk), "contactEmail": "nope"}})
    payload = result["data"]["updateSite"]
    assert payload["node"] is None
    assert payload["errors"] == [{"field": "contactEmail", "message": "Enter a valid email address.",
                                  "code": "invalid"}]
    duplicate = gql(CREATE_SITE, {"input": {"company": global_id("Company", tenant_a.company.pk),
                                            "name": "Alpha HQ"}})["data"]["createSite"]
    assert duplicate["errors"][0]["code"] == "invalid" and "already exists" in duplicate["errors"][0]["message"]
    tenant_a.site.refresh_from_db()
    assert tenant_a.site.contact_email == "office@example.com"


def test_viewers_cannot_mutate(gql_as, viewer_a, tenant_a):
    result = gql_as(viewer_a)(CREATE_SITE, {"input": {"company": global_id("Company", tenant_a.company.pk),
                                                      "name": "Nope"}})
    assert result["data"]["createSite"]["errors"][0]["code"] == "permission_denied"
    assert not Site.objects.filter(name="Nope").exists()


def test_unknown_and_invisible_ids_look_the_same(gql_as, operator_a, tenant_a, tenant_b):
    gql = gql_as(operator_a)
    invisible = gql(UPDATE_SITE, {"input": {"id": global_id("Site", tenant_b.site.pk), "name": "Mine"}})
    missing = gql(UPDATE_SITE, {"input": {"id": global_id("Site", 987654), "name": "Mine"}})
    wrong_type = gql(UPDATE_SITE, {"input": {"id": global_id("Company", tenant_a.company.pk), "name": "Mine"}})
    assert invisible == missing == wrong_type
    assert invisible["data"]["updateSite"]["errors"] == [{"field": "id", "message": "No such object.",
                                                          "code": "not_found"}]
    tenant_b.site.refresh_from_db()
    assert tenant_b.site.name == "Bravo HQ"


def test_company_group_contact_device_mutations(gql_as, admin_a, tenant_a):
    gql = gql_as(admin_a)
    company = gql("""mutation { createCompany(input: {name: "Delta", accountNumber: "D-9"}) {
        node { id accountNumber } errors { message } } }""")["data"]["createCompany"]["node"]
    assert company["accountNumber"] == "D-9"
    site = gql(CREATE_SITE, {"input": {"company": company["id"], "name": "Main"}})["data"]["createSite"]["node"]
    group = gql("""mutation ($site: ID!) { createGroup(input: {site: $site, name: "Servers"}) {
        node { id site { name } } errors { message } } }""", {"site": site["id"]})["data"]["createGroup"]["node"]
    assert group["site"]["name"] == "Main"
    contact = gql("""mutation ($c: ID!) { createContact(input: {company: $c, name: "Ann", phone: "555"}) {
        node { id name } errors { message } } }""", {"c": company["id"]})["data"]["createContact"]["node"]
    device = gql("""mutation ($s: ID!, $g: ID!) { createDevice(input: {site: $s, group: $g, hostname: "srv-1",
        osType: "linux"}) { node { id hostname company { name } group { name } } errors { field message } } }""",
                 {"s": site["id"], "g": group["id"]})["data"]["createDevice"]
    assert device["errors"] == [] and device["node"]["company"]["name"] == "Delta"
    moved = gql("""mutation ($id: ID!) { updateDevice(input: {id: $id, group: null, displayName: "Print srv"}) {
        node { group { name } displayName } errors { message } } }""", {"id": device["node"]["id"]})
    assert moved["data"]["updateDevice"]["node"] == {"group": None, "displayName": "Print srv"}
    bad_os = gql("""mutation ($id: ID!) { updateDevice(input: {id: $id, osType: "amiga"}) {
        errors { field code } } }""", {"id": device["node"]["id"]})["data"]["updateDevice"]["errors"]
    assert bad_os == [{"field": "osType", "code": "invalid"}]
    for mutation, gid in (("deleteContact", contact["id"]), ("deleteGroup", group["id"]),
                          ("deleteCompany", company["id"])):
        result = gql(f"mutation ($id: ID!) {{ {mutation}(input: {{id: $id}}) {{ deletedId errors {{ message }} }} }}",
                     {"id": gid})
        assert result["data"][mutation]["errors"] == []
    assert not Company.objects.filter(name="Delta").exists()
    assert not Contact.objects.filter(name="Ann").exists() and not Group.objects.filter(name="Servers").exists()


def test_operators_cannot_create_companies(gql_as, operator_a):
    result = gql_as(operator_a)('mutation { createCompany(input: {name: "X"}) { errors { code } } }')
    assert result["data"]["createCompany"]["errors"] == [{"code": "permission_denied"}]


def test_api_tokens_through_graphql(gql_as, operator_a):
    gql = gql_as(operator_a)
    created = gql("""mutation { createApiToken(input: {name: "etl"}) { token node { id name } errors { message } } }""")
    payload = created["data"]["createApiToken"]
    assert payload["token"].startswith("fwt_") and payload["node"]["name"] == "etl"
    listed = gql("{ apiTokens { totalCount edges { node { name keyId revokedAt } } } }")["data"]["apiTokens"]
    assert {e["node"]["name"] for e in listed["edges"]} == {"tests", "etl"}
    revoked = gql("""mutation ($id: ID!) { revokeApiToken(input: {id: $id}) { node { revokedAt } errors { code } } }""",
                  {"id": payload["node"]["id"]})["data"]["revokeApiToken"]
    assert revoked["node"]["revokedAt"] is not None


NODE_DELETE = """mutation ($input: NodeInput!) { deleteGroup(input: $input) { deletedId errors { code } } }"""
CREATE_NETWORK_DEVICE = """mutation ($input: NetworkDeviceCreateInput!) {
  createNetworkDevice(input: $input) { node { name port snmpVersion } errors { field message } } }"""


def test_derived_inputs_take_nulls_as_not_given(gql_as, operator_a, tenant_a):
    """Inputs derived from the models accept null for an optional field: it means "not given", so the model's
    default applies (an empty text, port 161), never a null stored or a crash."""
    gql = gql_as(operator_a)
    created = gql(CREATE_SITE, {"input": {"company": global_id("Company", tenant_a.company.pk), "name": "Annex",
                                          "description": None, "contactEmail": None}})["data"]["createSite"]
    assert created["errors"] == []
    site = Site.objects.get(pk=pk_of(created["node"]["id"]))
    assert (site.description, site.contact_email) == ("", "")
    device = gql(CREATE_NETWORK_DEVICE, {"input": {"site": created["node"]["id"], "name": "core", "host": "192.0.2.9",
                                                   "port": None, "community": "public"}})["data"]["createNetworkDevice"]
    assert device == {"node": {"name": "core", "port": 161, "snmpVersion": "2c"}, "errors": []}


def test_one_node_input_names_what_to_delete(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)
    result = gql(NODE_DELETE, {"input": {"id": global_id("Group", tenant_a.group.pk)}})["data"]["deleteGroup"]
    assert result == {"deletedId": global_id("Group", tenant_a.group.pk), "errors": []}
    assert not Group.objects.filter(pk=tenant_a.group.pk).exists()


CREATE_API_TOKEN = """mutation ($name: String!) {
  createApiToken(input: {name: $name}) { token errors { field message code } } }"""


def test_text_with_a_nul_character_is_refused_before_any_write(gql_as, operator_a, tenant_a):
    """PostgreSQL cannot store a NUL; a name holding one gets a clear refusal, never a server error."""
    gql = gql_as(operator_a)
    sites_before, tokens_before = Site.objects.count(), operator_a.api_tokens.count()
    from_variable = gql(CREATE_API_TOKEN, {"name": "build\x00bot"})
    assert from_variable["data"] is None
    assert from_variable["errors"][0]["message"] == "Text may not contain a NUL character (in $name)."
    company = global_id("Company", tenant_a.company.pk)
    inline = gql('mutation { createSite(input: {company: "' + company + '", name: "a\\u0000b"}) { node { id } } }')
    assert inline["errors"][0]["message"] == "Text may not contain a NUL character (in the query)."
    assert Site.objects.count() == sites_before
    assert operator_a.api_tokens.count() == tokens_before
