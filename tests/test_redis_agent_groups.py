"""With Redis, an agent socket's group lives in the process holding the socket: joining and leaving it
touch no Redis key, and a message for it, sent from any process, is published once and handed over by
the process that holds the socket."""

from __future__ import annotations

import asyncio
import os
import secrets

import pytest
import redis.asyncio

from realtime.layers import FleetRedisChannelLayer

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def _layer(prefix: str) -> FleetRedisChannelLayer:
    return FleetRedisChannelLayer(hosts=[{"address": REDIS_URL, "socket_timeout": None, "max_connections": 20,
                                          "timeout": 10}], prefix=prefix)


@pytest.fixture
def prefix() -> str:
    return f"fleetwatch-groups-test-{secrets.token_hex(4)}"


async def _nothing_arrives(layer: FleetRedisChannelLayer, channel: str) -> bool:
    try:
        await asyncio.wait_for(layer.receive(channel), 0.5)
    except TimeoutError:
        return True
    return False


async def _close(*layers: FleetRedisChannelLayer) -> None:
    for layer in layers:
        await layer.flush()


def test_a_message_for_an_agent_reaches_the_process_holding_its_socket_and_no_other(prefix):
    async def scenario() -> None:
        first, second, worker = _layer(prefix), _layer(prefix), _layer(prefix)  # two web processes, a task worker
        on_first, on_second = await first.new_channel(), await second.new_channel()
        await first.group_add("agent.5", on_first)
        await second.group_add("agent.6", on_second)
        await worker.group_send("agent.5", {"type": "agent.deliver", "n": 1})
        assert await asyncio.wait_for(first.receive(on_first), 5) == {"type": "agent.deliver", "n": 1}
        assert await _nothing_arrives(second, on_second)
        await first.group_send("agent.6", {"type": "agent.cancel", "action_id": 9})
        assert await asyncio.wait_for(second.receive(on_second), 5) == {"type": "agent.cancel", "action_id": 9}
        # Nothing of the agent groups is kept in Redis: a handshake costs no command at all.
        keys = await first.connection(0).keys(f"{prefix}:group:*")
        assert keys == []
        await _close(first, second, worker)

    asyncio.run(scenario())


def test_a_socket_that_left_its_group_gets_nothing_more(prefix):
    async def scenario() -> None:
        web, worker = _layer(prefix), _layer(prefix)
        channel = await web.new_channel()
        await web.group_add("agent.7", channel)
        assert web.local_members("agent.7") == {channel}
        await web.group_discard("agent.7", channel)
        await web.group_discard("agent.7", channel)  # twice is harmless, as upstream
        assert web.local_members("agent.7") == set()
        await worker.group_send("agent.7", {"type": "agent.disconnect"})
        assert await _nothing_arrives(web, channel)
        await _close(web, worker)

    asyncio.run(scenario())


def test_other_groups_stay_in_redis_for_every_process(prefix):
    async def scenario() -> None:
        first, second = _layer(prefix), _layer(prefix)
        on_first, on_second = await first.new_channel(), await second.new_channel()
        await first.group_add("company.3", on_first)
        await second.group_add("company.3", on_second)
        assert await first.connection(0).zcard(first._group_key("company.3")) == 2
        await first.group_send("company.3", {"type": "event"})
        assert await asyncio.wait_for(first.receive(on_first), 5) == {"type": "event"}
        assert await asyncio.wait_for(second.receive(on_second), 5) == {"type": "event"}
        await _close(first, second)

    asyncio.run(scenario())


def test_garbage_on_the_channel_is_dropped_and_a_lost_subscription_comes_back(prefix):
    async def scenario() -> None:
        web, worker = _layer(prefix), _layer(prefix)
        channel = await web.new_channel()
        await web.group_add("agent.8", channel)
        admin = redis.asyncio.Redis.from_url(REDIS_URL)
        await admin.publish(web.local_groups_channel, b"\x00not msgpack")
        await admin.publish(web.local_groups_channel, web.serialize({"no": "group"}))
        # A batch with an entry that is not a message is dropped whole, before it reaches any socket.
        await admin.publish(web.local_groups_channel, web.serialize({"b": [["agent.8", "not a message"]]}))
        # Redis drops the subscriber's connection (a restart, a network cut): it subscribes again.
        killed = 0
        for client in await admin.client_list(_type="pubsub"):
            if client.get("name") == web.subscriber_name:
                killed += await admin.client_kill_filter(_id=client["id"])
        assert killed == 1
        for _ in range(100):
            await asyncio.sleep(0.05)
            if web._loops[asyncio.get_running_loop()].subscribed.is_set() and any(
                    client.get("name") == web.subscriber_name
                    for client in await admin.client_list(_type="pubsub")):
                break
        await worker.group_send("agent.8", {"type": "agent.deliver"})
        assert await asyncio.wait_for(web.receive(channel), 5) == {"type": "agent.deliver"}
        await admin.aclose()
        await _close(web, worker)

    asyncio.run(scenario())


