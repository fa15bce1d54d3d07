"""The signed envelopes that open a remote session and carry each file request to the agent.

Signed with the action-signing key (portal.actions.signing), whose public half every agent pinned; each
names its purpose, so an envelope of one kind is never accepted as another (nor as an action, which names
an action type instead). Valid for a minute, with a nonce the agent remembers until then.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.conf import settings

from portal.actions.signing import canonical_json, sign
from portal.remote.models import RemoteSession

VALID_SECONDS = 60
ENVELOPE_VERSION = 1


def _signed(envelope: dict[str, Any], *, frame_type: str, **unsigned: Any) -> dict[str, Any]:
    issued = int(time.time())
    envelope = {"v": ENVELOPE_VERSION, **envelope, "issued": issued, "expires": issued + VALID_SECONDS,
                "nonce": secrets.token_hex(16)}
    return {"type": frame_type, "envelope": envelope, "signature": sign(canonical_json(envelope)), **unsigned}


def session_frame(session: RemoteSession, *, banner: str, cols: int = 80, rows: int = 24) -> dict[str, Any]:
    """The ``remote_open`` frame for ``session`` (the terminal's size travels unsigned: it changes anyway)."""
    return _signed({
        "purpose": "remote_session", "session": session.key.hex, "device_id": session.device_id,
        "kind": session.kind, "user": session.user_label, "run_as": session.run_as, "shell": session.shell,
        "consent": session.consent_required, "banner": banner,
        "idle_seconds": settings.FLEETWATCH_REMOTE_IDLE_MINUTES * 60,
        "max_file_bytes": settings.FLEETWATCH_REMOTE_FILE_MAX_MB * 1024 * 1024,
    }, frame_type="remote_open", cols=cols, rows=rows)


def request_frame(session: RemoteSession, *, request: int, op: str, path: str, to: str = "", size: int = 0,
                  sha256: str = "") -> dict[str, Any]:
    """A ``remote_request`` frame: one file operation of a files session."""
    return _signed({"purpose": "remote_request", "session": session.key.hex, "device_id": session.device_id,
                    "request": request, "op": op, "path": path, "to": to, "size": size, "sha256": sha256},
                   frame_type="remote_request")
