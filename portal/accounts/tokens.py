"""Format, digest and parse bearer tokens: ``<prefix>_<key id>_<secret>``.

Prefixes tell the kinds apart at a glance (and to secret scanners): ``fwt`` API tokens, ``fwe``
enrollment tokens, ``fwa`` agent tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_PATTERN = re.compile(r"^(?P<prefix>fw[tea])_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class TokenParts:
    key_id: str
    secret: str


def new_token_parts() -> TokenParts:
    """A fresh random key id and 256-bit secret."""
    return TokenParts(key_id=secrets.token_hex(6), secret=secrets.token_urlsafe(32))


def format_token(parts: TokenParts, *, prefix: str = "fwt") -> str:
    return f"{prefix}_{parts.key_id}_{parts.secret}"


def parse_token(raw: str, *, prefix: str = "fwt") -> TokenParts | None:
    """Split a presented token into its parts; None when it is not shaped like one of ours of this kind."""
    match = TOKEN_PATTERN.match(raw.strip()[:200])
    if match is None or match["prefix"] != prefix:
        return None
    return TokenParts(key_id=match["key_id"], secret=match["secret"])


def digest_secret(secret: str) -> str:
    # A plain SHA-256 is the right tool here: the secret has 256 bits of entropy, so a slow password
    # hash would add latency to every API call without making a guess any more feasible.
    return hashlib.sha256(secret.encode()).hexdigest()
