"""Scratch PostgreSQL databases for tests of whole fleets started from nothing (when the suite runs there)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest


def _server_url(database: str) -> str:
    return os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + database


@pytest.fixture
def scratch_database() -> Iterator[Callable[[], str | None]]:
    """Call it for the URL of a new empty database (None when the suite runs embedded); all are dropped after."""
    made: list[str] = []

    def make() -> str | None:
        if not os.environ.get("DATABASE_URL"):
            return None
        name = f"fleetwatch_scratch_{uuid.uuid4().hex[:10]}"
        # The suite's own database may not exist yet (pytest-django makes test_<name>): use the maintenance one.
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return _server_url(name)

    yield make
    if made:
        with psycopg.connect(_server_url("postgres"), autocommit=True) as admin:
            for name in made:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
