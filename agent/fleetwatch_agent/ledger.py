"""What the agent remembers about actions across restarts: which ids it has taken (so a redelivered
action never runs twice) and the results the server has not acknowledged yet (the spool)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fleetwatch_agent.state import _write_private

LEDGER_FILE = "actions.json"
SPOOL_DIR = "spool"
KEEP_ENTRIES = 5000


class ActionLedger:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LEDGER_FILE
        self.spool = directory / SPOOL_DIR
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                self.entries = json.loads(self.path.read_text())
            except ValueError:
                self.entries = {}  # a damaged ledger: spooled results still protect what ran

    def state_of(self, action_id: int) -> str | None:
        entry = self.entries.get(str(action_id))
        return entry["state"] if entry else None

    def mark(self, action_id: int, state: str, *, action_type: str | None = None) -> None:
        """Record a state ("taken", "running", "finished"); written to disk before the action proceeds."""
        entry = self.entries.setdefault(str(action_id), {"type": action_type, "since": time.time()})
        entry["state"] = state
        if action_type:
            entry["type"] = action_type
        if len(self.entries) > KEEP_ENTRIES:
            for key in sorted(self.entries, key=lambda k: self.entries[k]["since"])[: len(self.entries) - KEEP_ENTRIES]:
                del self.entries[key]
        _write_private(self.path, json.dumps(self.entries).encode())

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
