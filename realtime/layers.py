"""The channel layers: Channels' in-memory layer with its expiry sweep rate-limited (embedded), and
channels-redis with a pool that waits for a connection and per-process agent groups (with Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

import redis.asyncio
from channels.layers import InMemoryChannelLayer
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 1.0


class ProcessLocalChannelLayer(InMemoryChannelLayer):
    """Channels' InMemoryChannelLayer, except that its sweep for expired messages and memberships runs at
    most once a second. Upstream it runs on every send and receive and walks every channel and group
    membership, so with 5,000 agent sockets each published event cost a scan of 10,000 entries and
    heartbeat acks waited seconds behind the backlog."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._last_sweep = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        super()._clean_expired()


class PooledRedisChannelLayer(RedisChannelLayer):
    """channels-redis with a pool that waits for a free connection instead of failing.

    Upstream's pool opens a connection per concurrent command and raises "Too many connections" past its
    maximum. In a reconnect storm of 10,000 agents thousands of handshakes add their socket to its group at
    once: 14,000 handshakes a run failed that way (each logged with its traceback), and every failure came
    back as another handshake. Here a process holds at most ``max_connections`` and a command waits up to
    ``timeout`` seconds for one; Redis answers each in well under a millisecond, so the wait is short."""

    def create_pool(self, index: int) -> redis.asyncio.ConnectionPool:
        host = dict(self.hosts[index])
        address = host.pop("address")
        return redis.asyncio.BlockingConnectionPool.from_url(address, **host)


# Groups of one member each, held in the process of that member: an agent's socket (``agent.<device id>``).
PROCESS_LOCAL_GROUP_PREFIXES = ("agent.",)
SUBSCRIBED_WITHIN_SECONDS = 5.0
RESUBSCRIBE_AFTER_SECONDS = 1.0
HANDOVER_BATCH = 500
PUBLISH_BATCH = 500
SCORE_STEP = 1e-5  # well above a double's resolution at today's epoch seconds (~2e-7)
# What channels-redis's send does for a process's channel, in one round trip.
SEND_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, ARGV[1])
if redis.call('ZCOUNT', KEYS[1], '-inf', '+inf') >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _runs_of_one_message(handovers: list[tuple[str, dict[str, Any]]]) -> list[tuple[list[str], dict[str, Any]]]:
    """Consecutive hand-overs of an equal message become one entry with every channel it goes to. Only
    neighbours are joined, so each channel still receives its messages in the order they were published."""
    entries: list[tuple[list[str], dict[str, Any]]] = []
    for channel, message in handovers:
        if entries and entries[-1][1] == message:
            entries[-1][0].append(channel)
        else:
            entries.append(([channel], message))
    return entries


class _LoopGroups:
    """One event loop's process-local groups and its subscription to the messages sent to them."""

    def __init__(self) -> None:
        self.members: defaultdict[str, set[str]] = defaultdict(set)
        self.subscribed = asyncio.Event()
        self.listener: asyncio.Task | None = None
        # Messages for this loop's members, handed over in the order they were published.
        self.handovers: list[tuple[str, dict[str, Any]]] = []
        self.handing_over: asyncio.Task | None = None


