"""Restarting after updates, as the patch policy says: never, when an update needs it, or always.

Whoever is logged in is warned first and may postpone the restart, within the bound the policy sets, with
``fleetwatch-agent postpone-reboot --minutes N`` (any local user may: the request file is the one thing the
agent reads from them, an integer, and it never follows a link). With nobody logged in (a server) the
device restarts at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MODES = ("never", "if_required", "always")
MAX_REQUEST_BYTES = 64
CHECK_EVERY_SECONDS = 2.0


@dataclass(frozen=True)
class RebootPolicy:
    """What the server's patch policy says about restarting after this run's installs."""

    mode: str = "if_required"
    warn_minutes: int = 15
    max_postpone_minutes: int = 240
    message: str = ""

    @classmethod
    def from_payload(cls, value: Any) -> RebootPolicy:
        if not isinstance(value, dict):
            return cls(mode="never")
        mode = value.get("mode") if value.get("mode") in MODES else "never"
        return cls(mode=mode, warn_minutes=_bounded(value.get("warn_minutes"), 0, 240, 15),
                   max_postpone_minutes=_bounded(value.get("max_postpone_minutes"), 0, 1440, 240),
                   message=str(value.get("message") or "")[:300])

    def needed(self, *, installed_any: bool, update_asks: bool, device_asks: bool | None) -> bool:
        if self.mode == "always":
            return installed_any
        if self.mode == "if_required":
            return update_asks or bool(device_asks)
        return False


def _bounded(value: Any, low: int, high: int, default: int) -> int:
    return max(low, min(high, value)) if isinstance(value, int) and not isinstance(value, bool) else default


def default_request_file() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "Fleetwatch" / "postpone-reboot"
    return Path("/var/tmp/fleetwatch-postpone-reboot")  # noqa: S108 (a fixed, documented request file)


def request_postponement(path: Path, minutes: int) -> None:
    """A logged-in user asks to restart later (``fleetwatch-agent postpone-reboot``)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o666)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(str(int(minutes)))


def take_postponement(path: Path) -> int | None:
    """The minutes a user asked for, read once (and the request removed); None when there is none or it is not
    a plain request (a link, a large file, not a number)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        text = os.read(descriptor, MAX_REQUEST_BYTES + 1)
    finally:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            path.unlink()
    value = text.decode("ascii", "replace").strip()
    return int(value) if len(text) <= MAX_REQUEST_BYTES and value.isdigit() else None


def logged_in_users() -> list[str]:
    with contextlib.suppress(Exception):
        return sorted({user.name for user in psutil.users()})
    return []


def warn_users(message: str) -> None:
    """Tell everyone logged in (a terminal broadcast, or a message box on Windows)."""
    if sys.platform == "win32":
        command = ["msg", "*", "/TIME:300", message]
    elif shutil.which("wall"):
        command = ["wall", message]
    else:
        return
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(command, capture_output=True, timeout=30, check=False)


def warning_text(policy: RebootPolicy, *, minutes: float, budget_left: int) -> str:
    lead = policy.message or "This computer restarts to finish installing updates."
    text = f"{lead} It restarts in {max(1, round(minutes))} minute(s); save your work."
    if budget_left > 0:
        text += f" To restart later, run: fleetwatch-agent postpone-reboot --minutes N (up to {budget_left} more)."
    return text


async def wait_before_restart(policy: RebootPolicy, *, request_file: Path, cancelled: Callable[[], bool],
                              warn: Callable[[str], None] = warn_users,
                              sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                              clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Warn the logged-in users and wait, taking their postponements within the bound. Returns what happened:
    ``users``, ``warned``, ``postponed_minutes``, ``cancelled``."""
    users = logged_in_users()
    report: dict[str, Any] = {"users": users, "warned": False, "postponed_minutes": 0, "cancelled": False}
    if not users or policy.warn_minutes == 0:
        return report
    take_postponement(request_file)  # a stale request from an earlier restart does not count
    deadline = clock() + policy.warn_minutes * 60
    warn(warning_text(policy, minutes=policy.warn_minutes, budget_left=policy.max_postpone_minutes))
    report["warned"] = True
    while clock() < deadline:
        if cancelled():
            report["cancelled"] = True
            return report
        asked = take_postponement(request_file)
        left = policy.max_postpone_minutes - report["postponed_minutes"]
        if asked and left > 0:
            granted = min(asked, left)
            report["postponed_minutes"] += granted
            deadline += granted * 60
            warn(warning_text(policy, minutes=(deadline - clock()) / 60, budget_left=left - granted))
        await sleep(min(CHECK_EVERY_SECONDS, max(0.0, deadline - clock())))
    return report
