"""Device page with inventory and charts, software search, revoking an agent, enrollment tokens page."""

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.access import system_actor
from portal.inventory.enrollment import create_enrollment_token, enroll_agent
from portal.inventory.models import AgentCredential, EnrollmentToken, InstalledSoftware, MetricSample
from portal.inventory.telemetry import apply_inventory
from tests.conftest import logged_in
from tests.inventory.test_telemetry import INVENTORY

pytestmark = pytest.mark.django_db


def test_device_page_opens_on_its_summary_with_the_other_tabs_a_click_away(tenant_a, viewer_a):
    device = tenant_a.device
    apply_inventory(device_id=device.pk, content_hash="a" * 64, data=INVENTORY)
    for value in (10, 40, 25):
        MetricSample.objects.create(device=device, at=timezone.now(), cpu_percent=value, memory_percent=50)
    page = reverse("resource-detail", args=["devices", device.pk])
    body = logged_in(viewer_a).get(page).content.decode()
    for expected in ("Xeon (8 cores)", "eth0", "10.0.0.5", "<polyline", 'aria-current="page">Summary'):
        assert expected in body, expected
    assert "ssh.service" not in body and "curl" not in body  # other tabs load on demand
    assert "Revoke agent token" not in body  # viewers do not get the button
    for tab, expected in (("software", "curl"), ("services", "ssh.service"), ("history", "openssl"),
                          ("patches", "openssl 3.0.2")):
        full = logged_in(viewer_a).get(page, {"tab": tab}).content.decode()  # the URL opens the tab (no script)
        assert expected in full and f'aria-current="page">{tab.capitalize()}' in full, tab
        partial = logged_in(viewer_a).get(reverse("device-tab", args=[device.pk]), {"tab": tab}).content.decode()
        assert expected in partial and "<html" not in partial, tab
    assert logged_in(viewer_a).get(reverse("device-tab", args=[device.pk]), {"tab": "secrets"}).status_code == 404


def test_tabs_search_and_page_on_the_server(tenant_a, viewer_a):
    apply_inventory(device_id=tenant_a.device.pk, content_hash="a" * 64, data=INVENTORY)
    InstalledSoftware.objects.bulk_create([InstalledSoftware(device=tenant_a.device, name=f"lib-{n:03d}",
                                                             version="1", source="dpkg") for n in range(120)])
    url = reverse("device-tab", args=[tenant_a.device.pk])
    client = logged_in(viewer_a)
    first = client.get(url, {"tab": "software"}).content.decode()
    assert "Page 1 of 3 (122 in all)" in first and "lib-049" not in first  # curl, lib-000 … lib-047
    found = client.get(url, {"tab": "software", "q": "ssl"}).content.decode()
    assert "openssl" in found and "curl" not in found
    assert "No installed software matches" in client.get(url, {"tab": "software", "q": "zzz"}).content.decode()
    last = client.get(url, {"tab": "software", "page": 3}).content.decode()
    assert "lib-119" in last and "openssl" in last
    running = client.get(url, {"tab": "services", "state": "stopped"}).content.decode()
    assert "No service matches" in running  # both reported services run


def test_revoking_an_agent_needs_an_operator(tenant_a, viewer_a, operator_a):
    issued = create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="t")
    device = enroll_agent(enrollment_token=issued.plaintext, facts={"hostname": "pc"}).device
    url = reverse("device-revoke-agent", args=[device.pk])
    assert logged_in(viewer_a).post(url).status_code == 403
    assert logged_in(operator_a).post(url).status_code == 302
    assert not AgentCredential.objects.filter(device=device, revoked_at__isnull=True).exists()


def test_admin_creates_an_enrollment_token_shown_once(tenant_a, admin_a):
    client = logged_in(admin_a)
    response = client.post(reverse("enrollment-tokens"), {"name": "HQ rollout", "site": tenant_a.site.pk,
                                                          "group": tenant_a.group.pk, "expires_in_days": 3,
                                                          "max_uses": 10})
    body = response.content.decode()
    token = re.search(r"--token (fwe_\S+)</code>", body).group(1)
    assert "fleetwatch-agent enroll --server http://testserver" in body
    row = EnrollmentToken.objects.get(name="HQ rollout")
    assert row.max_uses == 10 and row.group == tenant_a.group
    assert token not in client.get(reverse("enrollment-tokens")).content.decode()
    assert client.post(reverse("enrollment-token-revoke", args=[row.pk])).status_code == 302
    row.refresh_from_db()
    assert row.state == "revoked"


def test_enrollment_form_refuses_a_group_of_another_site(tenant_a, admin_a):
    from tests.factories import SiteFactory

    annex = SiteFactory(company=tenant_a.company, name="Annex")
    body = logged_in(admin_a).post(reverse("enrollment-tokens"), {"name": "x", "site": annex.pk,
                                                                  "group": tenant_a.group.pk}).content.decode()
    assert "This group belongs to another site." in body
    assert not EnrollmentToken.objects.exists()


def test_viewers_see_tokens_but_cannot_create(tenant_a, viewer_a):
    create_enrollment_token(actor=system_actor(), site=tenant_a.site, name="existing")
    client = logged_in(viewer_a)
    page = client.get(reverse("enrollment-tokens")).content.decode()
    assert "existing" in page and "New enrollment token" not in page
    assert client.post(reverse("enrollment-tokens"), {"name": "x", "site": tenant_a.site.pk}).status_code == 403


def test_device_list_search_finds_an_ip_address_and_a_serial(tenant_a, tenant_b, viewer_a):
    from tests import factories

    data = {**INVENTORY, "system": {**INVENTORY["system"], "serial_number": "SN-77A1"}}
    apply_inventory(device_id=tenant_a.device.pk, content_hash="a" * 64, data=data)
    other = factories.DeviceFactory(site=tenant_a.site, hostname="other-host")
    apply_inventory(device_id=tenant_b.device.pk, content_hash="b" * 64, data=data)  # same facts, not A's
    client = logged_in(viewer_a)
    for query in ("10.0.0.5", "sn-77a1"):
        body = client.get(reverse("resource-list", args=["devices"]), {"q": query}).content.decode()
        assert f"device-row-{tenant_a.device.pk}" in body, query
        assert f"device-row-{other.pk}" not in body and f"device-row-{tenant_b.device.pk}" not in body
    page = client.get(reverse("resource-detail", args=["devices", tenant_a.device.pk])).content.decode()
    assert "SN-77A1" in page and "ws-connect=\"/ws/live/?watch=device:" in page


def test_site_and_group_pages_carry_the_live_status_badge(tenant_a, viewer_a):
    client = logged_in(viewer_a)
    body = client.get(reverse("resource-detail", args=["sites", tenant_a.site.pk])).content.decode()
    assert f'id="device-status-{tenant_a.device.pk}"' in body  # where a status push lands