class FleetRedisChannelLayer(PooledRedisChannelLayer):
    """channels-redis, except that an agent socket's group lives in the memory of the process holding it.

    Upstream keeps every group in Redis: each agent handshake adds its socket to its device's group (two
    commands) and each disconnect takes it out again. In a reconnect storm of 15,000 agents those commands
    queued behind each other on the pool while the event loop was saturated, and handshakes timed out
    waiting for them. A device's group has exactly one member, on the process that holds its socket, so here
    joining and leaving one is a dictionary update. A message for such a group is published once on a Redis
    pub/sub channel that every process of the fleet (of this prefix) subscribes to; each process hands it to
    the sockets of that group it holds (most hold none and drop it) through the socket's own channel. The
    handshake and the disconnect cost no Redis command at all. Like every channel-layer message, one that no
    process holds a member for is dropped (actions are acknowledged at their own level and fetched again on
    the agent's next hello).

    Pub/sub runs on the first host: with several hosts (sharding), every process subscribes there."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.local_groups_channel = f"{self.prefix}:process-local-groups"
        self.subscriber_name = f"{self.prefix}-agent-groups"  # as CLIENT LIST shows it
        self._loops: dict[asyncio.AbstractEventLoop, _LoopGroups] = {}
        self._last_score = 0.0

    @staticmethod
    def is_process_local(group: str) -> bool:
        return group.startswith(PROCESS_LOCAL_GROUP_PREFIXES)

    async def group_add(self, group: str, channel: str) -> None:
        if not self.is_process_local(group):
            await super().group_add(group, channel)
            return
        assert self.require_valid_group_name(group), "Group name not valid"
        assert self.require_valid_channel_name(channel), "Channel name not valid"
        groups = await self._subscribed_groups()
        groups.members[group].add(channel)

    async def group_discard(self, group: str, channel: str) -> None:
        if not self.is_process_local(group):
            await super().group_discard(group, channel)
            return
        groups = self._loops.get(asyncio.get_running_loop())
        if groups is None:
            return
        members = groups.members.get(group)
        if members is not None:
            members.discard(channel)
            if not members:
                del groups.members[group]

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if not self.is_process_local(group):
            await super().group_send(group, message)
            return
        assert self.require_valid_group_name(group), "Group name not valid"
        await self.connection(0).publish(self.local_groups_channel, self.serialize({"g": group, "m": message}))

    async def group_send_to_many(self, sends: list[tuple[str, dict[str, Any]]]) -> None:
        """``group_send`` of many process-local groups' messages, ``PUBLISH_BATCH`` to a publish, in order.

        A roll-out tells a thousand agents at once: one publish each made every process read and decode a
        thousand pub/sub messages, one by one on its event loop, before the last socket heard of its task."""
        for group, _ in sends:
            assert self.is_process_local(group) and self.require_valid_group_name(group), "Group name not valid"
        for start in range(0, len(sends), PUBLISH_BATCH):
            batch = [[group, message] for group, message in sends[start:start + PUBLISH_BATCH]]
            await self.connection(0).publish(self.local_groups_channel, self.serialize({"b": batch}))

    def local_members(self, group: str) -> set[str]:
        """This process's (this loop's) sockets in a process-local group."""
        groups = self._loops.get(asyncio.get_running_loop())
        return set(groups.members.get(group, ())) if groups is not None else set()

    async def _subscribed_groups(self) -> _LoopGroups:
        loop = asyncio.get_running_loop()
        groups = self._loops.get(loop)
        if groups is None:
            groups = self._loops[loop] = _LoopGroups()
        if groups.listener is None or groups.listener.done():
            groups.listener = loop.create_task(self._listen(groups), name="fleetwatch-agent-groups")
        if not groups.subscribed.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(groups.subscribed.wait()), SUBSCRIBED_WITHIN_SECONDS)
            except TimeoutError:
                raise ConnectionError("Could not subscribe to the agent groups' channel on Redis.") from None
        return groups

    async def _listen(self, groups: _LoopGroups) -> None:
        """Hand each published message to this process's members of its group, resubscribing after an outage
        (messages published meanwhile are lost, as they are for every Redis command during one)."""
        while True:
            pool = self.create_pool(0)
            pool.connection_kwargs["client_name"] = self.subscriber_name
            client = redis.asyncio.Redis(connection_pool=pool)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.local_groups_channel)
                    async for published in pubsub.listen():
                        if published["type"] == "subscribe":
                            groups.subscribed.set()
                        elif published["type"] == "message":
                            self._deliver_locally(groups, published["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                groups.subscribed.clear()
                logger.warning("agent groups' subscription lost (%s: %s); subscribing again",
                               type(error).__name__, error)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose(close_connection_pool=True)
            await asyncio.sleep(RESUBSCRIBE_AFTER_SECONDS)

    def _deliver_locally(self, groups: _LoopGroups, data: bytes) -> None:
        try:
            envelope = self.deserialize(data)
            sends = [(envelope["g"], envelope["m"])] if "g" in envelope else envelope["b"]
            if not all(isinstance(group, str) and isinstance(message, dict) for group, message in sends):
                raise TypeError("a group name and a message (a dict) each")  # one bad entry must not fail the batch
            handovers = [(channel, message) for group, message in sends for channel in groups.members.get(group, ())]
        except Exception:
            logger.warning("a malformed message on the agent groups' channel was dropped")
            return
        # Through channels-redis's own send: its receive loop blocks on Redis for whichever socket holds the
        # process's receive lock, and would not see a message put straight into a local queue.
        groups.handovers.extend(handovers)
        if groups.handovers and (groups.handing_over is None or groups.handing_over.done()):
            groups.handing_over = asyncio.ensure_future(self._hand_over(groups))

    async def _hand_over(self, groups: _LoopGroups) -> None:
        """One task per loop hands the messages over in order (a configuration change, then a revocation,
        arrive as they were sent), whatever queued meanwhile in one pipeline per Redis host."""
        while groups.handovers:
            batch, groups.handovers = groups.handovers[:HANDOVER_BATCH], groups.handovers[HANDOVER_BATCH:]
            by_host: defaultdict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
            for channel, message in batch:  # a channel always hashes to the same host: its order is kept
                by_host[self.consistent_hash(channel)].append((channel, message))
            for index, handovers in by_host.items():
                await self._send_to_members(index, handovers)

    async def _send_to_members(self, index: int, handovers: list[tuple[str, dict[str, Any]]]) -> None:
        """channels-redis's ``send`` to this process's channels, each as one script instead of four round
        trips (expire old messages, count, add, set expiry): a reconnect storm hands over one message per
        hello. A run of one message to many sockets (a roll-out's "actions wait for you") is one entry naming
        every channel, as channels-redis's own group send does: the process's receive loop takes entries off
        Redis one at a time, a round trip each, and five hundred of them took seconds on a busy loop."""
        now = time.time()
        entries = _runs_of_one_message(handovers)
        try:
            async with self.connection(index).pipeline(transaction=False) as pipeline:
                for channels, message in entries:
                    pipeline.eval(SEND_SCRIPT, 1, self.prefix + self.non_local_name(channels[0]),
                                  int(now) - int(self.expiry), self.get_capacity(channels[0]), self._next_score(),
                                  self.serialize({**message, "__asgi_channel__": channels if len(channels) > 1
                                                  else channels[0]}), int(self.expiry))
                results = await pipeline.execute(raise_on_error=False)
        except Exception as error:
            logger.warning("could not hand %s messages to this process's agent sockets (%s: %s)", len(handovers),
                           type(error).__name__, error)
            return
        for (channels, _), added in zip(entries, results, strict=True):
            named = channels[0] if len(channels) == 1 else f"{channels[0]} and {len(channels) - 1} more"
            if isinstance(added, Exception):
                logger.warning("could not hand a message to %s (%s: %s)", named, type(added).__name__, added)
            elif not added:
                logger.warning("channel %s is full; a message for its agent group was dropped", named)

    def _next_score(self) -> float:
        """The inbox is a sorted set taken lowest score first, and entries of equal score come out in the order
        of their bytes (which start with a random prefix): each hand-over gets a score above the last one's,
        so the messages of a batch, and of the batches after it, come out in the order they were handed over."""
        self._last_score = max(time.time(), self._last_score + SCORE_STEP)
        return self._last_score

    async def flush(self) -> None:
        await self._stop_listening()
        await super().flush()

    async def close_pools(self) -> None:
        await self._stop_listening()
        await super().close_pools()

    async def _stop_listening(self) -> None:
        groups = self._loops.pop(asyncio.get_running_loop(), None)
        if groups is None:
            return
        for task in (groups.listener, groups.handing_over):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
