"""Updates: what each platform's own tools say is available, and how each update is installed.

Windows Update (through the Windows Update Agent API), apt and dnf on Linux, softwareupdate on macOS, and
third-party applications through winget (Windows) and Homebrew (macOS). Every scanner turns its tool's
output into the same record: ``id`` (what the installer takes: a KB, a package, a label), ``title``,
``source``, ``version`` (the version it brings), ``from_version``, ``classification``, ``severity``,
``security``, ``size``, ``reboot`` (True, False or None when the tool does not say) and ``released``.

The parsers are plain functions of the tool's text, so each is tested with recorded output.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)
TOOL_TIMEOUT_SECONDS = 300
MAX_UPDATES = 2_000  # the server refuses more in one inventory

# Lists every update Windows Update offers with what the server classifies it by (one JSON array).
WINDOWS_SCAN_SCRIPT = r"""
$session = New-Object -ComObject Microsoft.Update.Session
$result = $session.CreateUpdateSearcher().Search("IsInstalled=0 and IsHidden=0")
$result.Updates | ForEach-Object {
  $classes = @($_.Categories | Where-Object { $_.Type -eq 'UpdateClassification' } | ForEach-Object { $_.Name })
  [pscustomobject]@{
    kb = ($_.KBArticleIDs -join ','); title = $_.Title; severity = $_.MsrcSeverity
    classification = ($classes -join ','); size = [int64]$_.MaxDownloadSize
    reboot = [int]$_.InstallationBehavior.RebootBehavior
    released = [int64](([datetime]$_.LastDeploymentChangeTime).ToUniversalTime() - [datetime]'1970-01-01').TotalSeconds
  }
} | ConvertTo-Json -Compress -Depth 3
"""

# Installs one update by KB number; exit 0 when it installed or is installed already.
WINDOWS_INSTALL_SCRIPT = r"""
$kb = $args[0] -replace '^KB',''
$session = New-Object -ComObject Microsoft.Update.Session
$searcher = $session.CreateUpdateSearcher()
$found = $searcher.Search("IsInstalled=0 and IsHidden=0").Updates
$chosen = New-Object -ComObject Microsoft.Update.UpdateColl
foreach ($update in $found) { if ($update.KBArticleIDs -contains $kb) { [void]$chosen.Add($update) } }
if ($chosen.Count -eq 0) {
  $installed = $searcher.Search("IsInstalled=1").Updates | Where-Object { $_.KBArticleIDs -contains $kb }
  if ($installed) { Write-Output "KB$kb is installed already"; exit 0 }
  Write-Error "KB$kb is not offered to this computer"; exit 3
}
foreach ($update in $chosen) { if (-not $update.EulaAccepted) { $update.AcceptEula() } }
$downloader = $session.CreateUpdateDownloader(); $downloader.Updates = $chosen; [void]$downloader.Download()
$installer = $session.CreateUpdateInstaller(); $installer.Updates = $chosen
$result = $installer.Install()
Write-Output "KB$kb result code $($result.ResultCode), reboot required: $($result.RebootRequired)"
if ($result.ResultCode -eq 2 -or $result.ResultCode -eq 3) { exit 0 } else { exit 1 }
"""

# winget's "no newer version" (APPINSTALLER_CLI_ERROR_UPDATE_NOT_APPLICABLE): the app is up to date already.
WINGET_UP_TO_DATE = {-1978335189, 0x8A15002B}
KERNEL_PACKAGE = re.compile(r"^(linux-image|linux-modules|linux-headers|kernel)(-|$)")


class UnknownSource(ValueError):
    """An update whose source this agent cannot install from."""


@dataclass
class ScanResult:
    """One scan: the updates found, when, whether it worked, and whether the device waits for a restart."""

    updates: list[dict[str, Any]] = field(default_factory=list)
    scanned_at: float = 0.0
    error: str = ""
    reboot_required: bool | None = None


# The last scan's outcome, reported to the server after each inventory (``None`` until a scan ran).
LAST_SCAN: ScanResult | None = None


# --- running the tools ----------------------------------------------------------------------------------

def run_tool(command: list[str], *, ok_codes: tuple[int, ...] = (0,), env: dict[str, str] | None = None) -> str:
    """The tool's standard output; raises when it is missing or answers with an unexpected code."""
    executable = shutil.which(command[0])
    if executable is None:
        raise FileNotFoundError(f"{command[0]} is not installed")
    result = subprocess.run([executable, *command[1:]], capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS,
                            check=False, env=env)
    if result.returncode not in ok_codes:
        raise RuntimeError(f"{command[0]} exited {result.returncode}: {(result.stderr or result.stdout).strip()[:300]}")
    return result.stdout


