"""GraphQL queries: auth, connections with totalCount and cursors, filters, ordering, nesting, N+1."""

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from portal.inventory.models import DeviceStatus, OsType
from tests import factories
from tests.conftest import logged_in
from tests.graphql_client import GraphQLClient, global_id, pk_of

pytestmark = pytest.mark.django_db

DEVICES_NESTED = """
query ($first: Int, $after: String, $filters: DeviceFilter, $ordering: [DeviceOrder!]) {
  devices(first: $first, after: $after, filters: $filters, ordering: $ordering) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id hostname status osType site { name company { name } } group { name } company { name } } }
  }
}"""


def test_no_credentials_get_an_error_and_no_data():
    response = Client().post("/graphql/", json.dumps({"query": "{ companies { totalCount } }"}),
                             content_type="application/json")
    assert response.status_code == 401
    assert "data" not in response.json() and response.json()["errors"]


def test_the_api_page_is_for_signed_in_users_and_loads_nothing_from_elsewhere(operator_a):
    assert Client().get("/graphql/", HTTP_ACCEPT="text/html").status_code == 302
    page = logged_in(operator_a).get("/graphql/", HTTP_ACCEPT="text/html")
    body = page.content.decode()
    assert page.status_code == 200 and "graphql-transport-ws" in body and "schema.graphql" in body
    assert "unpkg" not in body and "jsdelivr" not in body


def test_session_requests_need_the_csrf_token(operator_a, tenant_a):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_a)
    client.get("/")  # sets the CSRF cookie
    gql = GraphQLClient(client)
    assert gql.post("{ companies { totalCount } }").status_code == 403
    token = client.cookies["csrftoken"].value
    response = gql.post("{ companies { totalCount } }", HTTP_X_CSRFTOKEN=token)
    assert response.json()["data"]["companies"]["totalCount"] == 1


def test_devices_with_nested_placement(gql_as, operator_a, tenant_a):
    data = gql_as(operator_a)(DEVICES_NESTED)["data"]["devices"]
    assert data["totalCount"] == 1
    node = data["edges"][0]["node"]
    assert node["hostname"] == "alpha-host-1"
    assert node["site"] == {"name": "Alpha HQ", "company": {"name": "Alpha Corp"}}
    assert node["group"] == {"name": "Alpha Servers"} and node["company"] == {"name": "Alpha Corp"}
    assert pk_of(node["id"]) == tenant_a.device.pk


def _query_count(gql, query, variables=None) -> int:
    with CaptureQueriesContext(connection) as captured:
        result = gql(query, variables)
    assert "errors" not in result, result
    return len(captured)


def test_query_count_does_not_grow_with_the_page(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)

    def add_devices(count: int, prefix: str) -> None:
        for n in range(count):  # every device in its own site and group: the worst case for N+1
            group = factories.GroupFactory(site=factories.SiteFactory(company=tenant_a.company))
            factories.DeviceFactory(site=group.site, group=group, hostname=f"{prefix}-{n}")

    add_devices(9, "n")
    gql(DEVICES_NESTED, {"first": 10})  # warm the token's last-used write out of the count
    ten = _query_count(gql, DEVICES_NESTED, {"first": 10})
    add_devices(90, "m")
    hundred = _query_count(gql, DEVICES_NESTED, {"first": 100})
    assert ten == hundred
    # token, the actor's companies, the page (with totalCount), then one scoped prefetch per relation:
    # site, site.company, group, company.
    assert hundred == 7


def test_company_tree_resolves_without_n_plus_one(gql_as, operator_a, tenant_a):
    # Pages of 10 at each level: the cost limit refuses default pages of 100 nested this deep (10^8 rows).
    query = """{ companies(first: 10) { edges { node { name sites(first: 10) { totalCount edges { node { name
                 groups(first: 10) { edges { node { name devices(first: 10) { totalCount edges { node { hostname } } }
                 } } } } } } } } } }"""
    gql = gql_as(operator_a)
    gql(query)
    few = _query_count(gql, query)
    for _n in range(5):
        site = factories.SiteFactory(company=tenant_a.company)
        group = factories.GroupFactory(site=site)
        factories.DeviceFactory(site=site, group=group)
    assert _query_count(gql, query) == few


