"""Self-update: the server offers a newer agent in its welcome; the agent downloads it, checks its SHA-256 and
its Ed25519 signature against the pinned server key, installs it beside the running one, and restarts through
its service manager. Every start goes through ``launch``: it runs the version ``update.json`` names, and rolls
back to the previous one when a new version has not connected within its trial time (a version that crashes
at start never reaches its own code, so the launcher, which is the installed base agent, decides).

State in ``<state_dir>``: ``versions/<version>/`` (the new agent's package, run on top of the base install's
dependencies) and ``update.json``::

    {"current": "0.2.0", "previous": null, "trial_started": 1733380000.0, "bad": ["0.1.9"]}

``current`` null means the base install; ``trial_started`` is set until the new version has connected.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from ssl import SSLContext
from typing import Any

from fleetwatch_agent import __version__, crypto

logger = logging.getLogger(__name__)
LAUNCHED = "FLEETWATCH_AGENT_LAUNCHED"
EXIT_RESTART_FOR_UPDATE = 75  # the service manager starts the agent again, and the launcher picks the new one
_VERSION = re.compile(r"^[0-9][0-9A-Za-z.+-]{0,31}$")
_WHEEL = re.compile(r"^fleetwatch_agent-[0-9A-Za-z.+_-]+-py3-none-any\.whl$")
MAX_WHEEL_BYTES = 50 * 1024 * 1024


class UpdateRefused(Exception):
    """An offer that is malformed, or a download that does not match its checksum or signature."""


@dataclass
class UpdateState:
    current: str | None = None
    previous: str | None = None
    trial_started: float | None = None
    bad: list[str] = field(default_factory=list)


def _path(state_dir: Path) -> Path:
    return state_dir / "update.json"


def load(state_dir: Path) -> UpdateState:
    try:
        raw = json.loads(_path(state_dir).read_text())
        return UpdateState(current=raw.get("current"), previous=raw.get("previous"),
                           trial_started=raw.get("trial_started"), bad=list(raw.get("bad") or []))
    except (OSError, ValueError, AttributeError):
        return UpdateState()


def save(state_dir: Path, state: UpdateState) -> None:
    target = _path(state_dir)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(state)))
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)


def version_dir(state_dir: Path, version: str) -> Path:
    return state_dir / "versions" / version


# --- launching ----------------------------------------------------------------------------------------------
def launch(*, state_dir: Path, argv: list[str], trial_seconds: float) -> None:
    """Before ``run``: exec the version update.json names (rolling back a failed trial first). Returns only
    when this process's own code is the one to run."""
    if os.environ.get(LAUNCHED):
        return
    state = load(state_dir)
    if state.current and state.trial_started and time.time() - state.trial_started > trial_seconds:
        logger.error("agent %s did not connect within %.0f s of its start; rolling back to %s", state.current,
                     trial_seconds, state.previous or "the installed version")
        state.bad.append(state.current)
        state.current, state.previous, state.trial_started = state.previous, None, None
        save(state_dir, state)
    if not state.current or state.current == __version__:
        return
    package = version_dir(state_dir, state.current)
    if not (package / "fleetwatch_agent").is_dir():
        logger.error("agent %s is missing from %s; running %s", state.current, package, __version__)
        return
    environment = {**os.environ, LAUNCHED: "1",
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(package), os.environ.get("PYTHONPATH")]))}
    logger.info("starting agent %s (installed beside %s)", state.current, __version__)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "fleetwatch_agent", *argv], environment)  # noqa: S606 (our own interpreter)


def confirm_connected(*, state_dir: Path) -> None:
    """This version reached the server and was welcomed: its trial is over."""
    state = load(state_dir)
    if state.trial_started and state.current == __version__:
        state.trial_started = None
        save(state_dir, state)
        logger.info("agent %s connected; the update is confirmed", __version__)


# --- installing an offer ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Offer:
    version: str
    wheel: str
    sha256: str
    signature: str


def offer_from(welcome: dict[str, Any]) -> Offer | None:
    raw = welcome.get("agent_update")
    if not isinstance(raw, dict):
        return None
    values = {key: raw.get(key) for key in ("version", "wheel", "sha256", "signature")}
    if not all(isinstance(value, str) for value in values.values()) or not _VERSION.fullmatch(values["version"]) \
            or not _WHEEL.fullmatch(values["wheel"]) or not re.fullmatch(r"[0-9a-f]{64}", values["sha256"]):
        raise UpdateRefused("the server's update offer is malformed")
    return Offer(**values)


def wanted(offer: Offer | None, *, state_dir: Path) -> bool:
    return offer is not None and offer.version != __version__ and offer.version not in load(state_dir).bad


def check(data: bytes, *, offer: Offer, pinned_key: str | None) -> None:
    if hashlib.sha256(data).hexdigest() != offer.sha256:
        raise UpdateRefused("the download does not match its SHA-256")
    if not pinned_key:
        raise UpdateRefused("no server key is pinned yet to check the update's signature")
    try:
        signed = crypto.verify_signature(public_key=pinned_key, signature=offer.signature, data=data)
    except crypto.CryptoUnavailable as error:
        raise UpdateRefused(f"the update's signature could not be checked: {error}") from error
    if not signed:
        raise UpdateRefused("the update is not signed by the pinned server key")


def download(*, server: str, offer: Offer, ssl_context: SSLContext | None) -> bytes:
    url = f"{server.rstrip('/')}/agent/download/{offer.wheel}"
    with urllib.request.urlopen(url, timeout=120, context=ssl_context) as answer:
        data = answer.read(MAX_WHEEL_BYTES + 1)
    if len(data) > MAX_WHEEL_BYTES:
        raise UpdateRefused("the download is larger than any agent")
    return data


def install(data: bytes, *, offer: Offer, state_dir: Path) -> None:
    """Unpack the checked wheel beside the running agent and start its trial at the next start."""
    target = version_dir(state_dir, offer.version)
    wheel = state_dir / "versions" / offer.wheel
    wheel.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    wheel.write_bytes(data)
    try:
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--no-compile", "--upgrade", "--target", str(target), str(wheel)],
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        wheel.unlink(missing_ok=True)
    if done.returncode != 0:
        raise UpdateRefused(f"pip could not unpack the update: {done.stderr.strip()[-500:]}")
    state = load(state_dir)
    state.previous = state.current if state.current != offer.version else state.previous
    state.current, state.trial_started = offer.version, time.time()
    save(state_dir, state)
    logger.warning("agent %s installed beside %s; restarting into it", offer.version, __version__)
