"""A busy HTTP API does not pile up database connections in the server process (found by the GraphQL fuzz
run: PostgreSQL answered "too many clients" after a few hundred requests, because each request's thread
kept a connection that was never reused)."""

from __future__ import annotations

import json
import urllib.request

import psutil
import pytest
from django.db import connection

from portal.access import Role, actor_for_user
from portal.accounts.services import create_api_token
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
REQUESTS = 300


def _server_connections(server) -> int:
    """Database connections the daphne process holds now."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            return cursor.fetchone()[0]
    name = str(connection.settings_dict["NAME"])
    return sum(1 for f in psutil.Process(server.process.pid).open_files() if f.path.startswith(name))


def test_requests_do_not_pile_up_connections(live_daphne, tenant_a):
    user = factories.UserFactory(username="api", role=Role.VIEWER, companies=[tenant_a.company])
    token = create_api_token(actor=actor_for_user(user), name="load").plaintext
    body = json.dumps({"query": "{ devices(first: 5) { totalCount } }"}).encode()
    for _ in range(REQUESTS):
        request = urllib.request.Request(f"{live_daphne.url}/graphql/", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert json.loads(answer.read())["data"]["devices"]["totalCount"] == 1
    assert _server_connections(live_daphne) < 15  # before: one more per request, until the database refused
