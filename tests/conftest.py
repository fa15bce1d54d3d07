"""Shared fixtures: two companies (tenant_a, tenant_b) with a full hierarchy, and users of each role."""

from dataclasses import dataclass

import pytest
from django.test import Client
from django_q.brokers import get_broker

from portal.access import Role, actor_for_user
from portal.inventory.models import Device
from portal.tenancy.models import Company, Contact, Group, Site
from tests import factories
from tests.graphql_client import gql_as  # noqa: F401  (fixtures shared by many test modules)
from tests.live import live_daphne  # noqa: F401

PASSWORD = "correct horse battery staple"


@dataclass
class Tenant:
    company: Company
    site: Site
    group: Group
    contact: Contact
    device: Device


def _tenant(name: str) -> Tenant:
    company = factories.CompanyFactory(name=f"{name} Corp", account_number=f"{name.upper()}-1")
    site = factories.SiteFactory(company=company, name=f"{name} HQ")
    group = factories.GroupFactory(site=site, name=f"{name} Servers")
    contact = factories.ContactFactory(company=company, name=f"{name} Contact")
    device = factories.DeviceFactory(site=site, group=group, hostname=f"{name.lower()}-host-1")
    return Tenant(company=company, site=site, group=group, contact=contact, device=device)


@pytest.fixture
def tenant_a(db) -> Tenant:
    return _tenant("Alpha")


@pytest.fixture
def tenant_b(db) -> Tenant:
    return _tenant("Bravo")


@pytest.fixture
def admin_user(db):
    return factories.UserFactory(username="root-admin", role=Role.ADMIN, all_companies=True, is_staff=True)


@pytest.fixture
def admin_a(tenant_a):
    return factories.UserFactory(username="admin-a", role=Role.ADMIN, is_staff=True, companies=[tenant_a.company])


@pytest.fixture
def operator_a(tenant_a):
    return factories.UserFactory(username="operator-a", role=Role.OPERATOR, companies=[tenant_a.company])


@pytest.fixture
def viewer_a(tenant_a):
    return factories.UserFactory(username="viewer-a", role=Role.VIEWER, companies=[tenant_a.company])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def actor_of():
    return lambda user: actor_for_user(user, ip_address="192.0.2.10")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Real hashing is deliberately slow; the tests check roles and scopes, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty shared cache, as with the database: rate-limit counters (sign-in
    attempts, "poll now") kept by one test must not refuse another's requests."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def empty_task_queue(settings):
    """Each test starts with an empty task queue, as it starts with an empty database.

    The ORM broker's queue lives in the test database and is rolled back with it; the Redis broker's list
    outlives a test, a run and a clone, so what one left (signed by another data directory's key, like an
    earlier run's or a ``run_fleet`` started on its own data directory) would reach the next one.
    """
    if settings.REDIS_URL:
        get_broker().purge_queue()


@pytest.fixture
def published(monkeypatch):
    """Every realtime message published during the test, in either mode (the messages still go out)."""
    import importlib

    # ``portal.events.publish`` the attribute is the function; the module is what publish() looks names up in.
    module = importlib.import_module("portal.events.publish")
    messages: list[dict] = []
    deliver = module.publish_to_group

    def recording(group: str, message: dict) -> None:
        messages.append(message)
        deliver(group, message)

    monkeypatch.setattr(module, "publish_to_group", recording)
    return messages
