"""Which way a published event travels: through the event table only when the channel layer's groups stay in
their process. With Redis (channels-redis or our layer built on it) the layer itself reaches every process;
relaying through the table as well made every process send every event, so each listener heard it once per
web process."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from typing import Any

import pytest
import redis.asyncio
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from portal.events import publish as publishing
from portal.events.groups import agent_group, company_group
from portal.events.models import RealtimeEvent
from portal.events.publish import batched_publishing, notify_agent, publish, uses_event_table

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(("backend", "through_table"), [
    ("realtime.layers.FleetRedisChannelLayer", False),
    ("channels_redis.core.RedisChannelLayer", False),
    ("channels_redis.pubsub.RedisPubSubChannelLayer", False),
    ("realtime.peer_layer.PeerChannelLayer", True),
    ("channels.layers.InMemoryChannelLayer", True),
])
def test_events_go_through_the_table_only_when_the_layer_stays_in_its_process(settings, backend, through_table):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": backend}}
    assert uses_event_table() is through_table


def _use_redis_layer(settings) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.layers.FleetRedisChannelLayer", "CONFIG": {
        "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
        "prefix": f"fleetwatch-event-path-{secrets.token_hex(4)}"}}}


async def _listen(layer, group: str) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    return channel


async def _heard(layer, channel: str) -> list[dict]:
    """Every message that arrives on ``channel`` until a second passes without one."""
    messages = []
    try:
        while True:
            messages.append(await asyncio.wait_for(layer.receive(channel), 1.0))
    except TimeoutError:
        return messages


@pytest.mark.django_db(transaction=True)
def test_with_redis_an_event_reaches_a_listener_once_and_writes_no_row(settings, tenant_a):
    _use_redis_layer(settings)
    layer = get_channel_layer()
    channel = async_to_sync(_listen)(layer, company_group(tenant_a.company.pk))
    with transaction.atomic():
        publish("device.updated", company_id=tenant_a.company.pk, id=tenant_a.device.pk)
    assert not RealtimeEvent.objects.exists()
    messages = async_to_sync(_heard)(layer, channel)
    assert [message["event"] for message in messages] == ["device.updated"]
    async_to_sync(layer.flush)()


@pytest.mark.django_db(transaction=True)
def test_a_writer_thread_publishes_through_the_server_loop(settings, tenant_a, monkeypatch):
    """A web process's writer threads run no event loop: publishing used to make one per batch (and with it a
    new Redis connection). With the process's loop known, their sends go out through it."""
    _use_redis_layer(settings)
    monkeypatch.setattr(publishing, "_server_loop", None)  # put back as it was (none) after the test
    layer = get_channel_layer()
    server_loop = asyncio.new_event_loop()
    threading.Thread(target=server_loop.run_forever, daemon=True).start()

    async def start_listening() -> str:
        publishing.send_through_this_loop()
        return await _listen(layer, company_group(tenant_a.company.pk))

    def no_new_loop(*args, **kwargs):
        raise AssertionError("a writer thread made an event loop of its own to publish")

    try:
        channel = asyncio.run_coroutine_threadsafe(start_listening(), server_loop).result(10)
        monkeypatch.setattr(publishing, "async_to_sync", no_new_loop)
        with transaction.atomic():  # on a plain thread, as the hello and action writers are
            publish("device.updated", company_id=tenant_a.company.pk, id=tenant_a.device.pk)
        messages = asyncio.run_coroutine_threadsafe(_heard(layer, channel), server_loop).result(10)
        assert [message["event"] for message in messages] == ["device.updated"]
        asyncio.run_coroutine_threadsafe(layer.flush(), server_loop).result(10)
    finally:
        server_loop.call_soon_threadsafe(server_loop.stop)


