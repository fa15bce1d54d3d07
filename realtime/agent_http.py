"""HTTP endpoints for agents: enrollment, and the heartbeat fallback for networks that block websockets."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from portal.accounts.middleware import client_ip
from portal.actions.signing import public_key_text
from portal.inventory.enrollment import AgentTokenRejected, EnrollmentRefused, authenticate_agent, enroll_agent
from portal.inventory.telemetry import apply_inventory, heartbeat_from, record_heartbeats, stored_inventory_hash
from portal.ratelimit import Limit, ProcessWindows, take, used_up
from realtime.agent_protocol import MAX_FRAME_BYTES, FrameError, parse_frame

# Per address for enrollment; per device for the heartbeat fallback (an agent sends one per failed
# websocket attempt, backing off to one a minute) and for inventories over HTTP.
# Refused enrollments per address: guessing tokens always fails, so only failures count. A roll-out of
# thousands of devices behind one NAT address enrolls at full speed (the token's own limits still hold).
ENROLL_REFUSALS = Limit(count=30, seconds=60)
HEARTBEAT_LIMIT = Limit(count=12, seconds=60)
INVENTORY_LIMIT = Limit(count=3, seconds=300)
# The fallback's per-token counts are kept per server process (as the socket's connects): a fleet behind a
# proxy that blocks websockets sends thousands a minute, and the embedded file cache both costs a directory
# listing per write and culls its oldest entries past a few hundred, which would forget counts.
HTTP_FRAMES = {"heartbeat": ProcessWindows(limit=HEARTBEAT_LIMIT), "inventory": ProcessWindows(limit=INVENTORY_LIMIT)}


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"error": code, "message": message}, status=status)


def _too_many(wait: float, what: str) -> JsonResponse:
    response = _error(429, "rate_limited", f"Too many {what}; try again in {max(1, round(wait))} s.")
    response["Retry-After"] = str(max(1, round(wait)))
    return response


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    if len(request.body) > MAX_FRAME_BYTES:
        return None
    try:
        body = json.loads(request.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


@csrf_exempt  # agents authenticate with tokens in the body or header, never with cookies
@require_POST
def enroll(request: HttpRequest) -> JsonResponse:
    """Exchange an enrollment token and the agent's facts for a device id and an agent token."""
    address = client_ip(request) or "unknown"
    wait = used_up(bucket="agent-enroll-refused", key=address, limit=ENROLL_REFUSALS)
    if wait:
        return _too_many(wait, "refused enrollments from this address")
    answer = _enroll(request)
    if answer.status_code != 201:
        take(bucket="agent-enroll-refused", key=address, limit=ENROLL_REFUSALS)
    return answer


def _enroll(request: HttpRequest) -> JsonResponse:
    body = _json_body(request)
    if body is None:
        return _error(400, "malformed", "Send a JSON object: {\"token\": …, \"facts\": {…}}.")
    token = body.get("token")
    if not isinstance(token, str):
        return _error(400, "malformed", "'token' must be a string.")
    try:
        enrollment = enroll_agent(enrollment_token=token, facts=body.get("facts", {}))
    except EnrollmentRefused as refusal:
        return _error(403, "enrollment_refused", str(refusal))
    except ValidationError as error:
        return _error(400, "invalid_facts", "; ".join(error.messages))
    return JsonResponse({
        "device_id": enrollment.device.pk,
        "agent_token": enrollment.agent_token,
        "heartbeat_interval": enrollment.device.heartbeat_interval,
        # Agents pin this key and refuse any action envelope it did not sign.
        "signing_public_key": public_key_text(),
        "server_version": settings.FLEETWATCH_VERSION,
    }, status=201)


@csrf_exempt
@require_POST
def heartbeat(request: HttpRequest) -> JsonResponse:
    """The same heartbeat (and optional inventory) frames as the socket, one POST each."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return _error(401, "unauthorized", "Send 'Authorization: Bearer <agent token>'.")
    try:
        device = authenticate_agent(raw=credentials.strip())
    except AgentTokenRejected as rejection:
        return _error(401, "unauthorized", str(rejection))
    try:
        frame_type, frame = parse_frame(request.body.decode("utf-8", "replace"), None)
    except FrameError as error:
        return _error(400, error.code, str(error))
    if frame_type in HTTP_FRAMES:
        wait = HTTP_FRAMES[frame_type].take(credentials.strip().split("_")[1])
        if wait:
            return _too_many(wait, f"{frame_type} requests from this agent")
    if frame_type == "heartbeat":
        record_heartbeats([heartbeat_from(device.pk, frame.metrics)])
        return JsonResponse({"type": "ack", "seq": frame.seq, "heartbeat_interval": device.heartbeat_interval,
                             "inventory_hash": stored_inventory_hash(device_id=device.pk)})
    if frame_type == "inventory":
        changed = apply_inventory(device_id=device.pk, content_hash=frame.content_hash, data=frame.data)
        return JsonResponse({"type": "inventory_stored", "hash": frame.content_hash, "changed": changed})
    return _error(400, "unsupported_here", "Over HTTP, send heartbeat or inventory frames.")
