"""RTSP reachability of an IP camera without ffmpeg: OPTIONS, then DESCRIBE with Basic or Digest
authentication when the camera asks for it. Answers up, auth_failed or down, with a response time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from portal.targets import TargetUrl, check_header_text, parse_url

USER_AGENT = "fleetwatch-camera-check"
MAX_RESPONSE_BYTES = 64 * 1024


def rtsp_target(url: str) -> TargetUrl:
    """A camera's RTSP URL, parsed strictly (port 554 unless it says otherwise)."""
    return parse_url(url, schemes={"rtsp": 554}, what="RTSP URL")


def check_username(username: str) -> None:
    """The user name goes into Digest headers as it is, and Basic forbids a colon in it."""
    check_header_text(username, what="user name", forbidden='"\\:')


@dataclass(frozen=True)
class RtspResult:
    status: str  # up, auth_failed, down
    detail: str = ""
    response_ms: float | None = None


@dataclass(frozen=True)
class RtspResponse:
    code: int
    reason: str
    headers: dict[str, str]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()  # RFC 2617 mandates MD5


def _challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    # Values are echoed back in our next request: anything but printable text is left out.
    return scheme.lower(), {key.lower(): value for key, value in re.findall(r'(\w+)="?([^",]*)"?', rest)
                            if value.isprintable() and value.isascii()}


def authorization(*, header: str, method: str, uri: str, username: str, password: str, counter: int = 1) -> str:
    """The Authorization header answering a WWW-Authenticate challenge (Basic, or Digest with MD5)."""
    scheme, params = _challenge(header)
    if scheme == "basic":
        return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    realm, nonce = params.get("realm", ""), params.get("nonce", "")
    ha1, ha2 = _md5(f"{username}:{realm}:{password}"), _md5(f"{method}:{uri}")
    fields = {"username": username, "realm": realm, "nonce": nonce, "uri": uri}
    if "auth" in params.get("qop", "").split(","):
        nc, cnonce = f"{counter:08x}", secrets.token_hex(8)
        fields.update(qop="auth", nc=nc, cnonce=cnonce, response=_md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"))
    else:
        fields["response"] = _md5(f"{ha1}:{nonce}:{ha2}")
    if params.get("opaque"):
        fields["opaque"] = params["opaque"]
    unquoted = {"qop", "nc"}
    return "Digest " + ", ".join(f'{k}={v}' if k in unquoted else f'{k}="{v}"' for k, v in fields.items())


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str, url: str, cseq: int,
                   extra: dict[str, str]) -> RtspResponse:
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}",
             *(f"{name}: {value}" for name, value in extra.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_RESPONSE_BYTES:
        raise ValueError("response too large")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"RTSP/1\.\d (\d{3}) ?(.*)", status_line)
    if not match:
        raise ValueError(f"not an RTSP answer: {status_line[:80]!r}")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if 0 < length <= MAX_RESPONSE_BYTES:
        await reader.readexactly(length)
    return RtspResponse(code=int(match.group(1)), reason=match.group(2), headers=headers)


async def check(*, url: str, username: str = "", password: str = "", timeout: float = 5.0) -> RtspResult:
    """OPTIONS, then DESCRIBE (answering one authentication challenge). Never raises.

    The URL is parsed strictly first; the request lines carry the URL rebuilt from its checked parts, and
    the connection goes to the host and port those parts name, so the two can never differ."""
    try:
        target = rtsp_target(url)
        check_username(username)
    except ValidationError as refused:
        return RtspResult(status="down", detail=f"Not checked: {' '.join(refused.messages)}"[:300])
    request_url = target.url
    started = time.perf_counter()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout)
    except (OSError, TimeoutError) as error:
        return RtspResult(status="down", detail=f"Cannot connect to {target.netloc}: {error or 'timed out'}"[:300])
    try:
        async with asyncio.timeout(timeout):
            options = await _request(reader, writer, "OPTIONS", request_url, 1, {})
            if options.code not in (200, 401):
                return RtspResult(status="down", detail=f"OPTIONS answered {options.code} {options.reason}")
            describe = await _request(reader, writer, "DESCRIBE", request_url, 2, {"Accept": "application/sdp"})
            if describe.code == 401 and "www-authenticate" in describe.headers:
                if not username:
                    return RtspResult(status="auth_failed", detail="The camera asks for credentials; none are set.",
                                      response_ms=_since(started))
                answer = authorization(header=describe.headers["www-authenticate"], method="DESCRIBE",
                                       uri=request_url, username=username, password=password)
                describe = await _request(reader, writer, "DESCRIBE", request_url, 3,
                                          {"Accept": "application/sdp", "Authorization": answer})
            if describe.code == 200:
                return RtspResult(status="up", detail="", response_ms=_since(started))
            if describe.code in (401, 403):
                return RtspResult(status="auth_failed", detail=f"DESCRIBE answered {describe.code} with the stored "
                                                               "credentials.", response_ms=_since(started))
            return RtspResult(status="down", detail=f"DESCRIBE answered {describe.code} {describe.reason}",
                              response_ms=_since(started))
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError) as error:
        return RtspResult(status="down", detail=f"No valid RTSP answer: {type(error).__name__} {error}"[:300])
    finally:
        writer.close()


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
