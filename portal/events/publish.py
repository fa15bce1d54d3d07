"""``publish``: announce a committed change to dashboards, subscriptions and agents in every process."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from portal.bulk_insert import insert_new
from portal.events.groups import agent_group, api_token_group, company_group, user_group
from portal.events.models import RealtimeEvent

logger = logging.getLogger(__name__)
RIGHTS_CHANGED = "actor.changed"
SENDS_IN_FLIGHT = 50  # channel-layer sends at once when a batch goes out
SEND_WAIT_SECONDS = 10.0
LOOP_CHECK_SECONDS = 0.1  # how often a writer waiting on the server's loop checks that it still runs
_batch = threading.local()
_server_loop: asyncio.AbstractEventLoop | None = None
_stopping_told = False


def uses_event_table() -> bool:
    """True in embedded mode, where the channel layer's groups live inside one process only (anything but
    channels-redis or a layer built on it)."""
    return not _layer_reaches_every_process(settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", ""))


@functools.cache
def _layer_reaches_every_process(backend: str) -> bool:
    """Whether the layer carries a group send to every process by itself. Asked of the class, not its dotted
    path: a layer of ours built on channels-redis must not also relay events through the table (every
    process relaying every event made each listener hear it once per process)."""
    return bool(backend) and issubclass(import_string(backend), RedisChannelLayer | RedisPubSubChannelLayer)


def publish(event: str, *, company_id: int | None, **ids: Any) -> None:
    """Send ``event`` (``<noun>.<past_verb>``) to the company's group once the transaction commits.

    Events carry ids and the company id only, never rendered HTML or secrets: each listener re-reads
    what it may see through the selectors. With Redis the channel layer carries the event to every
    process; embedded, the event is a row in the caller's transaction that each server process relays.
    """
    if company_id is None:
        return
    message = {"type": "fleet.event", "event": event, "company_id": company_id, **ids}
    publish_to_group(company_group(company_id), message)


def publish_to_group(group: str, message: dict[str, Any]) -> None:
    """Deliver a channel-layer message to ``group`` in every process, once the transaction commits."""
    pending = getattr(_batch, "messages", None)
    if pending is not None:
        pending.append((group, message))
        return
    _publish_all([(group, message)])


@contextmanager
def batched_publishing() -> Iterator[None]:
    """What is published inside the block goes out together at its end (call it inside the transaction
    that makes the changes): one insert of event rows embedded, one trip to the channel layer after
    commit with Redis, instead of one each. A roll-out publishes thousands of events a second."""
    if getattr(_batch, "messages", None) is not None:
        yield  # nested: the outermost block sends
        return
    _batch.messages = []
    try:
        yield
        messages = _batch.messages
    finally:
        _batch.messages = None
    if messages:
        _publish_all(messages)


def _publish_all(messages: list[tuple[str, dict[str, Any]]]) -> None:
    if uses_event_table():
        insert_new([RealtimeEvent(group=group, message=message) for group, message in messages])
        return
    transaction.on_commit(lambda: _send_all(messages))


def _send_all(messages: list[tuple[str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send(group: str, message: dict[str, Any], in_flight: asyncio.Semaphore) -> None:
        async with in_flight:
            try:
                await layer.group_send(group, message)
            except Exception:
                # A realtime outage must never undo or fail a committed write; listeners refresh on reconnect.
                logger.exception("could not publish %s to %s", message.get("event", message["type"]), group)

    # The Redis layer takes many agent groups' messages in one publish (a roll-out tells a thousand at once).
    send_many = getattr(layer, "group_send_to_many", None)
    together: list[tuple[str, dict[str, Any]]] = []
    one_by_one: list[tuple[str, dict[str, Any]]] = []
    for group, message in messages:
        (together if send_many and layer.is_process_local(group) else one_by_one).append((group, message))

    async def send_together() -> None:
        try:
            await send_many(together)
        except Exception:
            logger.exception("could not publish %s messages to agents", len(together))

    async def send_all() -> None:
        in_flight = asyncio.Semaphore(SENDS_IN_FLIGHT)
        await asyncio.gather(*([send_together()] if together else []),
                             *(send(group, message, in_flight) for group, message in one_by_one))

    try:
        if not _sent_through_server_loop(send_all):
            async_to_sync(send_all)()
    except Exception as error:
        if _server_has_stopped():  # a writer thread committing its last batch on the way out: no loop is left
            global _stopping_told
            logger.log(logging.DEBUG if _stopping_told else logging.WARNING,
                       "%s live events were not sent: the server is stopping (%s: %s); the writes are committed, "
                       "and open pages re-read them when they reconnect", len(messages), type(error).__name__, error)
            _stopping_told = True  # once per process: the writers' last batches would each say the same
            return
        logger.exception("could not publish %s events", len(messages))


def send_through_this_loop() -> None:
    """Called on a web process's event loop: what its writer threads publish goes out through this loop.

    Those threads run no loop of their own, so ``async_to_sync`` made a new event loop for every batch, and
    channels-redis (which keeps its connections per loop) a new Redis connection and client with it: a
    thousand connections a minute in a reconnect storm, each a handshake with Redis and garbage to collect."""
    global _server_loop
    loop = asyncio.get_running_loop()
    if _server_loop is not loop:
        _server_loop = loop


class ServerLoopStopped(RuntimeError):
    """The server's event loop stopped before it ran the sends handed to it."""


def _sent_through_server_loop(send_all: Callable[[], Awaitable[None]]) -> bool:
    loop = _server_loop
    if loop is None or not loop.is_running() or _running_loop() is not None:
        return False
    future = asyncio.run_coroutine_threadsafe(send_all(), loop)
    # Waited for in short slices: a loop that stops after the sends were handed to it never runs them, and a
    # writer thread committing its last batch as the process stops held the process's exit for the whole wait.
    deadline = time.monotonic() + SEND_WAIT_SECONDS
    while True:
        try:
            future.result(timeout=min(LOOP_CHECK_SECONDS, max(0.0, deadline - time.monotonic())))
            return True
        except TimeoutError:
            if not loop.is_running():
                future.cancel()
                raise ServerLoopStopped("the server's event loop stopped before it sent them") from None
            if time.monotonic() >= deadline:  # the sends go on; the writer does not wait for a loop that far behind
                logger.warning("publishing waited over %s s for the server's event loop", SEND_WAIT_SECONDS)
                return True


def _server_has_stopped() -> bool:
    """Whether this is a web process whose event loop has ended (it is shutting down)."""
    return _server_loop is not None and not _server_loop.is_running()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def announce_rights_changed(*, user_ids: Iterable[int] = (), api_token_ids: Iterable[int] = ()) -> None:
    """The rights behind these users' and tokens' open sockets changed: each closes (realtime/rights.py),
    in every process, once the transaction commits."""
    for user_id in set(user_ids):
        publish_to_group(user_group(user_id), {"type": RIGHTS_CHANGED})
    for token_id in set(api_token_ids):
        publish_to_group(api_token_group(token_id), {"type": RIGHTS_CHANGED})


def notify_agent(device_id: int) -> None:
    """Tell the device's socket (in whichever process holds it) that actions wait for it."""
    publish_to_group(agent_group(device_id), {"type": "agent.deliver"})
