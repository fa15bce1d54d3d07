"""The agent as the server hands it out: a wheel built from ``agent/`` (its dependencies pinned in its
metadata), stored with its SHA-256 and an Ed25519 signature by the action-signing key, so an endpoint that
already trusts this server's key can check a download, and the install scripts that fetch it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from portal.actions import signing

RELEASE_FILE = "release.json"
_PLAIN_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~/-]*)?$")


class AgentBuildFailed(Exception):
    """pip could not build the agent's wheel."""


@dataclass(frozen=True)
class AgentRelease:
    version: str
    wheel: Path
    sha256: str
    signature: str  # base64 Ed25519 signature of the wheel's bytes

    def as_dict(self) -> dict[str, str]:
        return {"version": self.version, "wheel": self.wheel.name, "sha256": self.sha256, "signature": self.signature}


def release_dir() -> Path:
    return Path(settings.DATA_DIR) / "agent-release"


def build_release(*, source: Path | None = None) -> AgentRelease:
    """Build the wheel of the agent in ``source`` (this checkout's ``agent/``), sign it, make it current."""
    source = source or Path(settings.BASE_DIR) / "agent"
    target = release_dir()
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", work,
                                str(source)], capture_output=True, text=True, check=False)
        wheels = list(Path(work).glob("fleetwatch_agent-*.whl"))
        if built.returncode != 0 or len(wheels) != 1:
            raise AgentBuildFailed(built.stderr.strip()[-2000:] or "pip built no wheel")
        wheel = target / wheels[0].name
        shutil.copyfile(wheels[0], wheel)
    data = wheel.read_bytes()
    release = AgentRelease(version=wheel.name.split("-")[1], wheel=wheel, sha256=hashlib.sha256(data).hexdigest(),
                           signature=signing.sign(data))
    (target / RELEASE_FILE).write_text(json.dumps(release.as_dict(), indent=2))
    return release


def current_release() -> AgentRelease | None:
    try:
        described = json.loads((release_dir() / RELEASE_FILE).read_text())
    except (OSError, ValueError):
        return None
    wheel = release_dir() / Path(described.get("wheel", "")).name
    if not wheel.is_file():
        return None
    return AgentRelease(version=described["version"], wheel=wheel, sha256=described["sha256"],
                        signature=described["signature"])


def server_url() -> str | None:
    """``FLEETWATCH_BASE_URL`` when it is a plain URL that may be written into an install script, else None."""
    url = settings.FLEETWATCH_BASE_URL.rstrip("/")
    return url if _PLAIN_URL.fullmatch(url) else None
