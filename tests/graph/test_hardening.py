"""Operation limits reject before any fleet SQL runs; no batching; introspection off; errors masked."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from graph.hardening import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS

pytestmark = pytest.mark.django_db
FLEET_TABLES = ("tenancy_", "inventory_", "audit_")


def _fleet_queries(captured) -> list[str]:
    return [q["sql"] for q in captured if any(table in q["sql"] for table in FLEET_TABLES)]


def _rejected(gql, query: str, expected: str) -> None:
    with CaptureQueriesContext(connection) as captured:
        result = gql(query)
    assert result.get("data") is None
    assert expected in result["errors"][0]["message"], result
    assert _fleet_queries(captured) == []


def test_too_deep_is_rejected_before_sql(gql_as, operator_a, tenant_a):
    nested = "name"
    for _ in range(MAX_DEPTH):
        nested = f"company {{ sites {{ edges {{ node {{ {nested} }} }} }} }}"
    query = f"{{ sites {{ edges {{ node {{ {nested} }} }} }} }}"
    _rejected(gql_as(operator_a), query, "exceeds maximum operation depth")


def test_too_many_aliases_are_rejected_before_sql(gql_as, operator_a, tenant_a):
    aliases = " ".join(f"a{n}: companies {{ totalCount }}" for n in range(MAX_ALIASES + 1))
    _rejected(gql_as(operator_a), f"{{ {aliases} }}", "aliases")


def test_aliases_hidden_in_fragments_still_count(gql_as, operator_a, tenant_a):
    aliases = " ".join(f"a{n}: totalCount" for n in range(MAX_ALIASES + 1))
    query = f"query {{ companies {{ ...F }} }} fragment F on CompanyConnection {{ {aliases} }}"
    _rejected(gql_as(operator_a), query, "aliases")


def test_too_many_tokens_are_rejected_before_sql(gql_as, operator_a, tenant_a):
    fields = " ".join("name" for _ in range(MAX_TOKENS))
    _rejected(gql_as(operator_a), f"{{ companies {{ edges {{ node {{ {fields} }} }} }} }}", "token")


def test_batched_requests_are_refused(gql_as, operator_a):
    gql = gql_as(operator_a)
    body = json.dumps([{"query": "{ me { username } }"}, {"query": "{ me { username } }"}])
    response = gql.client.post("/graphql/", body, content_type="application/json", **gql.headers)
    assert response.status_code == 400


def test_introspection_is_off_unless_enabled(gql_as, operator_a, settings):
    gql = gql_as(operator_a)
    settings.FLEETWATCH_GRAPHQL_INTROSPECTION = False
    off = gql("{ __schema { types { name } } }")
    assert off.get("data") is None and "introspection" in off["errors"][0]["message"].lower()
    settings.FLEETWATCH_GRAPHQL_INTROSPECTION = True
    on = gql("{ __schema { queryType { name } } }")
    assert on["data"]["__schema"]["queryType"]["name"] == "Query"


def test_internal_errors_leak_nothing(gql_as, operator_a, tenant_a, monkeypatch):
    # A resolver failing inside the server stands in for a bug: the message must not reach the caller.
    from graph import accounts

    def broken(**kwargs):
        raise RuntimeError('SELECT secret FROM "accounts_user" -- traceback details')

    monkeypatch.setattr(accounts.selectors, "users_for", broken)
    result = gql_as(operator_a)("{ me { username } }")
    message = json.dumps(result)
    assert "Internal error" in message
    assert "SELECT" not in message and "traceback" not in message and "accounts_user" not in message


def test_invalid_queries_get_clear_errors(gql_as, operator_a):
    result = gql_as(operator_a)("{ devices { edges { node { password } } } }")
    assert "Cannot query field 'password'" in result["errors"][0]["message"]
