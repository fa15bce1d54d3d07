"""Schemathesis checks for the GraphQL fuzz run (loaded with SCHEMATHESIS_HOOKS=tests.fuzz.graphql_checks).

What counts as a failure: a 5xx answer, or an error the server masked as internal. Typed errors the API
gives on purpose (an argument out of range, a cursor it never gave out, a refusal, a cost too high) and the
validation errors of generated queries that break a rule the schema cannot express (``@oneOf`` inputs)
are answers, not failures."""

from __future__ import annotations

import json

import schemathesis

INTERNAL = "Internal error; it has been logged."


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