def test_a_join_fails_clearly_when_redis_cannot_be_reached(prefix):
    layer = FleetRedisChannelLayer(hosts=[{"address": "redis://127.0.0.1:1/0", "socket_timeout": 1}], prefix=prefix)

    async def scenario() -> None:
        channel = await layer.new_channel()
        with pytest.raises(ConnectionError, match="agent groups"):
            await layer.group_add("agent.9", channel)
        await layer.close_pools()

    asyncio.run(scenario())


def test_a_process_whose_inbox_is_full_drops_the_message_instead_of_growing(prefix, caplog):
    async def scenario() -> list[dict]:
        web = FleetRedisChannelLayer(hosts=[{"address": REDIS_URL, "socket_timeout": None}], prefix=prefix,
                                     capacity=2)
        worker = _layer(prefix)
        channel = await web.new_channel()
        await web.group_add("agent.10", channel)
        for number in range(4):
            await worker.group_send("agent.10", {"type": "agent.deliver", "n": number})
        await asyncio.sleep(0.5)
        received = [await asyncio.wait_for(web.receive(channel), 5) for _ in range(2)]
        assert await _nothing_arrives(web, channel)
        await _close(web, worker)
        return received

    assert [message["n"] for message in asyncio.run(scenario())] == [0, 1]
    assert caplog.text.count("is full; a message for its agent group was dropped") == 2


def test_many_agents_told_at_once_cost_one_publish_and_one_entry_per_process_in_order(prefix):
    """A roll-out tells a thousand agents at once: one publish for all of them, and each process hands the
    same message to all its sockets as one entry (its receive loop takes entries one Redis round trip each)."""
    async def scenario() -> None:
        web, worker = _layer(prefix), _layer(prefix)
        channels = [await web.new_channel() for _ in range(3)]
        for number, channel in enumerate(channels):
            await web.group_add(f"agent.{20 + number}", channel)
        watcher = redis.asyncio.Redis.from_url(REDIS_URL)
        published = watcher.pubsub()
        await published.subscribe(web.local_groups_channel)
        await published.get_message(timeout=1)  # the subscription's confirmation
        deliver = {"type": "agent.deliver"}
        cancels = [{"type": "agent.cancel", "action_id": action_id} for action_id in range(4, 10)]
        await worker.group_send_to_many([("agent.20", deliver), ("agent.21", deliver), ("agent.22", deliver),
                                         ("agent.99", deliver), *(("agent.20", cancel) for cancel in cancels)])
        assert await published.get_message(timeout=2) is not None
        assert await published.get_message(timeout=0.3) is None  # one publish carried all ten
        inbox = web.prefix + web.non_local_name(channels[0])
        for _ in range(100):
            if await watcher.zcard(inbox) == 7:
                break
            await asyncio.sleep(0.02)
        assert await watcher.zcard(inbox) == 7  # the three delivers in one entry, then each cancel
        # In the order they were sent: entries of one hand-over are not left to the sorted set's tie-break.
        assert [await asyncio.wait_for(web.receive(channels[0]), 5) for _ in range(7)] == [deliver, *cancels]
        for channel in channels[1:]:
            assert await asyncio.wait_for(web.receive(channel), 5) == deliver
            assert await _nothing_arrives(web, channel)
        await published.aclose()
        await watcher.aclose()
        await _close(web, worker)

    asyncio.run(scenario())


def test_a_batch_naming_an_invalid_group_is_refused_before_anything_is_sent(prefix):
    async def scenario() -> None:
        worker = _layer(prefix)
        with pytest.raises(AssertionError, match="Group name not valid"):
            await worker.group_send_to_many([("agent.1", {"type": "agent.deliver"}), ("company.1", {"type": "x"})])
        await _close(worker)

    asyncio.run(scenario())
