"""What the agent reports, gathered with psutil and the operating system's own tools.

Each collector runs on its own: one that cannot run here (wrong platform, missing tool, no privileges)
is logged once and left out, and the rest of the inventory goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from fleetwatch_agent import updates

logger = logging.getLogger(__name__)
TOOL_TIMEOUT_SECONDS = 120
_warned: set[str] = set()


def os_type() -> str:
    return {"linux": "linux", "win32": "windows", "darwin": "macos"}.get(sys.platform, "other")


def _warn_once(name: str, error: BaseException | str) -> None:
    if name not in _warned:
        _warned.add(name)
        logger.warning("collector %s is not available here: %s", name, error)


def _run(command: list[str]) -> str:
    executable = shutil.which(command[0])
    if executable is None:
        raise FileNotFoundError(f"{command[0]} not found")
    result = subprocess.run([executable, *command[1:]], capture_output=True, text=True, timeout=TOOL_TIMEOUT_SECONDS,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {result.returncode}: {result.stderr.strip()[:200]}")
    return result.stdout


def _safely(name: str, collector: Callable[[], Any], default: Any) -> Any:
    try:
        return collector()
    except Exception as error:
        _warn_once(name, error)
        return default


def _os_version() -> str:
    if sys.platform == "linux":
        release = Path("/etc/os-release")
        if release.exists():
            for line in release.read_text().splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    if sys.platform == "darwin":
        return f"macOS {platform.mac_ver()[0]}"
    if sys.platform == "win32":
        return f"Windows {platform.version()}"
    return platform.platform()


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _serial_number() -> str:
    """The hardware serial: DMI on Linux (readable by root only on most distributions), the BIOS on
    Windows, the platform expert on macOS. Virtual machines often report a placeholder; it is kept as is."""
    if sys.platform == "linux":
        for name in ("product_serial", "board_serial", "chassis_serial"):
            try:
                value = (Path("/sys/class/dmi/id") / name).read_text().strip()
            except OSError:  # missing, or root-only and the agent runs unprivileged
                continue
            if value:
                return value
        return ""
    if sys.platform == "win32":
        output = _run(["powershell", "-NoProfile", "-Command", "(Get-CimInstance Win32_BIOS).SerialNumber"])
        return output.strip()
    if sys.platform == "darwin":
        for line in _run(["ioreg", "-c", "IOPlatformExpertDevice", "-d", "2"]).splitlines():
            if "IOPlatformSerialNumber" in line:
                return line.split("=", 1)[1].strip().strip('"')
    return ""


def system_facts() -> dict[str, Any]:
    return {
        "hostname": socket.gethostname(),
        "serial_number": _safely("serial_number", _serial_number, ""),
        "os_type": os_type(),
        "os_version": _safely("os_version", _os_version, ""),
        "kernel": platform.release(),
        "boot_time": _safely("boot_time", psutil.boot_time, None),
    }


def _disks() -> list[dict[str, Any]]:
    disks = []
    for partition in psutil.disk_partitions(all=False):
        try:
            usage = psutil.disk_usage(partition.mountpoint)
        except OSError:
            continue
        disks.append({"mount": partition.mountpoint, "device": partition.device, "fstype": partition.fstype,
                      "size": usage.total, "used": usage.used})
    return disks


def _interfaces() -> list[dict[str, Any]]:
    interfaces = []
    link_family = getattr(psutil, "AF_LINK", None)
    for name, addresses in psutil.net_if_addrs().items():
        entry: dict[str, Any] = {"name": name, "mac": "", "ipv4": [], "ipv6": []}
        for address in addresses:
            if address.family == link_family:
                entry["mac"] = address.address
            elif address.family == socket.AF_INET:
                entry["ipv4"].append(address.address)
            elif address.family == socket.AF_INET6:
                entry["ipv6"].append(address.address.split("%", 1)[0])
        interfaces.append(entry)
    return interfaces


def _users() -> list[dict[str, Any]]:
    return [{"name": user.name, "terminal": user.terminal or "", "host": user.host or "", "since": user.started}
            for user in psutil.users()]


def _systemd_services() -> list[dict[str, Any]]:
    output = _run(["systemctl", "list-units", "--type=service", "--all", "--no-legend", "--plain", "--no-pager"])
    services = []
    for line in output.splitlines():
        parts = line.split(None, 4)
        if len(parts) >= 4:
            status = {"running": "running", "exited": "stopped", "dead": "stopped", "failed": "failed"}.get(
                parts[3], parts[3])
            services.append({"name": parts[0], "display_name": parts[4] if len(parts) > 4 else "",
                             "status": status, "start_mode": ""})
    return services


def _windows_services() -> list[dict[str, Any]]:
    services = []
    for service in psutil.win_service_iter():  # type: ignore[attr-defined]
        info = service.as_dict()
        services.append({"name": info["name"], "display_name": info.get("display_name", ""),
                         "status": info.get("status", ""), "start_mode": info.get("start_type", "")})
    return services


def _launchd_jobs() -> list[dict[str, Any]]:
    jobs = []
    for line in _run(["launchctl", "list"]).splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3:
            jobs.append({"name": parts[2], "display_name": "", "status": "running" if parts[0] != "-" else "stopped",
                         "start_mode": ""})
    return jobs


def services() -> list[dict[str, Any]]:
    if sys.platform == "linux":
        return _safely("services (systemd)", _systemd_services, [])
    if sys.platform == "win32":
        return _safely("services (windows)", _windows_services, [])
    if sys.platform == "darwin":
        return _safely("services (launchd)", _launchd_jobs, [])
    return []


def _dpkg() -> list[dict[str, Any]]:
    output = _run(["dpkg-query", "-W", "-f=${Package}\t${Version}\t${db:Status-Status}\n"])
    return [{"name": name, "version": version, "source": "dpkg"}
            for name, version, status in (line.split("\t") for line in output.splitlines() if line.count("\t") == 2)
            if status == "installed"]


def _rpm() -> list[dict[str, Any]]:
    output = _run(["rpm", "-qa", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\n"])
    return [{"name": name, "version": version, "source": "rpm"}
            for name, version in (line.split("\t") for line in output.splitlines() if "\t" in line)]


def _registry_value(winreg: Any, key: Any, name: str) -> str:
    try:
        return str(winreg.QueryValueEx(key, name)[0])
    except OSError:
        return ""


def _windows_uninstall_registry() -> list[dict[str, Any]]:
    import winreg  # type: ignore[import-not-found]

    found = []
    roots = [(winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"),
             (winreg.HKEY_LOCAL_MACHINE, r"SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall")]
    for root, path in roots:
        try:
            key = winreg.OpenKey(root, path)
        except OSError:
            continue
        for index in range(winreg.QueryInfoKey(key)[0]):
            try:
                entry = winreg.OpenKey(key, winreg.EnumKey(key, index))
                name = winreg.QueryValueEx(entry, "DisplayName")[0]
                version = _registry_value(winreg, entry, "DisplayVersion")
            except OSError:
                continue
            found.append({"name": name, "version": version, "source": "registry"})
    return found


def _mac_applications() -> list[dict[str, Any]]:
    import plistlib  # macOS only: its XML parser is ~0.3 MB the agent carries nowhere else

    apps = []
    for bundle in Path("/Applications").glob("*.app"):
        info = bundle / "Contents" / "Info.plist"
        try:
            with info.open("rb") as handle:
                plist = plistlib.load(handle)
        except (OSError, plistlib.InvalidFileException):
            continue
        apps.append({"name": plist.get("CFBundleName", bundle.stem),
                     "version": str(plist.get("CFBundleShortVersionString", "")), "source": "applications"})
    return apps


def software() -> list[dict[str, Any]]:
    if sys.platform == "linux":
        if shutil.which("dpkg-query"):
            return _safely("software (dpkg)", _dpkg, [])
        if shutil.which("rpm"):
            return _safely("software (rpm)", _rpm, [])
        _warn_once("software", "neither dpkg nor rpm is installed")
        return []
    if sys.platform == "win32":
        return _safely("software (registry)", _windows_uninstall_registry, [])
    if sys.platform == "darwin":
        return _safely("software (applications)", _mac_applications, [])
    return []


def pending_updates() -> list[dict[str, Any]]:
    """The updates available now (the scan's status is kept in ``updates.LAST_SCAN`` for the server)."""
    found = updates.scan()
    updates.LAST_SCAN = found
    if found.error:
        _warn_once("updates", found.error)
    return found.updates


def inventory(*, with_software: bool = True, with_services: bool = True, with_updates: bool = True) -> dict[str, Any]:
    """A full snapshot of the device."""
    memory = psutil.virtual_memory()
    return {
        "system": system_facts(),
        "cpu": {"model": _safely("cpu model", _cpu_model, ""), "cores": psutil.cpu_count(logical=True)},
        "memory": {"total": memory.total},
        "disks": _safely("disks", _disks, []),
        "interfaces": _safely("interfaces", _interfaces, []),
        "users": _safely("users", _users, []),
        "services": services() if with_services else [],
        "software": software() if with_software else [],
        "pending_updates": pending_updates() if with_updates else [],
    }


def inventory_hash(snapshot: dict[str, Any]) -> str:
    """A digest that changes when the inventory does, not when disk usage drifts by a few bytes."""
    stable = dict(snapshot)
    stable["disks"] = [{**disk, "used": round(disk.get("used", 0) / 2**30)} for disk in snapshot.get("disks", [])]
    stable["system"] = {k: v for k, v in snapshot.get("system", {}).items() if k != "boot_time"} | {
        "boot_time": round(snapshot.get("system", {}).get("boot_time") or 0)}
    return hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode()).hexdigest()


def metrics() -> dict[str, Any]:
    """The few numbers each heartbeat carries."""
    memory = psutil.virtual_memory()
    load = _safely("load average", psutil.getloadavg, None)
    return {"cpu_percent": psutil.cpu_percent(interval=None), "memory_percent": memory.percent,
            "memory_available": memory.available, "load": list(load) if load else None}
