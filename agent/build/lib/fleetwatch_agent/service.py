"""Run the agent as a system service: systemd on Linux, launchd on macOS, a Windows service."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SYSTEMD_UNIT_PATH = Path("/etc/systemd/system/fleetwatch-agent.service")
LAUNCHD_PLIST_PATH = Path("/Library/LaunchDaemons/com.fleetwatch.agent.plist")


def agent_command(config: Path | None) -> list[str]:
    installed = shutil.which("fleetwatch-agent")
    command = [installed] if installed else [sys.executable, "-m", "fleetwatch_agent"]
    if config:
        command += ["--config", str(config.resolve())]
    return [*command, "run"]


def systemd_unit(config: Path | None) -> str:
    return f"""[Unit]
Description=Fleetwatch agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={' '.join(agent_command(config))}
Restart=always
RestartSec=5
# The agent needs root to list every service and pending update; nothing else is required.
NoNewPrivileges=true
ProtectSystem=full
StateDirectory=fleetwatch-agent

[Install]
WantedBy=multi-user.target
"""


def launchd_plist(config: Path | None) -> str:
    arguments = "".join(f"\n    <string>{part}</string>" for part in agent_command(config))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key><string>com.fleetwatch.agent</string>
  <key>ProgramArguments</key>
  <array>{arguments}
  </array>
  <key>RunAtLoad</key><true/>
  <key>KeepAlive</key><true/>
</dict>
</plist>
"""


def windows_service_commands(config: Path | None) -> str:
    command = " ".join(agent_command(config))
    return (f'sc.exe create FleetwatchAgent binPath= "{command}" start= auto DisplayName= "Fleetwatch agent"\n'
            "sc.exe failure FleetwatchAgent reset= 86400 actions= restart/5000\n"
            "sc.exe start FleetwatchAgent\n"
            "(Python is not a native Windows service host: wrap the command with a service wrapper such as "
            "NSSM or WinSW if sc.exe reports error 1053.)\n")


def install(*, platform: str, config: Path | None, print_only: bool) -> str:
    """Write and enable the service definition (Linux), or print what to install elsewhere."""
    if platform == "linux":
        unit = systemd_unit(config)
        if print_only:
            return unit
        if not shutil.which("systemctl"):
            raise SystemExit("systemctl is not available; use --print and install the unit by hand.")
        SYSTEMD_UNIT_PATH.write_text(unit)
        subprocess.run(["systemctl", "daemon-reload"], check=True)
        subprocess.run(["systemctl", "enable", "--now", "fleetwatch-agent.service"], check=True)
        return f"Installed and started {SYSTEMD_UNIT_PATH}."
    if platform == "macos":
        plist = launchd_plist(config)
        if print_only:
            return plist
        LAUNCHD_PLIST_PATH.write_text(plist)
        subprocess.run(["launchctl", "load", "-w", str(LAUNCHD_PLIST_PATH)], check=True)
        return f"Installed and loaded {LAUNCHD_PLIST_PATH}."
    if platform == "windows":
        return windows_service_commands(config)
    raise SystemExit(f"Unknown platform {platform!r}.")