def _record(*, id: str, title: str, source: str, version: str = "", from_version: str = "",
            classification: str = "", severity: str = "", security: bool = False, size: int | None = None,
            reboot: bool | None = None, released: int | None = None) -> dict[str, Any]:
    return {"id": id, "title": title or id, "source": source, "version": version, "from_version": from_version,
            "classification": classification, "severity": severity, "security": security, "size": size,
            "reboot": reboot, "released": released}


# --- parsers (tested with recorded output) --------------------------------------------------------------

def parse_apt_upgradable(text: str) -> list[dict[str, Any]]:
    """``apt list --upgradable``: ``name/suite[,suite] version arch [upgradable from: old]``; an update is a
    security one when one of its suites is a ``-security`` archive (Debian and Ubuntu alike)."""
    updates = []
    for line in text.splitlines():
        match = re.match(r"^(\S+?)/(\S+)\s+(\S+)\s+(\S+)\s+\[upgradable from: ([^\]]+)\]", line)
        if not match:
            continue
        name, suites, version, _arch, old = match.groups()
        security = any(suite.endswith("-security") or "-security" in suite for suite in suites.split(","))
        updates.append(_record(id=name, title=f"{name} {version}", source="apt", version=version, from_version=old,
                               classification="security" if security else "update", security=security,
                               reboot=True if KERNEL_PACKAGE.match(name) else None))
    return updates


def parse_apt_sizes(text: str) -> dict[tuple[str, str], int]:
    """``apt-cache show name=version …``: (name, version) → download size in bytes."""
    sizes: dict[tuple[str, str], int] = {}
    for stanza in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Package") and fields.get("Version") and fields.get("Size", "").isdigit():
            sizes[(fields["Package"], fields["Version"])] = int(fields["Size"])
    return sizes


def _split_nevra(nevra: str) -> tuple[str, str]:
    """``openssl-libs-1:3.0.9-2.fc38.x86_64`` → (``openssl-libs.x86_64``, ``1:3.0.9-2.fc38``)."""
    body, _, arch = nevra.rpartition(".")
    name_version, _, release = body.rpartition("-")
    name, _, version = name_version.rpartition("-")
    return f"{name}.{arch}", f"{version}-{release}"


def parse_dnf_check_update(text: str) -> list[dict[str, Any]]:
    """``dnf check-update -q``: ``name.arch  version  repository`` lines (continuations and obsoletes skipped)."""
    updates = []
    for line in text.splitlines():
        fields = line.split()
        if line.startswith(" ") or len(fields) != 3 or "." not in fields[0] or fields[0].startswith("Obsoleting"):
            continue
        name, version, _repo = fields
        base = name.rsplit(".", 1)[0]
        updates.append(_record(id=name, title=f"{base} {version}", source="dnf", version=version,
                               classification="update", reboot=True if KERNEL_PACKAGE.match(base) else None))
    return updates


def parse_dnf_updateinfo(text: str) -> dict[str, tuple[str, str]]:
    """``dnf updateinfo list --available -q``: ``ADVISORY  Type/Sev  nevra`` → name.arch → (classification,
    severity); security advisories read ``Important/Sec.`` (or ``Sec.`` without a severity)."""
    advisories: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3:
            continue
        _advisory, kind, nevra = fields
        name, _ = _split_nevra(nevra)
        if kind.endswith("Sec."):
            severity = kind.split("/", 1)[0].lower() if "/" in kind else ""
            advisories[name] = ("security", severity)
        elif name not in advisories:
            advisories[name] = ({"bugfix": "update", "enhancement": "feature"}.get(kind, "update"), "")
    return advisories


def parse_windows_scan(text: str) -> list[dict[str, Any]]:
    """The JSON of WINDOWS_SCAN_SCRIPT (one object when there is one update, an array otherwise)."""
    text = text.strip()
    if not text:
        return []
    items = json.loads(text)
    updates = []
    for item in items if isinstance(items, list) else [items]:
        kb = str(item.get("kb") or "").split(",")[0]
        title = str(item.get("title") or "")
        classification = str(item.get("classification") or "")
        updates.append(_record(
            id=f"KB{kb}" if kb else title, title=title, source="windows_update", classification=classification,
            severity=str(item.get("severity") or ""), security="Security" in classification,
            size=int(item["size"]) if isinstance(item.get("size"), int | float) and item["size"] > 0 else None,
            reboot={0: False, 1: True}.get(item.get("reboot"), None if item.get("reboot") is None else True),
            released=int(item["released"]) if isinstance(item.get("released"), int | float) else None))
    return updates


_SIZE_UNITS = {"K": 1024, "KIB": 1024, "M": 1024**2, "MIB": 1024**2, "G": 1024**3, "GIB": 1024**3, "B": 1}


def _size(text: str) -> int | None:
    match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)", text)
    if not match:
        return None
    return int(float(match.group(1)) * _SIZE_UNITS.get(match.group(2).upper() or "B", 1))


