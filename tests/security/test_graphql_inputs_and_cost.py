"""Bad GraphQL input gets a typed, clear error naming the argument (before: "Internal error" for malformed
cursors, first/last out of range, malformed ids, odd environment keys), and an operation's cost — first ×
nested first — is limited before any SQL runs (before: four nested connections of 100, 10^8 rows, passed)."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.cost import MAX_COST
from portal.access import system_actor
from portal.actions import library
from portal.actions.library import MAX_PROFILE_TASKS
from portal.actions.models import SoftwareItem
from portal.writes import save_new
from tests import factories
from tests.graphql_client import global_id

pytestmark = pytest.mark.django_db
INTERNAL = "Internal error; it has been logged."


def _messages(result) -> list[str]:
    return [error["message"] for error in result.get("errors", [])]


@pytest.mark.parametrize(("arguments", "expected"), [
    ('after: "x"', "Argument 'after' is not a cursor this API gave out"),
    ('before: "\\u0004ꒀ"', "Argument 'before' is not a cursor this API gave out"),
    (f'after: "{base64.b64encode(b"arrayconnection:-1").decode()}"', "Argument 'after' is not a cursor"),
    ('first: -1', "Argument 'first' must be from 0 to 100, not -1"),
    ('last: -2147483648', "Argument 'last' must be from 0 to 100"),
    ('first: 1000', "Argument 'first' must be from 0 to 100, not 1000"),
])
def test_paging_arguments_get_clear_errors(gql_as, operator_a, arguments, expected):
    result = gql_as(operator_a)(f"{{ devices({arguments}) {{ totalCount }} }}")
    assert INTERNAL not in _messages(result) and any(expected in m for m in _messages(result)), result


def test_a_real_cursor_still_pages(gql_as, operator_a, tenant_a):
    for n in range(3):
        factories.DeviceFactory(site=tenant_a.site, hostname=f"page-{n}")
    gql = gql_as(operator_a)
    first = gql("{ devices(first: 2) { pageInfo { endCursor hasNextPage } } }")["data"]["devices"]["pageInfo"]
    rest = gql("query ($after: String) { devices(first: 2, after: $after) { edges { node { hostname } } } }",
               {"after": first["endCursor"]})
    assert "errors" not in rest and len(rest["data"]["devices"]["edges"]) == 2


@pytest.mark.parametrize("bad_id", ["garbage", "", "Q29tcGFueTo=", "RGV2aWNlOmFiYw==", "\u00d7\u904b"])
def test_malformed_ids_are_not_internal_errors(gql_as, operator_a, bad_id):
    gql = gql_as(operator_a)
    looked_up = gql("query ($id: ID!) { node(id: $id) { id } }", {"id": bad_id})
    filtered = gql("query ($c: ID!) { devices(filters: {company: $c}) { totalCount } }", {"c": bad_id})
    updated = gql("mutation ($id: ID!) { updateDevice(input: {id: $id, displayName: \"x\"}) { errors { code } } }",
                  {"id": bad_id})
    for result in (looked_up, filtered, updated):
        assert INTERNAL not in _messages(result), result
    if "errors" not in filtered:
        assert filtered["data"]["devices"]["totalCount"] == 0  # an id of nothing matches nothing


def test_odd_environment_keys_are_typed_errors(gql_as, admin_user):
    gql = gql_as(admin_user)
    for environment in ({"": "x"}, {"A B": "x"}, {"X": 1}, {"X": None}, ["not", "an", "object"], "text"):
        result = gql("""mutation ($e: JSON) { createScript(input: {name: "s", language: "bash", content: "id",
            environment: $e}) { node { id } errors { field code message } } }""", {"e": environment})
        payload = result["data"]["createScript"]
        assert payload["node"] is None and payload["errors"][0]["field"] == "environment", result


def test_deeply_nested_default_pages_are_refused_before_sql(gql_as, operator_a, tenant_a):
    query = """{ companies { edges { node { sites { edges { node { groups { edges { node {
        devices { edges { node { hostname } } } } } } } } } } } } }"""
    with CaptureQueriesContext(connection) as captured:
        result = gql_as(operator_a)(query)
    assert result["data"] is None and result["errors"][0]["extensions"]["code"] == "too_costly"
    assert result["errors"][0]["extensions"]["cost"] > 10**8 and "limit is" in result["errors"][0]["message"]
    assert [q for q in captured if "tenancy_" in q["sql"] or "inventory_" in q["sql"]] == []


def test_small_pages_pass_and_variables_are_counted(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)
    small = gql("""{ companies(first: 10) { edges { node { sites(first: 10) { edges { node {
        groups(first: 10) { edges { node { devices(first: 10) { totalCount } } } } } } } } } } }""")
    assert "errors" not in small
    nested = """query ($n: Int) { companies(first: $n) { edges { node { sites(first: $n) { edges { node {
        groups(first: $n) { edges { node { name } } } } } } } } } }"""
    assert "errors" not in gql(nested, {"n": 10})
    refused = gql(nested, {"n": 100})
    assert refused["errors"][0]["extensions"]["code"] == "too_costly"
    assert refused["errors"][0]["extensions"]["cost"] > MAX_COST


def test_fragments_do_not_hide_cost(gql_as, operator_a):
    query = """{ companies { ...C } } fragment C on CompanyConnection { edges { node { sites { ...S } } } }
        fragment S on SiteConnection { edges { node { groups { edges { node { devices { edges { node { id } }
        } } } } } } }"""
    assert gql_as(operator_a)(query)["errors"][0]["extensions"]["code"] == "too_costly"


def test_lists_are_bounded(gql_as, admin_user):
    script = library.create_script(actor=system_actor(), name="v", language="bash", content="echo 1")
    for n in range(3):
        library.update_script(actor=system_actor(), script=script, content=f"echo {n + 2}")
    versions = gql_as(admin_user)("""query ($id: ID!) { node(id: $id) { ... on Script {
        versions(first: 2) { totalCount edges { node { number } } } } } }""", {"id": global_id("Script", script.pk)})
    assert versions["data"]["node"]["versions"]["totalCount"] == 4
    assert [e["node"]["number"] for e in versions["data"]["node"]["versions"]["edges"]] == [4, 3]
    profile = library.create_profile(actor=system_actor(), name="big")
    for n in range(MAX_PROFILE_TASKS):
        library.add_profile_task(actor=system_actor(), profile=profile, name=f"t{n}", action_type="reboot")
    with pytest.raises(ValidationError, match=f"at most {MAX_PROFILE_TASKS} tasks"):
        library.add_profile_task(actor=system_actor(), profile=profile, name="one more", action_type="reboot")


def test_nul_characters_are_field_errors_not_database_errors(gql_as, admin_user):
    """Found by the fuzzer on PostgreSQL, which cannot store NUL in text: GraphQL refuses it before any resolver
    runs, naming the variable, and every write through the shared write steps refuses it with the field named,
    on both databases."""
    gql = gql_as(admin_user)
    result = gql("""mutation ($input: SoftwareItemCreateInput!) { createSoftwareItem(input: $input) {
        node { id } errors { field code message } } }""", {"input": {"name": "app\x00name", "wingetId": "Vendor.App"}})
    assert result["data"] is None and result["errors"][0]["message"] == \
        "Text may not contain a NUL character (in $input.name)."
    with pytest.raises(ValidationError) as refused:
        save_new(actor=system_actor(), instance=SoftwareItem(name="app\x00name", winget_id="Vendor.App"))
    assert refused.value.message_dict == {"name": ["May not contain a NUL character."]}
    with pytest.raises(ValidationError) as refused:
        library.create_script(actor=system_actor(), name="s", language="bash", content="id",
                              environment={"X": "a\x00b"})
    assert "environment" in refused.value.message_dict
