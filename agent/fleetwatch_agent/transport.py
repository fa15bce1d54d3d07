"""The agent's connection to the server: a websocket kept open forever, with an HTTPS fallback.

Reconnects with exponential backoff and jitter on any failure; stops only when asked to, or when
the server refuses the token (revoked or unknown), which needs a new enrollment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fleetwatch_agent import __version__, collect, self_update, updates
from fleetwatch_agent.actions import ActionRunner
from fleetwatch_agent.config import AgentConfig
from fleetwatch_agent.envelope import endorsed
from fleetwatch_agent.ledger import ActionLedger
from fleetwatch_agent.remote.sessions import RemoteSessions
from fleetwatch_agent.state import AgentState, StateStore

logger = logging.getLogger(__name__)
CLOSE_REVOKED = 4401
CLOSE_REPLACED = 4409  # another agent with this token connected
MAX_FRAME_BYTES = 1024 * 1024
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class TokenRefused(Exception):
    """The server refuses this agent's token: enroll again."""


def check_server_url(url: str) -> None:
    """HTTPS with verification, except on the local machine where plain HTTP is allowed."""
    parsed = urlparse(url)
    if parsed.scheme not in {"https", "http"} or not parsed.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL.")
    if parsed.scheme == "http" and parsed.hostname not in LOOPBACK:
        raise ValueError("Use https:// for a server on another machine (plain http is only for localhost).")


def tls_context(config: AgentConfig) -> ssl.SSLContext:
    """Certificate verification is always on; a configured CA bundle is trusted in addition."""
    context = ssl.create_default_context()
    if config.ca_bundle:
        context.load_verify_locations(cafile=str(config.ca_bundle))
    return context


def websocket_url(server: str) -> str:
    parsed = urlparse(server)
    scheme = "wss" if parsed.scheme == "https" else "ws"
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}/ws/agent/"


# The longest reconnect window a server may ask for (a server of 180,000 agents at 300 reconnects a second).
MAX_RECONNECT_SPREAD = 600.0


@dataclass
class Backoff:
    initial: float
    maximum: float
    attempt: int = 0
    # The server's advice, from its welcome: the window over which its whole fleet should spread a reconnect.
    spread: float = 0.0

    def next_delay(self) -> float:
        """Full jitter: a random wait up to an exponentially growing cap, and never under the server's spread,
        so a restarted server is not hit by every agent at once — its fleet comes back at a pace it takes."""
        cap = max(min(self.maximum, self.initial * 2 ** self.attempt), self.spread, self.initial / 2)
        self.attempt += 1
        return random.uniform(self.initial / 2, cap)

    def reset(self) -> None:
        self.attempt = 0

    def advised(self, spread: object) -> None:
        """Take the welcome's ``reconnect_spread`` (seconds); anything but a sane number leaves it as it was."""
        if isinstance(spread, int | float) and not isinstance(spread, bool) and 0 <= spread < float("inf"):
            self.spread = min(float(spread), MAX_RECONNECT_SPREAD)


@dataclass
class Session:
    """One connected session's bookkeeping."""

    interval: float
    server_inventory_hash: str | None = None
    last_inventory_at: float = 0.0
    seq: int = 0
    acked: set[int] = field(default_factory=set)


