"""What the agent remembers about actions across restarts: which ids it has taken (so a redelivered or
replayed action never runs twice) and the results the server has not acknowledged yet (the spool).

The ledger keeps every action id until its envelope has expired — its size is bounded by the actions of
one expiry period, not by a count that could push out an id whose envelope is still valid. It also has a
**horizon**: the moment from which it is complete (enrollment, or the moment a damaged ledger was set
aside). An action queued before the horizon may have run without the ledger knowing, so it is refused.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from fleetwatch_agent.state import _write_private

logger = logging.getLogger(__name__)
LEDGER_FILE = "actions.json"
SPOOL_DIR = "spool"
FORMAT_VERSION = 2
# The server's and this device's clocks may differ this much; expiry and the horizon allow for it.
CLOCK_SKEW_SECONDS = 300


class ActionLedger:
    def __init__(self, directory: Path, *, started_at: float | None = None) -> None:
        """``started_at``: when this agent was enrolled (the horizon of a ledger that does not exist yet)."""
        self.path = directory / LEDGER_FILE
        self.spool = directory / SPOOL_DIR
        self.entries: dict[str, dict[str, Any]] = {}
        self.horizon = (started_at if started_at is not None else time.time()) - CLOCK_SKEW_SECONDS
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        try:
            stored = json.loads(self.path.read_text())
            if not isinstance(stored, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as error:
            self._set_damaged_aside(error)
            return
        if stored.get("version") == FORMAT_VERSION:
            self.horizon = float(stored["horizon"])
            self.entries = dict(stored["entries"])
            return
        # The first format: entries only, capped at 5,000 (the oldest dropped). Complete from its oldest entry.
        self.entries = {key: entry for key, entry in stored.items() if isinstance(entry, dict)}
        oldest = min((float(entry.get("since", time.time())) for entry in self.entries.values()), default=None)
        if oldest is not None:
            self.horizon = max(self.horizon, oldest - CLOCK_SKEW_SECONDS)
        self._write()

    def _set_damaged_aside(self, error: Exception) -> None:
        """A damaged ledger says nothing reliable: keep it for a look, and start complete from now."""
        aside = self.path.with_name(f"{LEDGER_FILE}.damaged-{int(time.time())}")
        self.path.replace(aside)
        self.horizon = float(int(time.time()))  # whole seconds, as the server writes queued times
        self.entries = {}
        logger.error("the action ledger was damaged (%s); kept as %s. Actions queued before now are refused "
                     "(they may have run already); spooled results still go out", error, aside.name)
        self._write()

    def _write(self) -> None:
        _write_private(self.path, json.dumps({"version": FORMAT_VERSION, "horizon": self.horizon,
                                              "entries": self.entries}).encode())

    def state_of(self, action_id: int) -> str | None:
        entry = self.entries.get(str(action_id))
        return entry["state"] if entry else None

    def before_horizon(self, queued: float) -> bool:
        """True when an action queued at ``queued`` predates what this ledger knows of."""
        return queued < self.horizon

    def mark(self, action_id: int, state: str, *, action_type: str | None = None, expires: float | None = None,
             nonce: str | None = None) -> None:
        """Record a state ("taken", "running", "finished"); written to disk before the action proceeds."""
        entry = self.entries.setdefault(str(action_id), {"type": action_type, "since": time.time()})
        entry["state"] = state
        for name, value in (("type", action_type), ("expires", expires), ("nonce", nonce)):
            if value is not None:
                entry[name] = value
        self._forget_expired()
        self._write()

    def _forget_expired(self) -> None:
        """Finished actions whose envelope can no longer be accepted anywhere need no remembering."""
        cutoff = time.time() - CLOCK_SKEW_SECONDS
        for key in [key for key, entry in self.entries.items()
                    if entry.get("state") == "finished" and entry.get("expires") is not None
                    and float(entry["expires"]) < cutoff]:
            del self.entries[key]

    def interrupted(self) -> list[tuple[int, str | None]]:
        """Actions this agent took but never finished (it stopped or the machine restarted meanwhile)."""
        return [(int(key), entry.get("type")) for key, entry in self.entries.items()
                if entry["state"] in ("taken", "running") and not self.spooled(int(key))]

    def spool_result(self, frame: dict[str, Any]) -> None:
        _write_private(self.spool / f"{frame['action_id']}.json", json.dumps(frame).encode())

    def spooled(self, action_id: int) -> dict[str, Any] | None:
        path = self.spool / f"{action_id}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def spooled_results(self) -> list[dict[str, Any]]:
        if not self.spool.exists():
            return []
        results = []
        for path in sorted(self.spool.glob("*.json"), key=lambda p: int(p.stem) if p.stem.isdigit() else 0):
            try:
                results.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                path.unlink(missing_ok=True)
        return results

    def acknowledged(self, action_id: int) -> None:
        (self.spool / f"{action_id}.json").unlink(missing_ok=True)