def test_cursor_pagination_and_page_cap(gql_as, operator_a, tenant_a):
    for n in range(120):
        factories.DeviceFactory(site=tenant_a.site, hostname=f"p-{n:03d}")
    gql = gql_as(operator_a)
    ordering = [{"hostname": "ASC"}]
    first = gql(DEVICES_NESTED, {"first": 50, "ordering": ordering})["data"]["devices"]
    assert first["totalCount"] == 121 and first["pageInfo"]["hasNextPage"]
    second = gql(DEVICES_NESTED, {"first": 50, "after": first["pageInfo"]["endCursor"],
                                  "ordering": ordering})["data"]["devices"]
    names = [e["node"]["hostname"] for e in first["edges"] + second["edges"]]
    assert names == sorted(names) and len(set(names)) == 100
    capped = gql(DEVICES_NESTED, {"first": 1000})
    assert capped.get("errors") or len(capped["data"]["devices"]["edges"]) <= 100


def test_filters(gql_as, operator_a, tenant_a):
    now = timezone.now()
    other_site = factories.SiteFactory(company=tenant_a.company, name="Annex")
    factories.DeviceFactory(site=other_site, hostname="win-reception", os_type=OsType.WINDOWS,
                            status=DeviceStatus.OFFLINE, last_seen=now - timezone.timedelta(days=3))
    factories.DeviceFactory(site=tenant_a.site, hostname="mac-design", os_type=OsType.MACOS,
                            last_seen=now)
    gql = gql_as(operator_a)

    def hostnames(filters):
        edges = gql(DEVICES_NESTED, {"filters": filters})["data"]["devices"]["edges"]
        return sorted(e["node"]["hostname"] for e in edges)

    assert hostnames({"search": "reception"}) == ["win-reception"]
    assert hostnames({"status": {"exact": "offline"}}) == ["win-reception"]
    assert hostnames({"osType": {"exact": "macos"}}) == ["mac-design"]
    assert hostnames({"site": global_id("Site", other_site.pk)}) == ["win-reception"]
    assert hostnames({"company": global_id("Company", tenant_a.company.pk)}) == [
        "alpha-host-1", "mac-design", "win-reception"]
    assert hostnames({"group": global_id("Group", tenant_a.group.pk)}) == ["alpha-host-1"]
    day_ago = (now - timezone.timedelta(days=1)).isoformat()
    assert hostnames({"lastSeen": {"lt": day_ago}}) == ["win-reception"]
    assert hostnames({"lastSeen": {"gte": day_ago}}) == ["mac-design"]
    assert hostnames({"search": "mac", "OR": {"search": "win"}}) == ["mac-design", "win-reception"]


def test_ordering(gql_as, operator_a, tenant_a):
    for name in ("b-host", "c-host", "a-host"):
        factories.DeviceFactory(site=tenant_a.site, hostname=name)
    edges = gql_as(operator_a)(DEVICES_NESTED, {"ordering": [{"hostname": "DESC"}]})["data"]["devices"]["edges"]
    names = [e["node"]["hostname"] for e in edges]
    assert names == sorted(names, reverse=True)


def test_node_lookup(gql_as, operator_a, tenant_a):
    query = "query ($id: ID!) { node(id: $id) { id ... on Site { name company { name } } } }"
    result = gql_as(operator_a)(query, {"id": global_id("Site", tenant_a.site.pk)})
    assert result["data"]["node"]["name"] == "Alpha HQ"


def test_me_and_companies_search(gql_as, operator_a, tenant_a):
    gql = gql_as(operator_a)
    me = gql("{ me { username role companies { name } } }")["data"]["me"]
    assert me == {"username": "operator-a", "role": "operator", "companies": [{"name": "Alpha Corp"}]}
    found = gql('{ companies(filters: {search: "alpha corp"}) { totalCount } }')["data"]["companies"]
    assert found["totalCount"] == 1


def test_devices_search_by_ip_address_and_serial(gql_as, operator_a, tenant_a, tenant_b):
    from portal.inventory.models import Device

    Device.objects.filter(pk=tenant_a.device.pk).update(serial_number="VMW-42", ip_addresses="10.9.8.7 fe80::9")
    Device.objects.filter(pk=tenant_b.device.pk).update(serial_number="VMW-42", ip_addresses="10.9.8.7")
    gql = gql_as(operator_a)
    query = ("query ($q: String!) { devices(filters: {search: $q}) "
             "{ edges { node { hostname serialNumber ipAddresses } } } }")
    for term in ("10.9.8.7", "vmw-42"):
        edges = gql(query, {"q": term})["data"]["devices"]["edges"]
        assert [e["node"] for e in edges] == [{"hostname": "alpha-host-1", "serialNumber": "VMW-42",
                                               "ipAddresses": ["10.9.8.7", "fe80::9"]}], term