def parse_softwareupdate(text: str) -> list[dict[str, Any]]:
    """``softwareupdate -l``: ``* Label: X`` then ``Title: …, Version: …, Size: …, Recommended: YES, Action:
    restart,`` (macOS 11 and later)."""
    updates: list[dict[str, Any]] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("* Label:"):
            label = stripped.split(":", 1)[1].strip()
            updates.append(_record(id=label, title=label, source="softwareupdate", classification="update"))
        elif updates and stripped.startswith("Title:"):
            details = dict(part.strip().split(": ", 1) for part in stripped.rstrip(",").split(", ") if ": " in part)
            current = updates[-1]
            current["title"] = details.get("Title", current["title"])
            current["version"] = details.get("Version", "")
            current["size"] = _size(details.get("Size", ""))
            current["reboot"] = details.get("Action", "").lower() == "restart"
            security = "security" in current["title"].lower()
            current["security"] = security
            current["classification"] = "security" if security else (
                "recommended" if details.get("Recommended", "").upper() == "YES" else "update")
    return updates


def parse_winget_upgrade(text: str) -> list[dict[str, Any]]:
    """``winget upgrade``'s table: columns found from the header line (names may be cut with '…')."""
    lines = text.replace("\r", "").splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("Name") and " Id " in line), None)
    if header is None:
        return []
    columns = {name: lines[header].index(name) for name in ("Id", "Version", "Available", "Source")
               if name in lines[header]}
    if {"Id", "Version", "Available"} - set(columns):
        return []
    updates = []
    for line in lines[header + 2:]:
        if not line.strip() or line.startswith("-") or re.match(r"^\d+ upgrades? available", line):
            continue
        cut = [*sorted(columns.values()), len(line)]
        cells = {name: line[start:cut[cut.index(start) + 1]].strip() for name, start in columns.items()}
        package, name = cells["Id"], line[:columns["Id"]].strip()
        if not package or " " in package or "…" in package:  # winget cuts long ids: never guess one
            continue
        updates.append(_record(id=package, title=f"{name or package} {cells['Available']}", source="winget",
                               version=cells["Available"], from_version=cells["Version"],
                               classification="application"))
    return updates


def parse_brew_outdated(text: str) -> list[dict[str, Any]]:
    """``brew outdated --json=v2``: formulae and casks with their installed and current versions."""
    data = json.loads(text or "{}")
    updates = []
    for kind in ("formulae", "casks"):
        for item in data.get(kind) or []:
            if item.get("pinned"):
                continue
            installed = item.get("installed_versions") or [""]
            installed = installed if isinstance(installed, list) else [installed]
            updates.append(_record(id=str(item["name"]), title=f"{item['name']} {item.get('current_version', '')}",
                                   source="brew", version=str(item.get("current_version") or ""),
                                   from_version=str(installed[-1]), classification="application"))
    return updates


# --- scanning -------------------------------------------------------------------------------------------

def _brew_owner() -> int | None:
    """Homebrew refuses to run as root: it runs as the user who owns its prefix."""
    brew = shutil.which("brew")
    return os.stat(Path(brew).resolve().parent).st_uid if brew else None


def _as_brew_owner(command: list[str]) -> list[str]:
    owner = _brew_owner()
    if owner is None or not hasattr(os, "geteuid") or os.geteuid() != 0 or owner == 0:
        return command
    import pwd  # macOS only here

    return ["sudo", "-u", pwd.getpwuid(owner).pw_name, "-H", *command]


