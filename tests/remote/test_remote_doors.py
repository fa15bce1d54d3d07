"""Every door of remote sessions follows the tenancy rule and the permission: the page that opens one, the
session's socket, the transcript, the lists; a token, a viewer, an operator without the grant or a technician
of another company opens nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import websockets
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from portal.access import Role, actor_for_user
from portal.inventory.models import Device
from portal.remote import services
from portal.remote.models import RemoteSession
from tests import factories
from tests.conftest import logged_in
from tests.remote.test_remote_end_to_end import _cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _online(device: Device) -> Device:
    Device.objects.filter(pk=device.pk).update(status="online", agent_channel="specific.dead0000!nobody")
    device.refresh_from_db()
    return device


@pytest.fixture
def granted(tenant_a):
    return factories.UserFactory(username="granted", role=Role.OPERATOR, companies=[tenant_a.company],
                                 can_open_remote_sessions=True)


def test_who_may_open_a_session(tenant_a, tenant_b, granted, operator_a, viewer_a, admin_a):
    device, foreign = _online(tenant_a.device), _online(tenant_b.device)
    viewer_a.can_open_remote_sessions = True
    viewer_a.save()
    for user in (operator_a, viewer_a):  # no grant; a viewer even with it
        with pytest.raises(PermissionDenied):
            services.open_session(actor=actor_for_user(user), device_id=device.pk, kind="shell")
    with pytest.raises(PermissionDenied):
        services.open_session(actor=actor_for_user(granted, via_token=True), device_id=device.pk, kind="shell")
    with pytest.raises(Device.DoesNotExist):
        services.open_session(actor=actor_for_user(granted), device_id=foreign.pk, kind="shell")
    assert services.open_session(actor=actor_for_user(admin_a), device_id=device.pk, kind="files")  # admins always
    assert RemoteSession.objects.count() == 1


def test_the_device_page_offers_it_only_to_those_who_may(tenant_a, tenant_b, granted, operator_a):
    device = _online(tenant_a.device)
    page = logged_in(granted).get(reverse("resource-detail", args=["devices", device.pk])).content.decode()
    assert "Open shell" in page and "Browse files" in page
    assert "Open shell" not in logged_in(operator_a).get(
        reverse("resource-detail", args=["devices", device.pk])).content.decode()
    refused = logged_in(operator_a).post(reverse("remote-open", args=[device.pk]), {"kind": "shell"}, follow=True)
    assert "You may not open remote sessions" in refused.content.decode()
    assert logged_in(granted).post(reverse("remote-open", args=[tenant_b.device.pk]),
                                   {"kind": "shell"}).status_code == 404
    opened = logged_in(granted).post(reverse("remote-open", args=[device.pk]), {"kind": "shell", "run_as": "ops"})
    session = RemoteSession.objects.get()
    assert opened.url == reverse("resource-detail", args=["remote-sessions", session.pk])
    assert (session.run_as, session.user_label) == ("ops", "granted")
    bad = logged_in(granted).post(reverse("remote-open", args=[device.pk]), {"kind": "shell", "run_as": "x; rm"},
                                  follow=True)
    assert "An account name" in bad.content.decode() and RemoteSession.objects.count() == 1
    Device.objects.filter(pk=device.pk).update(status="offline", agent_channel="")
    offline = logged_in(granted).post(reverse("remote-open", args=[device.pk]), {"kind": "files"}, follow=True)
    assert "is not connected" in offline.content.decode()


def test_a_session_socket_is_only_for_the_user_who_opened_it_and_only_once(live_daphne, tenant_a, granted,
                                                                             admin_a):
    device = _online(tenant_a.device)
    session = services.open_session(actor=actor_for_user(granted), device_id=device.pk, kind="shell")
    stale = services.open_session(actor=actor_for_user(granted), device_id=device.pk, kind="shell")
    RemoteSession.objects.filter(pk=stale.pk).update(requested_at=timezone.now() - timedelta(minutes=10))
    url = f"{live_daphne.ws_url}/ws/remote/{session.key}/"

    async def connects(headers, target=url) -> bool:
        try:
            async with websockets.connect(target, additional_headers=headers):
                return True  # accepted (the agent is unreachable here, so nothing more comes)
        except websockets.InvalidStatus:
            return False

    owner = {"Cookie": _cookie(granted), "Origin": live_daphne.url}
    other_admin = {"Cookie": _cookie(admin_a), "Origin": live_daphne.url}

    async def scenario():
        results = {"admin": await connects(other_admin),
                   "foreign origin": await connects({"Cookie": owner["Cookie"], "Origin": "https://evil.example"}),
                   "stale": await connects(owner, f"{live_daphne.ws_url}/ws/remote/{stale.key}/")}
        results["owner"] = await connects(owner)
        results["owner again"] = await connects(owner)
        return results

    results = asyncio.run(scenario())
    assert results == {"admin": False, "foreign origin": False, "stale": False, "owner": True, "owner again": False}


def test_transcripts_and_lists_of_another_company_are_not_found(tenant_a, tenant_b, granted):
    mine = RemoteSession.objects.create(company=tenant_a.company, device=tenant_a.device, kind="shell",
                                        user_label="granted")
    theirs = RemoteSession.objects.create(company=tenant_b.company, device=tenant_b.device, kind="shell",
                                          user_label="bravo-tech")
    client = logged_in(granted)
    assert client.get(reverse("remote-transcript", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("remote-transcript", args=[mine.pk])).status_code == 200
    listing = client.get(reverse("resource-list", args=["remote-sessions"])).content.decode()
    assert "bravo-tech" not in listing and "granted" in listing


def test_a_company_requires_consent_and_names_a_banner_for_its_sessions(tenant_a, granted, admin_a):
    from portal.remote.envelopes import session_frame

    device = _online(tenant_a.device)
    page = logged_in(admin_a).post(reverse("resource-edit", args=["companies", tenant_a.company.pk]), {
        "name": tenant_a.company.name, "remote_consent_required": "on",
        "remote_banner": "Your IT provider is connected to this computer."})
    assert page.status_code == 302, page.content.decode()[:2000]
    session = services.open_session(actor=actor_for_user(granted), device_id=device.pk, kind="shell")
    assert session.consent_required
    frame = session_frame(session, banner=session.company.remote_banner)
    assert frame["envelope"]["consent"] is True
    assert frame["envelope"]["banner"] == "Your IT provider is connected to this computer."
    assert frame["envelope"]["expires"] - frame["envelope"]["issued"] == 60
