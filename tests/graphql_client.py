"""GraphQL test helpers: post an operation as a user (session) or with a bearer token (fixture gql_as)."""

import base64
import json

import pytest
from django.test import Client

from portal.access import actor_for_user
from portal.accounts.services import create_api_token


def global_id(type_name: str, pk: int) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def pk_of(global_id_value: str) -> int:
    return int(base64.b64decode(global_id_value).decode().split(":", 1)[1])


class GraphQLClient:
    def __init__(self, client: Client, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = headers or {}

    def post(self, query: str, variables: dict | None = None, **extra):
        body = json.dumps({"query": query, "variables": variables or {}})
        return self.client.post("/graphql/", body, content_type="application/json", **self.headers, **extra)

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        response = self.post(query, variables)
        assert response.status_code == 200, response.content
        return response.json()


@pytest.fixture
def gql_as():
    """``gql_as(user)`` → a client that posts with a bearer token of that user."""

    def make(user) -> GraphQLClient:
        issued = create_api_token(actor=actor_for_user(user), name="tests")
        return GraphQLClient(Client(), {"HTTP_AUTHORIZATION": f"Bearer {issued.plaintext}"})

    return make
