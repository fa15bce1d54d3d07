"""Asking the person at the desktop before a remote session, and telling the endpoint's users about one.

A company may require consent on workstations: where someone is signed in at the desktop, the agent asks
them (a dialog that denies by itself after a minute); where nobody is (a server, a machine at the sign-in
screen) the session is unattended and goes ahead. A ``consent_command`` in the agent's configuration
replaces the built-in dialog (its exit status answers: 0 allows).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from fleetwatch_agent.reboots import warn_users

logger = logging.getLogger(__name__)
ASK_SECONDS = 60


@dataclass(frozen=True)
class Desktop:
    user: str
    uid: int | None = None
    display: str = ""
    wayland: str = ""


@dataclass(frozen=True)
class Answer:
    allowed: bool
    why: str


def _run(argv: list[str], *, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env)


def _linux_desktops() -> list[Desktop]:
    """Active graphical sessions at this machine's own screen (logind)."""
    if not shutil.which("loginctl"):
        return []
    found = []
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        listing = _run(["loginctl", "list-sessions", "--no-legend"], timeout=10).stdout
        for line in listing.splitlines():
            session = line.split()[0] if line.split() else ""
            if not session:
                continue
            shown = _run(["loginctl", "show-session", session, "-p", "Type", "-p", "Name", "-p", "User", "-p",
                          "Display", "-p", "Remote", "-p", "Active"], timeout=10).stdout
            props = dict(item.split("=", 1) for item in shown.splitlines() if "=" in item)
            if props.get("Type") in ("x11", "wayland") and props.get("Remote") == "no" and props.get("Active") == "yes":
                uid = int(props["User"]) if props.get("User", "").isdigit() else None
                found.append(Desktop(user=props.get("Name", ""), uid=uid, display=props.get("Display", ""),
                                     wayland="wayland-0" if props.get("Type") == "wayland" else ""))
    return found


def _macos_desktops() -> list[Desktop]:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        owner = _run(["stat", "-f", "%Su", "/dev/console"], timeout=10).stdout.strip()
        if owner and owner not in ("root", "_mbsetupuser", "loginwindow"):
            uid = _run(["id", "-u", owner], timeout=10).stdout.strip()
            return [Desktop(user=owner, uid=int(uid) if uid.isdigit() else None)]
    return []


def desktops() -> list[Desktop]:
    if sys.platform.startswith("linux"):
        return _linux_desktops()
    if sys.platform == "darwin":
        return _macos_desktops()
    if sys.platform == "win32":
        with contextlib.suppress(Exception):
            import psutil

            return [Desktop(user=user.name) for user in psutil.users() if not user.host]
    return []


def _dialog(desktop: Desktop, text: str) -> list[str] | None:
    """The command that asks ``desktop``'s user, run as them; None where this agent has no way to ask."""
    if sys.platform == "darwin" and desktop.uid is not None:
        script = (f'display dialog {_applescript(text)} buttons {{"Deny", "Allow"}} default button "Deny" '
                  f'with title "Remote session" giving up after {ASK_SECONDS}')
        return ["launchctl", "asuser", str(desktop.uid), "sudo", "-u", desktop.user, "osascript", "-e", script]
    if sys.platform.startswith("linux") and desktop.uid is not None:
        for tool, argv in (("zenity", ["--question", "--title=Remote session", f"--text={text}",
                                       f"--timeout={ASK_SECONDS}", "--ok-label=Allow", "--cancel-label=Deny"]),
                           ("kdialog", ["--title", "Remote session", "--yesno", text])):
            program = shutil.which(tool)
            if program:
                runtime = f"/run/user/{desktop.uid}"
                env = [f"DISPLAY={desktop.display}", f"XDG_RUNTIME_DIR={runtime}",
                       f"DBUS_SESSION_BUS_ADDRESS=unix:path={runtime}/bus"]
                if desktop.wayland:
                    env.append(f"WAYLAND_DISPLAY={desktop.wayland}")
                return ["runuser", "-u", desktop.user, "--", "env", *env, program, *argv]
    return None


def _applescript(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ask(*, technician: str, kind: str, consent_command: list[str] | None) -> Answer:
    """Whether the session may go ahead (blocking: run it on a thread)."""
    what = "a remote shell" if kind == "shell" else "remote access to files"
    text = f"{technician} from your IT provider asks to open {what} on this computer. Allow it?"
    if consent_command:
        env = {**os.environ, "FLEETWATCH_CONSENT_MESSAGE": text, "FLEETWATCH_TECHNICIAN": technician,
               "FLEETWATCH_SESSION_KIND": kind}
        try:
            done = _run(consent_command, timeout=ASK_SECONDS + 10, env=env)
        except (OSError, subprocess.SubprocessError) as error:
            return Answer(False, f"the consent command failed: {error}")
        return Answer(done.returncode == 0, "allowed by the signed-in user" if done.returncode == 0
                      else "the signed-in user denied it (or did not answer)")
    present = desktops()
    if not present:
        return Answer(True, "unattended: nobody is signed in at the desktop")
    for desktop in present:
        command = _dialog(desktop, text)
        if command is None:
            return Answer(False, f"{desktop.user} is signed in, and this agent has no way to ask them on this "
                                 "system (set consent_command in the agent's configuration)")
        try:
            done = _run(command, timeout=ASK_SECONDS + 10)
        except (OSError, subprocess.SubprocessError) as error:
            return Answer(False, f"could not ask {desktop.user}: {error}")
        allowed = done.returncode == 0 if sys.platform != "darwin" else (
            "button returned:Allow" in done.stdout and "gave up:true" not in done.stdout)
        if not allowed:
            return Answer(False, f"{desktop.user} denied it (or did not answer within {ASK_SECONDS} s)")
    return Answer(True, "allowed by " + ", ".join(desktop.user for desktop in present))


def announce(banner: str) -> None:
    """The company's notice to the endpoint's users (blocking: run it on a thread)."""
    if banner:
        warn_users(banner)