def _linux_updates(refresh: bool) -> list[dict[str, Any]]:
    if shutil.which("apt-get"):
        if refresh:
            run_tool(["apt-get", "update", "-q"], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        updates = parse_apt_upgradable(run_tool(["apt", "list", "--upgradable"]))
        if updates:
            try:
                sizes = parse_apt_sizes(run_tool(["apt-cache", "show", "--no-all-versions",
                                                  *(f"{u['id']}={u['version']}" for u in updates)], ok_codes=(0, 100)))
            except (OSError, RuntimeError) as error:
                logger.info("apt-cache did not give download sizes: %s", error)
                sizes = {}
            for update in updates:
                update["size"] = sizes.get((update["id"], update["version"]))
        return updates
    if shutil.which("dnf"):
        if refresh:
            run_tool(["dnf", "makecache", "-q"])
        updates = parse_dnf_check_update(run_tool(["dnf", "check-update", "-q"], ok_codes=(0, 100)))
        try:
            advisories = parse_dnf_updateinfo(run_tool(["dnf", "updateinfo", "list", "--available", "-q"]))
        except (OSError, RuntimeError) as error:
            logger.info("dnf updateinfo is not available: %s", error)
            advisories = {}
        for update in updates:
            classification, severity = advisories.get(update["id"], ("update", ""))
            update.update(classification=classification, severity=severity, security=classification == "security")
        return updates
    raise FileNotFoundError("neither apt-get nor dnf is installed")


def _windows_updates(refresh: bool) -> list[dict[str, Any]]:
    updates = parse_windows_scan(run_tool([_powershell(), "-NoProfile", "-NonInteractive", "-Command",
                                           WINDOWS_SCAN_SCRIPT]))
    if shutil.which("winget"):
        try:
            arguments = ["winget", "upgrade", "--accept-source-agreements", "--disable-interactivity"]
            updates += parse_winget_upgrade(run_tool(arguments, ok_codes=(0, *WINGET_UP_TO_DATE)))
        except (OSError, RuntimeError) as error:
            logger.info("winget did not list upgrades: %s", error)
    return updates


def _macos_updates(refresh: bool) -> list[dict[str, Any]]:
    updates = parse_softwareupdate(run_tool(["softwareupdate", "-l"]))
    if shutil.which("brew"):
        try:
            if refresh:
                run_tool(_as_brew_owner(["brew", "update", "--quiet"]))
            updates += parse_brew_outdated(run_tool(_as_brew_owner(["brew", "outdated", "--json=v2"])))
        except (OSError, RuntimeError, ValueError) as error:
            logger.info("Homebrew did not list outdated packages: %s", error)
    return updates


def scan(*, refresh: bool = False) -> ScanResult:
    """Every available update of this device (``refresh`` first asks the package sources for news)."""
    scanner = {"linux": _linux_updates, "win32": _windows_updates, "darwin": _macos_updates}.get(
        "linux" if sys.platform.startswith("linux") else sys.platform)
    result = ScanResult(scanned_at=time.time(), reboot_required=reboot_required())
    if scanner is None:
        result.error = f"This agent cannot look for updates on {sys.platform}."
        return result
    try:
        result.updates = scanner(refresh)[:MAX_UPDATES]
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
        result.error = str(error)[:500]
    return result


def reboot_required() -> bool | None:
    """Whether the device waits for a restart to finish an update (None when the platform cannot tell)."""
    if sys.platform.startswith("linux"):
        if Path("/var/run/reboot-required").exists():
            return True
        if shutil.which("needs-restarting"):
            result = subprocess.run(["needs-restarting", "-r"], capture_output=True, timeout=60, check=False)
            return result.returncode == 1
        return False if shutil.which("apt-get") else None
    if sys.platform == "win32":
        import winreg  # Windows only

        keys = (r"SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired",
                r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending")
        for key in keys:
            try:
                winreg.CloseKey(winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, key))
                return True
            except OSError:
                continue
        return False
    return None


# --- installing -----------------------------------------------------------------------------------------

def _powershell() -> str:
    found = shutil.which("pwsh") or shutil.which("powershell")
    if not found:
        raise FileNotFoundError("PowerShell is not installed on this device.")
    return found


def install_command(source: str, identifier: str) -> list[str]:
    """The command that installs one update from ``source``."""
    if identifier.startswith("-") or not identifier or "\x00" in identifier:
        raise UnknownSource(f"{identifier!r} is not an update name.")
    if source == "apt":
        return ["apt-get", "install", "--only-upgrade", "-y", "-o", "Dpkg::Options::=--force-confdef",
                "-o", "Dpkg::Options::=--force-confold", "--", identifier]
    if source == "dnf":
        return ["dnf", "upgrade", "-y", "--", identifier]
    if source == "windows_update":
        return [_powershell(), "-NoProfile", "-NonInteractive", "-Command", WINDOWS_INSTALL_SCRIPT, identifier]
    if source == "softwareupdate":
        return ["softwareupdate", "--install", identifier]
    if source == "winget":
        return ["winget", "upgrade", "--id", identifier, "--exact", "--silent", "--accept-package-agreements",
                "--accept-source-agreements", "--disable-interactivity"]
    if source == "brew":
        return _as_brew_owner(["brew", "upgrade", identifier])
    raise UnknownSource(f"This agent does not install updates from {source!r}.")


def installed_already(source: str, exit_code: int | None, output: str) -> bool:
    """Whether a failed-looking install only found the update there already (installs are idempotent)."""
    if source == "winget":
        return exit_code in WINGET_UP_TO_DATE or "No applicable upgrade found" in output
    return False


def default_source() -> str:
    """Where a bare patch id (typed by a technician) is installed from on this device."""
    if sys.platform == "win32":
        return "windows_update"
    if sys.platform == "darwin":
        return "softwareupdate"
    for manager, source in (("apt-get", "apt"), ("dnf", "dnf")):
        if shutil.which(manager):
            return source
    raise FileNotFoundError("Neither apt-get nor dnf is available on this device.")