class AgentRunner:
    def __init__(self, *, config: AgentConfig, store: StateStore) -> None:
        self.config = config
        self.store = store
        self.state: AgentState = store.load_state()
        self.token = store.load_token(self.state)
        check_server_url(self.state.server)
        self.ssl = tls_context(self.config) if self.state.server.startswith("https") else None
        self.stopping = asyncio.Event()
        self.backoff = Backoff(config.backoff_initial, config.backoff_max)
        self.inventory_due = False
        self.restart_for_update = False
        self.update_task: asyncio.Task | None = None
        self.actions = ActionRunner(
            ledger=ActionLedger(config.state_dir, started_at=self.state.enrolled_at),
            work_dir=config.state_dir / "work", device_id=self.state.device_id,
            pinned_key=lambda: self.state.signing_public_key, simulate_system_changes=config.simulate_system_changes,
            simulate_reboots=config.simulate_reboots, reboot_request_file=config.postpone_reboot_file,
            on_inventory_changed=self._inventory_changed, on_scan=self._scanned)
        self.remote = RemoteSessions(
            state_dir=config.state_dir, device_id=self.state.device_id,
            pinned_key=lambda: self.state.signing_public_key, complete_since=self.state.enrolled_at,
            enabled=config.remote_sessions, consent_command=config.consent_command)

    def _inventory_changed(self) -> None:
        self.inventory_due = True

    @staticmethod
    def _scanned(found: updates.ScanResult) -> None:
        updates.LAST_SCAN = found

    def stop(self) -> None:
        self.stopping.set()

    async def run_forever(self) -> None:
        """Connect, serve, reconnect; returns on stop, raises TokenRefused when enrollment is needed."""
        collect.metrics()  # prime psutil's CPU counter so the first heartbeat carries a real figure
        worker = asyncio.create_task(self.actions.run_forever(), name="fleetwatch-actions")
        try:
            await self._connect_forever()
        finally:
            worker.cancel()

    async def _connect_forever(self) -> None:
        while not self.stopping.is_set():
            try:
                await self._connect_and_serve()
                self.backoff.reset()
            except TokenRefused:
                raise
            except InvalidStatus as refused:
                if refused.response.status_code in (401, 403):
                    raise TokenRefused("The server refused this agent's token.") from refused
                logger.warning("server answered HTTP %s to the websocket; trying HTTPS", refused.response.status_code)
                await self._http_fallback()
            except (OSError, ConnectionClosed, TimeoutError) as error:
                logger.warning("connection to %s lost or refused: %s", self.state.server, error or type(error).__name__)
                await self._http_fallback()
            if self.stopping.is_set():
                break
            delay = self.backoff.next_delay()
            logger.info("reconnecting in %.1f s", delay)
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=delay)

    async def _connect_and_serve(self) -> None:
        async with websockets.connect(
                websocket_url(self.state.server), additional_headers={"Authorization": f"Bearer {self.token}"},
                ssl=self.ssl, open_timeout=15, ping_interval=20, ping_timeout=30, max_size=MAX_FRAME_BYTES,
                user_agent_header=f"fleetwatch-agent/{__version__}") as socket:
            logger.info("connected to %s", self.state.server)
            session = Session(interval=self.state.heartbeat_interval)
            await socket.send(json.dumps({"type": "hello", "agent_version": __version__,
                                          "capabilities": ["heartbeat", "inventory", "actions", "remote"]}))
            reader = asyncio.create_task(self._read(socket, session))
            stopper = asyncio.create_task(self.stopping.wait())
            writer = asyncio.create_task(self._write(socket, session))
            try:
                done, _ = await asyncio.wait({reader, writer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.actions.detach()
                await self.remote.detach()
            for task in (reader, writer, stopper):
                task.cancel()
            for task in done:
                if task is not stopper and task.exception() is not None:
                    raise task.exception()
            if socket.close_code == CLOSE_REVOKED:
                raise TokenRefused("The server revoked this agent's token.")
            if socket.close_code == CLOSE_REPLACED:
                logger.warning("the server closed this connection: another agent connected with this agent's token "
                               "(a copied state directory?); reconnecting")

    async def _read(self, socket: Any, session: Session) -> None:
        async for raw in socket:
            if isinstance(raw, bytes):
                await self.remote.handle_data(raw)
                continue
            frame = json.loads(raw)
            kind = frame.get("type")
            if isinstance(kind, str) and kind.startswith("remote_"):
                await self.remote.handle(frame)
                continue
            if kind == "welcome":
                session.interval = float(frame.get("heartbeat_interval") or session.interval)
                session.server_inventory_hash = frame.get("inventory_hash")
                self._remember_interval(int(session.interval))
                self._pin_signing_key(frame)
                self._consider_update(frame)
                self.backoff.reset()
                self.backoff.advised(frame.get("reconnect_spread"))
                await self.actions.attach(self._sender(socket))
                self.remote.attach(send_text=self._sender(socket), send_bytes=socket.send)
            elif kind == "action":
                await self.actions.receive(frame)
            elif kind == "action_cancel" and isinstance(frame.get("action_id"), int):
                await self.actions.cancel(frame["action_id"])
            elif kind == "action_stored" and isinstance(frame.get("action_id"), int):
                self.actions.ledger.acknowledged(frame["action_id"])
            elif kind == "ack":
                self.store.touch_contact(self.state)
            elif kind == "config" and frame.get("heartbeat_interval"):
                session.interval = float(frame["heartbeat_interval"])
                self._remember_interval(int(session.interval))
            elif kind == "inventory_stored":
                session.server_inventory_hash = frame.get("hash")
            elif kind == "error":
                if frame.get("code") == "revoked":
                    raise TokenRefused(frame.get("message", "revoked"))
                if frame.get("code") == "replaced":
                    continue  # the close that follows says so
                logger.warning("server reported an error: %s (%s)", frame.get("message"), frame.get("code"))
        if socket.close_code == CLOSE_REVOKED:
            raise TokenRefused("The server revoked this agent's token.")

    @staticmethod
    def _sender(socket: Any) -> Any:
        async def send(frame: dict[str, Any]) -> None:
            await socket.send(json.dumps(frame))
        return send

    def _pin_signing_key(self, welcome: dict[str, Any]) -> None:
        """Pin the server's action-signing key: on first contact when enrollment gave none, or when the
        pinned key endorsed a rotated one. Anything else is ignored, so forged actions stay refused."""
        offered = welcome.get("signing_public_key")
        pinned = self.state.signing_public_key
        if not isinstance(offered, str) or not offered or offered == pinned:
            return
        if pinned is None:
            logger.warning("pinning the server's action-signing key on first contact")
        elif endorsed(pinned_key=pinned, new_key=offered, endorsement=welcome.get("signing_key_endorsement")):
            logger.info("the server rotated its action-signing key; pinned the new key its old key endorsed")
        else:
            logger.error("the server offers an action-signing key the pinned key did not endorse; actions will "
                         "be refused until this agent is enrolled again")
            return
        self.state.signing_public_key = offered
        self.store.save_state(self.state)

    def _consider_update(self, welcome: dict[str, Any]) -> None:
        """Confirm this version's trial, and take a newer version the server offers (once per run)."""
        self_update.confirm_connected(state_dir=self.config.state_dir)
        try:
            offer = self_update.offer_from(welcome)
        except self_update.UpdateRefused as refusal:
            logger.error("update refused: %s", refusal)
            return
        if not self.config.self_update or self.update_task is not None or \
                not self_update.wanted(offer, state_dir=self.config.state_dir):
            return
        self.update_task = asyncio.create_task(self._update_to(offer), name="fleetwatch-self-update")

    async def _update_to(self, offer: self_update.Offer) -> None:
        try:
            data = await asyncio.to_thread(self_update.download, server=self.state.server, offer=offer,
                                           ssl_context=self.ssl)
            self_update.check(data, offer=offer, pinned_key=self.state.signing_public_key)
            await asyncio.to_thread(self_update.install, data, offer=offer, state_dir=self.config.state_dir)
        except (self_update.UpdateRefused, OSError) as error:
            logger.error("update to %s refused or failed: %s", offer.version, error)
            return
        await self.actions.wait_idle()
        self.restart_for_update = True
        self.stop()

    def _remember_interval(self, interval: int) -> None:
        if interval != self.state.heartbeat_interval and interval > 0:
            self.state.heartbeat_interval = interval
            self.store.save_state(self.state)

    async def _write(self, socket: Any, session: Session) -> None:
        await asyncio.sleep(0.2)  # give the welcome (interval, the server's inventory hash) a moment
        while True:
            due = time.monotonic() - session.last_inventory_at >= self.config.inventory_every or self.inventory_due
            self.inventory_due = False
            if due or not session.last_inventory_at:
                await self._send_inventory_if_changed(socket, session)
            session.seq += 1
            await socket.send(json.dumps({"type": "heartbeat", "seq": session.seq, "metrics": collect.metrics()}))
            await asyncio.sleep(max(1.0, session.interval))

    async def _send_inventory_if_changed(self, socket: Any, session: Session) -> None:
        snapshot = await asyncio.to_thread(
            collect.inventory, with_software=self.config.collect_software,
            with_services=self.config.collect_services, with_updates=self.config.collect_updates)
        digest = collect.inventory_hash(snapshot)
        session.last_inventory_at = time.monotonic()
        if digest != session.server_inventory_hash:
            logger.info("inventory changed; sending it")
            await socket.send(json.dumps({"type": "inventory", "hash": digest, "data": snapshot}))
        scan = updates.LAST_SCAN
        if self.config.collect_updates and scan is not None:
            # Sent after every collection (not only with a changed inventory): "last successful scan" on the
            # server's compliance pages is this time.
            await socket.send(json.dumps({"type": "update_scan", "scanned_at": scan.scanned_at, "error": scan.error,
                                          "reboot_required": scan.reboot_required}))

    async def _http_fallback(self) -> None:
        """Where a proxy blocks websockets, a heartbeat over HTTPS keeps the device reporting."""
        import urllib.error  # here, not at the top: urllib.request (http.client, email) is ~3 MB resident
        import urllib.request

        url = self.state.server.rstrip("/") + "/api/agent/heartbeat/"
        body = json.dumps({"type": "heartbeat", "seq": 0, "metrics": collect.metrics()}).encode()
        request = urllib.request.Request(url, data=body, method="POST", headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
            "User-Agent": f"fleetwatch-agent/{__version__}"})
        try:
            await asyncio.to_thread(urllib.request.urlopen, request, timeout=15, context=self.ssl)
            logger.info("sent a heartbeat over HTTPS")
        except urllib.error.HTTPError as error:
            if error.code == 401:
                raise TokenRefused("The server refused this agent's token.") from error
        except OSError:
            pass  # the server is unreachable by any route: keep backing off
