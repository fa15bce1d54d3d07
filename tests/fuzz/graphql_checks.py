"""Schemathesis checks for the GraphQL fuzz run (loaded with SCHEMATHESIS_HOOKS=tests.fuzz.graphql_checks).

What counts as a failure: a 5xx answer, or an error the server masked as internal. Typed errors the API
gives on purpose (an argument out of range, a cursor it never gave out, a refusal, a cost too high) and the
validation errors of generated queries that break a rule the schema cannot express (``@oneOf`` inputs)
are answers, not failures."""

from __future__ import annotations

import json

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

INTERNAL = "Internal error; it has been logged."


def _json_values() -> st.SearchStrategy:
    """Arbitrary JSON as GraphQL value nodes (custom values, defaults): scalars, lists and objects whose keys
    are GraphQL names (a custom field's name, or anything else)."""
    scalars = st.one_of(st.none().map(lambda _: graphql.NullValueNode()), st.booleans().map(nodes.Boolean),
                        st.integers(min_value=-2**53, max_value=2**53).map(nodes.Int),
                        st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float), st.text().map(nodes.String))
    keys = st.one_of(st.sampled_from(["backup_age", "owner", "tier"]),
                     st.from_regex(r"\A[_A-Za-z][_0-9A-Za-z]{0,20}\Z"))

    def containers(children: st.SearchStrategy) -> st.SearchStrategy:
        fields = st.lists(st.tuples(keys, children), max_size=4, unique_by=lambda pair: pair[0]).map(
            lambda pairs: nodes.Object([graphql.ObjectFieldNode(name=graphql.NameNode(value=key), value=value)
                                        for key, value in pairs]))
        return st.one_of(st.lists(children, max_size=4).map(nodes.List), fields)

    return st.recursive(scalars, containers, max_leaves=8)


schemathesis.graphql.scalar("JSON", _json_values())


@schemathesis.check
def no_internal_error(ctx, response, case) -> bool | None:
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code} from the server")
    try:
        body = json.loads(response.content or b"{}")
    except ValueError as error:
        raise AssertionError(f"not JSON: {response.content[:200]!r}") from error
    for error in (body.get("errors") or []) if isinstance(body, dict) else []:
        if isinstance(error, dict) and error.get("message") == INTERNAL:
            raise AssertionError(f"an internal error at {error.get('path')}")
    return None