@pytest.mark.django_db(transaction=True)
def test_with_redis_agents_told_together_share_one_publish(settings, tenant_a):
    """A roll-out tells a thousand agents at once: their messages go out in one publish, beside the
    dashboards' events, which still go to their company's group."""
    _use_redis_layer(settings)
    layer = get_channel_layer()

    async def listen_and_watch() -> tuple[list[str], str, Any]:
        agents = [await _listen(layer, agent_group(device_id)) for device_id in (101, 102, 103)]
        dashboard = await _listen(layer, company_group(tenant_a.company.pk))
        watcher = redis.asyncio.Redis.from_url(REDIS_URL).pubsub()
        await watcher.subscribe(layer.local_groups_channel)
        await watcher.get_message(timeout=1)
        return agents, dashboard, watcher

    async def collect(agents: list[str], dashboard: str, watcher) -> tuple[list[list[dict]], list[dict], int]:
        told = [await _heard(layer, channel) for channel in agents]
        heard = await _heard(layer, dashboard)
        publishes = 0
        while await watcher.get_message(timeout=0.2) is not None:
            publishes += 1
        await watcher.aclose()
        await layer.flush()
        return told, heard, publishes

    async def scenario() -> tuple[list[list[dict]], list[dict], int]:
        agents, dashboard, watcher = await listen_and_watch()
        await asyncio.to_thread(tell)
        return await collect(agents, dashboard, watcher)

    def tell() -> None:
        with transaction.atomic(), batched_publishing():
            for device_id in (101, 102, 103):
                notify_agent(device_id)
            publish("actionbatch.updated", company_id=tenant_a.company.pk, id=1)

    told, heard, publishes = asyncio.run(scenario())
    assert told == [[{"type": "agent.deliver"}]] * 3
    assert [message["event"] for message in heard] == ["actionbatch.updated"]
    assert publishes == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_stopped", [True, False])
def test_an_event_that_cannot_go_out_is_logged_once_and_the_write_stands(settings, tenant_a, monkeypatch, caplog,
                                                                         server_stopped):
    """A web process's writer thread commits its last batch while the process stops: its event loop is gone,
    and a new one cannot be made at the interpreter's exit. That is one line, not a traceback; elsewhere a
    failure to publish keeps its traceback."""
    _use_redis_layer(settings)
    stopped_loop = asyncio.new_event_loop()
    monkeypatch.setattr(publishing, "_server_loop", stopped_loop if server_stopped else None)

    def exiting(*args, **kwargs):
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    monkeypatch.setattr(publishing, "async_to_sync", exiting)
    monkeypatch.setattr(publishing, "_stopping_told", False)
    caplog.set_level(logging.INFO, logger=publishing.__name__)
    for _ in range(3):  # the writers' last batches: said once
        with transaction.atomic():
            publish("device.updated", company_id=tenant_a.company.pk, id=tenant_a.device.pk)
    stopped_loop.close()
    logged, *_ = [record for record in caplog.records if record.name == publishing.__name__]
    assert len([record for record in caplog.records if record.name == publishing.__name__]) == (
        1 if server_stopped else 3)
    if server_stopped:
        assert logged.levelname == "WARNING" and logged.exc_info is None
        assert "1 live events were not sent: the server is stopping" in logged.getMessage()
    else:
        assert logged.levelname == "ERROR" and logged.exc_info is not None


@pytest.mark.django_db(transaction=True)
def test_a_writer_does_not_wait_for_a_server_loop_that_stopped_before_sending(settings, tenant_a, monkeypatch,
                                                                              caplog):
    """A writer thread hands its batch's events to the server's loop just as the process stops: the loop ends
    without running them. The writer used to wait out the whole send timeout, holding the process's exit
    (10 s of every restart during a first-inventory backlog); it now sees the loop stopped and says so."""
    _use_redis_layer(settings)
    monkeypatch.setattr(publishing, "SEND_WAIT_SECONDS", 120.0)  # a writer still waiting fails the log check
    monkeypatch.setattr(publishing, "_stopping_told", False)
    caplog.set_level(logging.INFO, logger=publishing.__name__)
    server_loop = asyncio.new_event_loop()
    busy, handed_over = threading.Event(), threading.Event()

    def stop_after_the_hand_over() -> None:
        # Runs on the loop: the sends handed over meanwhile queue behind this callback and the stop.
        busy.set()
        handed_over.wait(30)
        server_loop.stop()

    monkeypatch.setattr(publishing, "_server_loop", server_loop)
    original_send = publishing._sent_through_server_loop

    def hand_over_then_let_the_loop_stop(send_all):
        threading.Timer(0.2, handed_over.set).start()
        return original_send(send_all)

    monkeypatch.setattr(publishing, "_sent_through_server_loop", hand_over_then_let_the_loop_stop)
    server_loop.call_soon(stop_after_the_hand_over)
    running = threading.Thread(target=server_loop.run_forever, daemon=True)
    running.start()
    assert busy.wait(10)
    with transaction.atomic():
        publish("device.updated", company_id=tenant_a.company.pk, id=tenant_a.device.pk)
    running.join(10)
    server_loop.close()
    messages = [record.getMessage() for record in caplog.records if record.name == publishing.__name__]
    assert messages == ["1 live events were not sent: the server is stopping (ServerLoopStopped: the server's "
                        "event loop stopped before it sent them); the writes are committed, and open pages re-read "
                        "them when they reconnect"]
