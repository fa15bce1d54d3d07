"""Every write leaves an audit row: who, what, which object, which company, before/after, from where."""

import pytest
from django.test import Client
from django.urls import reverse

from portal.access import Role
from portal.accounts import services as accounts
from portal.audit.models import AuditEvent
from portal.inventory import services as inventory
from portal.tenancy import services as tenancy
from tests.conftest import logged_in

pytestmark = pytest.mark.django_db

# (action expected, the write) for every service that changes the fleet.
WRITES = {
    "company.created": lambda t, a: tenancy.create_company(actor=a, name="New Co", account_number="N-1"),
    "company.updated": lambda t, a: tenancy.update_company(actor=a, company=t.company, notes="VIP client"),
    "company.deleted": lambda t, a: tenancy.delete_company(actor=a, company=t.company),
    "site.created": lambda t, a: tenancy.create_site(actor=a, company=t.company, name="Branch"),
    "site.updated": lambda t, a: tenancy.update_site(actor=a, site=t.site, address="1 Main St"),
    "site.deleted": lambda t, a: tenancy.delete_site(actor=a, site=t.site),
    "group.created": lambda t, a: tenancy.create_group(actor=a, site=t.site, name="Desktops"),
    "group.updated": lambda t, a: tenancy.update_group(actor=a, group=t.group, notes="rack 4"),
    "group.deleted": lambda t, a: tenancy.delete_group(actor=a, group=t.group),
    "contact.created": lambda t, a: tenancy.create_contact(actor=a, company=t.company, name="Pat", phone="555"),
    "contact.updated": lambda t, a: tenancy.update_contact(actor=a, contact=t.contact, job_title="CTO"),
    "contact.deleted": lambda t, a: tenancy.delete_contact(actor=a, contact=t.contact),
    "device.created": lambda t, a: inventory.create_device(actor=a, site=t.site, hostname="pc-42"),
    "device.updated": lambda t, a: inventory.update_device(actor=a, device=t.device, display_name="Reception"),
    "device.deleted": lambda t, a: inventory.delete_device(actor=a, device=t.device),
    "user.created": lambda t, a: accounts.create_user(actor=a, username="newbie", role=Role.VIEWER,
                                                      companies=[t.company]),
    "apitoken.created": lambda t, a: accounts.create_api_token(actor=a, name="ci"),
    "apitoken.revoked": lambda t, a: accounts.revoke_api_token(
        actor=a, token=accounts.create_api_token(actor=a, name="old").token),
}


@pytest.mark.parametrize("action", sorted(WRITES))
def test_each_write_records_one_audit_event(action, tenant_a, admin_a, actor_of):
    actor = actor_of(admin_a)
    company_id = tenant_a.company.pk
    before = AuditEvent.objects.filter(action=action).count()
    WRITES[action](tenant_a, actor)
    events = AuditEvent.objects.filter(action=action)
    assert events.count() == before + 1
    event = events.first()
    assert event.user_id == admin_a.pk and event.actor_label == "admin-a"
    assert event.ip_address == "192.0.2.10"
    assert event.object_id and event.object_repr
    if action.endswith(".created"):
        assert event.after and event.before is None
    elif action.endswith(".deleted"):
        assert event.before and event.after is None
    else:
        assert event.after
    if not action.startswith(("user.", "apitoken.")):
        expected_company = company_id if action != "company.created" else int(event.object_id)
        assert event.company_id == expected_company


def test_update_records_only_what_changed(tenant_a, admin_a, actor_of):
    tenancy.update_site(actor=actor_of(admin_a), site=tenant_a.site, address="1 Main St")
    event = AuditEvent.objects.get(action="site.updated")
    assert event.before == {"address": ""} and event.after == {"address": "1 Main St"}


def test_a_save_that_changes_nothing_writes_nothing(tenant_a, admin_a, actor_of):
    tenancy.update_site(actor=actor_of(admin_a), site=tenant_a.site, name=tenant_a.site.name)
    assert not AuditEvent.objects.filter(action="site.updated").exists()


def test_secrets_never_reach_the_audit_log(admin_a, actor_of, tenant_a):
    _user, password = accounts.create_user(actor=actor_of(admin_a), username="pw-check", role=Role.VIEWER,
                                          companies=[tenant_a.company])
    issued = accounts.create_api_token(actor=actor_of(admin_a), name="t")
    logged = " ".join(str(e.after) for e in AuditEvent.objects.all())
    assert password not in logged and "password" not in logged
    assert issued.token.secret_digest not in logged and issued.plaintext not in logged


def test_page_writes_are_audited_with_the_client_address(tenant_a, operator_a):
    client = logged_in(operator_a)
    client.post(reverse("resource-edit", args=["contacts", tenant_a.contact.pk]),
                {"name": "Renamed", "email": "x@example.com"}, REMOTE_ADDR="198.51.100.7")
    event = AuditEvent.objects.get(action="contact.updated")
    assert event.ip_address == "198.51.100.7" and event.actor_label == "operator-a"
    assert event.after["name"] == "Renamed"


def test_admin_site_writes_are_audited(tenant_a, admin_user):
    client = logged_in(admin_user)
    url = reverse("admin:tenancy_site_change", args=[tenant_a.site.pk])
    response = client.post(url, {"company": tenant_a.company.pk, "name": "HQ (admin)", "external_ids": "{}"})
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="site.updated")
    assert event.before["name"] == "Alpha HQ" and event.after["name"] == "HQ (admin)"


def test_audit_survives_deleting_its_company(tenant_a, admin_a, actor_of):
    company_id = tenant_a.company.pk
    tenancy.delete_company(actor=actor_of(admin_a), company=tenant_a.company)
    event = AuditEvent.objects.get(action="company.deleted")
    assert event.company_id == company_id
    assert event.before["name"] == "Alpha Corp"


def test_audit_log_page_lists_events_of_own_companies(tenant_a, tenant_b, admin_a, admin_user, actor_of):
    tenancy.update_site(actor=actor_of(admin_user), site=tenant_b.site, address="secret street")
    tenancy.update_site(actor=actor_of(admin_a), site=tenant_a.site, address="own street")
    body = logged_in(admin_a).get(reverse("resource-list", args=["audit"])).content.decode()
    assert "Alpha HQ" in body and "Bravo HQ" not in body
    assert Client().get(reverse("resource-list", args=["audit"])).status_code == 302
