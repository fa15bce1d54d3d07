"""Network targets typed by users: host names, ports and URLs, parsed strictly.

Every field that makes the server open a connection (a camera's RTSP URL and host, an SNMP device's host
and port, a connector's base URL, the Slack webhook) goes through here. A value with control characters,
whitespace or anything outside printable ASCII is refused, so it can never smuggle a second line into a
request; callers build request lines from the parsed parts, never from the string as typed.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

MAX_HOST_CHARS = 253
MAX_URL_CHARS = 2000
LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}

_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]*")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
# Patterns are used with fullmatch (``$`` would let a trailing newline through).
# What a path and query may hold (RFC 3986 pchar, "/" and "?"); "%" must start an escape.
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*")
_PORT = re.compile(r"[0-9]{1,5}")


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_target")


def _printable(value: str, *, what: str) -> None:
    if not _PRINTABLE_ASCII.fullmatch(value):
        raise _refuse(f"The {what} may not contain spaces, control characters or non-ASCII characters "
                      "(write international names in their xn-- form).")


def parse_host(value: str, *, what: str = "host") -> str:
    """An IP address or a DNS name, normalised (lower case, IPv6 compressed, no brackets)."""
    if not isinstance(value, str) or not value:
        raise _refuse(f"Give the {what}: an IP address or a host name.")
    _printable(value, what=what)
    candidate = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        address = None
    if address is not None:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            raise _refuse(f"The {what} may not carry an IPv6 zone (%…).")
        return str(address)
    name = candidate.lower().removesuffix(".")
    if len(name) > MAX_HOST_CHARS or not name:
        raise _refuse(f"The {what} is not a valid host name.")
    labels = name.split(".")
    if not all(_LABEL.fullmatch(label) for label in labels):
        raise _refuse(f"{value!r} is not an IP address or a valid host name.")
    # "2130706433", "0x7f.1" or "017.0.0.1" are addresses to some resolvers: a name's last label is
    # never all digits (RFC 3696), so such spellings are refused rather than guessed at.
    last = labels[-1]
    if last.isdigit() or re.fullmatch(r"0x[0-9a-f]*", last):
        raise _refuse(f"{value!r} is not an IP address in dotted form, nor a host name.")
    return name


def parse_port(value: int | str, *, what: str = "port") -> int:
    text = str(value)
    if isinstance(value, bool) or not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise _refuse(f"The {what} is a number from 1 to 65535.")
    return int(text)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost (a parsed host)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TargetUrl:
    """A URL taken apart; ``url`` is rebuilt from the checked parts."""

    scheme: str
    host: str
    port: int
    explicit_port: bool
    path: str  # the path and query, "/" at least

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


def parse_url(value: str, *, schemes: dict[str, int], what: str = "URL",
              plain_http_only_on_loopback: bool = False) -> TargetUrl:
    """Parse ``value`` strictly: one of ``schemes`` (name → default port), a valid host and port, no user
    name or password, no fragment, a path and query of URL characters only."""
    if not isinstance(value, str) or not value:
        raise _refuse(f"Give the {what}.")
    if len(value) > MAX_URL_CHARS:
        raise _refuse(f"The {what} is longer than {MAX_URL_CHARS} characters.")
    _printable(value, what=what)
    scheme, separator, rest = value.partition("://")
    scheme = scheme.lower()
    if not separator or not _SCHEME.fullmatch(scheme) or scheme not in schemes:
        raise _refuse(f"The {what} must start with {' or '.join(f'{name}://' for name in schemes)}.")
    if "#" in rest:
        raise _refuse(f"The {what} may not have a #fragment.")
    authority, path = (rest.split("/", 1)[0], "/" + rest.split("/", 1)[1]) if "/" in rest else (rest, "/")
    if "?" in authority:
        authority, query = authority.split("?", 1)
        path = "/?" + query
    if "@" in authority:
        raise _refuse(f"The {what} may not carry a user name or password; use the credential fields "
                      "(they are stored encrypted, a URL is not).")
    if authority.startswith("["):
        closing = authority.find("]")
        if closing < 0:
            raise _refuse(f"The {what} has an unclosed [IPv6] address.")
        host_text, port_text = authority[:closing + 1], authority[closing + 1:]
        if port_text and not port_text.startswith(":"):
            raise _refuse(f"The {what} has characters after its [IPv6] address.")
        port_text = port_text[1:]
    else:
        host_text, _, port_text = authority.partition(":")
    host = parse_host(host_text, what=f"{what}'s host")
    if host_text and not host_text.startswith("[") and ":" in host:
        raise _refuse(f"Write an IPv6 address in a {what} in brackets, e.g. [2001:db8::1].")
    explicit = bool(port_text)
    port = parse_port(port_text, what=f"{what}'s port") if explicit else schemes[scheme]
    if not _PATH.fullmatch(path):
        raise _refuse(f"The {what}'s path has characters a URL cannot carry (escape them as %XX).")
    if plain_http_only_on_loopback and scheme == "http" and not is_loopback(host):
        raise _refuse(f"Use https:// for the {what} (plain http is only for a server on this machine).")
    return TargetUrl(scheme=scheme, host=host, port=port, explicit_port=explicit, path=path)


def check_header_text(value: str, *, what: str, forbidden: str = '"\\') -> None:
    """Text that goes into a request header as it is (a user name in Digest authentication): printable
    ASCII and spaces only, none of ``forbidden``."""
    if value and (not _PRINTABLE_ASCII.fullmatch(value.replace(" ", "!")) or any(c in value for c in forbidden)):
        shown = " ".join(forbidden)
        raise _refuse(f"The {what} may not contain control characters, non-ASCII characters or any of {shown}.")
