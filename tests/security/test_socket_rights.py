"""Open sockets follow the rights they were opened with: a revoked or expired token, a deactivated user, a
changed role or company scope closes them within seconds, in the server process that holds them (a real
daphne here, the change made in this test process). Before, they kept receiving pushes and running
operations with the rights of the moment they connected. And the websocket Origin check compares scheme,
host and port exactly, where before it compared the host name only."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import pytest
import websockets
from django.test import Client, override_settings
from django.utils import timezone

from portal.access import actor_for_user
from portal.accounts.models import User
from portal.accounts.services import create_api_token, revoke_api_token
from realtime.auth import origin_is_ours
from realtime.rights import CLOSE_RIGHTS_CHANGED

CLOSE_WITHIN_SECONDS = 5


def _session_cookie(user) -> str:
    browser = Client()
    browser.force_login(user)
    return f"sessionid={browser.cookies['sessionid'].value}"


async def _closed_code(socket) -> tuple[int, float]:
    """Wait for the server to close the socket; the close code and how long it took."""
    started = time.monotonic()
    try:
        while True:
            await asyncio.wait_for(socket.recv(), CLOSE_WITHIN_SECONDS + 5)
    except websockets.ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None, time.monotonic() - started


def _live_socket_closes_after(live_daphne, user, change, *, cookie: str | None = None) -> tuple[int, float]:
    headers = {"Cookie": cookie or _session_cookie(user), "Origin": live_daphne.url}

    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.5)
            await asyncio.to_thread(change)
            return await _closed_code(socket)

    return asyncio.run(scenario())


async def _graphql_socket(live_daphne, token: str):
    socket = await websockets.connect(f"{live_daphne.ws_url}/graphql/", subprotocols=["graphql-transport-ws"],
                                      additional_headers={"Authorization": f"Bearer {token}"})
    await socket.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await socket.recv())["type"] == "connection_ack"
    await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription { deviceStatusChanged { hostname status } }"}}))
    return socket


@pytest.mark.django_db(transaction=True)
def test_a_deactivated_user_loses_the_live_socket(live_daphne, operator_a):
    def deactivate():
        user = User.objects.get(pk=operator_a.pk)
        user.is_active = False
        user.save()

    cookie = _session_cookie(operator_a)
    code, seconds = _live_socket_closes_after(live_daphne, operator_a, deactivate, cookie=cookie)
    assert code == CLOSE_RIGHTS_CHANGED and seconds < CLOSE_WITHIN_SECONDS

    async def reconnect():  # the same session, now of a disabled user
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers={
                "Cookie": cookie, "Origin": live_daphne.url}):
            pass

    with pytest.raises(websockets.InvalidStatus):
        asyncio.run(reconnect())


@pytest.mark.django_db(transaction=True)
def test_removing_a_company_from_a_user_closes_their_sockets(live_daphne, operator_a, tenant_a):
    code, seconds = _live_socket_closes_after(live_daphne, operator_a,
                                              lambda: operator_a.companies.remove(tenant_a.company))
    assert code == CLOSE_RIGHTS_CHANGED and seconds < CLOSE_WITHIN_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_role_change_closes_the_sockets(live_daphne, operator_a):
    def demote():
        user = User.objects.get(pk=operator_a.pk)
        user.role = "viewer"
        user.save()

    code, seconds = _live_socket_closes_after(live_daphne, operator_a, demote)
    assert code == CLOSE_RIGHTS_CHANGED and seconds < CLOSE_WITHIN_SECONDS


@pytest.mark.django_db(transaction=True)
def test_a_signing_in_elsewhere_changes_nothing(live_daphne, operator_a):
    """Saving a user without touching their rights (last login) must not close their sockets."""
    headers = {"Cookie": _session_cookie(operator_a), "Origin": live_daphne.url}

    async def scenario():
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/", additional_headers=headers) as socket:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(lambda: _session_cookie(User.objects.get(pk=operator_a.pk)))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(socket.recv(), 2)

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_a_revoked_token_closes_its_graphql_subscriptions(live_daphne, operator_a):
    actor = actor_for_user(operator_a)
    issued = create_api_token(actor=actor, name="watcher")

    async def scenario():
        socket = await _graphql_socket(live_daphne, issued.plaintext)
        await asyncio.to_thread(revoke_api_token, actor=actor, token=issued.token)
        result = await _closed_code(socket)
        try:
            refused = await websockets.connect(f"{live_daphne.ws_url}/graphql/",
                                               subprotocols=["graphql-transport-ws"],
                                               additional_headers={"Authorization": f"Bearer {issued.plaintext}"})
            await refused.recv()
        except websockets.ConnectionClosed as closed:
            return result, closed.rcvd.code
        except websockets.InvalidStatus as status:
            return result, status.response.status_code
        return result, None

    (code, seconds), second_attempt = asyncio.run(scenario())
    assert code == CLOSE_RIGHTS_CHANGED and seconds < CLOSE_WITHIN_SECONDS
    assert second_attempt in (4401, 403)


@pytest.mark.django_db(transaction=True)
def test_an_expiring_token_closes_its_sockets_when_it_expires(live_daphne, operator_a):
    issued = create_api_token(actor=actor_for_user(operator_a), name="short",
                              expires_at=timezone.now() + timedelta(seconds=3))

    async def scenario():
        socket = await _graphql_socket(live_daphne, issued.plaintext)
        return await _closed_code(socket)

    code, seconds = asyncio.run(scenario())
    assert code == CLOSE_RIGHTS_CHANGED and seconds < 3 + CLOSE_WITHIN_SECONDS


def _scope(host: str, scheme: str = "ws", **headers: str) -> dict:
    return {"scheme": scheme, "headers": [(b"host", host.encode()),
                                          *((k.encode(), v.encode()) for k, v in headers.items())]}


@override_settings(ALLOWED_HOSTS=["127.0.0.1", ".example.com"], CSRF_TRUSTED_ORIGINS=["https://rmm.example.com",
                                                                                       "https://*.example.net"],
                   FLEETWATCH_BASE_URL="http://127.0.0.1:8000")
def test_origins_are_compared_by_scheme_host_and_port():
    same = _scope("127.0.0.1:8123")
    assert origin_is_ours("http://127.0.0.1:8123", same)
    assert not origin_is_ours("http://127.0.0.1:9999", same)  # another port on the same host (before: accepted)
    assert not origin_is_ours("https://127.0.0.1:8123", same)  # another scheme (before: accepted)
    assert not origin_is_ours("http://127.0.0.1:8123/", _scope("127.0.0.1:9999"))
    assert origin_is_ours("http://127.0.0.1:8000", _scope("10.0.0.1:8000"))  # FLEETWATCH_BASE_URL
    assert origin_is_ours("https://rmm.example.com", _scope("rmm.example.com"))
    # A wildcard in ALLOWED_HOSTS or CSRF_TRUSTED_ORIGINS trusts no origin for the session socket.
    assert not origin_is_ours("http://evil.example.com", _scope("evil.example.com"))
    assert not origin_is_ours("https://evil.example.net", _scope("evil.example.net", "wss"))
    assert not origin_is_ours("null", same) and not origin_is_ours("", same)
    assert not origin_is_ours("http://user@127.0.0.1:8123", same)


@override_settings(ALLOWED_HOSTS=["rmm.example.com"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
                   CSRF_TRUSTED_ORIGINS=[], FLEETWATCH_BASE_URL="http://127.0.0.1:8000")
def test_behind_a_tls_proxy_the_forwarded_scheme_counts():
    proxied = _scope("rmm.example.com", **{"x-forwarded-proto": "https"})
    assert origin_is_ours("https://rmm.example.com", proxied)
    assert not origin_is_ours("http://rmm.example.com", proxied)


@pytest.mark.django_db(transaction=True)
def test_a_live_socket_from_another_port_is_refused(live_daphne, operator_a):
    cookie = _session_cookie(operator_a)
    port = int(live_daphne.url.rsplit(":", 1)[1])

    async def attempt(origin: str):
        async with websockets.connect(f"{live_daphne.ws_url}/ws/live/",
                                      additional_headers={"Cookie": cookie, "Origin": origin}):
            pass

    for origin in (f"http://127.0.0.1:{port + 1}", f"https://127.0.0.1:{port}"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(attempt(origin))
        assert refused.value.response.status_code == 403
    asyncio.run(attempt(live_daphne.url))
