"""Agent configuration: a TOML file with documented defaults, and where the agent keeps its state."""

from __future__ import annotations

import os
import sys
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def default_config_path() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "Fleetwatch" / "agent.toml"
    if _is_root():
        return Path("/etc/fleetwatch-agent/agent.toml")
    return Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config")) / "fleetwatch-agent" / "agent.toml"


def default_state_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "Fleetwatch" / "state"
    if _is_root():
        return Path("/var/lib/fleetwatch-agent")
    return Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state")) / "fleetwatch-agent"


@dataclass
class AgentConfig:
    """Every setting, with its default. Unknown keys in the file are an error, so typos are caught."""

    state_dir: Path = field(default_factory=default_state_dir)
    log_file: Path | None = None  # default: <state_dir>/agent.log
    log_level: str = "INFO"
    log_max_bytes: int = 5 * 1024 * 1024
    log_backups: int = 3
    ca_bundle: Path | None = None  # extra CA certificates to trust for the server (verification is always on)
    heartbeat_interval: int = 30  # until the server says otherwise
    inventory_every: int = 900  # seconds between inventory collections (sent only when it changed)
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    collect_software: bool = True
    collect_services: bool = True
    collect_updates: bool = True
    # Report reboot, patch and software commands instead of running them (for trials and test rigs).
    simulate_system_changes: bool = False
    # Report restarts after updates instead of restarting (test rigs that install real updates).
    simulate_reboots: bool = False
    # Where a logged-in user's "postpone-reboot" request is left (default: /var/tmp/fleetwatch-postpone-reboot,
    # or %ProgramData%\Fleetwatch\postpone-reboot on Windows).
    postpone_reboot_file: Path | None = None
    # Remote shell and file sessions opened by technicians (each signed by the server's pinned key).
    remote_sessions: bool = True
    # Replaces the built-in "allow this session?" dialog when a company requires consent: the command runs with
    # FLEETWATCH_CONSENT_MESSAGE, FLEETWATCH_TECHNICIAN and FLEETWATCH_SESSION_KIND set; exit status 0 allows.
    consent_command: list[str] | None = None
    # Take newer agent versions the server offers (signed by its pinned key); a new version that has not
    # connected within update_trial_seconds of starting is rolled back at the next start.
    self_update: bool = True
    update_trial_seconds: float = 60.0

    @property
    def resolved_log_file(self) -> Path:
        return self.log_file or self.state_dir / "agent.log"


def load_config(path: Path | None) -> AgentConfig:
    """Read the TOML file at ``path`` (or the default path when it exists); defaults otherwise."""
    target = path or default_config_path()
    if not target.exists():
        if path is not None:
            raise SystemExit(f"Config file {target} does not exist.")
        return AgentConfig()
    with target.open("rb") as handle:
        raw = tomllib.load(handle)
    known = {f.name: f for f in fields(AgentConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise SystemExit(f"Unknown settings in {target}: {', '.join(unknown)}")
    values = {}
    for name, value in raw.items():
        if name in {"state_dir", "log_file", "ca_bundle", "postpone_reboot_file"}:
            value = Path(value).expanduser() if value else None
        values[name] = value
    command = values.get("consent_command")
    if command is not None and (not isinstance(command, list) or not command
                                or not all(isinstance(part, str) for part in command)):
        raise SystemExit(f"consent_command in {target} must be a list of strings, e.g. [\"/usr/local/bin/ask\"].")
    if values.get("state_dir") is None:
        values.pop("state_dir", None)
    return AgentConfig(**values)
