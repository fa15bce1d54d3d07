"""The command lines each action type runs, per operating system and package manager."""

from __future__ import annotations

import math
import shutil
import sys
from pathlib import Path

SCRIPT_SUFFIX = {"bash": ".sh", "sh": ".sh", "python": ".py", "powershell": ".ps1", "batch": ".cmd"}

class NotAvailable(Exception):
    """The device lacks what the action needs (an interpreter, a package manager)."""


def _powershell() -> str:
    found = shutil.which("pwsh") or shutil.which("powershell")
    if not found:
        raise NotAvailable("PowerShell is not installed on this device.")
    return found


def interpreter(language: str, script: Path) -> list[str]:
    if language == "powershell":
        return [_powershell(), "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File", str(script)]
    if language == "batch":
        if sys.platform != "win32":
            raise NotAvailable("Batch scripts run on Windows only.")
        return ["cmd.exe", "/d", "/c", str(script)]
    if language == "python":
        return [sys.executable, str(script)]
    found = shutil.which(language)
    if not found:
        raise NotAvailable(f"{language} is not installed on this device.")
    return [found, str(script)]


def reboot(delay_seconds: int, message: str) -> list[str]:
    if sys.platform == "win32":
        return ["shutdown", "/r", "/t", str(delay_seconds), "/c", message[:500]]
    when = "now" if delay_seconds <= 0 else f"+{math.ceil(delay_seconds / 60)}"
    return ["shutdown", "-r", when, message]


PACKAGE_MANAGERS = {"win32": ("winget", "choco"), "darwin": ("brew",), "linux": ("apt", "dnf")}


def install_software(packages: dict[str, str]) -> list[str]:
    """The install command with the first package manager that is present and has an id for it."""
    for manager in PACKAGE_MANAGERS.get(sys.platform, PACKAGE_MANAGERS["linux"]):
        name = packages.get(manager)
        binary = "apt-get" if manager == "apt" else manager
        if not name or not shutil.which(binary):
            continue
        return {
            "winget": ["winget", "install", "--id", name, "--exact", "--silent", "--accept-package-agreements",
                       "--accept-source-agreements"],
            "choco": ["choco", "install", name, "-y", "--no-progress"],
            "brew": ["brew", "install", name],
            "apt": ["apt-get", "install", "-y", "--", name],
            "dnf": ["dnf", "install", "-y", "--", name],
        }[manager]
    raise NotAvailable(f"No package manager here has this package (known for: {', '.join(packages) or 'none'}).")
